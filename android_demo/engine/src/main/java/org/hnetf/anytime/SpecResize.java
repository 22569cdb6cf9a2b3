package org.hnetf.anytime;

/**
 * A picture of any size to the model's 8-bit pixels as {@code hne_tf.datasets.InputSpec.pixels} makes
 * them, in float32 as TensorFlow computes it: RGB (alpha dropped), resized by the spec's rule with
 * {@code tf.image.resize(bilinear, antialias=True)} (TensorFlow's ScaleAndTranslate, triangle kernel),
 * gray by {@code 0.2989 R + 0.5870 G + 0.1140 B} for one channel, rounded half to even and clipped.
 * {@code web_demo/engine.js}'s {@code specPixels} is the same; both are checked against Python on
 * images of several sizes ({@code tests/data/preprocess_vectors.json}'s {@code image_cases}).
 */
public final class SpecResize {
  private SpecResize() {}

  /** {@code tf.round}: half to even. */
  static double roundHalfEven(double x) {
    return Math.rint(x);
  }

  private static final class Spans {
    final int spanSize;
    final int[] starts;
    final float[] weights;

    Spans(int spanSize, int[] starts, float[] weights) {
      this.spanSize = spanSize;
      this.starts = starts;
      this.weights = weights;
    }
  }

  /** scale_and_translate_op.cc's ComputeSpansCore for one axis: triangle kernel, antialiased, no shift. */
  private static Spans spans(int inSize, int outSize) {
    float scale = (float) outSize / (float) inSize;
    float invScale = (float) (1.0 / scale);
    float kernelScale = Math.max(invScale, 1.0f);
    int spanSize = Math.min(2 * (int) Math.ceil(kernelScale) + 1, inSize);
    float oneOverKernelScale = 1.0f / kernelScale;
    int[] starts = new int[outSize];
    float[] weights = new float[outSize * spanSize];
    float[] temp = new float[inSize];
    for (int x = 0; x < outSize; x++) {
      float sample = (x + 0.5f) * invScale;
      int start = (int) Math.ceil(sample - kernelScale - 0.5f);
      int end = (int) Math.floor(sample + kernelScale - 0.5f);
      start = Math.min(Math.max(start, 0), inSize - 1);
      end = Math.min(Math.max(end, 0), inSize - 1) + 1;
      float total = 0f;
      for (int source = start; source < end; source++) {
        float pos = Math.abs(((float) source + 0.5f - sample) * oneOverKernelScale);
        float w = pos < 1.0f ? 1.0f - pos : 0.0f;
        temp[source - start] = w;
        total += w;
      }
      if (Math.abs(total) >= 1000.0f * Float.MIN_NORMAL) {
        float inv = 1.0f / total;
        for (int i = 0; i < end - start; i++) {
          weights[x * spanSize + i] = temp[i] * inv;
        }
      }
      starts[x] = start;
    }
    return new Spans(spanSize, starts, weights);
  }

  /** {@code tf.image.resize(image, [outH, outW], 'bilinear', antialias=True)} of a float image [h][w][c]. */
  public static float[] resize(float[] src, int h, int w, int c, int outH, int outW) {
    Spans rows = spans(h, outH);
    Spans cols = spans(w, outW);
    int rowSize = w * c;
    float[] mid = new float[outH * rowSize];
    for (int y = 0; y < outH; y++) {
      int start = rows.starts[y];
      int span = Math.min(start + rows.spanSize, h) - start;
      for (int k = 0; k < span; k++) {
        float wgt = rows.weights[y * rows.spanSize + k];
        int in = (start + k) * rowSize;
        for (int i = 0; i < rowSize; i++) {
          mid[y * rowSize + i] += wgt * src[in + i];
        }
      }
    }
    float[] dst = new float[outH * outW * c];
    for (int y = 0; y < outH; y++) {
      for (int x = 0; x < outW; x++) {
        int start = cols.starts[x];
        int span = Math.min(start + cols.spanSize, w) - start;
        int out = (y * outW + x) * c;
        for (int k = 0; k < span; k++) {
          float wgt = cols.weights[x * cols.spanSize + k];
          int in = y * rowSize + (start + k) * c;
          for (int ch = 0; ch < c; ch++) {
            dst[out + ch] += wgt * mid[in + ch];
          }
        }
      }
    }
    return dst;
  }

  /**
   * Packed ARGB pixels of a {@code width x height} picture -> the model's pixels {@code [H][W][C]}
   * (0..255, flat), by {@code spec}'s resize rule, colour and rounding.
   */
  public static float[] pixels(int[] argb, int width, int height, InputSpec spec) {
    if (argb.length != width * height) {
      throw new AnytimeException("picture has " + argb.length + " pixels for " + width + "x" + height);
    }
    int outH = spec.height;
    int outW = spec.width;
    int resizeH = outH;
    int resizeW = outW;
    if (InputSpec.CENTER_CROP.equals(spec.resizeRule)) {
      // hne_tf.datasets.resize_image: the shorter side to round(min(size) / crop_fraction), the centre cut.
      long shorter = (long) roundHalfEven(Math.min(outH, outW) / spec.cropFraction);
      float scale = (float) shorter / (float) Math.min(height, width);
      resizeH = Math.max((int) roundHalfEven(height * scale), outH);
      resizeW = Math.max((int) roundHalfEven(width * scale), outW);
    }
    int top = (resizeH - outH) / 2;
    int left = (resizeW - outW) / 2;
    float[] rgb = new float[width * height * 3];
    for (int i = 0; i < argb.length; i++) {
      rgb[3 * i] = (argb[i] >> 16) & 0xff;
      rgb[3 * i + 1] = (argb[i] >> 8) & 0xff;
      rgb[3 * i + 2] = argb[i] & 0xff;
    }
    float[] resized = resize(rgb, height, width, 3, resizeH, resizeW);
    int c = spec.channels;
    float[] out = new float[outH * outW * c];
    for (int y = 0; y < outH; y++) {
      for (int x = 0; x < outW; x++) {
        int src = ((y + top) * resizeW + x + left) * 3;
        int dst = (y * outW + x) * c;
        if (c == 1) {
          float gray = resized[src] * 0.2989f + resized[src + 1] * 0.5870f + resized[src + 2] * 0.1140f;
          out[dst] = clip(gray);
        } else {
          for (int k = 0; k < 3; k++) {
            out[dst + k] = clip(resized[src + k]);
          }
        }
      }
    }
    return out;
  }

  private static float clip(float v) {
    return (float) Math.min(255.0, Math.max(0.0, roundHalfEven(v)));
  }
}
