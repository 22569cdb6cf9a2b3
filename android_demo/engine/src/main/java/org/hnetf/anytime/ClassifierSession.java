package org.hnetf.anytime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything the app decides about its models, with explicit states: loading the bundled export,
 * building interpreters for the chosen precision, delegate and threads (with the fallbacks of
 * {@link DelegatePlan} and {@link FallbackRunner}), calibrating, classifying, and applying new
 * options all or nothing. The app only supplies the assets, a {@link RunnerFactory} (LiteRT) and the
 * calibration images, and shows {@link #status()}.
 *
 * <ul>
 *   <li>Before {@link #init} and after a failed one the phase is {@link Phase#NOT_LOADED} or {@link
 *       Phase#FAILED}; every action then throws {@link IllegalStateException} naming why, and nothing
 *       half-loaded is kept.
 *   <li>{@link #setOptions}: rule values apply at once. A new precision, delegate or thread count
 *       builds and calibrates new interpreters <em>before</em> closing the old ones; if that fails
 *       the old interpreters and options stay, and the exception says what was kept.
 *   <li>A fallback to another delegate while classifying (the GPU failing at run time) makes the
 *       latency predictions stale: the session recalibrates after that image.
 *   <li>Automatic threads ({@link AnytimeOptions#withAutoThreads}): building the interpreters opens
 *       the anytime file at 1 and N threads, times both on the calibration images and keeps one by
 *       {@link ThreadChoice}'s rule, closing the other; {@link Status#threadChoice} says what was
 *       measured. {@link #recalibrate} keeps the choice. Prefix files open at the chosen count.
 * </ul>
 *
 * <p>Not thread-safe in the interpreters' sense: call it from one worker thread (its methods are
 * synchronized so a stray call waits rather than corrupts).
 */
public final class ClassifierSession implements AutoCloseable {
  public enum Phase { NOT_LOADED, READY, FAILED }

  /** The app's bundled files (assets). */
  public interface Assets {
    byte[] read(String name) throws IOException;
  }

  /** The calibration images for a manifest: the bundled samples, preprocessed. */
  public interface CalibrationImages {
    List<float[]> of(Manifest manifest) throws Exception;
  }

  /** A snapshot for the screen. */
  public static final class Status {
    public final Phase phase;
    /** Why the last init failed (FAILED), else null. */
    public final String error;
    public final AnytimeOptions options;
    /** What runs the anytime file now, with any fallback and why ({@link FallbackRunner#describe}). */
    public final String runtime;
    /** The thread count the anytime file runs with (0 when not loaded). */
    public final int threads;
    /**
     * That count and, for automatic threads, how it was chosen ({@link ThreadChoice#description}):
     * "2 threads (auto, all steps: 1 thread 0.810 ms, 2 threads 0.620 ms; ...)"; empty when not loaded.
     */
    public final String threadChoice;
    public final List<String> precisions;
    public final List<Integer> prefixSizes;
    public final int numSteps;
    public final List<String> labels;
    public final double[] predictedMs;

    Status(Phase phase, String error, AnytimeOptions options, String runtime, ThreadChoice threadChoice,
        List<String> precisions, List<Integer> prefixSizes, int numSteps, List<String> labels,
        double[] predictedMs) {
      this.phase = phase;
      this.error = error;
      this.options = options;
      this.runtime = runtime;
      this.threads = threadChoice == null ? 0 : threadChoice.threads;
      this.threadChoice = threadChoice == null ? "" : threadChoice.description;
      this.precisions = precisions;
      this.prefixSizes = prefixSizes;
      this.numSteps = numSteps;
      this.labels = labels;
      this.predictedMs = predictedMs;
    }
  }

  private final RunnerFactory factory;
  private final Clock clock;
  private final EngineLog log;
  /** File -> why the GPU failed on it in this process. */
  private final Map<String, String> gpuRefusals = new HashMap<>();
  private final Set<String> checkedFiles = new HashSet<>();
  private Assets assets;
  private Manifest manifest;
  private DemoConfig config;
  private List<float[]> calibrationImages = Collections.emptyList();
  private Phase phase = Phase.NOT_LOADED;
  private String error;
  private AnytimeOptions options = new AnytimeOptions();
  private Loaded loaded;

  public ClassifierSession(RunnerFactory factory, Clock clock, EngineLog log) {
    this.factory = factory;
    this.clock = clock;
    this.log = log;
  }

  /** The anytime file opened at one thread count, and its engine. */
  private final class Candidate {
    final int threads;
    final FallbackRunner runner;
    final AnytimeEngine engine;
    /** Calibration step times {@code [runs][steps]} of an automatic-threads comparison. */
    double[][] times;
    /** Why this count runs the file (set once it is the one kept). */
    ThreadChoice choice;

    Candidate(String file, Delegate delegate, int threads) {
      this.threads = threads;
      runner = openFile(file, delegate, threads);
      try {
        engine = new AnytimeEngine(manifest, runner, clock);  // checks signatures and slot shapes
      } catch (RuntimeException e) {
        runner.close();
        throw e;
      }
    }
  }

  /** The interpreters built for one runtime choice (precision, delegate, threads). */
  private final class Loaded implements AutoCloseable {
    final DemoConfig.Files files;
    final int threads;
    final ThreadChoice threadChoice;
    final Delegate delegate;
    final FallbackRunner runner;
    final AnytimeEngine engine;
    final Map<Integer, FallbackRunner> prefixRunners = new HashMap<>();
    final Map<Integer, PrefixClassifier> prefixes = new HashMap<>();
    int calibratedAt;

    Loaded(AnytimeOptions o) {
      files = config.files(o.precision);
      delegate = o.delegate;
      Candidate chosen;
      if (!o.autoThreads) {
        chosen = calibrated(new Candidate(files.anytime, delegate, o.threads), ThreadChoice.fixed(o.threads));
      } else if (o.threads == 1) {
        chosen = calibrated(new Candidate(files.anytime, delegate, 1),
            ThreadChoice.unmeasured(1, "no larger count to compare"));
      } else if (calibrationImages.isEmpty()) {
        chosen = calibrated(new Candidate(files.anytime, delegate, 1),
            ThreadChoice.unmeasured(1, "no calibration images to compare on"));
      } else {
        chosen = compareThreads(files.anytime, delegate, new int[] {1, o.threads});
      }
      threadChoice = chosen.choice;
      if (o.autoThreads) {
        log.info(files.anytime + ": " + threadChoice.description);
      }
      threads = chosen.threads;
      runner = chosen.runner;
      engine = chosen.engine;
      calibratedAt = runner.fallbacks();
    }

    /** {@code c} calibrated on the calibration images (if any); closed if that fails. */
    private Candidate calibrated(Candidate c, ThreadChoice choice) {
      try {
        if (!calibrationImages.isEmpty()) {
          c.engine.calibrate(calibrationImages);
        }
        c.choice = choice;
        return c;
      } catch (RuntimeException e) {
        c.runner.close();
        throw e;
      }
    }

    PrefixClassifier prefix(int k) {
      PrefixClassifier p = prefixes.get(k);
      if (p != null) {
        return p;
      }
      String file = files.prefixes.get(k);
      if (file == null) {
        throw new IllegalArgumentException("no fixed prefix file of k=" + k + "; there are k = "
            + files.prefixSizes());
      }
      FallbackRunner r = openFile(file, delegate, threads);
      try {
        p = new PrefixClassifier(manifest, entry(file), r, clock);
      } catch (RuntimeException e) {
        r.close();
        throw e;
      }
      prefixRunners.put(k, r);
      prefixes.put(k, p);
      return p;
    }

    @Override
    public void close() {
      if (runner != null) {
        runner.close();
      }
      for (FallbackRunner r : prefixRunners.values()) {
        r.close();
      }
      prefixRunners.clear();
      prefixes.clear();
    }
  }

  /** {@code file} on the first delegate of its plan that opens (checked against the manifest first). */
  private FallbackRunner openFile(String file, Delegate delegate, int threads) {
    checkFile(file);
    Manifest.FileEntry entry = entry(file);
    String fileDelegate = entry.json.optString("delegate", null);
    List<DelegatePlan.Attempt> plan = DelegatePlan.attempts(delegate, fileDelegate,
        factory.gpuAvailable(), gpuRefusals.get(file));
    return new FallbackRunner(file, plan, threads, factory, log, gpuRefusals::put);
  }

  /**
   * Automatic threads: opens {@code file} at each of {@code counts} (ascending), times them on the
   * calibration images in interleaved passes (one warm-up pass, then {@link
   * AnytimeEngine#CALIBRATION_REPEATS}; each image runs at every count in turn, so that a change of
   * the phone's clock speed or load hits every count alike), keeps the count {@link
   * ThreadChoice#measured} picks with its calibrated predictions, and closes the others. A count
   * that cannot be opened or fails while timed is dropped, saying why; the session fails only when
   * every count does (with the first failure).
   */
  private Candidate compareThreads(String file, Delegate delegate, int[] counts) {
    List<Candidate> alive = new ArrayList<>();
    List<String> dropped = new ArrayList<>();
    RuntimeException first = null;
    for (int t : counts) {
      try {
        alive.add(new Candidate(file, delegate, t));
      } catch (RuntimeException e) {
        first = first == null ? e : first;
        dropped.add(ThreadChoice.count(t) + " could not be used: " + FallbackRunner.message(e));
        log.warn(file + ": automatic threads: " + ThreadChoice.count(t) + " could not be opened", e);
      }
    }
    int n = calibrationImages.size();
    for (Candidate c : alive) {
      c.times = new double[AnytimeEngine.CALIBRATION_REPEATS * n][];
    }
    for (int pass = -1; pass < AnytimeEngine.CALIBRATION_REPEATS; pass++) {  // -1: the warm-up
      for (int i = 0; i < n; i++) {
        for (java.util.Iterator<Candidate> it = alive.iterator(); it.hasNext(); ) {
          Candidate c = it.next();
          double[] row = pass < 0 ? null : new double[manifest.steps.size()];
          try {
            c.engine.trace(calibrationImages.get(i), row);
          } catch (RuntimeException e) {
            first = first == null ? e : first;
            dropped.add(ThreadChoice.count(c.threads) + " failed while timed: " + FallbackRunner.message(e));
            log.warn(file + ": automatic threads: " + ThreadChoice.count(c.threads) + " failed while timed", e);
            c.runner.close();
            it.remove();
            continue;
          }
          if (row != null) {
            c.times[pass * n + i] = row;
          }
        }
      }
    }
    if (alive.isEmpty()) {
      throw first;
    }
    int[] measured = new int[alive.size()];
    double[] ms = new double[alive.size()];
    for (int i = 0; i < alive.size(); i++) {
      measured[i] = alive.get(i).threads;
      ms[i] = ThreadChoice.totalOfMedians(alive.get(i).times);
    }
    ThreadChoice choice = alive.size() > 1 ? ThreadChoice.measured(measured, ms, manifest.threadMargin)
        : ThreadChoice.unmeasured(measured[0], String.join("; ", dropped));
    Candidate chosen = null;
    for (Candidate c : alive) {
      if (c.threads == choice.threads) {
        chosen = c;
      } else {
        c.runner.close();
      }
    }
    chosen.engine.setPredictedMs(Calibration.predict(chosen.times, Calibration.DEFAULT_PERCENTILE));
    chosen.choice = choice;
    return chosen;
  }

  private Manifest.FileEntry entry(String file) {
    for (Manifest.FileEntry f : manifest.files) {
      if (f.file.equals(file)) {
        return f;
      }
    }
    throw new ManifestException(file + " is not in the manifest");
  }

  /** Checks a model file's bytes against the manifest's size and sha256, once per file. */
  private void checkFile(String file) {
    if (checkedFiles.contains(file)) {
      return;
    }
    try {
      Manifest.checkFile(entry(file), assets.read(file));
    } catch (IOException e) {
      throw new AnytimeException("cannot read " + file + ": " + e.getMessage(), e);
    }
    checkedFiles.add(file);
  }

  /**
   * Reads {@code manifest.json} and {@code demo_config.json}, checks the chosen precision's anytime
   * file, builds its interpreter and calibrates on {@code images}. Never throws: a failure leaves
   * the session {@link Phase#FAILED} with the reason in {@link #status()}, and nothing open.
   */
  public synchronized Status init(Assets assets, AnytimeOptions requested, CalibrationImages images) {
    closeLoaded();
    this.assets = assets;
    checkedFiles.clear();
    try {
      manifest = Manifest.parse(new String(assets.read("manifest.json"), StandardCharsets.UTF_8));
      config = DemoConfig.parse(new String(assets.read("demo_config.json"), StandardCharsets.UTF_8), manifest);
      AnytimeOptions o = resolve(requested);
      List<String> problems = problems(o);
      if (!problems.isEmpty()) {
        throw new IllegalArgumentException(String.join("; ", problems));
      }
      calibrationImages = new ArrayList<>(images.of(manifest));
      loaded = new Loaded(o);
      if (o.mode == AnytimeOptions.Mode.FIXED) {
        loaded.prefix(o.fixedK);
      }
      options = o;
      phase = Phase.READY;
      error = null;
      log.info("loaded " + manifest.numLeaves + " leaves, " + describe(o, loaded));
    } catch (Exception e) {
      closeLoaded();
      phase = Phase.FAILED;
      error = FallbackRunner.message(e);
      log.log(EngineLog.Level.ERROR, "the model did not load: " + error, e);
    }
    return status();
  }

  /**
   * The precision filled in from the config where left open, and k from the precision's prefix
   * files where left open or (outside fixed mode) not one of them.
   */
  private AnytimeOptions resolve(AnytimeOptions o) {
    AnytimeOptions r = o.precision == null ? o.withPrecision(config.defaultPrecision) : o;
    if (config.precisions.containsKey(r.precision)) {
      List<Integer> ks = config.files(r.precision).prefixSizes();
      boolean open = r.fixedK == 0 || (r.mode != AnytimeOptions.Mode.FIXED && !ks.contains(r.fixedK));
      if (open && !ks.isEmpty()) {
        r = r.withFixedK(ks.get(0));
      }
    }
    return r;
  }

  private List<String> problems(AnytimeOptions o) {
    List<Integer> ks = config.precisions.containsKey(o.precision)
        ? config.files(o.precision).prefixSizes() : Collections.<Integer>emptyList();
    return o.problems(manifest.steps.size(), config.precisionNames(), ks);
  }

  private void requireReady() {
    if (phase != Phase.READY) {
      throw new IllegalStateException(phase == Phase.FAILED
          ? "the model is not loaded: " + error : "the model is not loaded yet");
    }
  }

  public synchronized Phase phase() {
    return phase;
  }

  /** The manifest (READY only). */
  public synchronized Manifest manifest() {
    requireReady();
    return manifest;
  }

  public synchronized AnytimeOptions options() {
    return options;
  }

  public synchronized Status status() {
    if (phase != Phase.READY) {
      return new Status(phase, error, options, phase == Phase.FAILED ? "not loaded" : "loading", null,
          Collections.<String>emptyList(), Collections.<Integer>emptyList(), 0,
          Collections.<String>emptyList(), new double[0]);
    }
    return new Status(phase, null, options, loaded.runner.describe(), loaded.threadChoice, config.precisionNames(),
        loaded.files.prefixSizes(), manifest.steps.size(), manifest.labels, loaded.engine.predictedMs());
  }

  /**
   * Applies new options, all or nothing. Rule values and the mode apply at once; a new precision,
   * delegate or thread count builds and calibrates new interpreters first and closes the old ones
   * only once that worked.
   *
   * @throws IllegalArgumentException for values out of range (nothing changes)
   * @throws AnytimeException when the new interpreters cannot be built; the message says what was
   *     kept, and the old options and interpreters stay in use
   */
  public synchronized Status setOptions(AnytimeOptions requested) {
    requireReady();
    AnytimeOptions o = resolve(requested);
    List<String> problems = problems(o);
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", problems));
    }
    if (!options.needsNewInterpreters(o)) {
      if (o.mode == AnytimeOptions.Mode.FIXED) {
        loaded.prefix(o.fixedK);  // opens the file now: a failure keeps the old options
      }
      options = o;
      return status();
    }
    Loaded fresh = null;
    try {
      fresh = new Loaded(o);
      if (o.mode == AnytimeOptions.Mode.FIXED) {
        fresh.prefix(o.fixedK);
      }
    } catch (RuntimeException e) {
      if (fresh != null) {
        fresh.close();
      }
      String kept = describe(options, loaded);
      log.warn("could not switch to " + o.describeRuntime() + "; kept " + kept, e);
      throw new AnytimeException("kept " + kept + ": could not switch to " + o.describeRuntime() + ": "
          + FallbackRunner.message(e), e);
    }
    Loaded old = loaded;
    loaded = fresh;
    options = o;
    old.close();
    log.info("switched to " + describe(o, loaded));
    return status();
  }

  /** Runtime options and what runs them: "float32, XNNPACK, 2 threads on XNNPACK". */
  private static String describe(AnytimeOptions o, Loaded l) {
    return o.describeRuntime() + (o.autoThreads ? ": " + ThreadChoice.count(l.threads) : "") + " on "
        + l.runner.describe();
  }

  /**
   * Times every step again on the calibration images (the deadline rule's predictions), on the
   * interpreter in use. Automatic threads keep their choice: comparing again would build another
   * interpreter per count (the session also recalibrates by itself after a delegate fallback).
   * New options that need new interpreters (precision, delegate, threads) compare again.
   */
  public synchronized double[] recalibrate() {
    requireReady();
    return guarded(() -> {
      double[] p = loaded.engine.calibrate(calibrationImages);
      loaded.calibratedAt = loaded.runner.fallbacks();
      return p;
    });
  }

  /** One normalized image under the current options; {@code listener} sees each leaf as it finishes. */
  public synchronized Result classify(float[] input, StepUpdate.Listener listener) {
    requireReady();
    return guarded(() -> classifyReady(input, listener));
  }

  /**
   * Runs {@code action} on the interpreters; if it leaves the anytime file with no delegate to run
   * on (every one failed at run time), the session becomes FAILED with that reason.
   */
  private <T> T guarded(java.util.function.Supplier<T> action) {
    try {
      return action.get();
    } catch (RuntimeException e) {
      if (loaded != null && !loaded.runner.isOpen()) {
        closeLoaded();
        phase = Phase.FAILED;
        error = FallbackRunner.message(e);
        log.log(EngineLog.Level.ERROR, "the model can no longer run: " + error, e);
      }
      throw e;
    }
  }

  private Result classifyReady(float[] input, StepUpdate.Listener listener) {
    Result r;
    if (options.mode == AnytimeOptions.Mode.FIXED) {
      r = loaded.prefix(options.fixedK).classify(input);
      if (listener != null) {
        for (StepUpdate u : r.updates) {
          listener.onStep(u);
        }
      }
    } else {
      r = loaded.engine.classify(input, options.rule(manifest.steps.size()), listener);
    }
    if (loaded.runner.fallbacks() != loaded.calibratedAt && !calibrationImages.isEmpty()) {
      log.info("the anytime file moved to " + loaded.runner.describe() + "; recalibrating");
      recalibrate();
    }
    return r;
  }

  /** The picture as the model takes it ({@link ImagePrep}). */
  public synchronized ImagePrep.Prepared prepare(Pixels picture, Orientation orientation) {
    requireReady();
    return ImagePrep.prepare(picture, orientation, manifest.input);
  }

  /**
   * The bundled images under the current options (mean leaves, latency, accuracy) and, when the
   * config has the k = N prefix file, the progressive cost of steps 1..N against it on the first.
   */
  public synchronized BenchmarkReport benchmark(List<float[]> images, int[] labels, int runs) {
    requireReady();
    return guarded(() -> benchmarkReady(images, labels, runs));
  }

  private BenchmarkReport benchmarkReady(List<float[]> images, int[] labels, int runs) {
    List<Result> results = new ArrayList<>();
    for (float[] image : images) {
      results.add(classify(image, null));
    }
    Benchmark.Summary summary = Benchmark.summarize(results, labels);
    int n = manifest.steps.size();
    String rule = options.mode == AnytimeOptions.Mode.FIXED ? "fixed k=" + options.fixedK
        : options.rule(n).describe();
    Benchmark.Progressive progressive = null;
    if (loaded.files.prefixes.containsKey(n)) {
      progressive = Benchmark.progressive(loaded.engine, loaded.prefix(n), clock, images.get(0), runs);
    }
    return new BenchmarkReport(summary, rule, progressive);
  }

  private void closeLoaded() {
    if (loaded != null) {
      loaded.close();
      loaded = null;
    }
  }

  @Override
  public synchronized void close() {
    closeLoaded();
    if (phase == Phase.READY) {
      phase = Phase.NOT_LOADED;
    }
  }
}
