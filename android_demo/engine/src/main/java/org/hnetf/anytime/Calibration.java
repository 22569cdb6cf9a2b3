package org.hnetf.anytime;

import java.util.Arrays;

/**
 * The deadline rule's per-step latency predictions: each step's percentile (90th by default) over
 * a calibration run, as {@code hne_tf.export.anytime.AnytimeEngine.calibrate} computes them.
 */
public final class Calibration {
  public static final double DEFAULT_PERCENTILE = 90.0;

  private Calibration() {}

  /**
   * The {@code q}-th percentile of {@code values} with linear interpolation between the closest
   * ranks (numpy's default): rank {@code (n - 1) q / 100}.
   */
  public static double percentile(double[] values, double q) {
    if (values.length == 0) {
      throw new IllegalArgumentException("percentile of no values");
    }
    if (!(q >= 0 && q <= 100)) {
      throw new IllegalArgumentException("a percentile must be in [0, 100], got " + q);
    }
    double[] v = values.clone();
    Arrays.sort(v);
    double rank = (v.length - 1) * q / 100.0;
    int lo = (int) Math.floor(rank);
    int hi = Math.min(lo + 1, v.length - 1);
    double frac = rank - lo;
    return v[lo] + (v[hi] - v[lo]) * frac;
  }

  /**
   * Per-step predictions from timed runs.
   *
   * @param stepMs {@code [runs][numSteps]}: each run's latency of every step
   * @return {@code [numSteps]}: each step's {@code q}-th percentile
   */
  public static double[] predict(double[][] stepMs, double q) {
    if (stepMs.length == 0) {
      throw new IllegalArgumentException("calibration needs at least one timed run");
    }
    int n = stepMs[0].length;
    double[] out = new double[n];
    double[] column = new double[stepMs.length];
    for (int s = 0; s < n; s++) {
      for (int r = 0; r < stepMs.length; r++) {
        if (stepMs[r].length != n) {
          throw new IllegalArgumentException(
              "calibration run " + r + " timed " + stepMs[r].length + " steps, expected " + n);
        }
        column[r] = stepMs[r][s];
      }
      out[s] = percentile(column, q);
    }
    return out;
  }
}
