package org.hnetf.anytime;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs an anytime file's steps one image at a time (batch 1), keeping the slot cache between steps
 * and the running mean of the leaf logits, and asks a {@link StoppingRule} after every step whether
 * to run the next: the Android counterpart of {@code hne_tf.export.anytime.AnytimeEngine}.
 *
 * <p>Not thread-safe: one engine per thread (the interpreter behind it is not either).
 */
public final class AnytimeEngine {
  /** {@link #calibrate(List)}'s timed passes over the images, after one warm-up pass. */
  public static final int CALIBRATION_REPEATS = 3;

  private final Manifest manifest;
  private final StepRunner runner;
  private final Clock clock;
  private final List<Manifest.Step> steps;
  private final int numClasses;
  /**
   * The slot cache: one batch-1 direct buffer per slot, reused across steps and images, so a step's
   * output is the next reader's input without a copy on the Java side.
   */
  private final Map<String, TensorBuffer> cache = new HashMap<>();
  private final List<Map<String, ByteBuffer>> stepInputs = new ArrayList<>();
  private final List<Map<String, ByteBuffer>> stepOutputs = new ArrayList<>();
  private final TensorBuffer logits;
  private double[] predictedMs;

  /** Checks the file behind {@code runner} against the manifest's steps and slots. */
  public AnytimeEngine(Manifest manifest, StepRunner runner, Clock clock) {
    manifest.checkAnytimeRunner(runner);
    this.manifest = manifest;
    this.runner = runner;
    this.clock = clock;
    this.steps = manifest.steps;
    this.numClasses = manifest.numClasses;
    for (String slot : manifest.slots.keySet()) {
      cache.put(slot, new TensorBuffer(manifest.slotSize(slot)));
    }
    logits = new TensorBuffer(numClasses);
    for (Manifest.Step s : steps) {
      Map<String, ByteBuffer> in = new HashMap<>();
      in.put(s.reads, cache.get(s.reads).bytes());
      Map<String, ByteBuffer> out = new LinkedHashMap<>();
      for (String w : s.writes) {
        out.put(w, cache.get(w).bytes());
      }
      out.put("logits", logits.bytes());
      stepInputs.add(in);
      stepOutputs.add(out);
    }
    predictedMs = new double[steps.size()];
  }

  public AnytimeEngine(Manifest manifest, StepRunner runner) {
    this(manifest, runner, Clock.SYSTEM);
  }

  public Manifest manifest() {
    return manifest;
  }

  public int numSteps() {
    return steps.size();
  }

  /** The deadline rule's per-step latency predictions (zeros until calibrated or set). */
  public double[] predictedMs() {
    return predictedMs.clone();
  }

  public void setPredictedMs(double[] ms) {
    if (ms.length != steps.size()) {
      throw new IllegalArgumentException(
          ms.length + " step predictions for " + steps.size() + " steps");
    }
    for (double v : ms) {
      if (!(v >= 0) || Double.isInfinite(v)) {
        throw new IllegalArgumentException("a predicted step latency must be finite and >= 0, got " + v);
      }
    }
    predictedMs = ms.clone();
  }

  /**
   * Times every step on {@code images} (one warm-up pass, then {@code repeats} passes) and keeps
   * each step's {@code percentile} as its predicted latency.
   *
   * @param images normalized inputs ({@link InputSpec#normalize})
   */
  public double[] calibrate(List<float[]> images, int repeats, double percentile) {
    if (images.isEmpty() || repeats < 1) {
      throw new IllegalArgumentException("calibration needs at least one image and one repeat");
    }
    for (float[] image : images) {
      trace(image, null);
    }
    double[][] times = new double[images.size() * repeats][];
    int row = 0;
    for (int r = 0; r < repeats; r++) {
      for (float[] image : images) {
        times[row] = new double[steps.size()];
        trace(image, times[row++]);
      }
    }
    setPredictedMs(Calibration.predict(times, percentile));
    return predictedMs();
  }

  public double[] calibrate(List<float[]> images) {
    return calibrate(images, CALIBRATION_REPEATS, Calibration.DEFAULT_PERCENTILE);
  }

  /**
   * Live anytime inference of one normalized image.
   *
   * @param listener called after every step (may be null); its time counts in the elapsed time
   */
  public Result classify(float[] image, Rule rule, StepUpdate.Listener listener) {
    loadInput(image);
    int n = steps.size();
    Ensemble ensemble = new Ensemble(numClasses);
    List<StepUpdate> updates = new ArrayList<>();
    double start = clock.nowMs();
    double elapsed = 0;
    double maxProb = 0;
    double[] probs = null;
    int done = 0;
    while (rule.runNext(done, n, elapsed, predictedMs[Math.min(done, n - 1)], maxProb)) {
      double t0 = clock.nowMs();
      float[] leaf = runStep(done);
      double stepMs = clock.nowMs() - t0;
      ensemble.add(leaf);
      done++;
      double[] mean = ensemble.mean();
      probs = Ensemble.softmax(mean);
      maxProb = Ensemble.max(probs);
      elapsed = clock.nowMs() - start;
      StepUpdate u = new StepUpdate(done, n, steps.get(done - 1).leaf, leaf, mean, probs, stepMs,
          elapsed);
      updates.add(u);
      if (listener != null) {
        listener.onStep(u);
        elapsed = clock.nowMs() - start;
      }
    }
    return new Result(Ensemble.argmax(probs), probs, done, clock.nowMs() - start, updates);
  }

  /**
   * Runs every step on one normalized image: the leaf logits {@code [numSteps][numClasses]}; each
   * step's latency into {@code stepMs} if given.
   */
  public float[][] trace(float[] image, double[] stepMs) {
    loadInput(image);
    float[][] out = new float[steps.size()][];
    for (int s = 0; s < steps.size(); s++) {
      double t0 = clock.nowMs();
      out[s] = runStep(s);
      if (stepMs != null) {
        stepMs[s] = clock.nowMs() - t0;
      }
    }
    return out;
  }

  /** Copies the image into the input slot; callers do this before their clock starts. */
  private void loadInput(float[] image) {
    TensorBuffer slot = cache.get(Manifest.INPUT_SLOT);
    if (image == null || image.length != slot.size()) {
      throw new AnytimeException("input image has " + (image == null ? 0 : image.length)
          + " values; the model takes " + manifest.input.describe() + " = " + slot.size()
          + " (preprocess it with InputSpec)");
    }
    slot.set(image);
  }

  /** Runs step {@code index} (0-based) on the cache; a copy of its leaf logits. */
  private float[] runStep(int index) {
    Manifest.Step s = steps.get(index);
    logits.fill(Float.NaN);  // a runner that writes nothing is caught below
    Map<String, ByteBuffer> in = stepInputs.get(index);
    Map<String, ByteBuffer> out = stepOutputs.get(index);
    rewind(in);
    rewind(out);
    runner.run(s.signature, in, out);
    float[] leaf = logits.toArray();
    for (float v : leaf) {
      if (Float.isNaN(v) || Float.isInfinite(v)) {
        throw new AnytimeException("step " + s.step + " (signature '" + s.signature + "', leaf "
            + s.leaf + ") returned non-finite logits " + java.util.Arrays.toString(leaf)
            + ": the model file or its input is broken");
      }
    }
    return leaf;
  }

  private static void rewind(Map<String, ByteBuffer> buffers) {
    for (ByteBuffer b : buffers.values()) {
      b.clear();
    }
  }
}
