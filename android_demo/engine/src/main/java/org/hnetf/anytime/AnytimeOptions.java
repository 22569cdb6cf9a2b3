package org.hnetf.anytime;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * What the user chose on the screen, as the options object of LiteRT's image-classification sample
 * configures its helper: the model file (precision), delegate, threads, and the stopping rule.
 * Immutable; {@code with*} return a changed copy. {@link #problems} checks it against what the
 * bundled export offers; the {@link ClassifierSession} applies it all or nothing.
 */
public final class AnytimeOptions {
  /** The anytime file step by step, or one fixed per-prefix file of k leaves. */
  public enum Mode { ANYTIME, FIXED }

  public static final int MAX_THREADS = 8;

  /**
   * The interpreters' thread count; with {@link #autoThreads}, the largest count the session
   * compares with 1 thread.
   */
  public final int threads;
  /**
   * Whether the session measures the thread count on the device: it times the anytime file at 1
   * and at {@link #threads} threads on the calibration images and keeps the fewer unless the larger
   * is faster by more than the manifest's {@code latency.thread_margin} ({@link ThreadChoice}).
   */
  public final boolean autoThreads;
  public final Delegate delegate;
  /** The model files' precision (float32, float16, dynamic, int8, ...); null: the config's default. */
  public final String precision;
  /** Per-image time budget in ms (the deadline rule); null: none. */
  public final Double timeBudgetMs;
  /** Stop once the ensemble's max probability reaches this; 1.0 never stops early. */
  public final double confidence;
  /** Run at most this many leaves; null: all of them. */
  public final Integer maxLeaves;
  public final Mode mode;
  /** The prefix size k of the fixed file in {@link Mode#FIXED}; 0: the smallest there is. */
  public final int fixedK;

  /** 2 fixed threads (the app asks for {@link #withAutoThreads}), XNNPACK, every leaf runs. */
  public AnytimeOptions() {
    this(2, Delegate.XNNPACK, null, null, 1.0, null, Mode.ANYTIME, 0);
  }

  /** A fixed thread count. */
  public AnytimeOptions(int threads, Delegate delegate, String precision, Double timeBudgetMs,
      double confidence, Integer maxLeaves, Mode mode, int fixedK) {
    this(threads, false, delegate, precision, timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions(int threads, boolean autoThreads, Delegate delegate, String precision,
      Double timeBudgetMs, double confidence, Integer maxLeaves, Mode mode, int fixedK) {
    this.threads = threads;
    this.autoThreads = autoThreads;
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.precision = precision;
    this.timeBudgetMs = timeBudgetMs;
    this.confidence = confidence;
    this.maxLeaves = maxLeaves;
    this.mode = Objects.requireNonNull(mode, "mode");
    this.fixedK = fixedK;
  }

  /** A fixed count of {@code v} threads (automatic threads off). */
  public AnytimeOptions withThreads(int v) {
    return new AnytimeOptions(v, false, delegate, precision,
        timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  /**
   * Automatic threads: the session compares 1 thread with {@code upTo} threads on the device (the
   * app passes {@link #defaultThreads}; {@code upTo} 1 leaves nothing to compare).
   */
  public AnytimeOptions withAutoThreads(int upTo) {
    return new AnytimeOptions(upTo, true, delegate, precision,
        timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions withDelegate(Delegate v) {
    return new AnytimeOptions(threads, autoThreads, v, precision,
        timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions withPrecision(String v) {
    return new AnytimeOptions(threads, autoThreads, delegate, v,
        timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions withTimeBudgetMs(Double v) {
    return new AnytimeOptions(threads, autoThreads, delegate, precision,
        v, confidence, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions withConfidence(double v) {
    return new AnytimeOptions(threads, autoThreads, delegate, precision,
        timeBudgetMs, v, maxLeaves, mode, fixedK);
  }

  public AnytimeOptions withMaxLeaves(Integer v) {
    return new AnytimeOptions(threads, autoThreads, delegate, precision,
        timeBudgetMs, confidence, v, mode, fixedK);
  }

  public AnytimeOptions withMode(Mode v) {
    return new AnytimeOptions(threads, autoThreads, delegate, precision,
        timeBudgetMs, confidence, maxLeaves, v, fixedK);
  }

  public AnytimeOptions withFixedK(int v) {
    return new AnytimeOptions(threads, autoThreads, delegate, precision,
        timeBudgetMs, confidence, maxLeaves, mode, v);
  }

  /**
   * The largest thread count worth trying on a phone with {@code cores} CPUs: half of them (phones
   * pair big and little cores, and the interpreter's threads should land on the big ones), 1 to 4.
   * The app's default is {@link #withAutoThreads} of it: 1 thread against this many, measured.
   */
  public static int defaultThreads(int cores) {
    return Math.max(1, Math.min(4, cores / 2));
  }

  /** The thread counts the screen offers: 1, 2, 4 and 8, those the phone has cores for. */
  public static List<Integer> threadChoices(int cores) {
    List<Integer> out = new ArrayList<>();
    for (int t = 1; t <= MAX_THREADS; t *= 2) {
      if (t == 1 || t <= cores) {
        out.add(t);
      }
    }
    return out;
  }

  /**
   * The engine's rule for these options: the next leaf runs only while it fits the time budget, the
   * confidence is below the threshold and fewer than {@link #maxLeaves} ran. Out-of-range values
   * throw IllegalArgumentException with the Python engine's message.
   */
  public Rule rule(int numSteps) {
    List<StoppingRule> rules = new ArrayList<>();
    rules.add(StoppingRule.leaves(maxLeaves == null ? numSteps : maxLeaves));
    rules.add(StoppingRule.confidence(confidence));
    if (timeBudgetMs != null) {
      rules.add(StoppingRule.deadline(timeBudgetMs));
    }
    return Rule.all(rules.toArray(new StoppingRule[0]));
  }

  /**
   * Everything wrong with these options for an export of {@code numSteps} leaves whose config offers
   * {@code precisions} and, for the chosen precision, {@code prefixSizes}; empty when they can be
   * applied.
   */
  public List<String> problems(int numSteps, Collection<String> precisions, Collection<Integer> prefixSizes) {
    List<String> out = new ArrayList<>();
    if (threads < 1 || threads > MAX_THREADS) {
      out.add((autoThreads ? "automatic threads compare 1 with 1.." : "threads must be 1..") + MAX_THREADS
          + ", got " + threads);
    }
    if (precision != null && !precisions.contains(precision)) {
      out.add("no " + precision + " model files in the app; it has " + String.join(", ", precisions));
    }
    if (maxLeaves != null && maxLeaves > numSteps) {
      out.add("maximum leaves " + maxLeaves + " is more than the model's " + numSteps);
    }
    try {
      rule(numSteps);
    } catch (IllegalArgumentException e) {
      out.add(e.getMessage());
    }
    if (mode == Mode.FIXED && fixedK != 0 && !prefixSizes.contains(fixedK)) {
      out.add("no fixed prefix file of k=" + fixedK + "; there are k = " + prefixSizes);
    }
    return out;
  }

  /**
   * Whether switching to {@code other} needs new interpreters (and a new calibration; in automatic
   * threads, a new comparison).
   */
  public boolean needsNewInterpreters(AnytimeOptions other) {
    return threads != other.threads || autoThreads != other.autoThreads || delegate != other.delegate
        || !Objects.equals(precision, other.precision);
  }

  /** Threads, delegate and precision: what the interpreters were built for. */
  public String describeRuntime() {
    return (precision == null ? "default precision" : precision) + ", " + delegate + ", " + describeThreads();
  }

  /** "2 threads", or "automatic threads (1 or 4)". */
  public String describeThreads() {
    return autoThreads ? "automatic threads (1" + (threads > 1 ? " or " + threads : "") + ")"
        : ThreadChoice.count(threads);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof AnytimeOptions)) {
      return false;
    }
    AnytimeOptions x = (AnytimeOptions) o;
    return threads == x.threads && autoThreads == x.autoThreads && delegate == x.delegate && Objects.equals(precision, x.precision)
        && Objects.equals(timeBudgetMs, x.timeBudgetMs) && confidence == x.confidence
        && Objects.equals(maxLeaves, x.maxLeaves) && mode == x.mode && fixedK == x.fixedK;
  }

  @Override
  public int hashCode() {
    return Objects.hash(threads, autoThreads, delegate, precision, timeBudgetMs, confidence, maxLeaves, mode, fixedK);
  }

  @Override
  public String toString() {
    return "AnytimeOptions(" + describeRuntime() + ", budget=" + timeBudgetMs + " ms, confidence="
        + confidence + ", maxLeaves=" + maxLeaves + ", " + mode + (mode == Mode.FIXED ? " k=" + fixedK : "")
        + ")";
  }
}
