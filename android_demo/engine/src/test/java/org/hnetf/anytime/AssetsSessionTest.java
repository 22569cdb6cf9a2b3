package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

/**
 * The app's start-up on what {@code fill_assets.py} really wrote ({@code -Dhnetf.assets}): the
 * session reads that manifest and config, checks every model file it opens against its sha256,
 * matches signatures and slots, calibrates on the bundled PNGs and switches precision; LiteRT is
 * replaced by the decision fixture's recorded logits and step times ({@code -Dhnetf.fixture}).
 */
class AssetsSessionTest {
  @Test
  void fillAssetsOutputLoadsChecksCalibratesAndSwitchesPrecision() throws Exception {
    Path assets = FixtureReplayTest.path("hnetf.assets");
    DecisionFixture fx;
    try (InputStream in = Files.newInputStream(FixtureReplayTest.path("hnetf.fixture"))) {
      fx = DecisionFixture.read(in);
    }
    Manifest manifest = Manifest.parse(new String(Files.readAllBytes(assets.resolve("manifest.json")), "UTF-8"));
    TraceRunner trace = new TraceRunner(manifest, fx.leafLogits, fx.stepMs);
    trace.select(0);
    List<String> opened = new ArrayList<>();
    RunnerFactory factory = new RunnerFactory() {
      @Override
      public boolean gpuAvailable() {
        return false;
      }

      @Override
      public Opened open(String file, Delegate delegate, int threads) {
        opened.add(file + "@" + delegate);
        return new Opened() {
          @Override public String describe() { return DelegatePlan.label(delegate, -1); }
          @Override public void close() {}
          @Override public Set<String> signatureKeys() { return trace.signatureKeys(); }
          @Override public List<String> inputNames(String s) { return trace.inputNames(s); }
          @Override public List<String> outputNames(String s) { return trace.outputNames(s); }
          @Override public int[] shape(String s, String t, boolean in) { return trace.shape(s, t, in); }
          @Override public void run(String s, Map<String, ByteBuffer> in, Map<String, ByteBuffer> out) {
            if (s.equals(manifest.steps.get(0).signature)) {
              trace.rewind();  // every image replays the fixture's image 0
            }
            trace.run(s, in, out);
          }
        };
      }
    };
    ClassifierSession session = new ClassifierSession(factory, trace, EngineLog.NONE);
    List<String> read = new ArrayList<>();
    ClassifierSession.Status st = session.init(name -> {
      read.add(name);
      return Files.readAllBytes(assets.resolve(name));
    }, new AnytimeOptions().withDelegate(Delegate.GPU), m -> {
      JSONObject meta = new JSONObject(new String(Files.readAllBytes(assets.resolve("samples/samples.json")), "UTF-8"));
      JSONArray list = meta.getJSONArray("samples");
      List<float[]> images = new ArrayList<>();
      for (int i = 0; i < list.length(); i++) {
        Pixels p = Fakes.png(assets.resolve("samples").resolve(list.getJSONObject(i).getString("file")));
        images.add(ImagePrep.prepare(p, Orientation.UPRIGHT, m.input).input);
      }
      return images;
    });
    assertEquals(ClassifierSession.Phase.READY, st.phase, st.error);
    DemoConfig config = DemoConfig.parse(new String(Files.readAllBytes(assets.resolve("demo_config.json")), "UTF-8"), manifest);
    assertEquals(config.precisionNames(), st.precisions);
    assertEquals(config.defaultPrecision, st.options.precision);
    assertEquals("XNNPACK [no GPU delegate on this device]", st.runtime);
    // Every step calibrated from the recorded times (each is image 0's time: one image replayed).
    for (int s = 0; s < st.numSteps; s++) {
      assertEquals(fx.stepMs[0][s], st.predictedMs[s], 1e-9, "step " + (s + 1));
    }
    assertTrue(read.contains(config.files(null).anytime), read.toString());  // its sha256 was checked
    Result r = session.classify(new float[manifest.input.size()], null);
    assertEquals(st.numSteps, r.steps);
    assertEquals(fx.numSteps, r.steps);
    if (st.precisions.size() > 1) {
      String other = st.precisions.get(1);
      session.setOptions(session.options().withPrecision(other));
      assertEquals(other, session.status().options.precision);
      assertTrue(read.contains(config.files(other).anytime), read.toString());
    }
    // Automatic threads on the exported manifest: both counts replay the same recorded times, so
    // 2 threads are not faster and 1 thread is kept; the margin is the export's (runtime.THREAD_MARGIN).
    int before = opened.size();
    ClassifierSession.Status auto = session.setOptions(session.options().withAutoThreads(2));
    assertEquals(0.05, manifest.threadMargin, 0);
    assertEquals(1, auto.threads);
    assertTrue(auto.threadChoice.startsWith("1 thread (auto, all steps: 1 thread "), auto.threadChoice);
    assertTrue(auto.threadChoice.endsWith("; more threads only when over 5% faster)"), auto.threadChoice);
    assertEquals(2, opened.size() - before);
    session.close();
  }
}
