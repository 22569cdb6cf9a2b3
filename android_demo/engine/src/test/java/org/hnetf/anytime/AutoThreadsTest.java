package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

/**
 * Automatic threads: the session times the anytime file at 1 and N threads on its calibration
 * images, keeps N only when its total of step medians beats 1 thread's by more than the manifest's
 * {@code latency.thread_margin}, closes the other interpreter, and says what it measured.
 */
class AutoThreadsTest {
  private static final float[] IMAGE = new float[4];
  /** 1 thread: 1.000 ms over the three steps. */
  private static final double[] ONE = {0.5, 0.25, 0.25};
  /** 3% faster than {@link #ONE}: 0.970 ms, inside a 5% margin. */
  private static final double[] THREE_PERCENT = {0.485, 0.2425, 0.2425};
  /** 30% faster than {@link #ONE}: 0.700 ms. */
  private static final double[] THIRTY_PERCENT = {0.35, 0.175, 0.175};
  private static final String ANYTIME = "anytime_float32.tflite";

  /**
   * SessionTest's factory (trace runners, open count, "file@DELEGATExTHREADS" of each open) on a
   * clock of its own: each anytime step at t threads takes {@code stepMs.get(t)[step]} ms. It
   * records every close, the thread count of each image's first step (the order of the timing
   * runs), and fails opening or running at the counts it is told.
   */
  static final class TimedFactory extends SessionTest.Factory implements Clock {
    final Map<Integer, double[]> stepMs = new HashMap<>();
    final Set<Integer> failOpenThreads = new HashSet<>();
    final Set<Integer> failRunThreads = new HashSet<>();
    final List<String> closed = new ArrayList<>();
    final List<Integer> imageRuns = new ArrayList<>();
    double now;

    @Override
    public double nowMs() {
      return now;
    }

    @Override
    public Opened open(String file, Delegate delegate, int threads) throws Exception {
      if (failOpenThreads.contains(threads)) {
        throw new IllegalStateException("cannot start a pool of " + threads);
      }
      Opened o = super.open(file, delegate, threads);
      String name = file + "@" + delegate + "x" + threads;
      return new Opened() {
        @Override public String describe() { return o.describe(); }
        @Override public Set<String> signatureKeys() { return o.signatureKeys(); }
        @Override public List<String> inputNames(String s) { return o.inputNames(s); }
        @Override public List<String> outputNames(String s) { return o.outputNames(s); }
        @Override public int[] shape(String s, String t, boolean in) { return o.shape(s, t, in); }

        @Override
        public void close() {
          closed.add(name);
          o.close();
        }

        @Override
        public void run(String signature, Map<String, ByteBuffer> in, Map<String, ByteBuffer> out) {
          if (failRunThreads.contains(threads)) {
            throw new IllegalStateException("no core for thread " + threads);
          }
          o.run(signature, in, out);
          if (signature.equals("step01")) {
            imageRuns.add(threads);
          }
          double[] ms = stepMs.get(threads);
          if (ms != null && signature.startsWith("step")) {
            now += ms[Integer.parseInt(signature.substring(4)) - 1];
          }
        }
      };
    }
  }

  private final TimedFactory factory = new TimedFactory();
  private final SessionTest.Log log = new SessionTest.Log();

  /** SessionTest's manifest (float32 and float16 files), with {@code latency.thread_margin} if given. */
  private static String manifest(Double margin) {
    try {
      JSONObject m = SessionTest.manifestJson();
      if (margin != null) {
        m.put("latency", new JSONObject().put("unit", "ms").put("thread_margin", margin));
      }
      return m.toString();
    } catch (JSONException e) {
      throw new AssertionError(e);
    }
  }

  private ClassifierSession ready(Double margin, AnytimeOptions o) {
    ClassifierSession s = new ClassifierSession(factory, factory, log);
    ClassifierSession.Status st = s.init(new SessionTest.Assets(manifest(margin), SessionTest.CONFIG), o,
        m -> Collections.singletonList(IMAGE));
    assertEquals(ClassifierSession.Phase.READY, st.phase, st.error);
    return s;
  }

  private static AnytimeOptions auto(int upTo) {
    return new AnytimeOptions().withAutoThreads(upTo);
  }

