package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class AnytimeEngineTest {
  // Image 0: leaves [1, 0], [3, 0], [-4, 0]: the means are [1, 0], [2, 0], [0, 0].
  // Image 1: leaves [0, 2], [0, 2], [0, 2]: class 1 from the start, p = 0.8808 throughout.
  private static final float[][][] LOGITS = {
    Fakes.leaves(1, 0, 3, 0, -4, 0), Fakes.leaves(0, 2, 0, 2, 0, 2)
  };
  private static final double[][] STEP_MS = {{0.5, 0.25, 0.125}, {1.0, 0.5, 0.25}};
  private static final float[] IMAGE = new float[4];

  private static TraceRunner runner() {
    return new TraceRunner(Fakes.manifest(), LOGITS, STEP_MS);
  }

  private static Result classify(TraceRunner r, int image, Rule rule, double[] predicted) {
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    e.setPredictedMs(predicted);
    r.select(image);
    return e.classify(IMAGE, rule, null);
  }

  @Test
  void leavesRule() {
    Result one = classify(runner(), 0, StoppingRule.leaves(1), new double[3]);
    assertEquals(1, one.steps);
    assertEquals(0, one.label);
    assertEquals(0.5, one.elapsedMs, 0);
    Result all = classify(runner(), 0, StoppingRule.leaves(3), new double[3]);
    assertEquals(3, all.steps);
    assertArrayEquals(new double[] {0.5, 0.5}, all.probabilities, 1e-15); // mean [0, 0]
    assertEquals(0.875, all.elapsedMs, 0);
    assertEquals(3, classify(runner(), 0, StoppingRule.leaves(99), new double[3]).steps);
  }

  @Test
  void confidenceRule() {
    // After 1 step p = e/(e+1) = 0.731; after 2 steps e^2/(e^2+1) = 0.881.
    assertEquals(2, classify(runner(), 0, StoppingRule.confidence(0.8), new double[3]).steps);
    assertEquals(1, classify(runner(), 0, StoppingRule.confidence(0.7), new double[3]).steps);
    assertEquals(1, classify(runner(), 1, StoppingRule.confidence(0.88), new double[3]).steps);
    Result r = classify(runner(), 1, StoppingRule.confidence(0.89), new double[3]);
    assertEquals(3, r.steps); // never reached: all leaves
    assertEquals(1, r.label);
  }

  @Test
  void deadlineRule() {
    double[] predicted = {0.5, 0.375, 0.25};
    // Image 0: after step 1, 0.5 ms spent; step 2 predicted 0.375 -> needs 0.875.
    assertEquals(1, classify(runner(), 0, StoppingRule.deadline(0.87), predicted).steps);
    assertEquals(2, classify(runner(), 0, StoppingRule.deadline(0.875), predicted).steps);
    // After 2 steps 0.75 ms spent; step 3 predicted 0.25 -> needs 1.0.
    assertEquals(3, classify(runner(), 0, StoppingRule.deadline(1.0), predicted).steps);
    // Step 1 runs even when its own prediction does not fit; image 1's step 1 takes 1 ms.
    Result r = classify(runner(), 1, StoppingRule.deadline(0.1), predicted);
    assertEquals(1, r.steps);
    assertEquals(1.0, r.elapsedMs, 0);
  }

  @Test
  void combinedRuleStopsAtTheFirstRuleThatStops() {
    double[] predicted = {0.5, 0.375, 0.25};
    // Image 1: confidence 0.8808 from step 1, so confidence 0.99 alone would run all 3 leaves.
    assertEquals(2, classify(runner(), 1, Rule.all(StoppingRule.leaves(2), StoppingRule.confidence(0.99)),
        predicted).steps);
    // Image 0: confidence 0.8 stops at 2, the deadline 0.87 ms already at 1.
    assertEquals(1, classify(runner(), 0, Rule.all(StoppingRule.confidence(0.8), StoppingRule.deadline(0.87)),
        predicted).steps);
    assertEquals(2, classify(runner(), 0, Rule.all(StoppingRule.confidence(0.8), StoppingRule.deadline(5)),
        predicted).steps);
    assertEquals(1, classify(runner(), 0, Rule.all(StoppingRule.leaves(3), StoppingRule.deadline(0.001)),
        predicted).steps); // step 1 still always runs
    assertEquals("leaves 2 and deadline 1.5 ms",
        Rule.all(StoppingRule.leaves(2), StoppingRule.deadline(1.5)).describe());
  }

  @Test
  void listenerSeesEveryStepRefine() {
    TraceRunner r = runner();
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    List<StepUpdate> seen = new ArrayList<>();
    r.select(0);
    Result res = e.classify(IMAGE, StoppingRule.leaves(3), seen::add);
    assertEquals(3, seen.size());
    assertEquals(res.updates.get(2).mean[0], seen.get(2).mean[0], 0);
    double[] means = {seen.get(0).mean[0], seen.get(1).mean[0], seen.get(2).mean[0]};
    assertArrayEquals(new double[] {1, 2, 0}, means, 0);
    assertArrayEquals(new double[] {0.5, 0.25, 0.125},
        new double[] {seen.get(0).stepMs, seen.get(1).stepMs, seen.get(2).stepMs}, 0);
    assertArrayEquals(new double[] {0.5, 0.75, 0.875},
        new double[] {seen.get(0).elapsedMs, seen.get(1).elapsedMs, seen.get(2).elapsedMs}, 0);
    assertEquals(2, seen.get(2).leaf);
    assertArrayEquals(new int[] {0, 1}, seen.get(0).top(3));
  }

  @Test
  void traceAndCalibrateUseTheClock() {
    TraceRunner r = runner();
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    r.select(1);
    double[] ms = new double[3];
    float[][] leaves = e.trace(IMAGE, ms);
    assertArrayEquals(new float[] {0, 2}, leaves[2], 0);
    assertArrayEquals(STEP_MS[1], ms, 0);
    // A runner whose clock never resets: every pass over image 0 takes the same times,
    // so every percentile is that time.
    r.select(0);
    AnytimeEngine looping = new AnytimeEngine(Fakes.manifest(), new Looping(r), r);
    double[] predicted = looping.calibrate(Arrays.asList(IMAGE), 3, 90);
    assertArrayEquals(STEP_MS[0], predicted, 0);
    assertArrayEquals(predicted, looping.predictedMs(), 0);
  }

  /** Replays the selected image again whenever step 1 runs, the clock running on. */
  private static final class Looping extends Fakes.EditedRunner {
    Looping(TraceRunner base) {
      super(base);
    }

    @Override
    public void run(String signature, java.util.Map<String, java.nio.ByteBuffer> inputs,
        java.util.Map<String, java.nio.ByteBuffer> outputs) {
      if (signature.equals("step01")) {
        ((TraceRunner) base).rewind();
      }
      base.run(signature, inputs, outputs);
    }
  }

  @Test
  void runnersGetDirectBuffersAtPositionZeroOnEveryCall() {
    // LiteRT's output copy advances the buffer it fills ((ByteBuffer) dst).put(...); the engine
    // must hand every buffer back at position 0, or the next step would read and write past it.
    TraceRunner r = runner();
    List<String> seen = new ArrayList<>();
    Fakes.EditedRunner moving = new Fakes.EditedRunner(r) {
      @Override
      public void run(String signature, java.util.Map<String, java.nio.ByteBuffer> inputs,
          java.util.Map<String, java.nio.ByteBuffer> outputs) {
        for (java.nio.ByteBuffer b : inputs.values()) {
          seen.add(signature + " in direct=" + b.isDirect() + " native=" + (b.order() == java.nio.ByteOrder.nativeOrder()));
        }
        base.run(signature, inputs, outputs);  // TraceRunner fails on a buffer not at 0
        for (java.nio.ByteBuffer b : outputs.values()) {
          b.position(b.limit());
        }
        for (java.nio.ByteBuffer b : inputs.values()) {
          b.position(b.limit());
        }
      }
    };
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), moving, r);
    for (int image = 0; image < 2; image++) {
      r.select(image);
      assertEquals(3, e.classify(IMAGE, StoppingRule.leaves(3), null).steps);
    }
    assertEquals(6, seen.size());
    assertEquals("step02 in direct=true native=true", seen.get(1));
  }

  @Test
  void tensorBufferHoldsFloatsInADirectNativeOrderBuffer() {
    TensorBuffer t = new TensorBuffer(3);
    t.set(new float[] {1, 2, 3});
    t.bytes().position(8);
    assertEquals(0, t.bytes().position());
    assertTrue(t.bytes().isDirect());
    assertEquals(java.nio.ByteOrder.nativeOrder(), t.bytes().order());
    assertEquals(12, t.bytes().capacity());
    assertArrayEquals(new float[] {1, 2, 3}, t.toArray(), 0);
    t.fill(Float.NaN);
    assertTrue(Float.isNaN(t.get(2)));
    assertThrows(IllegalArgumentException.class, () -> t.set(new float[2]));
    assertThrows(IllegalArgumentException.class, () -> new TensorBuffer(0));
  }

  @Test
  void nanLogitsAreAnError() {
    float[][][] nan = {Fakes.leaves(1, 0, Float.NaN, 0, 0, 0)};
    TraceRunner r = new TraceRunner(Fakes.manifest(), nan, new double[][] {{1, 1, 1}});
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    r.select(0);
    assertEquals(0, e.classify(IMAGE, StoppingRule.leaves(1), null).label); // step 1 is fine
    r.select(0);
    AnytimeException x = assertThrows(AnytimeException.class,
        () -> e.classify(IMAGE, StoppingRule.leaves(3), null));
    assertEquals("step 2 (signature 'step02', leaf 1) returned non-finite logits [NaN, 0.0]: "
        + "the model file or its input is broken", x.getMessage());
  }

  @Test
  void aRunnerThatWritesNoLogitsIsCaught() {
    TraceRunner r = runner();
    Fakes.EditedRunner silent = new Fakes.EditedRunner(r) {
      @Override
      public void run(String signature, java.util.Map<String, java.nio.ByteBuffer> inputs,
          java.util.Map<String, java.nio.ByteBuffer> outputs) {}
    };
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), silent, r);
    assertThrows(AnytimeException.class, () -> e.classify(IMAGE, StoppingRule.leaves(1), null));
  }

  @Test
  void wrongImageSizeIsAnError() {
    TraceRunner r = runner();
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    r.select(0);
    AnytimeException x = assertThrows(AnytimeException.class,
        () -> e.classify(new float[9], StoppingRule.leaves(1), null));
    assertEquals("input image has 9 values; the model takes 2x2x1 = 4 (preprocess it with InputSpec)",
        x.getMessage());
    assertEquals(0, r.calls()); // nothing ran
  }

  @Test
  void predictionsMustFitTheSteps() {
    TraceRunner r = runner();
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    assertThrows(IllegalArgumentException.class, () -> e.setPredictedMs(new double[2]));
    assertThrows(IllegalArgumentException.class, () -> e.setPredictedMs(new double[] {1, Double.NaN, 1}));
  }

  @Test
  void prefixFileCombinesItsLeaves() {
    Manifest m = Fakes.manifest();
    Fakes.PrefixRunner p = new Fakes.PrefixRunner(3, 2, new float[] {1, 0, 3, 0, -4, 3}, 0.75);
    PrefixClassifier c = new PrefixClassifier(m, m.prefixFile(3, "float32"), p, () -> p.now);
    Result res = c.classify(IMAGE);
    assertEquals(3, res.steps);
    assertArrayEquals(new double[] {0, 1}, res.updates.get(0).mean, 0);
    assertEquals(1, res.label);
    assertEquals(0.75, res.elapsedMs, 0);
    Fakes.PrefixRunner nan = new Fakes.PrefixRunner(3, 2, new float[] {1, 0, Float.NaN, 0, 0, 0}, 0);
    PrefixClassifier bad = new PrefixClassifier(m, m.prefixFile(3, "float32"), nan, () -> 0);
    assertTrue(assertThrows(AnytimeException.class, () -> bad.classify(IMAGE)).getMessage()
        .contains("non-finite logits for leaf 1"));
  }

  @Test
  void benchmarkMeansAndProgressiveCost() {
    TraceRunner r = runner();
    AnytimeEngine e = new AnytimeEngine(Fakes.manifest(), r, r);
    List<Result> results = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      r.select(i);
      results.add(e.classify(IMAGE, StoppingRule.confidence(0.8), null));
    }
    Benchmark.Summary s = Benchmark.summarize(results, new int[] {0, 0});
    assertEquals(2, s.images);
    assertEquals(1.5, s.meanLeaves, 0); // 2 steps and 1 step
    assertEquals((0.75 + 1.0) / 2, s.meanMs, 0);
    assertEquals(0.5, s.accuracy, 0);

    // Steps of image 0 take 0.875 ms in all; the prefix file 0.5 ms: ratio 1.75.
    Manifest m = Fakes.manifest();
    TraceRunner steps = runner();
    Looping loop = new Looping(steps);
    Fakes.PrefixRunner p = new Fakes.PrefixRunner(3, 2, new float[6], 0.5);
    Clock shared = () -> steps.nowMs() + p.now;
    steps.select(0);
    AnytimeEngine eng = new AnytimeEngine(m, loop, shared);
    PrefixClassifier full = new PrefixClassifier(m, m.prefixFile(3, "float32"), p, shared);
    Benchmark.Progressive prog = Benchmark.progressive(eng, full, shared, IMAGE, 5);
    assertEquals(0.875, prog.stepsMs, 1e-12);
    assertEquals(0.5, prog.prefixMs, 1e-12);
    assertEquals(1.75, prog.ratio, 1e-12);
    assertArrayEquals(STEP_MS[0], prog.stepMs, 1e-12);
    assertEquals(2.5, Benchmark.median(new double[] {4, 1, 2, 3}), 0);
  }
}
