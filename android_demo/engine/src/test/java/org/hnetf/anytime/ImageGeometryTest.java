package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Rotation, EXIF orientation, crop, area resize and decode sample size, against hand-made images. */
class ImageGeometryTest {
  /** A w x h image whose pixel (x, y) is the value 10 * y + x (in the low byte). */
  private static Pixels numbered(int w, int h) {
    int[] p = new int[w * h];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        p[y * w + x] = 10 * y + x;
      }
    }
    return new Pixels(p, w, h);
  }

  private static int[][] rows(Pixels p) {
    int[][] out = new int[p.height][p.width];
    for (int y = 0; y < p.height; y++) {
      for (int x = 0; x < p.width; x++) {
        out[y][x] = p.get(x, y);
      }
    }
    return out;
  }

  private static final int[][] IMAGE = {{0, 1, 2}, {10, 11, 12}};  // numbered(3, 2)

  @Test
  void rotationsTurnThePictureClockwise() {
    Pixels p = numbered(3, 2);
    assertArrayEquals(IMAGE, rows(p));
    assertArrayEquals(new int[][] {{10, 0}, {11, 1}, {12, 2}}, rows(p.rotateClockwise(90)));
    assertArrayEquals(new int[][] {{12, 11, 10}, {2, 1, 0}}, rows(p.rotateClockwise(180)));
    assertArrayEquals(new int[][] {{2, 12}, {1, 11}, {0, 10}}, rows(p.rotateClockwise(270)));
    assertArrayEquals(rows(p.rotateClockwise(270)), rows(p.rotateClockwise(-90)));
    assertSame(p, p.rotateClockwise(360));
    assertArrayEquals(IMAGE, rows(p.rotateClockwise(90).rotateClockwise(90).rotateClockwise(180)));
    assertThrows(IllegalArgumentException.class, () -> p.rotateClockwise(45));
    assertArrayEquals(new int[][] {{2, 1, 0}, {12, 11, 10}}, rows(p.mirror()));
  }

  @Test
  void everyExifOrientationBecomesUpright() {
    // The stored picture for each tag, made from the upright one by the inverse of what the tag
    // says; applying Orientation.fromExif(tag) must give the upright picture back.
    Pixels upright = numbered(3, 2);
    int[][] transposed = {{0, 10}, {1, 11}, {2, 12}};          // tag 5 stores the transpose
    int[][] transversed = {{12, 2}, {11, 1}, {10, 0}};         // tag 7: the anti-diagonal flip
    Object[][] stored = {
      {1, IMAGE},
      {2, new int[][] {{2, 1, 0}, {12, 11, 10}}},              // mirrored
      {3, new int[][] {{12, 11, 10}, {2, 1, 0}}},              // upside down
      {4, new int[][] {{10, 11, 12}, {0, 1, 2}}},              // flipped vertically
      {5, transposed},
      {6, new int[][] {{2, 12}, {1, 11}, {0, 10}}},            // needs 90 clockwise
      {7, transversed},
      {8, new int[][] {{10, 0}, {11, 1}, {12, 2}}},            // needs 270 clockwise
    };
    for (Object[] c : stored) {
      int tag = (Integer) c[0];
      int[][] s = (int[][]) c[1];
      int h = s.length;
      int w = s[0].length;
      int[] flat = new int[w * h];
      for (int y = 0; y < h; y++) {
        System.arraycopy(s[y], 0, flat, y * w, w);
      }
      Orientation o = Orientation.fromExif(tag);
      assertArrayEquals(rows(upright), rows(o.apply(new Pixels(flat, w, h))), "EXIF orientation " + tag);
      assertEquals(w != 3, o.swapsSides(), "tag " + tag);
    }
    for (int unknown : new int[] {0, 9, -1}) {
      assertSame(Orientation.UPRIGHT, Orientation.fromExif(unknown));
    }
  }

  @Test
  void cameraRotationDegrees() {
    assertEquals(90, Orientation.rotation(-270).degreesClockwise);
    assertEquals(0, Orientation.rotation(360).degreesClockwise);
    assertArrayEquals(rows(numbered(3, 2).rotateClockwise(270)),
        rows(Orientation.rotation(270).apply(numbered(3, 2))));
    assertThrows(IllegalArgumentException.class, () -> Orientation.rotation(30));
  }

  @Test
  void centerCropKeepsTheMiddleAtTheTargetAspect() {
    Pixels wide = numbered(5, 3);
    Pixels square = wide.centerCrop(1, 1);
    assertArrayEquals(new int[][] {{1, 2, 3}, {11, 12, 13}, {21, 22, 23}}, rows(square));
    Pixels tall = numbered(2, 6).centerCrop(1, 1);
    assertArrayEquals(new int[][] {{20, 21}, {30, 31}}, rows(tall));
    assertSame(square, square.centerCrop(28, 28));
    assertEquals(4, numbered(8, 8).centerCrop(2, 1).height);
    assertThrows(IllegalArgumentException.class, () -> wide.crop(3, 0, 3, 3));
  }

  @Test
  void areaResizeAveragesWhatEachOutputPixelCovers() {
    // 4x4 -> 2x2: exact means of 2x2 blocks (blue channel = the numbers).
    Pixels p = numbered(4, 4).resizeArea(2, 2);
    assertArrayEquals(new int[][] {{6, 8}, {26, 28}}, rows(p));  // (0+1+10+11)/4 = 5.5 -> 6
    // 3 -> 2 in one dimension: weights 2/3, 1/3 and 1/3, 2/3.
    int[] line = {0xff000000 | 30, 0xff000000 | 60, 0xff000000 | 90};
    Pixels r = new Pixels(line, 3, 1).resizeArea(2, 1);
    assertEquals(0xff000000 | 40, r.get(0, 0));   // (2*30 + 60) / 3
    assertEquals(0xff000000 | 80, r.get(1, 0));   // (60 + 2*90) / 3
    // Channels stay apart, alpha included.
    Pixels c = new Pixels(new int[] {0x80ff0000, 0x8000ff00}, 2, 1).resizeArea(1, 1);
    assertEquals(0x80808000, c.get(0, 0));
    // Enlarging repeats pixels; the identity is the same image.
    assertArrayEquals(new int[][] {{7, 7}, {7, 7}}, rows(new Pixels(new int[] {7}, 1, 1).resizeArea(2, 2)));
    Pixels same = numbered(3, 2);
    assertSame(same, same.resizeArea(3, 2));
    // A flat picture stays flat at any scale.
    int[] flat = new int[37 * 23];
    java.util.Arrays.fill(flat, 0xff123456);
    for (int v : new Pixels(flat, 37, 23).resizeArea(28, 28).argb()) {
      assertEquals(0xff123456, v);
    }
  }

  @Test
  void preparedInputIsUprightCroppedResizedAndNormalized() {
    // A 4x2 picture stored rotated (EXIF 6): upright it is 2x4; a centre crop (fraction 1: the
    // shorter side stays 2 pixels) keeps rows 1-2.
    InputSpec gray = new InputSpec("input", 2, 2, 1, new double[] {0}, new double[] {1}, InputSpec.CENTER_CROP, 1.0);
    int[] stored = new int[8];
    for (int i = 0; i < 8; i++) {
      int v = 10 * (i + 1);
      stored[i] = 0xff000000 | (v << 16) | (v << 8) | v;
    }
    Pixels picture = new Pixels(stored, 4, 2);
    ImagePrep.Prepared p = ImagePrep.prepare(picture, Orientation.fromExif(6), gray);
    Pixels upright = picture.rotateClockwise(90);  // 2 wide, 4 high: rows {50,10},{60,20},{70,30},{80,40}
    assertEquals(2, upright.width);
    float[] want = new float[4];
    int[][] middle = {{60, 20}, {70, 30}};
    for (int y = 0; y < 2; y++) {
      for (int x = 0; x < 2; x++) {
        want[2 * y + x] = middle[y][x] / 255f;
      }
    }
    assertArrayEquals(want, p.input, 1e-7f);
    assertEquals(0xff000000 | (60 << 16) | (60 << 8) | 60, p.seen.get(0, 0));
    // Colour becomes the luma the model is given, on screen as well.
    int red = 0xffff0000;
    ImagePrep.Prepared r = ImagePrep.prepare(new Pixels(new int[] {red, red, red, red}, 2, 2), Orientation.UPRIGHT, gray);
    int v = Math.round(0.2989f * 255);
    assertEquals(0xff000000 | (v << 16) | (v << 8) | v, r.seen.get(1, 1));
    assertEquals(v / 255.0, r.input[3], 1e-6);
  }

  @Test
  void decodeSampleSizeKeepsThePreviewSharpAndMemoryBounded() {
    assertEquals(4, DecodePlan.sampleSize(4000, 3000));   // 1000x750
    assertEquals(1, DecodePlan.sampleSize(800, 600));
    assertEquals(1, DecodePlan.sampleSize(28, 28));
    assertEquals(2, DecodePlan.sampleSize(1024, 1024));   // 512x512
    assertEquals(1, DecodePlan.sampleSize(1023, 1024));
    // A panorama whose short side allows no sampling is still held to MAX_PIXELS.
    int s = DecodePlan.sampleSize(40000, 600);
    assertTrue(DecodePlan.sampled(40000, s) * DecodePlan.sampled(600, s) <= DecodePlan.MAX_PIXELS);
    assertEquals(4, s);  // 10000x150
    assertEquals(8, DecodePlan.sampleSize(100, 100, 50, 200));  // 2 for the side, 8 for 13x13 = 169 <= 200
    AnytimeException x = assertThrows(AnytimeException.class, () -> DecodePlan.sampleSize(-1, -1));
    assertEquals("not an image this phone can decode (no size could be read from it)", x.getMessage());
  }
}
