package org.hnetf.anytime;

/** Where the interpreter runs a graph. */
public enum Delegate {
  /** LiteRT's built-in kernels (XNNPACK off). */
  CPU,
  /** The XNNPACK delegate (LiteRT's default CPU path). */
  XNNPACK,
  /** The GPU delegate; ops it cannot take stay on the CPU. */
  GPU
}