  @Test
  void keepsOneThreadWhenTwoAreOnlyThreePercentFaster() {
    factory.stepMs.put(1, ONE);
    factory.stepMs.put(2, THREE_PERCENT);
    ClassifierSession s = ready(0.05, auto(2));
    ClassifierSession.Status st = s.status();
    // 0.970 is not below 1.000 x (1 - 0.05) = 0.950.
    assertEquals(1, st.threads);
    assertEquals("1 thread (auto, all steps: 1 thread 1.000 ms, 2 threads 0.970 ms; "
        + "more threads only when over 5% faster)", st.threadChoice);
    assertTrue(st.options.autoThreads);
    assertEquals(2, st.options.threads);  // the options keep what was asked: compare 1 with 2
    assertEquals("float32, XNNPACK, automatic threads (1 or 2)", st.options.describeRuntime());
    // Both were opened, the 2-thread interpreter is closed, the 1-thread one runs.
    assertEquals(Arrays.asList(ANYTIME + "@XNNPACKx1", ANYTIME + "@XNNPACKx2"), factory.opened);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx2"), factory.closed);
    assertEquals(1, factory.open);
    // One warm-up and 3 timed passes of the one image, each at 1 then at 2 threads.
    assertEquals(Arrays.asList(1, 2, 1, 2, 1, 2, 1, 2), factory.imageRuns);
    // The deadline rule predicts from the chosen count's own calibration.
    assertArrayEquals(ONE, st.predictedMs, 1e-9);
    assertTrue(log.has("INFO " + ANYTIME + ": 1 thread (auto, all steps"), log.lines.toString());
    assertTrue(log.has("loaded 3 leaves, float32, XNNPACK, automatic threads (1 or 2): 1 thread on XNNPACK"),
        log.lines.toString());
    factory.imageRuns.clear();
    assertEquals(3, s.classify(IMAGE, null).steps);
    assertEquals(Collections.singletonList(1), factory.imageRuns);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void choosesTwoThreadsWhenTheyAreThirtyPercentFaster() {
    factory.stepMs.put(1, ONE);
    factory.stepMs.put(2, THIRTY_PERCENT);
    ClassifierSession s = ready(0.05, auto(2));
    ClassifierSession.Status st = s.status();
    assertEquals(2, st.threads);
    assertEquals("2 threads (auto, all steps: 1 thread 1.000 ms, 2 threads 0.700 ms; "
        + "more threads only when over 5% faster)", st.threadChoice);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx1"), factory.closed);
    assertEquals(1, factory.open);
    assertArrayEquals(THIRTY_PERCENT, st.predictedMs, 1e-9);
    // A fixed prefix file opens at the chosen count.
    s.setOptions(s.options().withMode(AnytimeOptions.Mode.FIXED).withFixedK(3));
    assertEquals(ANYTIME.replace("anytime", "prefix_k03") + "@XNNPACKx2",
        factory.opened.get(factory.opened.size() - 1));
    assertEquals(2, factory.open);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void withoutAMarginEqualTimesKeepOneThreadAndAnyGainWins() {
    factory.stepMs.put(1, ONE);
    factory.stepMs.put(2, ONE);
    ClassifierSession s = ready(null, auto(2));  // an export from before latency.thread_margin
    assertEquals(1, s.status().threads);
    assertEquals("1 thread (auto, all steps: 1 thread 1.000 ms, 2 threads 1.000 ms; "
        + "more threads only when faster)", s.status().threadChoice);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx2"), factory.closed);
    s.close();
    // Margin 0: 3% faster is faster.
    TimedFactory f = new TimedFactory();
    f.stepMs.put(1, ONE);
    f.stepMs.put(4, THREE_PERCENT);
    ClassifierSession t = new ClassifierSession(f, f, log);
    t.init(new SessionTest.Assets(manifest(null), SessionTest.CONFIG), auto(4), m -> Collections.singletonList(IMAGE));
    assertEquals("4 threads (auto, all steps: 1 thread 1.000 ms, 4 threads 0.970 ms; "
        + "more threads only when faster)", t.status().threadChoice);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx1"), f.closed);
    t.close();
    assertEquals(0, f.open);
  }

  @Test
  void aCountThatCannotOpenFallsBackToOneThreadSayingWhy() {
    factory.stepMs.put(1, ONE);
    factory.failOpenThreads.add(4);
    ClassifierSession s = ready(0.05, auto(4));
    ClassifierSession.Status st = s.status();
    assertEquals(1, st.threads);
    assertEquals("1 thread (auto: 4 threads could not be used: AnytimeException: could not open " + ANYTIME
        + " on any delegate: XNNPACK could not load it: IllegalStateException: cannot start a pool of 4; "
        + "CPU could not load it: IllegalStateException: cannot start a pool of 4)", st.threadChoice);
    assertEquals("XNNPACK", st.runtime);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx1"), factory.opened);
    assertEquals(1, factory.open);
    assertArrayEquals(ONE, st.predictedMs, 1e-9);  // calibrated alone: 1 warm-up, 3 timed passes
    assertEquals(Arrays.asList(1, 1, 1, 1), factory.imageRuns);
    assertTrue(log.has("WARN " + ANYTIME + ": automatic threads: 4 threads could not be opened"),
        log.lines.toString());
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void aCountThatFailsWhileTimedIsDroppedAndClosed() {
    factory.stepMs.put(1, ONE);
    factory.failRunThreads.add(2);
    ClassifierSession s = ready(0.05, auto(2));
    ClassifierSession.Status st = s.status();
    assertEquals(1, st.threads);
    // XNNPACK failed running step01 at 2 threads, the CPU runner it fell back to failed too.
    assertEquals("1 thread (auto: 2 threads failed while timed: IllegalStateException: no core for thread 2)",
        st.threadChoice);
    assertEquals(Arrays.asList(ANYTIME + "@XNNPACKx1", ANYTIME + "@XNNPACKx2", ANYTIME + "@CPUx2"),
        factory.opened);
    assertEquals(Arrays.asList(ANYTIME + "@XNNPACKx2", ANYTIME + "@CPUx2"), factory.closed);
    assertEquals(1, factory.open);
    assertArrayEquals(ONE, st.predictedMs, 1e-9);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void everyCountFailingFailsTheLoadWithTheFirstReason() {
    factory.failOpenThreads.addAll(Arrays.asList(1, 2));
    ClassifierSession s = new ClassifierSession(factory, factory, log);
    ClassifierSession.Status st = s.init(new SessionTest.Assets(manifest(0.05), SessionTest.CONFIG), auto(2),
        m -> Collections.singletonList(IMAGE));
    assertEquals(ClassifierSession.Phase.FAILED, st.phase);
    assertTrue(st.error.startsWith("AnytimeException: could not open " + ANYTIME + " on any delegate: "
        + "XNNPACK could not load it: IllegalStateException: cannot start a pool of 1"), st.error);
    assertEquals("", st.threadChoice);
    assertEquals(0, st.threads);
    assertEquals(0, factory.open);
  }

  @Test
  void nothingToCompareRunsOneThreadAndSaysSo() {
    factory.stepMs.put(1, ONE);
    ClassifierSession s = ready(0.05, auto(1));  // a phone whose defaultThreads is 1
    assertEquals("1 thread (auto: no larger count to compare)", s.status().threadChoice);
    assertEquals(Collections.singletonList(ANYTIME + "@XNNPACKx1"), factory.opened);
    s.close();
    ClassifierSession t = new ClassifierSession(factory, factory, log);
    t.init(new SessionTest.Assets(manifest(0.05), SessionTest.CONFIG), auto(2), m -> Collections.<float[]>emptyList());
    assertEquals("1 thread (auto: no calibration images to compare on)", t.status().threadChoice);
    assertEquals(1, factory.open);
    t.close();
    assertEquals(0, factory.open);
  }

  @Test
  void recalibrateKeepsTheChoiceAndNewInterpretersCompareAgain() {
    factory.stepMs.put(1, ONE);
    factory.stepMs.put(2, THIRTY_PERCENT);
    ClassifierSession s = ready(0.05, auto(2));
    String chosen = s.status().threadChoice;
    // 2 threads slow down: a recalibration re-times the 2-thread interpreter and keeps it.
    factory.stepMs.put(2, new double[] {1.0, 0.5, 0.5});
    int opened = factory.opened.size();
    assertArrayEquals(new double[] {1.0, 0.5, 0.5}, s.recalibrate(), 1e-9);
    assertEquals(chosen, s.status().threadChoice);
    assertEquals(2, s.status().threads);
    assertEquals(opened, factory.opened.size());
    // A new precision builds new interpreters: the comparison runs again (2.000 ms against 1.000).
    s.setOptions(s.options().withPrecision("float16"));
    assertEquals("1 thread (auto, all steps: 1 thread 1.000 ms, 2 threads 2.000 ms; "
        + "more threads only when over 5% faster)", s.status().threadChoice);
    assertEquals(Arrays.asList("anytime_float16.tflite@XNNPACKx1", "anytime_float16.tflite@XNNPACKx2"),
        factory.opened.subList(opened, factory.opened.size()));
    assertEquals(1, factory.open);
    // A fixed count leaves automatic threads: one interpreter, no comparison.
    s.setOptions(s.options().withThreads(2));
    assertFalse(s.status().options.autoThreads);
    assertEquals("2 threads", s.status().threadChoice);
    assertEquals("anytime_float16.tflite@XNNPACKx2", factory.opened.get(factory.opened.size() - 1));
    assertEquals(opened + 3, factory.opened.size());
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void aFailedSwitchNamesTheCountThatWasKept() {
    factory.stepMs.put(1, ONE);
    factory.stepMs.put(2, THREE_PERCENT);
    ClassifierSession s = ready(0.05, auto(2));
    factory.failOpen.add("anytime_float16.tflite");
    AnytimeException x = assertThrows(AnytimeException.class, () -> s.setOptions(s.options().withPrecision("float16")));
    assertTrue(x.getMessage().startsWith("kept float32, XNNPACK, automatic threads (1 or 2): 1 thread on XNNPACK: "
        + "could not switch to float16, XNNPACK, automatic threads (1 or 2): AnytimeException: could not open "
        + "anytime_float16.tflite on any delegate"), x.getMessage());
    assertEquals(1, s.status().threads);
    assertEquals(1, factory.open);
    s.close();
  }

  @Test
  void automaticThreadOptions() {
    AnytimeOptions fixed = new AnytimeOptions();
    assertFalse(fixed.autoThreads);
    assertEquals(2, fixed.threads);
    AnytimeOptions auto = fixed.withAutoThreads(4);
    assertTrue(auto.autoThreads);
    assertEquals(4, auto.threads);
    assertTrue(auto.withConfidence(0.5).autoThreads);  // other changes keep it
    assertFalse(auto.withThreads(4).autoThreads);
    assertTrue(fixed.withThreads(4).needsNewInterpreters(auto));
    assertFalse(auto.needsNewInterpreters(auto.withMaxLeaves(2)));
    assertEquals(auto, fixed.withAutoThreads(4));
    assertFalse(auto.equals(fixed.withThreads(4)));
    assertEquals("automatic threads (1)", fixed.withAutoThreads(1).describeThreads());
    assertEquals("1 thread", fixed.withThreads(1).describeThreads());
    List<String> none = Collections.emptyList();
    assertEquals(Collections.singletonList("automatic threads compare 1 with 1..8, got 9"),
        fixed.withAutoThreads(9).problems(3, none, Collections.<Integer>emptyList()));
    assertEquals(Collections.singletonList("automatic threads compare 1 with 1..8, got 0"),
        fixed.withAutoThreads(0).problems(3, none, Collections.<Integer>emptyList()));
    assertEquals(Collections.singletonList("threads must be 1..8, got 0"),
        fixed.withThreads(0).problems(3, none, Collections.<Integer>emptyList()));
  }

  @Test
  void theRuleIsTheExportsFasterCount() {
    // hne_tf.export.runtime.faster_count: a larger count replaces the best only below best x (1 - margin).
    int[] two = {1, 2};
    assertEquals(1, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 0.97}, 0.05));
    assertEquals(2, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 0.7}, 0.05));
    assertEquals(1, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 0.75}, 0.25));  // exactly the margin: not over it
    assertEquals(2, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 0.74}, 0.25));
    assertEquals(1, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 1.0}, 0));
    assertEquals(1, ThreadChoice.fewestNotBeaten(two, new double[] {1.0, 1.2}, 0));
    // Three counts: each is compared with the best so far, not with 1 thread.
    int[] three = {1, 2, 4};
    assertEquals(4, ThreadChoice.fewestNotBeaten(three, new double[] {1.0, 0.96, 0.90}, 0.05));
    assertEquals(2, ThreadChoice.fewestNotBeaten(three, new double[] {1.0, 0.90, 0.88}, 0.05));
    assertEquals(1, ThreadChoice.fewestNotBeaten(new int[] {1}, new double[] {3.0}, 0.05));
    assertThrows(IllegalArgumentException.class, () -> ThreadChoice.fewestNotBeaten(two, new double[] {1.0}, 0.05));
    assertThrows(IllegalArgumentException.class, () -> ThreadChoice.fewestNotBeaten(two, new double[] {1, 1}, 1.5));
    assertThrows(IllegalArgumentException.class,
        () -> ThreadChoice.fewestNotBeaten(new int[] {2, 1}, new double[] {1, 1}, 0.05));
    // The statistic: per-step medians over the runs, summed (the slow second run of step 1 is ignored).
    assertEquals(0.5 + 0.25, ThreadChoice.totalOfMedians(new double[][] {{0.5, 0.25}, {9.0, 0.25}, {0.5, 0.3}}),
        1e-12);
    assertEquals("5%", ThreadChoice.percent(0.05));
    assertEquals("12.5%", ThreadChoice.percent(0.125));
    assertEquals("2 threads", ThreadChoice.fixed(2).description);
  }
}
