package org.hnetf.anytime;

import java.util.Arrays;

/**
 * The running ensemble of the leaves run so far: the mean of their logits, and its softmax
 * ({@code manifest.ensemble.combine == "mean_logits"}).
 *
 * <p>The sum is kept in float32, added in step order, as the Python runner's numpy cumsum over
 * float32 logits does; the mean and the softmax are computed in double. So the decisions the
 * replayed Python rules took are reproduced bit for bit wherever float32 addition is IEEE (the JVM
 * guarantees it).
 */
public final class Ensemble {
  private final float[] sum;
  private int count;

  public Ensemble(int numClasses) {
    if (numClasses < 1) {
      throw new IllegalArgumentException("an ensemble needs at least one class, got " + numClasses);
    }
    sum = new float[numClasses];
  }

  /** Adds one leaf's logits ({@code [numClasses]}). */
  public void add(float[] logits) {
    if (logits.length != sum.length) {
      throw new AnytimeException(
          "leaf logits have " + logits.length + " values, the ensemble has " + sum.length + " classes");
    }
    for (int c = 0; c < sum.length; c++) {
      sum[c] += logits[c];
    }
    count++;
  }

  public int count() {
    return count;
  }

  public int numClasses() {
    return sum.length;
  }

  /** Mean of the leaf logits so far: {@code [numClasses]}. */
  public double[] mean() {
    if (count == 0) {
      throw new IllegalStateException("the ensemble is empty: run at least one step");
    }
    double[] m = new double[sum.length];
    for (int c = 0; c < sum.length; c++) {
      m[c] = (double) sum[c] / count;
    }
    return m;
  }

  public double[] probabilities() {
    return softmax(mean());
  }

  /** Numerically stable softmax. */
  public static double[] softmax(double[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : logits) {
      max = Math.max(max, v);
    }
    double[] e = new double[logits.length];
    double total = 0;
    for (int i = 0; i < logits.length; i++) {
      e[i] = Math.exp(logits[i] - max);
      total += e[i];
    }
    for (int i = 0; i < e.length; i++) {
      e[i] /= total;
    }
    return e;
  }

  /** Index of the largest value; the first one on ties (as numpy's argmax). */
  public static int argmax(double[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  public static double max(double[] values) {
    return values[argmax(values)];
  }

  /** Indices of the {@code k} largest values, largest first (ties: lower index first). */
  public static int[] topK(double[] values, int k) {
    Integer[] idx = new Integer[values.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, (a, b) -> values[a] != values[b] ? Double.compare(values[b], values[a]) : a - b);
    int n = Math.min(k, values.length);
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = idx[i];
    }
    return out;
  }
}
