package org.hnetf.anytime;

/**
 * Where the engine reports what it decided and why (a fallback, a dropped frame, a rejected option):
 * the app forwards it to {@code android.util.Log}, the tests record it.
 */
public interface EngineLog {
  enum Level { DEBUG, INFO, WARN, ERROR }

  void log(Level level, String message, Throwable error);

  default void info(String message) {
    log(Level.INFO, message, null);
  }

  default void warn(String message, Throwable error) {
    log(Level.WARN, message, error);
  }

  EngineLog NONE = (level, message, error) -> {};
}
