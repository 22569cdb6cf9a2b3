package org.hnetf.anytime;

/**
 * What the live engine decides for recorded traces under a rule, without running anything:
 * {@code hne_tf.export.anytime.replay}. Elapsed time after k steps is the sum of that image's first k
 * recorded step times, added in step order.
 */
public final class Replay {
  /** Per image: steps run, predicted class, elapsed ms. */
  public final int[] steps;
  public final int[] prediction;
  public final double[] elapsedMs;

  private Replay(int n) {
    steps = new int[n];
    prediction = new int[n];
    elapsedMs = new double[n];
  }

  /**
   * @param logits {@code [images][steps][classes]}
   * @param stepMs {@code [images][steps]}
   * @param predictedMs {@code [steps]}: the deadline rule's predictions
   */
  public static Replay run(float[][][] logits, double[][] stepMs, Rule rule,
      double[] predictedMs) {
    int n = logits.length;
    Replay out = new Replay(n);
    for (int i = 0; i < n; i++) {
      int numSteps = logits[i].length;
      Ensemble ensemble = new Ensemble(logits[i][0].length);
      double elapsed = 0;
      double maxProb = 0;
      double[] probs = null;
      int done = 0;
      while (rule.runNext(done, numSteps, elapsed, predictedMs[Math.min(done, numSteps - 1)], maxProb)) {
        ensemble.add(logits[i][done]);
        elapsed += stepMs[i][done];
        done++;
        probs = ensemble.probabilities();
        maxProb = Ensemble.max(probs);
      }
      out.steps[i] = done;
      out.prediction[i] = Ensemble.argmax(probs);
      out.elapsedMs[i] = elapsed;
    }
    return out;
  }
}
