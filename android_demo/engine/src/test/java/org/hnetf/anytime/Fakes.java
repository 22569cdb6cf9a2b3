package org.hnetf.anytime;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** Small hand-written manifests and runners for the tests. */
final class Fakes {
  private Fakes() {}

  /**
   * A valid manifest of a 3-leaf tree (branching [1, 3]) on 2x2x1 images with 2 classes:
   * step 1 reads the input and writes slots "a" [-1, 2] and "b" [-1, 3]; step 2 reads "b";
   * step 3 reads "a" and writes "b". Prefix files k = 1 and 3.
   */
  static JSONObject manifestJson() {
    try {
      JSONObject m = new JSONObject();
      m.put("format", "hne-tf-manifest");
      m.put("version", 1);
      m.put("num_leaves", 3);
      JSONObject model = new JSONObject();
      model.put("preset", "fake").put("family", "hne").put("num_classes", 2).put("dataset", "synthetic");
      model.put("branching", new JSONArray(Arrays.asList(1, 3)));
      m.put("model", model);
      JSONObject input = new JSONObject();
      input.put("name", "input").put("dtype", "float32").put("layout", "NHWC");
      input.put("shape", new JSONArray(Arrays.asList(-1, 2, 2, 1)));
      JSONObject norm = new JSONObject();
      norm.put("mean", new JSONArray(Arrays.asList(0.5)));
      norm.put("std", new JSONArray(Arrays.asList(0.25)));
      input.put("normalization", norm);
      m.put("input", input);
      m.put("labels", new JSONArray(Arrays.asList("cat", "dog")));
      m.put("ensemble", new JSONObject().put("combine", "mean_logits"));
      JSONObject slots = new JSONObject();
      slots.put("input", new JSONArray(Arrays.asList(-1, 2, 2, 1)));
      slots.put("a", new JSONArray(Arrays.asList(-1, 2)));
      slots.put("b", new JSONArray(Arrays.asList(-1, 3)));
      JSONArray steps = new JSONArray();
      steps.put(step(1, "input", Arrays.asList("a", "b"), 100));
      steps.put(step(2, "b", Arrays.asList(), 20));
      steps.put(step(3, "a", Arrays.asList("b"), 30));
      JSONObject anytime = new JSONObject();
      anytime.put("slots", slots).put("steps", steps).put("full_macs", 150);
      m.put("anytime", anytime);
      JSONArray files = new JSONArray();
      files.put(file("anytime_float32.tflite", "anytime", 0));
      files.put(file("prefix_k01_float32.tflite", "prefix", 1));
      files.put(file("prefix_k03_float32.tflite", "prefix", 3));
      m.put("files", files);
      return m;
    } catch (JSONException e) {
      throw new AssertionError(e);
    }
  }

  private static JSONObject step(int n, String reads, List<String> writes, int macs) throws JSONException {
    JSONObject s = new JSONObject();
    s.put("step", n).put("signature", "step0" + n).put("leaf", n - 1).put("reads", reads);
    s.put("writes", new JSONArray(writes)).put("macs", macs);
    return s;
  }

  private static JSONObject file(String name, String kind, int k) throws JSONException {
    JSONObject f = new JSONObject();
    f.put("file", name).put("kind", kind).put("precision", "float32").put("bytes", 3);
    f.put("sha256", Manifest.sha256(new byte[] {1, 2, 3}));
    if (k > 0) {
      f.put("k", k);
    }
    return f;
  }

  /**
   * {@link #manifestJson()} with what the export adds for a model with a teacher role (ONE's gated
   * teacher): the {@code teacher} section (every leaf, 150 MACs, plus a 4-MAC gate) and the files
   * {@code teacher_float32.tflite} and {@code teacher_int8.tflite}.
   */
  static JSONObject manifestWithTeacher() {
    try {
      JSONObject m = manifestJson();
      JSONObject t = new JSONObject();
      t.put("role", "teacher").put("combine", "gated_sum").put("prediction", "softmax of sum_i gate_i z_i");
      t.put("num_leaves", 3);
      t.put("output", new JSONObject().put("name", "logits").put("shape", new JSONArray(Arrays.asList(1, 2))));
      t.put("macs", 154).put("leaves_macs", 150).put("gate_macs", 4);
      t.put("params", 60).put("leaves_params", 50).put("gate_params", 10);
      m.put("teacher", t);
      for (String precision : new String[] {"float32", "int8"}) {
        JSONObject f = file("teacher_" + precision + ".tflite", "teacher", 0);
        f.put("precision", precision).put("macs", 154).put("params", 60).put("accuracy", 0.5);
        m.getJSONArray("files").put(f);
      }
      return m;
    } catch (JSONException e) {
      throw new AssertionError(e);
    }
  }

