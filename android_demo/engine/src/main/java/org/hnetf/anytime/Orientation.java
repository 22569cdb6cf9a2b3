package org.hnetf.anytime;

/**
 * How to turn a decoded picture or camera frame upright: an optional left-right mirror, then a
 * clockwise rotation. Built from a photo's EXIF orientation tag (which {@code BitmapFactory} does
 * not apply) or from CameraX's {@code rotationDegrees}.
 */
public final class Orientation {
  public static final Orientation UPRIGHT = new Orientation(false, 0);

  /** Mirror left to right first. */
  public final boolean mirror;
  /** Then rotate clockwise by this many degrees: 0, 90, 180 or 270. */
  public final int degreesClockwise;

  private Orientation(boolean mirror, int degreesClockwise) {
    this.mirror = mirror;
    this.degreesClockwise = degreesClockwise;
  }

  /**
   * The EXIF orientation tag (TIFF tag 274, {@code ExifInterface.TAG_ORIENTATION}): 1 normal, 2
   * mirrored, 3 rotated 180, 4 flipped vertically, 5 transposed, 6 rotated 90 clockwise, 7
   * transversed, 8 rotated 270 clockwise. Anything else (0 = undefined, a broken tag) is upright.
   */
  public static Orientation fromExif(int tag) {
    switch (tag) {
      case 2: return new Orientation(true, 0);
      case 3: return new Orientation(false, 180);
      case 4: return new Orientation(true, 180);   // vertical flip = mirror + 180
      case 5: return new Orientation(true, 270);   // transpose = mirror + 270
      case 6: return new Orientation(false, 90);
      case 7: return new Orientation(true, 90);    // transverse = mirror + 90
      case 8: return new Orientation(false, 270);
      default: return UPRIGHT;
    }
  }

  /** A clockwise rotation (a multiple of 90; CameraX's {@code ImageInfo.getRotationDegrees()}). */
  public static Orientation rotation(int degreesClockwise) {
    if (degreesClockwise % 90 != 0) {
      throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degreesClockwise);
    }
    return new Orientation(false, ((degreesClockwise % 360) + 360) % 360);
  }

  public Pixels apply(Pixels p) {
    return (mirror ? p.mirror() : p).rotateClockwise(degreesClockwise);
  }

  /** Whether the upright picture swaps width and height. */
  public boolean swapsSides() {
    return degreesClockwise == 90 || degreesClockwise == 270;
  }

  @Override
  public String toString() {
    return (mirror ? "mirror, " : "") + "rotate " + degreesClockwise;
  }
}
