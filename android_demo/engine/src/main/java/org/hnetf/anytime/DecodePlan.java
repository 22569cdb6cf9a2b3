package org.hnetf.anytime;

/**
 * How far to downsample a picture while decoding it (Android's {@code BitmapFactory.Options
 * .inSampleSize}), from its size read in a bounds-only pass: a 12-megapixel photo decoded whole
 * needs 48 MB and seconds on the main thread, for a 28x28 model input and a thumbnail.
 */
public final class DecodePlan {
  /** The shorter side the app keeps at least (the preview on screen; far above any model input). */
  public static final int MIN_SIDE = 512;
  /** At most this many pixels decoded (16 MB as ARGB_8888), whatever {@link #MIN_SIDE} asks. */
  public static final long MAX_PIXELS = 4_000_000L;

  private DecodePlan() {}

  /**
   * The largest power of two that keeps both sides at least {@code minSide} (never below 1), raised
   * further while the decoded image would have more than {@code maxPixels} pixels.
   *
   * @param width the encoded width from the bounds pass ({@code outWidth}); -1 when the decoder did
   *     not recognise the file
   * @throws AnytimeException if the size is not positive: the file is not an image the phone decodes
   */
  public static int sampleSize(int width, int height, int minSide, long maxPixels) {
    if (width <= 0 || height <= 0) {
      throw new AnytimeException("not an image this phone can decode (no size could be read from it)");
    }
    if (minSide < 1 || maxPixels < 1) {
      throw new IllegalArgumentException("minSide and maxPixels must be positive");
    }
    int s = 1;
    while (width / (2L * s) >= minSide && height / (2L * s) >= minSide) {
      s *= 2;
    }
    while (sampled(width, s) * sampled(height, s) > maxPixels) {
      s *= 2;
    }
    return s;
  }

  public static int sampleSize(int width, int height) {
    return sampleSize(width, height, MIN_SIDE, MAX_PIXELS);
  }

  /** A side after sampling by {@code s} (rounded up, as the decoders do at worst). */
  public static long sampled(int side, int s) {
    return (side + (long) s - 1) / s;
  }
}
