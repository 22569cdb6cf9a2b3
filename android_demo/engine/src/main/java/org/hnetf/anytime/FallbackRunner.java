package org.hnetf.anytime;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model file on the first delegate of a {@link DelegatePlan} that works, falling back to the next
 * when one fails: when it is opened, and also at run time (a GPU delegate can accept a graph and
 * then fail to run it). A failed runner is closed before the next is opened. At run time the failed
 * call is repeated on the new runner: a step reads only the engine's buffers, so it can run again.
 *
 * <p>{@link #fallbacks()} counts the switches, so the owner knows its latency predictions are stale.
 */
public final class FallbackRunner implements StepRunner, AutoCloseable {
  /** Told when the GPU fails on a file, so that it is not tried again ({@link DelegatePlan}). */
  public interface GpuRefusals {
    void refused(String file, String reason);
  }

  private final String file;
  private final int threads;
  private final RunnerFactory factory;
  private final EngineLog log;
  private final GpuRefusals refusals;
  private final List<DelegatePlan.Attempt> plan;
  private final List<String> notes = new ArrayList<>();
  private int next;
  private RunnerFactory.Opened current;
  private Delegate currentDelegate;
  private int fallbacks;

  public FallbackRunner(String file, List<DelegatePlan.Attempt> plan, int threads, RunnerFactory factory,
      EngineLog log, GpuRefusals refusals) {
    if (plan.isEmpty()) {
      throw new IllegalArgumentException("an empty delegate plan");
    }
    this.file = file;
    this.plan = plan;
    this.threads = threads;
    this.factory = factory;
    this.log = log;
    this.refusals = refusals;
    openNext(null);
  }

  /** Opens the next attempt that works; throws with every reason when none is left. */
  private void openNext(String why) {
    List<String> failures = new ArrayList<>();
    if (why != null) {
      failures.add(why);
    }
    while (next < plan.size()) {
      DelegatePlan.Attempt a = plan.get(next++);
      try {
        current = factory.open(file, a.delegate, threads);
        currentDelegate = a.delegate;
        if (!a.note.isEmpty()) {
          notes.add(a.note);
        }
        log.info(file + ": running on " + current.describe() + (a.note.isEmpty() ? "" : " (" + a.note + ")"));
        return;
      } catch (Exception e) {
        String reason = a.delegate + " could not load it: " + message(e);
        log.warn(file + ": " + reason, e);
        failed(a.delegate, reason);
        failures.add(reason);
        notes.add(reason);
      }
    }
    throw new AnytimeException("could not open " + file + " on any delegate: " + String.join("; ", failures));
  }

  private void failed(Delegate delegate, String reason) {
    if (delegate == Delegate.GPU && refusals != null) {
      refusals.refused(file, reason);
    }
  }

  static String message(Throwable e) {
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  /** What runs the file now, and why it is not what was asked for, if it is not. */
  public String describe() {
    String now = current == null ? "closed" : current.describe();
    return now + (notes.isEmpty() ? "" : " [" + String.join("; ", notes) + "]");
  }

  public Delegate delegate() {
    return currentDelegate;
  }

  /** False once every delegate of the plan has failed (or after {@link #close()}). */
  public boolean isOpen() {
    return current != null;
  }

  private RunnerFactory.Opened current() {
    if (current == null) {
      throw new AnytimeException(file + " is not open: " + (notes.isEmpty() ? "closed" : String.join("; ", notes)));
    }
    return current;
  }

  /** Switches to a later delegate since construction (each makes latency predictions stale). */
  public int fallbacks() {
    return fallbacks;
  }

  @Override
  public Set<String> signatureKeys() {
    return current().signatureKeys();
  }

  @Override
  public List<String> inputNames(String signature) {
    return current().inputNames(signature);
  }

  @Override
  public List<String> outputNames(String signature) {
    return current().outputNames(signature);
  }

  @Override
  public int[] shape(String signature, String tensor, boolean input) {
    return current().shape(signature, tensor, input);
  }

  @Override
  public void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
    while (true) {
      try {
        current().run(signature, inputs, outputs);
        return;
      } catch (RuntimeException e) {
        if (next >= plan.size()) {
          throw e;
        }
        String reason = currentDelegate + " failed running " + signature + ": " + message(e);
        log.warn(file + ": " + reason + "; falling back", e);
        failed(currentDelegate, reason);
        notes.add(reason);
        closeCurrent();
        fallbacks++;
        openNext(reason);
        for (ByteBuffer b : inputs.values()) {
          b.clear();
        }
        for (ByteBuffer b : outputs.values()) {
          b.clear();
        }
      }
    }
  }

  private void closeCurrent() {
    if (current != null) {
      try {
        current.close();
      } catch (RuntimeException e) {
        log.warn(file + ": closing " + currentDelegate + " failed", e);
      }
    }
    current = null;
  }

  @Override
  public void close() {
    closeCurrent();
  }
}
