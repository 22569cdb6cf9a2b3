package org.hnetf.anytime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Which delegates to try for a model file, in order, and how to name what ended up running it.
 *
 * <ul>
 *   <li>CPU: LiteRT's built-in kernels only.
 *   <li>XNNPACK, then the built-in kernels if XNNPACK fails. A file whose manifest entry says
 *       {@code "delegate": "builtin"} (the export found that XNNPACK rejects it) goes straight to
 *       the built-in kernels.
 *   <li>GPU, then the XNNPACK plan: if the device has no GPU delegate, or the GPU already failed on
 *       this file in this process, the GPU is not tried again. (A delegate that fails inside
 *       LiteRT's Interpreter constructor leaks that constructor's native model and error-reporter
 *       handles, which no caller can free; so each file pays that at most once.)
 * </ul>
 */
public final class DelegatePlan {
  private DelegatePlan() {}

  /** One delegate to try, and why it is in the plan when it is not the one asked for. */
  public static final class Attempt {
    public final Delegate delegate;
    /** Empty for the delegate asked for; else why the plan starts here instead. */
    public final String note;

    Attempt(Delegate delegate, String note) {
      this.delegate = delegate;
      this.note = note;
    }

    @Override
    public String toString() {
      return delegate + (note.isEmpty() ? "" : " (" + note + ")");
    }
  }

  /**
   * @param fileDelegate the manifest entry's {@code delegate} ({@code "xnnpack"}, {@code "builtin"})
   *     or null
   * @param gpuRefusal why the GPU failed on this file earlier in this process, or null
   */
  public static List<Attempt> attempts(Delegate requested, String fileDelegate, boolean gpuAvailable,
      String gpuRefusal) {
    List<Attempt> out = new ArrayList<>();
    String skipped = "";  // why the GPU asked for is not tried
    if (requested == Delegate.GPU) {
      if (gpuRefusal != null) {
        skipped = "GPU failed on this file earlier: " + gpuRefusal;
      } else if (!gpuAvailable) {
        skipped = "no GPU delegate on this device";
      } else {
        out.add(new Attempt(Delegate.GPU, ""));
      }
    }
    if (requested == Delegate.CPU) {
      out.add(new Attempt(Delegate.CPU, ""));
    } else if ("builtin".equals(fileDelegate)) {
      String why = "the export found XNNPACK rejects this file";
      out.add(new Attempt(Delegate.CPU, skipped.isEmpty() ? why : skipped + "; " + why));
    } else {
      out.add(new Attempt(Delegate.XNNPACK, skipped));
      out.add(new Attempt(Delegate.CPU, ""));
    }
    return Collections.unmodifiableList(out);
  }

  /**
   * What a runner reports for the screen. For the GPU, {@code planNodes} is the length of LiteRT's
   * execution plan for the file's first graph: 1 when the GPU delegate took every op, more when some
   * stay on the CPU (each a node of their own), -1 when LiteRT did not say.
   */
  public static String label(Delegate used, int planNodes) {
    switch (used) {
      case CPU:
        return "CPU (LiteRT built-in kernels)";
      case XNNPACK:
        return "XNNPACK";
      default:
        if (planNodes == 1) {
          return "GPU (the whole first graph on the GPU)";
        }
        if (planNodes > 1) {
          return "GPU + CPU (partial: the first graph runs as " + planNodes
              + " nodes, the GPU's and the ops it left on the CPU)";
        }
        return "GPU (LiteRT did not say how much of the graph it took)";
    }
  }
}
