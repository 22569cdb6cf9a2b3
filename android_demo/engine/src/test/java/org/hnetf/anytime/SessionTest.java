package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

/**
 * The session's states and decisions: failed init, options applied all or nothing, delegate
 * fallbacks when opening and at run time, honest labels, every native handle closed.
 */
class SessionTest {
  // Image 0 of AnytimeEngineTest: leaves [1, 0], [3, 0], [-4, 0], steps of 0.5, 0.25, 0.125 ms.
  private static final float[][][] LOGITS = {Fakes.leaves(1, 0, 3, 0, -4, 0)};
  private static final double[][] STEP_MS = {{0.5, 0.25, 0.125}};
  private static final float[] IMAGE = new float[4];

  /** The fake manifest with float16 copies of the anytime and k=3 files. */
  static JSONObject manifestJson() {
    try {
      JSONObject m = Fakes.manifestJson();
      JSONArray files = m.getJSONArray("files");
      for (String name : new String[] {"anytime_float16.tflite", "prefix_k03_float16.tflite"}) {
        JSONObject f = new JSONObject(files.getJSONObject(name.startsWith("anytime") ? 0 : 2).toString());
        f.put("file", name).put("precision", "float16");
        files.put(f);
      }
      return m;
    } catch (JSONException e) {
      throw new AssertionError(e);
    }
  }

  static final String CONFIG = "{\"default\": \"float32\", \"precisions\": {"
      + "\"float32\": {\"anytime\": \"anytime_float32.tflite\", \"prefixes\": {\"1\": \"prefix_k01_float32.tflite\", \"3\": \"prefix_k03_float32.tflite\"}},"
      + "\"float16\": {\"anytime\": \"anytime_float16.tflite\", \"prefixes\": {\"3\": \"prefix_k03_float16.tflite\"}}},"
      + "\"samples\": \"samples/samples.json\"}";

  /** Assets: the manifest, the config, and every model file as the bytes {1, 2, 3}. */
  static final class Assets implements ClassifierSession.Assets {
    final Map<String, byte[]> files = new HashMap<>();
    final List<String> reads = new ArrayList<>();

    Assets(String manifest, String config) {
      files.put("manifest.json", manifest.getBytes(StandardCharsets.UTF_8));
      files.put("demo_config.json", config.getBytes(StandardCharsets.UTF_8));
    }

    Assets() {
      this(manifestJson().toString(), CONFIG);
    }

    @Override
    public byte[] read(String name) throws IOException {
      reads.add(name);
      byte[] b = files.get(name);
      if (b != null) {
        return b;
      }
      if (name.endsWith(".tflite")) {
        return new byte[] {1, 2, 3};
      }
      throw new IOException(name + " is not in the assets");
    }
  }

  /** Opens trace runners; fails where told; counts what is open. */
  static class Factory implements RunnerFactory {
    final TraceRunner trace = new TraceRunner(Fakes.manifest(), LOGITS, STEP_MS);
    boolean gpu = true;
    /** Delegates that fail to open (any file), or file names that fail on every delegate. */
    final List<Object> failOpen = new ArrayList<>();
    /** Delegate -> the signature it fails at run time. */
    final Map<Delegate, String> failRun = new HashMap<>();
    /** What open() returns for the GPU as LiteRT's plan length. */
    int gpuPlanNodes = 1;
    final List<String> opened = new ArrayList<>();
    int open;

    Factory() {
      trace.select(0);
    }

    @Override
    public boolean gpuAvailable() {
      return gpu;
    }