  static Manifest manifest() {
    return Manifest.parse(manifestJson().toString());
  }

  /** Leaf logits for one image: {@code [3 steps][2 classes]}. */
  static float[][] leaves(float... values) {
    float[][] out = new float[3][2];
    for (int s = 0; s < 3; s++) {
      out[s][0] = values[2 * s];
      out[s][1] = values[2 * s + 1];
    }
    return out;
  }

  /** Forwards to another runner, with signatures removed or tensor shapes replaced. */
  static class EditedRunner implements StepRunner {
    final StepRunner base;
    final Set<String> removed = new java.util.HashSet<>();
    final Map<String, int[]> shapes = new HashMap<>();

    EditedRunner(StepRunner base) {
      this.base = base;
    }

    @Override
    public Set<String> signatureKeys() {
      Set<String> keys = new java.util.LinkedHashSet<>(base.signatureKeys());
      keys.removeAll(removed);
      return keys;
    }

    @Override
    public List<String> inputNames(String signature) {
      return base.inputNames(signature);
    }

    @Override
    public List<String> outputNames(String signature) {
      return base.outputNames(signature);
    }

    @Override
    public int[] shape(String signature, String tensor, boolean input) {
      int[] s = shapes.get(signature + "/" + tensor);
      return s != null ? s : base.shape(signature, tensor, input);
    }

    @Override
    public void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
      base.run(signature, inputs, outputs);
    }
  }

  /** A prefix file runner: {@code logits [-1, k, classes]} from fixed values, taking {@code ms}. */
  static final class PrefixRunner implements StepRunner {
    final int k;
    final int classes;
    final float[] logits;
    final double ms;
    double now;

    PrefixRunner(int k, int classes, float[] logits, double ms) {
      this.k = k;
      this.classes = classes;
      this.logits = logits;
      this.ms = ms;
    }

    @Override
    public Set<String> signatureKeys() {
      return java.util.Collections.singleton("serving_default");
    }

    @Override
    public List<String> inputNames(String signature) {
      return java.util.Collections.singletonList("input");
    }

    @Override
    public List<String> outputNames(String signature) {
      return java.util.Collections.singletonList("logits");
    }

    @Override
    public int[] shape(String signature, String tensor, boolean input) {
      return input ? new int[] {-1, 2, 2, 1} : new int[] {-1, k, classes};
    }

    @Override
    public void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
      outputs.get("logits").asFloatBuffer().put(logits);
      now += ms;
    }
  }

  /** ARGB of a PNG as Android's BitmapFactory gives it: a gray PNG as R = G = B (the raster is read,
   * not getRGB, which would apply Java's gray colour-space conversion). */
  static Pixels png(Path file) throws Exception {
    BufferedImage png = ImageIO.read(file.toFile());
    Raster raster = png.getRaster();
    int[] argb = new int[png.getWidth() * png.getHeight()];
    for (int y = 0; y < png.getHeight(); y++) {
      for (int x = 0; x < png.getWidth(); x++) {
        int[] px = raster.getPixel(x, y, (int[]) null);
        int r = px[0];
        int g = px.length >= 3 ? px[1] : r;
        int b = px.length >= 3 ? px[2] : r;
        argb[y * png.getWidth() + x] = 0xff000000 | (r << 16) | (g << 8) | b;
      }
    }
    return new Pixels(argb, png.getWidth(), png.getHeight());
  }

  /** A file of the repository's {@code tests/data/} shared with the Python and JS tests: the path in
   * environment variable {@code env}, else the first {@code tests/data/<name>} above the working directory. */
  static Path sharedTestData(String name, String env) {
    String given = System.getenv(env);
    if (given != null && !given.isEmpty()) {
      return Paths.get(given);
    }
    for (Path dir = Paths.get(System.getProperty("user.dir")).toAbsolutePath(); dir != null;
        dir = dir.getParent()) {
      Path candidate = dir.resolve("tests").resolve("data").resolve(name);
      if (Files.isRegularFile(candidate)) {
        return candidate;
      }
    }
    throw new AssertionError("tests/data/" + name + " not found above " + System.getProperty("user.dir")
        + "; set " + env);
  }
}
