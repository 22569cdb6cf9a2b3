package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The cross-check with the Python runner: the decision fixture ({@code -Dhnetf.fixture}) exported
 * from a real model, with its manifest ({@code -Dhnetf.manifest}); the sample PNGs ({@code
 * -Dhnetf.samples}) and the Python preprocessing of them ({@code -Dhnetf.preprocessed}).
 * {@code tests/test_android_engine.py} passes all four.
 */
class FixtureReplayTest {
  static Path path(String property) {
    String value = System.getProperty(property);
    Assumptions.assumeTrue(value != null && !value.isEmpty(),
        "-D" + property + " not given (tests/test_android_engine.py passes it)");
    Path p = Paths.get(value);
    assertTrue(Files.exists(p), "-D" + property + "=" + value + " does not exist");
    return p;
  }

  private static DecisionFixture fixture() throws Exception {
    try (InputStream in = Files.newInputStream(path("hnetf.fixture"))) {
      return DecisionFixture.read(in);
    }
  }

  private static Manifest manifest() throws Exception {
    try (InputStream in = Files.newInputStream(path("hnetf.manifest"))) {
      return Manifest.read(in);
    }
  }

  @Test
  void fixtureIsOfThisManifest() throws Exception {
    DecisionFixture fx = fixture();
    Manifest m = manifest();
    assertEquals(Manifest.sha256(Files.readAllBytes(path("hnetf.manifest"))), fx.manifestSha256);
    assertEquals(m.steps.size(), fx.numSteps);
    assertEquals(m.numClasses, fx.numClasses);
    assertTrue(fx.cases.size() >= 7, "cases: " + fx.cases.size());
    assertTrue(fx.numImages >= 1);
  }

  @Test
  void replayTakesThePythonDecisions() throws Exception {
    DecisionFixture fx = fixture();
    for (DecisionFixture.Case c : fx.cases) {
      Replay r = Replay.run(fx.leafLogits, fx.stepMs, c.rule, fx.predictedMs);
      assertArrayEquals(c.steps, r.steps, c.rule + ": steps");
      assertArrayEquals(c.prediction, r.prediction, c.rule + ": predictions");
      assertArrayEquals(c.elapsedMs, r.elapsedMs, 1e-12, c.rule + ": elapsed ms");
    }
  }

  @Test
  void liveEngineTakesThePythonDecisions() throws Exception {
    DecisionFixture fx = fixture();
    Manifest m = manifest();
    TraceRunner runner = new TraceRunner(m, fx.leafLogits, fx.stepMs);
    AnytimeEngine engine = new AnytimeEngine(m, runner, runner);
    engine.setPredictedMs(fx.predictedMs);
    float[] image = new float[m.input.size()];
    int decisions = 0;
    for (DecisionFixture.Case c : fx.cases) {
      for (int i = 0; i < fx.numImages; i++) {
        runner.select(i);
        Result r = engine.classify(image, c.rule, null);
        String where = c.rule + ", image " + i;
        assertEquals(c.steps[i], r.steps, where + ": steps");
        assertEquals(c.prediction[i], r.label, where + ": prediction");
        assertEquals(c.elapsedMs[i], r.elapsedMs, 1e-12, where + ": elapsed ms");
        decisions++;
      }
    }
    assertEquals(fx.cases.size() * fx.numImages, decisions);
  }

  @Test
  void runningMeanMatchesWithin1e5() throws Exception {
    DecisionFixture fx = fixture();
    Manifest m = manifest();
    TraceRunner runner = new TraceRunner(m, fx.leafLogits, fx.stepMs);
    AnytimeEngine engine = new AnytimeEngine(m, runner, runner);
    double worst = 0;
    for (int i = 0; i < fx.numImages; i++) {
      runner.select(i);
      Result r = engine.classify(new float[m.input.size()], StoppingRule.leaves(fx.numSteps), null);
      assertEquals(fx.numSteps, r.updates.size());
      for (int s = 0; s < fx.numSteps; s++) {
        double[] mean = r.updates.get(s).mean;
        for (int c = 0; c < fx.numClasses; c++) {
          worst = Math.max(worst, Math.abs(mean[c] - fx.runningMean[i][s][c]));
        }
      }
    }
    assertTrue(worst <= 1e-5, "running mean differs by " + worst);
  }

  @Test
  void samplePngsPreprocessLikePython() throws Exception {
    Path samples = path("hnetf.samples");
    Manifest m = manifest();
    JSONObject expected = new JSONObject(new String(Files.readAllBytes(path("hnetf.preprocessed")), "UTF-8"));
    JSONObject meta = new JSONObject(new String(Files.readAllBytes(samples.resolve("samples.json")), "UTF-8"));
    JSONArray list = meta.getJSONArray("samples");
    assertTrue(list.length() > 0);
    for (int i = 0; i < list.length(); i++) {
      String file = list.getJSONObject(i).getString("file");
      Pixels pixels = Fakes.png(samples.resolve(file));
      // What the app does with a bundled sample (upright, crop and resize are identities here).
      float[] got = ImagePrep.prepare(pixels, Orientation.UPRIGHT,
          m.input).input;
      JSONArray want = expected.getJSONArray(file);
      assertEquals(want.length(), got.length, file);
      for (int k = 0; k < got.length; k++) {
        assertEquals(want.getDouble(k), got[k], 1e-6, file + "[" + k + "]");
      }
    }
  }
}
