package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class InputSpecTest {
  private static final InputSpec GRAY = new InputSpec("input", 2, 2, 1, new double[] {0.5}, new double[] {0.25});

  @Test
  void normalizesPerTheManifest() {
    // (pixel / 255 - 0.5) / 0.25
    assertArrayEquals(new float[] {-2f, 2f, 0f, (float) ((51 / 255.0 - 0.5) / 0.25)},
        GRAY.normalize(new float[] {0, 255, 127.5f, 51}), 0);
  }

  @Test
  void grayArgbTakesTheValueAndColourTakesTheLuma() {
    int gray = 0xff808080;
    int red = 0xffff0000;
    float[] x = GRAY.fromArgb(new int[] {gray, gray, red, 0xff000000}, 2, 2);
    assertEquals((float) ((128 / 255.0 - 0.5) / 0.25), x[0], 0);
    assertEquals((float) ((0.2989 * 255 / 255.0 - 0.5) / 0.25), x[2], 1e-6);
    assertEquals(-2f, x[3], 0);
  }

  @Test
  void rgbKeepsChannelsInOrder() {
    InputSpec rgb = new InputSpec("input", 1, 1, 3, new double[] {0, 0.5, 1}, new double[] {1, 0.5, 2});
    float[] x = rgb.fromArgb(new int[] {0xff336699}, 1, 1);
    assertArrayEquals(new float[] {(float) (0x33 / 255.0), (float) ((0x66 / 255.0 - 0.5) / 0.5),
        (float) ((0x99 / 255.0 - 1) / 2)}, x, 0);
  }

  @Test
  void wrongSizesAreErrors() {
    assertEquals("input image is 3x2 (width x height); the model takes 2x2: scale it first",
        assertThrows(AnytimeException.class, () -> GRAY.fromArgb(new int[6], 3, 2)).getMessage());
    assertEquals("input image has 5 values; the model takes 2x2x1 = 4",
        assertThrows(AnytimeException.class, () -> GRAY.normalize(new float[5])).getMessage());
    assertThrows(AnytimeException.class, () -> GRAY.fromArgb(new int[3], 2, 2));
    InputSpec two = new InputSpec("input", 1, 1, 2, new double[] {0, 0}, new double[] {1, 1});
    assertThrows(AnytimeException.class, () -> two.fromArgb(new int[1], 1, 1));
    assertThrows(ManifestException.class, () -> new InputSpec("input", 1, 1, 3, new double[] {0}, new double[] {1}));
  }
}
