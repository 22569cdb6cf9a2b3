package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class StoppingRuleTest {
  @Test
  void firstStepAlwaysRuns() {
    // Even a deadline far below the first step's predicted cost, or a reached confidence.
    assertTrue(StoppingRule.deadline(0.001).runNext(0, 16, 0, 5.0, 0));
    assertTrue(StoppingRule.confidence(0.01).runNext(0, 16, 0, 0, 1.0));
    assertTrue(StoppingRule.leaves(1).runNext(0, 16, 0, 0, 0));
  }

  @Test
  void noStepPastTheLast() {
    assertFalse(StoppingRule.leaves(20).runNext(16, 16, 0, 0, 0));
    assertFalse(StoppingRule.confidence(1.0).runNext(16, 16, 0, 0, 0.5));
    assertFalse(StoppingRule.deadline(1e9).runNext(16, 16, 0, 0, 0));
  }

  @Test
  void leavesRunsExactlyThatMany() {
    StoppingRule r = StoppingRule.leaves(3);
    assertTrue(r.runNext(1, 5, 0, 0, 1.0));
    assertTrue(r.runNext(2, 5, 0, 0, 1.0));
    assertFalse(r.runNext(3, 5, 0, 0, 0.0));
  }

  @Test
  void confidenceStopsOnceReached() {
    StoppingRule r = StoppingRule.confidence(0.9);
    assertTrue(r.runNext(1, 5, 0, 0, 0.8999));
    assertFalse(r.runNext(1, 5, 0, 0, 0.9)); // reached: stop
    assertFalse(r.runNext(2, 5, 0, 0, 0.95));
  }

  @Test
  void deadlineRunsTheNextStepOnlyIfItFits() {
    StoppingRule r = StoppingRule.deadline(1.0);
    assertTrue(r.runNext(1, 5, 0.625, 0.375, 0)); // 1.0 <= 1.0: fits exactly
    assertFalse(r.runNext(1, 5, 0.625, 0.376, 0));
    assertFalse(r.runNext(2, 5, 1.5, 0.0, 0)); // already over
    assertTrue(r.runNext(2, 5, 0.25, 0.5, 0));
  }

  @Test
  void outOfRangeValuesAreRejected() {
    String[] messages = {
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.deadline(0)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.deadline(-2)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.deadline(Double.NaN)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.confidence(0)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.confidence(1.01)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.confidence(Double.NaN)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.leaves(0)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.of("leaves", 2.5)).getMessage(),
      assertThrows(IllegalArgumentException.class, () -> StoppingRule.of("leaves", Double.POSITIVE_INFINITY))
          .getMessage(),
    };
    assertEquals("a deadline must be positive (ms), got 0.0", messages[0]);
    assertTrue(messages[3].startsWith("a confidence threshold must be in (0, 1]"), messages[3]);
    assertTrue(messages[4].endsWith("got 1.01"), messages[4]);
    assertEquals("the number of leaves must be a positive integer, got 2.5", messages[7]);
    String unknown = assertThrows(IllegalArgumentException.class, () -> StoppingRule.of("time", 1))
        .getMessage();
    assertEquals("unknown rule 'time'; choose from deadline, confidence, leaves", unknown);
  }

  @Test
  void boundaryValuesAreAccepted() {
    assertEquals(1.0, StoppingRule.confidence(1.0).value);
    assertEquals(1.0, StoppingRule.leaves(1).value);
    assertEquals("deadline 0.5 ms", StoppingRule.of("deadline", 0.5).describe());
  }
}
