package org.tensorflow.lite;

/**
 * The length of an interpreter's execution plan (its first graph), which LiteRT keeps
 * package-private ({@code InterpreterImpl.getExecutionPlanLength}, LiteRT 1.4.1): 1 when a delegate
 * took every op, more when some ops stay on the CPU. This class shares the package so it may call
 * it; the app and LiteRT's classes load through the same class loader.
 */
public final class ExecutionPlanProbe {
  private ExecutionPlanProbe() {}

  /** The plan length, or -1 where this LiteRT build does not say (TFLITE_DISABLE_SELECT_JAVA_APIS). */
  public static int length(Interpreter interpreter) {
    try {
      return interpreter.getExecutionPlanLength();
    } catch (RuntimeException | LinkageError e) {
      return -1;
    }
  }
}
