package org.hnetf.anytime;

/**
 * Any picture (a decoded photo or a camera frame) to the model's input: upright by its {@link
 * Orientation}, then resized, made gray or RGB and rounded as the manifest's {@code input_spec}
 * says ({@link SpecResize}: stretch or centre crop, as the model was trained and evaluated), then
 * normalized by the {@link InputSpec}. The app shows {@link Prepared#seen}, so the screen shows
 * what the model is given.
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
    float[] pixels = SpecResize.pixels(upright.argb(), upright.width, upright.height, spec);
    int[] argb = new int[spec.width * spec.height];
    for (int i = 0; i < argb.length; i++) {
      int c = spec.channels;
      int r = (int) pixels[c * i];
      int g = c == 1 ? r : (int) pixels[c * i + 1];
      int b = c == 1 ? r : (int) pixels[c * i + 2];
      argb[i] = 0xff000000 | (r << 16) | (g << 8) | b;
    }
    return new Prepared(new Pixels(argb, spec.width, spec.height), spec.normalize(pixels));
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
