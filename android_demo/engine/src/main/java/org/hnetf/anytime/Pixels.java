package org.hnetf.anytime;

/**
 * An image as packed ARGB ints ({@code 0xAARRGGBB}, row-major, Android's {@code Bitmap.getPixels}
 * layout), with the geometry the app needs between a decoded picture or camera frame and the
 * model's input: rotation, mirroring, centre crop and an area-averaging resize. Immutable: every
 * operation returns a new image (or this one when it changes nothing).
 */
public final class Pixels {
  public final int width;
  public final int height;
  private final int[] argb;

  public Pixels(int[] argb, int width, int height) {
    if (width < 1 || height < 1) {
      throw new AnytimeException("an image needs a positive size, got " + width + "x" + height);
    }
    if (argb.length != width * height) {
      throw new AnytimeException(argb.length + " pixels for a " + width + "x" + height + " image");
    }
    this.width = width;
    this.height = height;
    this.argb = argb;
  }

  /** A copy of the pixels. */
  public int[] argb() {
    return argb.clone();
  }

  public int get(int x, int y) {
    return argb[y * width + x];
  }

  /**
   * Rotated clockwise by {@code degrees} (a multiple of 90, negative or above 360 allowed): CameraX's
   * {@code ImageInfo.getRotationDegrees()} is the clockwise rotation that makes a frame upright.
   */
  public Pixels rotateClockwise(int degrees) {
    if (degrees % 90 != 0) {
      throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
    }
    int quarter = ((degrees / 90) % 4 + 4) % 4;
    if (quarter == 0) {
      return this;
    }
    int w = width;
    int h = height;
    if (quarter == 2) {
      int[] out = new int[w * h];
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          out[y * w + x] = argb[(h - 1 - y) * w + (w - 1 - x)];
        }
      }
      return new Pixels(out, w, h);
    }
    // 90 or 270: the result is h wide and w high; (x', y') comes from (y', h-1-x') for 90 and
    // from (w-1-y', x') for 270.
    int[] out = new int[w * h];
    for (int y2 = 0; y2 < w; y2++) {
      for (int x2 = 0; x2 < h; x2++) {
        int src = quarter == 1 ? (h - 1 - x2) * w + y2 : x2 * w + (w - 1 - y2);
        out[y2 * h + x2] = argb[src];
      }
    }
    return new Pixels(out, h, w);
  }

  /** Mirrored left to right. */
  public Pixels mirror() {
    int[] out = new int[argb.length];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        out[y * width + x] = argb[y * width + (width - 1 - x)];
      }
    }
    return new Pixels(out, width, height);
  }

  /** The rectangle {@code [x, x+w) x [y, y+h)}. */
  public Pixels crop(int x, int y, int w, int h) {
    if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > width || y + h > height) {
      throw new IllegalArgumentException("crop " + w + "x" + h + " at (" + x + ", " + y + ") outside a "
          + width + "x" + height + " image");
    }
    if (x == 0 && y == 0 && w == width && h == height) {
      return this;
    }
    int[] out = new int[w * h];
    for (int row = 0; row < h; row++) {
      System.arraycopy(argb, (y + row) * width + x, out, row * w, w);
    }
    return new Pixels(out, w, h);
  }

  /**
   * The largest centred rectangle of the aspect ratio {@code aspectWidth : aspectHeight}, so that a
   * later resize to that shape does not stretch the picture.
   */
  public Pixels centerCrop(int aspectWidth, int aspectHeight) {
    if (aspectWidth < 1 || aspectHeight < 1) {
      throw new IllegalArgumentException("aspect ratio " + aspectWidth + ":" + aspectHeight);
    }
    long wide = (long) width * aspectHeight;
    long tall = (long) height * aspectWidth;
    int w = width;
    int h = height;
    if (wide > tall) {
      w = (int) Math.max(1, Math.round((double) height * aspectWidth / aspectHeight));
    } else if (tall > wide) {
      h = (int) Math.max(1, Math.round((double) width * aspectHeight / aspectWidth));
    }
    return crop((width - w) / 2, (height - h) / 2, w, h);
  }

  /**
   * Resized to {@code w x h} by area averaging: each output pixel is the mean of the source area it
   * covers, fractional pixels weighted by their overlap, per channel, rounded to the nearest value
   * (as {@code tf.image.resize(method="area")}). A large photo shrunk to 28x28 this way keeps its
   * shapes, where a bilinear scale would sample a few pixels and alias. Enlarging repeats pixels.
   */
  public Pixels resizeArea(int w, int h) {
    if (w < 1 || h < 1) {
      throw new IllegalArgumentException("resize to " + w + "x" + h);
    }
    if (w == width && h == height) {
      return this;
    }
    Weights cols = new Weights(width, w);
    Weights rows = new Weights(height, h);
    // Horizontal pass into [height][w][4] channel sums, then vertical.
    double[] horizontal = new double[height * w * 4];
    for (int y = 0; y < height; y++) {
      for (int ox = 0; ox < w; ox++) {
        int base = (y * w + ox) * 4;
        for (int k = cols.start[ox]; k < cols.start[ox] + cols.count[ox]; k++) {
          double wt = cols.weight[ox][k - cols.start[ox]];
          int p = argb[y * width + k];
          horizontal[base] += wt * ((p >>> 24) & 0xff);
          horizontal[base + 1] += wt * ((p >> 16) & 0xff);
          horizontal[base + 2] += wt * ((p >> 8) & 0xff);
          horizontal[base + 3] += wt * (p & 0xff);
        }
      }
    }
    int[] out = new int[w * h];
    double[] acc = new double[4];
    for (int oy = 0; oy < h; oy++) {
      for (int ox = 0; ox < w; ox++) {
        java.util.Arrays.fill(acc, 0);
        for (int k = rows.start[oy]; k < rows.start[oy] + rows.count[oy]; k++) {
          double wt = rows.weight[oy][k - rows.start[oy]];
          int base = (k * w + ox) * 4;
          for (int c = 0; c < 4; c++) {
            acc[c] += wt * horizontal[base + c];
          }
        }
        out[oy * w + ox] = (channel(acc[0]) << 24) | (channel(acc[1]) << 16) | (channel(acc[2]) << 8)
            | channel(acc[3]);
      }
    }
    return new Pixels(out, w, h);
  }

  private static int channel(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v)));
  }

  /** For each output index: the source indices it covers and their normalized overlap weights. */
  private static final class Weights {
    final int[] start;
    final int[] count;
    final double[][] weight;

    Weights(int in, int out) {
      start = new int[out];
      count = new int[out];
      weight = new double[out][];
      double scale = (double) in / out;
      for (int o = 0; o < out; o++) {
        double lo = o * scale;
        double hi = (o + 1) * scale;
        int first = (int) Math.floor(lo);
        int last = Math.min(in - 1, (int) Math.ceil(hi) - 1);
        start[o] = first;
        count[o] = last - first + 1;
        weight[o] = new double[count[o]];
        double total = 0;
        for (int k = first; k <= last; k++) {
          double overlap = Math.min(hi, k + 1) - Math.max(lo, k);
          weight[o][k - first] = overlap;
          total += overlap;
        }
        for (int k = 0; k < count[o]; k++) {
          weight[o][k] /= total;
        }
      }
    }
  }
}
