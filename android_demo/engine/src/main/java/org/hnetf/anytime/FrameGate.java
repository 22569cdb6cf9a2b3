package org.hnetf.anytime;

/**
 * Latest-frame backpressure for the live camera mode. The camera delivers frames faster than a
 * phone classifies them; queueing them would show answers for pictures seconds old. So a frame is
 * admitted only when the worker is idle (and at least {@code minIntervalMs} after the last admitted
 * one, to leave the CPU some room for the screen); every other frame is dropped at once, unconverted.
 * With CameraX's {@code STRATEGY_KEEP_ONLY_LATEST} the next frame the analyzer sees after a
 * classification is then the newest the camera has.
 *
 * <p>Each admitted frame gets a ticket. {@link #stop()} starts a new generation: a frame admitted
 * before it may still finish (the interpreter runs one thing at a time), but {@link #finish} then
 * says its answer is stale and must not be shown. Thread-safe: the analyzer thread admits, the
 * worker finishes.
 */
public final class FrameGate {
  /** {@link #tryAdmit()}'s answer for a dropped frame. */
  public static final long DROPPED = -1;

  private final Clock clock;
  private final double minIntervalMs;
  private boolean busy;
  private boolean running;
  private long generation;
  private double lastAdmitMs = Double.NEGATIVE_INFINITY;
  private double firstAdmitMs = Double.NaN;
  private long offered;
  private long admitted;
  private long dropped;
  private long shown;

  public FrameGate(Clock clock, double minIntervalMs) {
    if (!(minIntervalMs >= 0) || Double.isInfinite(minIntervalMs)) {
      throw new IllegalArgumentException("minIntervalMs must be finite and >= 0, got " + minIntervalMs);
    }
    this.clock = clock;
    this.minIntervalMs = minIntervalMs;
  }

  /** Starts admitting frames (live mode on); the counters start again. */
  public synchronized void start() {
    generation++;
    running = true;
    offered = admitted = dropped = shown = 0;
    firstAdmitMs = Double.NaN;
    lastAdmitMs = Double.NEGATIVE_INFINITY;
  }

  /** Stops admitting; answers of frames still being classified become stale. */
  public synchronized void stop() {
    generation++;
    running = false;
  }

  public synchronized boolean running() {
    return running;
  }

  /**
   * A frame arrived. Returns its ticket when the caller should convert and classify it (and then
   * call {@link #finish}), or {@link #DROPPED} when it should close the frame now.
   */
  public synchronized long tryAdmit() {
    if (!running) {
      return DROPPED;
    }
    offered++;
    double now = clock.nowMs();
    if (busy || now - lastAdmitMs < minIntervalMs) {
      dropped++;
      return DROPPED;
    }
    busy = true;
    lastAdmitMs = now;
    if (Double.isNaN(firstAdmitMs)) {
      firstAdmitMs = now;
    }
    admitted++;
    return generation;
  }

  /**
   * The frame of {@code ticket} is done (classified, or failed): the gate admits again. Returns
   * whether its answer is current and may be shown.
   */
  public synchronized boolean finish(long ticket) {
    if (ticket == DROPPED) {
      throw new IllegalArgumentException("a dropped frame has no ticket to finish");
    }
    busy = false;
    boolean current = running && ticket == generation;
    if (current) {
      shown++;
    }
    return current;
  }

  /** Frames the camera offered, classified, dropped, and shown, and the classified frames per second. */
  public synchronized String describe() {
    double fps = admitted > 1 && lastAdmitMs > firstAdmitMs ? 1000.0 * (admitted - 1) / (lastAdmitMs - firstAdmitMs) : Double.NaN;
    return String.format(java.util.Locale.ROOT, "%d frames: %d classified, %d dropped (busy or too soon)%s",
        offered, admitted, dropped, Double.isNaN(fps) ? "" : String.format(java.util.Locale.ROOT, ", %.1f per second", fps));
  }

  public synchronized long offered() {
    return offered;
  }

  public synchronized long admitted() {
    return admitted;
  }

  public synchronized long dropped() {
    return dropped;
  }

  public synchronized long shown() {
    return shown;
  }
}
