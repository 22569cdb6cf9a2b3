package org.hnetf.anytime;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The thread count a session runs the anytime file with, and how it came to it, for the screen.
 *
 * <p>Automatic threads ({@link AnytimeOptions#withAutoThreads}) compare 1 thread with N on the
 * device, per file (not per step: one interpreter per count and step would double the memory). Each
 * count's cost is the <em>total of its step medians</em> over the calibration runs: the time of one
 * image through every step, robust to a stray slow run. The rule is the export's ({@code
 * hne_tf.export.runtime.faster_count}): the fewest threads that no larger count beats by more than
 * the manifest's {@code latency.thread_margin} (0 for exports without it), so that a second thread
 * has to pay for waking the pool before it is kept.
 */
public final class ThreadChoice {
  /** The count the anytime file runs with. */
  public final int threads;
  /** Whether the session chose it ({@link AnytimeOptions#autoThreads}). */
  public final boolean automatic;
  /** E.g. "2 threads (auto, all steps: 1 thread 0.810 ms, 2 threads 0.620 ms; ...)". */
  public final String description;

  private ThreadChoice(int threads, boolean automatic, String description) {
    this.threads = threads;
    this.automatic = automatic;
    this.description = description;
  }

  /** The count asked for. */
  public static ThreadChoice fixed(int threads) {
    return new ThreadChoice(threads, false, count(threads));
  }

  /** Automatic threads that could not compare: {@code threads} is what ran, {@code why} says why. */
  public static ThreadChoice unmeasured(int threads, String why) {
    return new ThreadChoice(threads, true, count(threads) + " (auto: " + why + ")");
  }

  /**
   * Automatic threads that measured {@code counts} (ascending) at {@code ms} each (the total of the
   * step medians): the fewest not beaten by more than {@code margin} ({@link #fewestNotBeaten}).
   */
  public static ThreadChoice measured(int[] counts, double[] ms, double margin) {
    int chosen = fewestNotBeaten(counts, ms, margin);
    List<String> each = new ArrayList<>();
    for (int i = 0; i < counts.length; i++) {
      each.add(count(counts[i]) + String.format(Locale.ROOT, " %.3f ms", ms[i]));
    }
    String rule = margin > 0 ? "more threads only when over " + percent(margin) + " faster"
        : "more threads only when faster";
    return new ThreadChoice(chosen, true,
        count(chosen) + " (auto, all steps: " + String.join(", ", each) + "; " + rule + ")");
  }

  /**
   * Of thread {@code counts} (ascending) with their times {@code ms}, the fewest that no larger
   * count beats by more than {@code margin}: a larger count replaces the best so far only when its
   * time is below the best's times {@code 1 - margin}.
   */
  public static int fewestNotBeaten(int[] counts, double[] ms, double margin) {
    if (counts.length == 0 || counts.length != ms.length) {
      throw new IllegalArgumentException(counts.length + " thread counts with " + ms.length + " times");
    }
    if (!(margin >= 0 && margin <= 1)) {
      throw new IllegalArgumentException("a thread margin must be in [0, 1], got " + margin);
    }
    int best = 0;
    for (int i = 1; i < counts.length; i++) {
      if (counts[i] <= counts[i - 1]) {
        throw new IllegalArgumentException("thread counts must ascend, got " + java.util.Arrays.toString(counts));
      }
      if (ms[i] < ms[best] * (1 - margin)) {
        best = i;
      }
    }
    return counts[best];
  }

  /** The total over steps of each step's median, from {@code stepMs [runs][steps]}. */
  public static double totalOfMedians(double[][] stepMs) {
    double total = 0;
    for (double m : Calibration.predict(stepMs, 50)) {
      total += m;
    }
    return total;
  }

  /** "1 thread", "4 threads". */
  public static String count(int threads) {
    return threads + (threads == 1 ? " thread" : " threads");
  }

  /** 0.05 as "5%", 0.125 as "12.5%". */
  static String percent(double fraction) {
    double p = fraction * 100;
    return Math.abs(p - Math.rint(p)) < 1e-9 ? (long) Math.rint(p) + "%"
        : String.format(Locale.ROOT, "%.1f%%", p);
  }

  @Override
  public String toString() {
    return description;
  }
}
