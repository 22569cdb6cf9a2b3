package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class FrameGateTest {
  private double now;
  private final Clock clock = () -> now;

  @Test
  void framesArrivingWhileBusyAreDroppedAndTheNextOneAfterwardsRuns() {
    FrameGate g = new FrameGate(clock, 0);
    assertEquals(FrameGate.DROPPED, g.tryAdmit());  // not started
    g.start();
    long t = g.tryAdmit();
    assertTrue(t >= 0);
    now = 10;
    assertEquals(FrameGate.DROPPED, g.tryAdmit());  // busy classifying
    assertEquals(FrameGate.DROPPED, g.tryAdmit());
    now = 30;
    assertTrue(g.finish(t));
    long t2 = g.tryAdmit();                          // the newest frame after that
    assertTrue(t2 >= 0);
    assertTrue(g.finish(t2));
    assertEquals(4, g.offered());
    assertEquals(2, g.admitted());
    assertEquals(2, g.dropped());
    assertEquals(2, g.shown());
    assertEquals("4 frames: 2 classified, 2 dropped (busy or too soon), 33.3 per second", g.describe());
  }

  @Test
  void aMinimumIntervalLeavesRoomForTheScreen() {
    FrameGate g = new FrameGate(clock, 50);
    g.start();
    long t = g.tryAdmit();
    now = 5;
    g.finish(t);
    now = 40;
    assertEquals(FrameGate.DROPPED, g.tryAdmit());  // idle, but too soon
    now = 50;
    assertTrue(g.tryAdmit() >= 0);
    assertThrows(IllegalArgumentException.class, () -> new FrameGate(clock, -1));
  }

  @Test
  void answersOfFramesAdmittedBeforeStopAreStale() {
    FrameGate g = new FrameGate(clock, 0);
    g.start();
    long t = g.tryAdmit();
    g.stop();
    assertEquals(FrameGate.DROPPED, g.tryAdmit());
    assertFalse(g.finish(t));                       // finished after stop: not shown
    g.start();
    long t2 = g.tryAdmit();
    g.stop();
    g.start();                                      // live again before the old frame finished
    assertFalse(g.finish(t2));
    assertTrue(g.finish(g.tryAdmit()));
    assertThrows(IllegalArgumentException.class, () -> g.finish(FrameGate.DROPPED));
  }

  @Test
  void neverTwoFramesAtOnceUnderConcurrentArrivals() throws Exception {
    FrameGate g = new FrameGate(Clock.SYSTEM, 0);
    g.start();
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger overlap = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    CountDownLatch go = new CountDownLatch(1);
    for (int i = 0; i < 4; i++) {
      pool.execute(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          return;
        }
        for (int f = 0; f < 2000; f++) {
          long t = g.tryAdmit();
          if (t != FrameGate.DROPPED) {
            if (inside.incrementAndGet() > 1) {
              overlap.incrementAndGet();
            }
            inside.decrementAndGet();
            g.finish(t);
          }
        }
      });
    }
    go.countDown();
    pool.shutdown();
    assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
    assertEquals(0, overlap.get());
    assertEquals(8000, g.offered());
    assertEquals(8000, g.admitted() + g.dropped());
  }
}
