package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class EnsembleTest {
  @Test
  void runningMeanAndSoftmaxByHand() {
    Ensemble e = new Ensemble(3);
    e.add(new float[] {1, 0, -1});
    e.add(new float[] {3, 0, 1});
    assertArrayEquals(new double[] {2, 0, 0}, e.mean(), 0);
    double z = Math.exp(2) + 2;
    assertArrayEquals(new double[] {Math.exp(2) / z, 1 / z, 1 / z}, e.probabilities(), 1e-15);
    assertEquals(0.7869860421615985, e.probabilities()[0], 1e-15); // e^2 / (e^2 + 2)
  }

  @Test
  void softmaxIsStableForLargeLogits() {
    double[] p = Ensemble.softmax(new double[] {1000, 1000});
    assertArrayEquals(new double[] {0.5, 0.5}, p, 0);
  }

  @Test
  void argmaxTakesTheFirstOfTiesAndTopKIsOrdered() {
    assertEquals(1, Ensemble.argmax(new double[] {0.1, 0.4, 0.4, 0.1}));
    assertArrayEquals(new int[] {1, 2, 0}, Ensemble.topK(new double[] {0.1, 0.4, 0.4, 0.1}, 3));
    assertArrayEquals(new int[] {2, 0}, Ensemble.topK(new double[] {0.3, 0.1, 0.6}, 2));
    assertEquals(2, Ensemble.topK(new double[] {0.3, 0.7}, 3).length);
  }

  @Test
  void wrongNumberOfLogitsIsRejected() {
    Ensemble e = new Ensemble(3);
    AnytimeException x = assertThrows(AnytimeException.class, () -> e.add(new float[] {1, 2}));
    assertEquals("leaf logits have 2 values, the ensemble has 3 classes", x.getMessage());
    assertThrows(IllegalStateException.class, e::mean);
  }
}
