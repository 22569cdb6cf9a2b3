package org.hnetf.anytime;

/** The app's benchmark of the bundled images: {@link ClassifierSession#benchmark}. */
public final class BenchmarkReport {
  public final Benchmark.Summary summary;
  /** The rule the images ran under, e.g. "leaves 16 and confidence 1.0". */
  public final String rule;
  /** Steps 1..N against the k = N prefix file, or null when the app has no k = N file. */
  public final Benchmark.Progressive progressive;

  BenchmarkReport(Benchmark.Summary summary, String rule, Benchmark.Progressive progressive) {
    this.summary = summary;
    this.rule = rule;
    this.progressive = progressive;
  }

  /** The lines the screen shows. */
  public String describe(int numSteps) {
    String s = String.format(java.util.Locale.ROOT, "%d images, %s: mean %.2f leaves, mean %.3f ms, accuracy %.1f%%",
        summary.images, rule, summary.meanLeaves, summary.meanMs, 100 * summary.accuracy);
    if (progressive != null) {
      s += String.format(java.util.Locale.ROOT,
          "%nprogressive cost: steps 1..%d %.3f ms vs the k=%d file %.3f ms (ratio %.2f)",
          numSteps, progressive.stepsMs, numSteps, progressive.prefixMs, progressive.ratio);
    }
    return s;
  }
}
