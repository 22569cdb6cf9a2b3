package org.hnetf.anytime;

/** What the screen shows after each leaf step: the running ensemble, the step's and the total time. */
public final class StepUpdate {
  /** Steps run so far (1-based: 1 after the first step). */
  public final int steps;
  public final int numSteps;
  /** The leaf this step added. */
  public final int leaf;
  /** This leaf's logits. */
  public final float[] leafLogits;
  /** Mean of the leaf logits so far. */
  public final double[] mean;
  /** Softmax of {@link #mean}. */
  public final double[] probabilities;
  /** This step's latency (the interpreter call with its copies). */
  public final double stepMs;
  /** Time used on this image so far. */
  public final double elapsedMs;

  public StepUpdate(int steps, int numSteps, int leaf, float[] leafLogits, double[] mean,
      double[] probabilities, double stepMs, double elapsedMs) {
    this.steps = steps;
    this.numSteps = numSteps;
    this.leaf = leaf;
    this.leafLogits = leafLogits;
    this.mean = mean;
    this.probabilities = probabilities;
    this.stepMs = stepMs;
    this.elapsedMs = elapsedMs;
  }

  /** The {@code k} most probable classes, most probable first. */
  public int[] top(int k) {
    return Ensemble.topK(probabilities, k);
  }

  /** Listener for step-by-step results (the app posts them to its UI state). */
  public interface Listener {
    void onStep(StepUpdate update);
  }
}
