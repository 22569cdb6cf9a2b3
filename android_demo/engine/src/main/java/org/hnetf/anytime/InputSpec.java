package org.hnetf.anytime;

import java.util.Arrays;

/**
 * The model input {@code manifest["input"]} describes: {@code [1, height, width, channels]}
 * float32, NHWC, each channel normalized as {@code (pixel / 255 - mean) / std}.
 */
public final class InputSpec {
  public final String name;
  public final int height;
  public final int width;
  public final int channels;
  private final double[] mean;
  private final double[] std;

  /** Resize rules of the manifest's {@code input_spec.resize.rule}. */
  public static final String STRETCH = "stretch";
  public static final String CENTER_CROP = "center_crop";

  /** How a picture of another size is resized: {@link #STRETCH} or {@link #CENTER_CROP}. */
  public final String resizeRule;
  /** {@link #CENTER_CROP}'s fraction: the shorter side goes to min(H, W) / cropFraction first. */
  public final double cropFraction;

  /** A spec that stretches a picture of another size (the rule of exports before {@code input_spec}). */
  public InputSpec(String name, int height, int width, int channels, double[] mean, double[] std) {
    this(name, height, width, channels, mean, std, STRETCH, 1.0);
  }

  public InputSpec(String name, int height, int width, int channels, double[] mean, double[] std,
      String resizeRule, double cropFraction) {
    if (!STRETCH.equals(resizeRule) && !CENTER_CROP.equals(resizeRule)) {
      throw new ManifestException("input_spec.resize.rule: '" + resizeRule + "' is not stretch or center_crop");
    }
    this.resizeRule = resizeRule;
    this.cropFraction = cropFraction;
    if (mean.length != channels || std.length != channels) {
      throw new ManifestException("input normalization: " + mean.length + " means and " + std.length
          + " stds for " + channels + " channels");
    }
    this.name = name;
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.mean = mean.clone();
    this.std = std.clone();
  }

  public int size() {
    return height * width * channels;
  }

  public double[] mean() {
    return mean.clone();
  }

  public double[] std() {
    return std.clone();
  }

  /** Raw pixels {@code [H][W][C]} (flat, row-major, 0..255) -> the model's normalized input. */
  public float[] normalize(float[] pixels) {
    if (pixels.length != size()) {
      throw new AnytimeException("input image has " + pixels.length + " values; the model takes "
          + describe() + " = " + size());
    }
    float[] out = new float[pixels.length];
    for (int i = 0; i < pixels.length; i++) {
      int c = i % channels;
      out[i] = (float) ((pixels[i] / 255.0 - mean[c]) / std[c]);
    }
    return out;
  }

  /**
   * An image already scaled to {@code width x height}, as packed ARGB ints (Android's {@code
   * Bitmap.getPixels}) -> the model's normalized input. One channel takes the luma (BT.601 weights,
   * as {@code tf.image.rgb_to_grayscale}); a gray pixel (R = G = B) gives exactly its value.
   *
   * @throws AnytimeException if the image is not {@code width x height} or the model takes neither
   *     1 nor 3 channels
   */
  public float[] fromArgb(int[] argb, int imageWidth, int imageHeight) {
    if (imageWidth != width || imageHeight != height) {
      throw new AnytimeException("input image is " + imageWidth + "x" + imageHeight
          + " (width x height); the model takes " + width + "x" + height + ": scale it first");
    }
    if (argb.length != width * height) {
      throw new AnytimeException("input image has " + argb.length + " pixels for " + imageWidth
          + "x" + imageHeight);
    }
    if (channels != 1 && channels != 3) {
      throw new AnytimeException("the model takes " + channels
          + " channels; images convert to 1 (gray) or 3 (RGB)");
    }
    float[] pixels = new float[size()];
    for (int i = 0; i < argb.length; i++) {
      int r = (argb[i] >> 16) & 0xff;
      int g = (argb[i] >> 8) & 0xff;
      int b = argb[i] & 0xff;
      if (channels == 1) {
        pixels[i] = luma(argb[i]);
      } else {
        pixels[3 * i] = r;
        pixels[3 * i + 1] = g;
        pixels[3 * i + 2] = b;
      }
    }
    return normalize(pixels);
  }

  /**
   * A picture of any size, as packed ARGB ints (Android's {@code Bitmap.getPixels}) -> the model's
   * normalized input: resized, made gray or RGB and rounded by the spec as {@code
   * hne_tf.datasets.InputSpec.preprocess} does ({@link SpecResize}), then normalized.
   */
  public float[] fromPicture(int[] argb, int pictureWidth, int pictureHeight) {
    return normalize(SpecResize.pixels(argb, pictureWidth, pictureHeight, this));
  }

  /** One packed ARGB pixel's gray value: R exactly when R = G = B, else BT.601 luma. */
  public static float luma(int argb) {
    int r = (argb >> 16) & 0xff;
    int g = (argb >> 8) & 0xff;
    int b = argb & 0xff;
    return (r == g && g == b) ? r : (float) (0.2989 * r + 0.5870 * g + 0.1140 * b);
  }

  public String describe() {
    return height + "x" + width + "x" + channels;
  }

  @Override
  public String toString() {
    return "InputSpec(" + name + ", " + describe() + ", mean=" + Arrays.toString(mean) + ", std="
        + Arrays.toString(std) + ")";
  }
}
