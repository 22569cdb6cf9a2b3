package org.hnetf.anytime;

/**
 * Opens an interpreter over one model file: the app's LiteRT factory, the tests' fakes. The engine
 * decides which delegates to try in which order ({@link DelegatePlan}) and what to do when one
 * fails ({@link FallbackRunner}); the factory only does what it is asked.
 */
public interface RunnerFactory {
  /** A {@link StepRunner} that owns native resources, and says what it runs on. */
  interface Opened extends StepRunner, AutoCloseable {
    /** For the screen, e.g. "XNNPACK" or "GPU + CPU: ..." ({@link DelegatePlan#label}). */
    String describe();

    @Override
    void close();
  }

  /**
   * Opens {@code file} on {@code delegate} with {@code threads} threads. On failure it must have
   * released whatever it created before throwing.
   */
  Opened open(String file, Delegate delegate, int threads) throws Exception;

  /** Whether this device has a usable GPU delegate (LiteRT's {@code CompatibilityList}). */
  boolean gpuAvailable();
}
