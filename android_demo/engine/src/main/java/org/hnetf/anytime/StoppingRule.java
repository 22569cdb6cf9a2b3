package org.hnetf.anytime;

import java.util.Locale;

/**
 * When to stop adding leaves: the same rules, with the same semantics, as
 * {@code hne_tf.export.anytime.StoppingRule} in Python.
 *
 * <ul>
 *   <li>{@code DEADLINE v}: a per-image budget of v ms. Step k+1 runs only if the time spent after k
 *       steps plus step k+1's predicted latency is at most v.
 *   <li>{@code CONFIDENCE v}: step k+1 runs while the running ensemble's max probability after k
 *       steps is below v.
 *   <li>{@code LEAVES v}: step k+1 runs while k is below v.
 * </ul>
 *
 * Step 1 always runs (there is no answer without it); no step past the last runs.
 */
public final class StoppingRule implements Rule {
  public enum Kind {
    DEADLINE,
    CONFIDENCE,
    LEAVES;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }

    public static Kind of(String key) {
      for (Kind k : values()) {
        if (k.key().equals(key)) {
          return k;
        }
      }
      throw new IllegalArgumentException(
          "unknown rule '" + key + "'; choose from deadline, confidence, leaves");
    }
  }

  public final Kind kind;
  public final double value;

  /**
   * @throws IllegalArgumentException for a deadline that is not positive, a confidence threshold
   *     outside (0, 1], or a number of leaves that is not a positive integer (NaN is rejected
   *     everywhere).
   */
  public StoppingRule(Kind kind, double value) {
    if (kind == null) {
      throw new IllegalArgumentException("a stopping rule needs a kind: deadline, confidence or leaves");
    }
    switch (kind) {
      case DEADLINE:
        if (!(value > 0)) {
          throw new IllegalArgumentException("a deadline must be positive (ms), got " + value);
        }
        break;
      case CONFIDENCE:
        if (!(value > 0 && value <= 1)) {
          throw new IllegalArgumentException(
              "a confidence threshold must be in (0, 1], got " + value);
        }
        break;
      case LEAVES:
        if (!(value >= 1) || value != Math.rint(value) || Double.isInfinite(value)) {
          throw new IllegalArgumentException(
              "the number of leaves must be a positive integer, got " + value);
        }
        break;
    }
    this.kind = kind;
    this.value = value;
  }

  public static StoppingRule deadline(double ms) {
    return new StoppingRule(Kind.DEADLINE, ms);
  }

  public static StoppingRule confidence(double threshold) {
    return new StoppingRule(Kind.CONFIDENCE, threshold);
  }

  public static StoppingRule leaves(int count) {
    return new StoppingRule(Kind.LEAVES, count);
  }

  public static StoppingRule of(String kind, double value) {
    return new StoppingRule(Kind.of(kind), value);
  }

  /**
   * Whether to run step {@code stepsDone + 1} (1-based) after {@code stepsDone} steps.
   *
   * @param elapsedMs time spent on this image after {@code stepsDone} steps
   * @param nextStepMs the predicted latency of the next step
   * @param maxProbability the running ensemble's max probability after {@code stepsDone} steps
   */
  @Override
  public boolean runNext(
      int stepsDone, int numSteps, double elapsedMs, double nextStepMs, double maxProbability) {
    if (stepsDone == 0) {
      return true;
    }
    if (stepsDone >= numSteps) {
      return false;
    }
    switch (kind) {
      case LEAVES:
        return stepsDone < (int) value;
      case CONFIDENCE:
        return maxProbability < value;
      default:
        return elapsedMs + nextStepMs <= value;
    }
  }

  @Override
  public String describe() {
    switch (kind) {
      case LEAVES:
        return "leaves " + (int) value;
      case CONFIDENCE:
        return "confidence " + value;
      default:
        return "deadline " + value + " ms";
    }
  }

  @Override
  public String toString() {
    return describe();
  }
}
