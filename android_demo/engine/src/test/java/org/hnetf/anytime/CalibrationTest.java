package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class CalibrationTest {
  @Test
  void percentileInterpolatesLinearlyBetweenRanks() {
    double[] ten = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    assertEquals(9.1, Calibration.percentile(ten, 90), 1e-12); // rank 8.1 of 0..9: 9 + 0.1
    assertEquals(5.5, Calibration.percentile(ten, 50), 1e-12);
    assertEquals(1.0, Calibration.percentile(ten, 0), 0);
    assertEquals(10.0, Calibration.percentile(ten, 100), 0);
    assertEquals(9.0, Calibration.percentile(new double[] {0, 10}, 90), 1e-12);
    assertEquals(4.0, Calibration.percentile(new double[] {4}, 90), 0);
  }

  @Test
  void predictTakesEachStepsPercentile() {
    double[][] runs = {{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}};
    // rank 0.9 * 4 = 3.6 -> 4 + 0.6 and 40 + 6
    assertArrayEquals(new double[] {4.6, 46}, Calibration.predict(runs, 90), 1e-12);
  }

  @Test
  void badInputIsRejected() {
    assertThrows(IllegalArgumentException.class, () -> Calibration.percentile(new double[0], 90));
    assertThrows(IllegalArgumentException.class, () -> Calibration.percentile(new double[] {1}, 101));
    assertThrows(IllegalArgumentException.class,
        () -> Calibration.predict(new double[][] {{1, 2}, {1}}, 90));
  }
}
