package org.hnetf.anytime;

/** Milliseconds from an arbitrary origin. The engine reads time only through this, so tests can replay recorded times. */
public interface Clock {
  double nowMs();

  /** {@link System#nanoTime()} in ms. */
  Clock SYSTEM = () -> System.nanoTime() / 1e6;
}
