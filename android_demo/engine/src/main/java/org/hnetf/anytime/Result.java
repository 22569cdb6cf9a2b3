package org.hnetf.anytime;

import java.util.Collections;
import java.util.List;

/** One image's anytime classification. */
public final class Result {
  /** Predicted class: argmax of the ensemble after the last step run. */
  public final int label;
  /** Softmax of the mean logits of the leaves run. */
  public final double[] probabilities;
  /** Leaves (steps) run. */
  public final int steps;
  /** Time from the start of step 1 to the end of the last step run (the rule's clock). */
  public final double elapsedMs;
  /** What each step run gave, in order. */
  public final List<StepUpdate> updates;

  public Result(int label, double[] probabilities, int steps, double elapsedMs,
      List<StepUpdate> updates) {
    this.label = label;
    this.probabilities = probabilities;
    this.steps = steps;
    this.elapsedMs = elapsedMs;
    this.updates = Collections.unmodifiableList(updates);
  }
}
