package org.hnetf.anytime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/** Decides after each step whether to run the next: a {@link StoppingRule}, or several combined. */
public interface Rule {
  /**
   * Whether to run step {@code stepsDone + 1} (1-based) after {@code stepsDone} steps; see {@link
   * StoppingRule#runNext}.
   */
  boolean runNext(int stepsDone, int numSteps, double elapsedMs, double nextStepMs, double maxProbability);

  String describe();

  /**
   * The app's rule: the next step runs only if every one of {@code rules} would run it (it fits the
   * time budget, the confidence is still below the threshold, and fewer than the maximum leaves
   * ran). Each keeps its own semantics, so step 1 still always runs.
   */
  static Rule all(StoppingRule... rules) {
    if (rules.length == 0) {
      throw new IllegalArgumentException("combine at least one rule");
    }
    final List<StoppingRule> list = Collections.unmodifiableList(new ArrayList<>(Arrays.asList(rules)));
    return new Rule() {
      @Override
      public boolean runNext(int stepsDone, int numSteps, double elapsedMs, double nextStepMs,
          double maxProbability) {
        for (StoppingRule r : list) {
          if (!r.runNext(stepsDone, numSteps, elapsedMs, nextStepMs, maxProbability)) {
            return false;
          }
        }
        return true;
      }

      @Override
      public String describe() {
        StringBuilder sb = new StringBuilder();
        for (StoppingRule r : list) {
          sb.append(sb.length() == 0 ? "" : " and ").append(r.describe());
        }
        return sb.toString();
      }
    };
  }
}
