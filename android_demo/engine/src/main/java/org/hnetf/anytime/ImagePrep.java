package org.hnetf.anytime;

/**
 * Any picture (a decoded photo or a camera frame) to the model's input: upright by its {@link
 * Orientation}, the centred crop of the model's aspect ratio, resized by area averaging to the
 * model's width x height, then gray or RGB and normalized by the {@link InputSpec}. The app shows
 * {@link Prepared#seen}, so the screen shows what the model is given.
 */
public final class ImagePrep {
  private ImagePrep() {}

  public static final class Prepared {
    /** The model-sized picture the input was made from; gray (R = G = B) for a 1-channel model. */
    public final Pixels seen;
    /** The normalized model input, {@code [H * W * C]}. */
    public final float[] input;

    Prepared(Pixels seen, float[] input) {
      this.seen = seen;
      this.input = input;
    }
  }

  public static Prepared prepare(Pixels picture, Orientation orientation, InputSpec spec) {
    Pixels upright = orientation.apply(picture);
    Pixels seen = upright.centerCrop(spec.width, spec.height).resizeArea(spec.width, spec.height);
    float[] input = spec.fromArgb(seen.argb(), seen.width, seen.height);
    if (spec.channels == 1) {
      seen = gray(seen);
    }
    return new Prepared(seen, input);
  }

  /** The luma {@link InputSpec#fromArgb} uses, as an opaque gray picture. */
  static Pixels gray(Pixels p) {
    int[] argb = p.argb();
    for (int i = 0; i < argb.length; i++) {
      int v = Math.round(InputSpec.luma(argb[i]));
      argb[i] = 0xff000000 | (v << 16) | (v << 8) | v;
    }
    return new Pixels(argb, p.width, p.height);
  }
}
