package org.hnetf.anytime;

import java.util.Arrays;
import java.util.List;

/** The app's benchmark: mean leaves and latency under a rule, and the progressive cost of the steps. */
public final class Benchmark {
  private Benchmark() {}

  /** Means over images. */
  public static final class Summary {
    public final int images;
    public final double meanLeaves;
    public final double meanMs;
    /** Share of correct predictions, or NaN without labels. */
    public final double accuracy;

    Summary(int images, double meanLeaves, double meanMs, double accuracy) {
      this.images = images;
      this.meanLeaves = meanLeaves;
      this.meanMs = meanMs;
      this.accuracy = accuracy;
    }
  }

  /** Steps 1..N in sequence against the k = N prefix file once, median of the runs. */
  public static final class Progressive {
    public final double stepsMs;
    public final double prefixMs;
    public final double ratio;
    /** Median latency of each step within its sequence. */
    public final double[] stepMs;

    Progressive(double stepsMs, double prefixMs, double[] stepMs) {
      this.stepsMs = stepsMs;
      this.prefixMs = prefixMs;
      this.ratio = stepsMs / prefixMs;
      this.stepMs = stepMs;
    }
  }

  /** @param labels true classes, or null */
  public static Summary summarize(List<Result> results, int[] labels) {
    if (results.isEmpty()) {
      throw new IllegalArgumentException("no results to summarize");
    }
    double leaves = 0;
    double ms = 0;
    int correct = 0;
    for (int i = 0; i < results.size(); i++) {
      Result r = results.get(i);
      leaves += r.steps;
      ms += r.elapsedMs;
      if (labels != null && labels[i] == r.label) {
        correct++;
      }
    }
    int n = results.size();
    return new Summary(n, leaves / n, ms / n, labels == null ? Double.NaN : (double) correct / n);
  }

  /**
   * Times all anytime steps in sequence and the full prefix file on {@code image}, round-robin
   * ({@code runs} times each after one warm-up), so that load changes hit both alike.
   */
  public static Progressive progressive(AnytimeEngine engine, PrefixClassifier full, Clock clock,
      float[] image, int runs) {
    if (full.k != engine.numSteps()) {
      throw new IllegalArgumentException("the progressive cost compares against the k=" + engine.numSteps()
          + " prefix file, got k=" + full.k);
    }
    if (runs < 1) {
      throw new IllegalArgumentException("runs must be at least 1, got " + runs);
    }
    engine.trace(image, null);
    full.classify(image);
    double[] seq = new double[runs];
    double[] pre = new double[runs];
    double[][] steps = new double[runs][engine.numSteps()];
    for (int r = 0; r < runs; r++) {
      double t0 = clock.nowMs();
      engine.trace(image, steps[r]);
      seq[r] = clock.nowMs() - t0;
      pre[r] = full.classify(image).elapsedMs;
    }
    return new Progressive(median(seq), median(pre), Calibration.predict(steps, 50));
  }

  public static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    int n = v.length;
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
}