    @Override
    public Opened open(String file, Delegate delegate, int threads) throws Exception {
      if (failOpen.contains(delegate) || failOpen.contains(file)) {
        throw new IllegalArgumentException("Internal error: Failed to apply delegate: " + delegate + " refused");
      }
      opened.add(file + "@" + delegate + "x" + threads);
      open++;
      StepRunner base = file.startsWith("prefix")
          ? new Fakes.PrefixRunner(file.contains("k01") ? 1 : 3, 2, file.contains("k01")
              ? new float[] {1, 0} : new float[] {1, 0, 3, 0, -4, 3}, 0.75)
          : trace;
      return new Opened() {
        boolean closed;

        @Override
        public String describe() {
          return DelegatePlan.label(delegate, delegate == Delegate.GPU ? gpuPlanNodes : -1);
        }

        @Override
        public void close() {
          assertFalse(closed, file + " closed twice");
          closed = true;
          open--;
        }

        @Override
        public java.util.Set<String> signatureKeys() {
          return base.signatureKeys();
        }

        @Override
        public List<String> inputNames(String signature) {
          return base.inputNames(signature);
        }

        @Override
        public List<String> outputNames(String signature) {
          return base.outputNames(signature);
        }

        @Override
        public int[] shape(String signature, String tensor, boolean input) {
          return base.shape(signature, tensor, input);
        }

        @Override
        public void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
          assertFalse(closed, "ran on a closed runner");
          if (signature.equals(failRun.get(delegate))) {
            throw new IllegalStateException("Internal error: Failed to run on the given Interpreter: GPU");
          }
          if (base == trace && signature.equals("step01")) {
            trace.rewind();
          }
          base.run(signature, inputs, outputs);
        }
      };
    }
  }

  static final class Log implements EngineLog {
    final List<String> lines = new ArrayList<>();

    @Override
    public void log(Level level, String message, Throwable error) {
      lines.add(level + " " + message);
    }

    boolean has(String part) {
      for (String l : lines) {
        if (l.contains(part)) {
          return true;
        }
      }
      return false;
    }
  }

  private final Factory factory = new Factory();
  private final Log log = new Log();

  private ClassifierSession session() {
    return new ClassifierSession(factory, factory.trace, log);
  }

  private static ClassifierSession.CalibrationImages images() {
    return m -> Collections.singletonList(IMAGE);
  }

  private ClassifierSession ready(AnytimeOptions o) {
    ClassifierSession s = session();
    ClassifierSession.Status st = s.init(new Assets(), o, images());
    assertEquals(ClassifierSession.Phase.READY, st.phase, st.error);
    return s;
  }

  @Test
  void initLoadsChecksAndCalibrates() {
    ClassifierSession s = ready(new AnytimeOptions());
    ClassifierSession.Status st = s.status();
    assertEquals("float32", st.options.precision);   // the config's default, filled in
    assertEquals(1, st.options.fixedK);               // the smallest prefix file
    assertEquals(Arrays.asList("float32", "float16"), st.precisions);
    assertEquals(Arrays.asList(1, 3), st.prefixSizes);
    assertEquals(Arrays.asList("cat", "dog"), st.labels);
    assertArrayEquals(STEP_MS[0], st.predictedMs, 1e-12);
    assertEquals("XNNPACK", st.runtime);
    assertEquals(2, st.threads);                      // a fixed count: no comparison
    assertEquals("2 threads", st.threadChoice);
    assertEquals(Collections.singletonList("anytime_float32.tflite@XNNPACKx2"), factory.opened);
    assertEquals(3, s.classify(IMAGE, null).steps);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void aFailedInitLeavesAClearStateAndNothingOpen() {
    // A model file whose bytes do not match the manifest.
    Assets assets = new Assets();
    assets.files.put("anytime_float32.tflite", new byte[] {9});
    ClassifierSession s = session();
    ClassifierSession.Status st = s.init(assets, new AnytimeOptions(), images());
    assertEquals(ClassifierSession.Phase.FAILED, st.phase);
    assertTrue(st.error.contains("anytime_float32.tflite"), st.error);
    assertEquals("not loaded", st.runtime);
    assertEquals(0, st.numSteps);
    IllegalStateException x = assertThrows(IllegalStateException.class, () -> s.classify(IMAGE, null));
    assertEquals("the model is not loaded: " + st.error, x.getMessage());
    assertThrows(IllegalStateException.class, () -> s.setOptions(new AnytimeOptions()));
    assertThrows(IllegalStateException.class, s::recalibrate);
    assertThrows(IllegalStateException.class, s::manifest);
    assertTrue(log.has("ERROR the model did not load"));
    // A missing manifest, a config that names other files, a signature that is not in the file:
    ClassifierSession.Status missing = session().init(name -> {
      throw new IOException(name + " is not in the assets");
    }, new AnytimeOptions(), images());
    assertEquals("IOException: manifest.json is not in the assets", missing.error);
    String badConfig = CONFIG.replace("prefix_k03_float16", "prefix_k07_float16");
    assertTrue(session().init(new Assets(manifestJson().toString(), badConfig), new AnytimeOptions(), images())
        .error.contains("prefix_k07_float16.tflite is not in the manifest"));
    factory.trace.select(0);
    Fakes.EditedRunner noStep2 = new Fakes.EditedRunner(factory.trace);
    noStep2.removed.add("step02");
    ClassifierSession.Status sig = new ClassifierSession(new Factory() {
      @Override
      public Opened open(String file, Delegate d, int threads) throws Exception {
        Opened o = super.open(file, d, threads);
        return new Opened() {
          @Override public String describe() { return o.describe(); }
          @Override public void close() { o.close(); }
          @Override public java.util.Set<String> signatureKeys() { return noStep2.signatureKeys(); }
          @Override public List<String> inputNames(String s) { return o.inputNames(s); }
          @Override public List<String> outputNames(String s) { return o.outputNames(s); }
          @Override public int[] shape(String s, String t, boolean i) { return o.shape(s, t, i); }
          @Override public void run(String s, Map<String, ByteBuffer> in, Map<String, ByteBuffer> out) { o.run(s, in, out); }
        };
      }
    }, factory.trace, log).init(new Assets(), new AnytimeOptions(), images());
    assertEquals(ClassifierSession.Phase.FAILED, sig.phase);
    assertTrue(sig.error.contains("step02"), sig.error);
    // Options the config cannot satisfy fail init too, naming what there is.
    ClassifierSession.Status int8 = session().init(new Assets(), new AnytimeOptions().withPrecision("int8"), images());
    assertEquals("IllegalArgumentException: no int8 model files in the app; it has float32, float16", int8.error);
    assertEquals(0, factory.open);
  }

  @Test
  void ruleOptionsApplyAtOnceAndBadValuesChangeNothing() {
    ClassifierSession s = ready(new AnytimeOptions());
    s.setOptions(s.options().withMaxLeaves(2));
    assertEquals(2, s.classify(IMAGE, null).steps);
    assertEquals(1, factory.opened.size());  // no new interpreter for a rule value
    AnytimeOptions before = s.options();
    IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
        () -> s.setOptions(before.withConfidence(1.5).withThreads(0)));
    assertEquals("threads must be 1..8, got 0; a confidence threshold must be in (0, 1], got 1.5", x.getMessage());
    assertEquals(before, s.options());
    assertThrows(IllegalArgumentException.class, () -> s.setOptions(before.withMaxLeaves(4)));
    assertThrows(IllegalArgumentException.class,
        () -> s.setOptions(before.withMode(AnytimeOptions.Mode.FIXED).withFixedK(2)));
    // Fixed mode opens its prefix file when chosen.
    s.setOptions(before.withMode(AnytimeOptions.Mode.FIXED).withFixedK(3));
    Result r = s.classify(IMAGE, null);
    assertEquals(3, r.steps);
    assertEquals(1, r.label);
    assertTrue(factory.opened.contains("prefix_k03_float32.tflite@XNNPACKx2"));
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void aFailedRebuildKeepsTheOldOptionsAndInterpreters() {
    ClassifierSession s = ready(new AnytimeOptions().withMaxLeaves(3));
    AnytimeOptions before = s.options();
    factory.failOpen.add("anytime_float16.tflite");
    AnytimeException x = assertThrows(AnytimeException.class,
        () -> s.setOptions(before.withPrecision("float16")));
    assertTrue(x.getMessage().startsWith("kept float32, XNNPACK, 2 threads on XNNPACK: could not switch to "
        + "float16, XNNPACK, 2 threads: AnytimeException: could not open anytime_float16.tflite on any delegate"),
        x.getMessage());
    assertEquals(before, s.options());
    assertEquals(ClassifierSession.Phase.READY, s.phase());
    assertEquals(3, s.classify(IMAGE, null).steps);  // the old interpreter still works
    assertEquals(1, factory.open);
    // A rebuild that works closes the old interpreter only after the new one is calibrated.
    s.setOptions(before.withThreads(4));
    assertEquals(Arrays.asList("anytime_float32.tflite@XNNPACKx2", "anytime_float32.tflite@XNNPACKx4"),
        factory.opened);
    assertEquals(1, factory.open);
    assertEquals(4, s.options().threads);
    // A precision without the k chosen earlier: outside fixed mode k follows the new files ...
    factory.failOpen.clear();
    s.setOptions(s.options().withFixedK(1).withPrecision("float16"));
    assertEquals(3, s.options().fixedK);
    s.setOptions(s.options().withPrecision("float32").withFixedK(1).withMode(AnytimeOptions.Mode.FIXED));
    // ... in fixed mode it is an error naming the k there are.
    IllegalArgumentException k = assertThrows(IllegalArgumentException.class,
        () -> s.setOptions(s.options().withPrecision("float16")));
    assertEquals("no fixed prefix file of k=1; there are k = [3]", k.getMessage());
    // And a precision switch that works.
    s.setOptions(s.options().withPrecision("float16").withMode(AnytimeOptions.Mode.FIXED).withFixedK(3));
    assertEquals(Arrays.asList(3), s.status().prefixSizes);
    assertEquals(1, s.classify(IMAGE, null).label);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void gpuFallsBackWhenItCannotLoadAndIsNotRetriedForThatFile() {
    factory.failOpen.add(Delegate.GPU);
    ClassifierSession s = ready(new AnytimeOptions().withDelegate(Delegate.GPU));
    String runtime = s.status().runtime;
    assertEquals("XNNPACK [GPU could not load it: IllegalArgumentException: Internal error: Failed to apply "
        + "delegate: GPU refused]", runtime);
    // Switching threads rebuilds: the GPU is not tried again on this file.
    s.setOptions(s.options().withThreads(1));
    assertTrue(s.status().runtime.startsWith("XNNPACK [GPU failed on this file earlier: GPU could not load it"),
        s.status().runtime);
    assertEquals(2, factory.opened.size());
    s.close();
    assertEquals(0, factory.open);
    // No GPU on the device: straight to XNNPACK, saying why.
    Factory none = new Factory();
    none.gpu = false;
    ClassifierSession t = new ClassifierSession(none, none.trace, log);
    t.init(new Assets(), new AnytimeOptions().withDelegate(Delegate.GPU), images());
    assertEquals("XNNPACK [no GPU delegate on this device]", t.status().runtime);
    assertEquals(Collections.singletonList("anytime_float32.tflite@XNNPACKx2"), none.opened);
  }

  @Test
  void gpuFailingAtRunTimeFallsBackReRunsTheStepAndRecalibrates() {
    factory.failRun.put(Delegate.GPU, "step02");
    // Calibration already runs step02 on the GPU: the session falls back while loading.
    ClassifierSession s = ready(new AnytimeOptions().withDelegate(Delegate.GPU));
    assertTrue(s.status().runtime.startsWith("XNNPACK [GPU failed running step02: IllegalStateException"),
        s.status().runtime);
    assertEquals(1, factory.open);  // the GPU runner was closed
    assertTrue(log.has("WARN anytime_float32.tflite: GPU failed running step02"));
    s.close();
    assertEquals(0, factory.open);

    // Failing while classifying (after a calibration that worked): the image still gets every
    // leaf, the step is re-run on XNNPACK, and the predictions are measured again.
    Factory later = new Factory();
    ClassifierSession t = new ClassifierSession(later, later.trace, log);
    t.init(new Assets(), new AnytimeOptions().withDelegate(Delegate.GPU), images());
    assertEquals("GPU (the whole first graph on the GPU)", t.status().runtime);
    later.failRun.put(Delegate.GPU, "step03");
    List<Integer> leaves = new ArrayList<>();
    Result r = t.classify(IMAGE, u -> leaves.add(u.leaf));
    assertEquals(Arrays.asList(0, 1, 2), leaves);
    assertEquals(0, r.label);
    assertTrue(t.status().runtime.startsWith("XNNPACK [GPU failed running step03"), t.status().runtime);
    assertTrue(log.has("recalibrating"));
    assertArrayEquals(STEP_MS[0], t.status().predictedMs, 1e-12);
    assertEquals(1, later.open);
    t.close();
    assertEquals(0, later.open);
  }

  @Test
  void whenNoDelegateIsLeftAtRunTimeTheSessionFailsCleanly() {
    ClassifierSession s = ready(new AnytimeOptions().withDelegate(Delegate.GPU));
    factory.failRun.put(Delegate.GPU, "step02");
    factory.failOpen.addAll(Arrays.asList(Delegate.XNNPACK, Delegate.CPU));
    AnytimeException x = assertThrows(AnytimeException.class, () -> s.classify(IMAGE, null));
    assertTrue(x.getMessage().startsWith("could not open anytime_float32.tflite on any delegate: GPU failed running step02"),
        x.getMessage());
    assertEquals(ClassifierSession.Phase.FAILED, s.phase());
    assertTrue(assertThrows(IllegalStateException.class, () -> s.classify(IMAGE, null)).getMessage()
        .startsWith("the model is not loaded: AnytimeException: could not open"));
    assertEquals(0, factory.open);
    assertTrue(log.has("ERROR the model can no longer run"));
  }

  @Test
  void everyDelegateFailingIsAnErrorWithEveryReason() {
    factory.failOpen.addAll(Arrays.asList(Delegate.GPU, Delegate.XNNPACK, Delegate.CPU));
    ClassifierSession.Status st = session().init(new Assets(), new AnytimeOptions().withDelegate(Delegate.GPU), images());
    assertEquals(ClassifierSession.Phase.FAILED, st.phase);
    assertTrue(st.error.contains("GPU could not load it") && st.error.contains("XNNPACK could not load it")
        && st.error.contains("CPU could not load it"), st.error);
    assertEquals(0, factory.open);
  }

  @Test
  void partialGpuDelegationIsReported() {
    factory.gpuPlanNodes = 5;
    ClassifierSession s = ready(new AnytimeOptions().withDelegate(Delegate.GPU));
    assertEquals("GPU + CPU (partial: the first graph runs as 5 nodes, the GPU's and the ops it left on the CPU)",
        s.status().runtime);
    assertEquals("GPU (LiteRT did not say how much of the graph it took)", DelegatePlan.label(Delegate.GPU, -1));
    assertEquals("CPU (LiteRT built-in kernels)", DelegatePlan.label(Delegate.CPU, -1));
  }

  @Test
  void delegatePlans() {
    assertEquals("[GPU, XNNPACK, CPU]", DelegatePlan.attempts(Delegate.GPU, "xnnpack", true, null).toString());
    assertEquals("[XNNPACK (no GPU delegate on this device), CPU]",
        DelegatePlan.attempts(Delegate.GPU, null, false, null).toString());
    assertEquals("[XNNPACK (GPU failed on this file earlier: boom), CPU]",
        DelegatePlan.attempts(Delegate.GPU, null, true, "boom").toString());
    assertEquals("[XNNPACK, CPU]", DelegatePlan.attempts(Delegate.XNNPACK, "xnnpack", true, null).toString());
    assertEquals("[CPU (the export found XNNPACK rejects this file)]",
        DelegatePlan.attempts(Delegate.XNNPACK, "builtin", true, null).toString());
    assertEquals("[GPU, CPU (the export found XNNPACK rejects this file)]",
        DelegatePlan.attempts(Delegate.GPU, "builtin", true, null).toString());
    assertEquals("[CPU]", DelegatePlan.attempts(Delegate.CPU, "xnnpack", true, null).toString());
  }

  @Test
  void benchmarkComparesTheStepsWithTheFullPrefixFile() {
    ClassifierSession s = ready(new AnytimeOptions());
    BenchmarkReport b = s.benchmark(Collections.singletonList(IMAGE), new int[] {0}, 3);
    assertEquals(3, b.summary.meanLeaves, 0);
    assertEquals(1.0, b.summary.accuracy, 0);
    assertTrue(b.describe(3).startsWith("1 images, leaves 3 and confidence 1.0: mean 3.00 leaves"), b.describe(3));
    assertTrue(b.progressive != null);
    s.setOptions(s.options().withPrecision("float16"));
    assertTrue(s.benchmark(Collections.singletonList(IMAGE), null, 1).progressive != null);
    s.close();
    assertEquals(0, factory.open);
  }

  @Test
  void threadChoicesFollowTheCores() {
    assertEquals(1, AnytimeOptions.defaultThreads(1));
    assertEquals(4, AnytimeOptions.defaultThreads(8));
    assertEquals(4, AnytimeOptions.defaultThreads(12));
    assertEquals(Arrays.asList(1, 2, 4, 8), AnytimeOptions.threadChoices(8));
    assertEquals(Arrays.asList(1, 2), AnytimeOptions.threadChoices(3));
    assertEquals(Arrays.asList(1), AnytimeOptions.threadChoices(1));
  }

  @Test
  void configForms() {
    Manifest m = Manifest.parse(manifestJson().toString());
    DemoConfig c = DemoConfig.parse(CONFIG, m);
    assertEquals("float32", c.defaultPrecision);
    assertEquals(Arrays.asList(1, 3), c.files(null).prefixSizes());
    DemoConfig old = DemoConfig.parse("{\"precision\": \"float32\", \"anytime\": \"anytime_float32.tflite\", "
        + "\"prefixes\": {\"3\": \"prefix_k03_float32.tflite\"}}", m);
    assertEquals(Collections.singletonList("float32"), old.precisionNames());
    ManifestException x = assertThrows(ManifestException.class, () -> DemoConfig.parse(
        CONFIG.replace("\"anytime\": \"anytime_float16.tflite\"", "\"anytime\": \"prefix_k01_float32.tflite\""), m));
    assertTrue(x.getMessage().contains("prefix_k01_float32.tflite is a float32 prefix k=1 file, named as float16 anytime"),
        x.getMessage());
    assertThrows(ManifestException.class, () -> DemoConfig.parse("{}", m));
    assertThrows(IllegalArgumentException.class, () -> c.files("int8"));
    assertNull(new AnytimeOptions().precision);
  }
}
