package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

class ManifestTest {
  private static String problems(JSONObject m) {
    return assertThrows(ManifestException.class, () -> Manifest.parse(m.toString())).getMessage();
  }

  /** Each of {@code expected} is in the problem list {@code msg} (shown in full when one is not). */
  private static void assertLists(String msg, String... expected) {
    for (String e : expected) {
      assertTrue(msg.contains(e), msg);
    }
  }

  @Test
  void readsAValidManifest() {
    Manifest m = Fakes.manifest();
    assertEquals(3, m.numLeaves);
    assertEquals(2, m.numClasses);
    assertEquals(Arrays.asList("cat", "dog"), m.labels);
    assertEquals(3, m.steps.size());
    assertEquals("b", m.steps.get(1).reads);
    assertEquals(Arrays.asList("a", "b"), m.steps.get(0).writes);
    assertEquals(4, m.slotSize("input"));
    assertEquals(3, m.slotSize("b"));
    assertEquals(4, m.input.size());
    assertEquals(Arrays.asList(1, 3), m.prefixSizes("float32"));
    assertEquals("anytime_float32.tflite", m.anytimeFile("float32").file);
  }

  @Test
  void unknownFormatAndVersionAreRejected() throws JSONException {
    JSONObject m = Fakes.manifestJson();
    m.put("format", "other-manifest");
    m.put("version", 2);
    String msg = problems(m);
    assertTrue(msg.startsWith("invalid manifest:"), msg);
    assertLists(
        msg,
        "format: expected \"hne-tf-manifest\", got \"other-manifest\"",
        "version: expected 1, got 2");
    m.put("format", "hne-tf-manifest");
    m.remove("version");
    assertTrue(problems(m).contains("version: missing"));
  }

  @Test
  void everyProblemIsListed() throws JSONException {
    JSONObject m = Fakes.manifestJson();
    m.getJSONObject("model").put("branching", new JSONArray(Arrays.asList(1, 2)));
    m.put("labels", new JSONArray(Arrays.asList("cat")));
    m.getJSONObject("input").getJSONObject("normalization").put("std", new JSONArray(Arrays.asList(0, 1)));
    m.getJSONObject("input").put("dtype", "uint8");
    String msg = problems(m);
    assertLists(
        msg,
        "model.branching: [1,2] does not give num_leaves=3",
        "labels: 1 names for num_classes=2",
        "input.normalization.std: 2 values for 1 channels",
        "input.normalization.std[0]: must be > 0, got 0",
        "input.dtype: expected \"float32\", got \"uint8\"");
  }

  @Test
  void stepsAndSlotsMustBeConsistent() throws JSONException {
    JSONObject m = Fakes.manifestJson();
    JSONArray steps = m.getJSONObject("anytime").getJSONArray("steps");
    steps.getJSONObject(1).put("step", 5);
    steps.getJSONObject(1).put("reads", "c");
    steps.getJSONObject(2).put("writes", new JSONArray(Arrays.asList("d")));
    steps.getJSONObject(2).put("macs", 31);
    String msg = problems(m);
    assertLists(
        msg,
        "anytime.steps[1].step: expected 2 (steps are ordered)",
        "anytime.steps[1].reads: slot 'c' is not written by an earlier step",
        "anytime.steps[2].writes: slot 'd' not declared in anytime.slots",
        "anytime.full_macs: 150, but the step MACs sum to 151");

    JSONObject fewer = Fakes.manifestJson();
    JSONArray all = fewer.getJSONObject("anytime").getJSONArray("steps");
    fewer.getJSONObject("anytime").put("steps", new JSONArray().put(all.get(0)).put(all.get(1)));
    assertTrue(problems(fewer).contains("anytime.steps: 2 steps for num_leaves=3"));

    JSONObject badSlot = Fakes.manifestJson();
    badSlot.getJSONObject("anytime").getJSONObject("slots").put("a", "big");
    assertTrue(problems(badSlot).contains("anytime.slots.a: expected array, got string"));
  }

  @Test
  void threadMarginIsReadAndChecked() throws JSONException {
    assertEquals(0.0, Fakes.manifest().threadMargin, 0);  // an export from before the field
    JSONObject m = Fakes.manifestJson();
    m.put("latency", new JSONObject().put("unit", "ms").put("runs", 20));
    assertEquals(0.0, Manifest.parse(m.toString()).threadMargin, 0);
    m.getJSONObject("latency").put("thread_margin", 0.05);
    assertEquals(0.05, Manifest.parse(m.toString()).threadMargin, 0);
    m.getJSONObject("latency").put("thread_margin", 1.5);
    assertLists(problems(m), "latency.thread_margin: ");
    m.getJSONObject("latency").put("thread_margin", -0.1);
    assertLists(problems(m), "latency.thread_margin: ");
    m.getJSONObject("latency").put("thread_margin", "5%");
    assertLists(problems(m), "latency.thread_margin: expected number, got string");
  }

  @Test
  void filesAreChecked() throws JSONException {
    JSONObject m = Fakes.manifestJson();
    JSONArray files = m.getJSONArray("files");
    files.getJSONObject(1).put("k", 4);
    files.getJSONObject(2).put("file", "prefix_k01_float32.tflite");
    files.getJSONObject(0).put("precision", "BF16");
    files.getJSONObject(0).put("file", "../anytime.tflite");
    files.getJSONObject(0).put("bytes", "3");
    String msg = problems(m);
    assertLists(
        msg,
        "files[1].k: 4 outside [1, 3]",
        "files[2].file: prefix_k01_float32.tflite listed twice",
        "files[0].precision: \"BF16\" does not match ^[a-z][a-z0-9_]{0,31}$",
        "files[0].file: \"..\\/anytime.tflite\" does not match",
        "files[0].bytes: expected integer, got string");
    // Any precision name of the schema's form is accepted: a new registry entry needs no engine change.
    JSONObject fallback = Fakes.manifestJson();
    fallback.getJSONArray("files").getJSONObject(0).put("precision", "int8_fallback");
    assertEquals("int8_fallback", Manifest.parse(fallback.toString()).files.get(0).precision);
  }

  @Test
  void readsAManifestWithATeacher() {
    Manifest m = Manifest.parse(Fakes.manifestWithTeacher().toString());
    assertEquals("teacher_int8.tflite", m.teacherFile("int8").file);
    assertEquals("teacher", m.teacherFile("float32").kind);
    assertEquals(2, m.filesOf("teacher", null).size());
    // The anytime engine and the prefix files are what they are without the teacher.
    assertEquals(3, m.steps.size());
    assertEquals(Arrays.asList(1, 3), m.prefixSizes("float32"));
    assertEquals("anytime_float32.tflite", m.anytimeFile("float32").file);
    assertEquals("the manifest has no float16 teacher file; it has: float32, int8",
        assertThrows(ManifestException.class, () -> m.teacherFile("float16")).getMessage());
    String msg = assertThrows(ManifestException.class, () -> Fakes.manifest().teacherFile("float32")).getMessage();
    assertTrue(msg.startsWith("the manifest has no teacher section"), msg);
  }

  @Test
  void teacherProblemsAreListed() throws JSONException {
    JSONObject m = Fakes.manifestWithTeacher();
    JSONObject t = m.getJSONObject("teacher");
    t.put("gate_macs", 5);
    t.put("leaves_params", -1);
    t.put("num_leaves", 2);
    t.put("role", "gate");
    t.remove("combine");
    t.getJSONObject("output").put("shape", new JSONArray(Arrays.asList(1, 3)));
    m.getJSONArray("files").getJSONObject(3).put("macs", 7);
    String msg = problems(m);
    assertLists(
        msg,
        "teacher.macs: 154 is not leaves_macs + gate_macs = 155",
        "teacher.leaves_params: must be >= 0, got -1",
        "teacher.params: 60 is not leaves_params + gate_params = 9",
        "teacher.num_leaves: 2, the manifest's num_leaves is 3",
        "teacher.role: expected \"teacher\", got \"gate\"",
        "teacher.combine: missing",
        "teacher.output.shape: expected [batch, 2], got [1,3]",
        "files[3].macs: 7 differs from teacher.macs 154");

    JSONObject leaves = Fakes.manifestWithTeacher();
    leaves.getJSONObject("teacher").put("leaves_macs", 100).put("macs", 104);
    assertTrue(problems(leaves).contains("teacher.leaves_macs: 100, anytime.full_macs is 150"));

    JSONObject noSection = Fakes.manifestWithTeacher();
    noSection.remove("teacher");
    assertTrue(problems(noSection).contains("files[3].kind: a teacher file needs the manifest's 'teacher' section"));

    JSONObject notObject = Fakes.manifestWithTeacher();
    notObject.put("teacher", new JSONArray());
    assertTrue(problems(notObject).contains("teacher: expected object, got array"));

    JSONObject badKind = Fakes.manifestWithTeacher();
    badKind.getJSONArray("files").getJSONObject(3).put("kind", "teachers");
    assertTrue(problems(badKind)
        .contains("files[3].kind: \"teachers\" is not one of \"prefix\", \"member\", \"anytime\", \"teacher\""));
  }

  @Test
  void notJsonIsAClearError() {
    String msg = assertThrows(ManifestException.class, () -> Manifest.parse("{\"format\": ")).getMessage();
    assertTrue(msg.startsWith("manifest.json is not a JSON object"), msg);
  }

  @Test
  void fileBytesAreCheckedAgainstSizeAndSha256() {
    Manifest m = Fakes.manifest();
    Manifest.FileEntry f = m.anytimeFile("float32");
    Manifest.checkFile(f, new byte[] {1, 2, 3});
    assertEquals("anytime_float32.tflite has 2 bytes, manifest says 3",
        assertThrows(ManifestException.class, () -> Manifest.checkFile(f, new byte[] {1, 2})).getMessage());
    assertEquals("anytime_float32.tflite does not match its sha256 in the manifest",
        assertThrows(ManifestException.class, () -> Manifest.checkFile(f, new byte[] {1, 2, 4})).getMessage());
    // SHA-256 of "abc" (FIPS 180-2 example)
    assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        Manifest.sha256("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    assertEquals("the manifest has no int8 anytime file; it has: float32",
        assertThrows(ManifestException.class, () -> m.anytimeFile("int8")).getMessage());
    assertEquals("the manifest has no float32 prefix file for k=2; it has k in [1, 3]",
        assertThrows(ManifestException.class, () -> m.prefixFile(2, "float32")).getMessage());
  }

  private static TraceRunner trace(Manifest m) {
    return new TraceRunner(m, new float[][][] {Fakes.leaves(0, 0, 0, 0, 0, 0)}, new double[][] {{1, 1, 1}});
  }

  @Test
  void missingSignatureIsNamed() {
    Manifest m = Fakes.manifest();
    Fakes.EditedRunner r = new Fakes.EditedRunner(trace(m));
    r.removed.add("step02");
    String msg = assertThrows(ManifestException.class, () -> new AnytimeEngine(m, r)).getMessage();
    assertTrue(msg.startsWith("the anytime file does not match the manifest:"), msg);
    assertTrue(msg.contains("step 2 (signature 'step02'): missing from the model file, which has [step01, step03]"),
        msg);
  }

  @Test
  void slotShapeMismatchIsNamed() {
    Manifest m = Fakes.manifest();
    Fakes.EditedRunner r = new Fakes.EditedRunner(trace(m));
    r.shapes.put("step03/a", new int[] {-1, 5});
    r.shapes.put("step01/logits", new int[] {-1, 7});
    String msg = assertThrows(ManifestException.class, () -> new AnytimeEngine(m, r)).getMessage();
    assertTrue(msg.contains("step 3 (signature 'step03'): input a has shape [-1, 5], the manifest says [-1, 2]"),
        msg);
    assertTrue(msg.contains("step 1 (signature 'step01'): output logits has shape [-1, 7], the manifest says [-1, 2]"),
        msg);
    // A batch of 1 in the file is as good as a dynamic batch.
    Fakes.EditedRunner ok = new Fakes.EditedRunner(trace(m));
    ok.shapes.put("step03/a", new int[] {1, 2});
    new AnytimeEngine(m, ok);
  }

  @Test
  void prefixFileIsCheckedThroughItsRunner() {
    Manifest m = Fakes.manifest();
    Manifest.FileEntry k3 = m.prefixFile(3, "float32");
    Fakes.PrefixRunner good = new Fakes.PrefixRunner(3, 2, new float[6], 0);
    assertEquals("serving_default", m.checkPrefixRunner(k3, good));
    Fakes.PrefixRunner wrongK = new Fakes.PrefixRunner(2, 2, new float[4], 0);
    String msg = assertThrows(ManifestException.class, () -> m.checkPrefixRunner(k3, wrongK)).getMessage();
    assertTrue(msg.contains("output logits has shape [-1, 2, 2], the manifest says [-1, 3, 2]"), msg);
  }

  @Test
  void readsTheExportedManifest() throws Exception {
    java.nio.file.Path path = FixtureReplayTest.path("hnetf.manifest");
    Manifest m;
    try (java.io.InputStream in = java.nio.file.Files.newInputStream(path)) {
      m = Manifest.read(in);
    }
    JSONObject raw = new JSONObject(new String(java.nio.file.Files.readAllBytes(path), "UTF-8"));
    assertEquals(raw.getInt("num_leaves"), m.numLeaves);
    assertEquals(m.numLeaves, m.steps.size());
    JSONArray steps = raw.getJSONObject("anytime").getJSONArray("steps");
    for (int i = 0; i < steps.length(); i++) {
      assertEquals(steps.getJSONObject(i).getString("signature"), m.steps.get(i).signature);
      assertEquals(steps.getJSONObject(i).getString("reads"), m.steps.get(i).reads);
    }
    JSONArray shape = raw.getJSONObject("input").getJSONArray("shape");
    assertArrayEquals(new int[] {shape.getInt(1), shape.getInt(2), shape.getInt(3)},
        new int[] {m.input.height, m.input.width, m.input.channels});
    List<String> sigs = m.anytimeFile("float32").signatureInputs.keySet().stream()
        .collect(java.util.stream.Collectors.toList());
    assertEquals(m.numLeaves, sigs.size());
    // Every exported file is in the folder with the recorded size and sha256.
    for (Manifest.FileEntry f : m.files) {
      Manifest.checkFile(f, java.nio.file.Files.readAllBytes(path.resolveSibling(f.file)));
    }
  }
}
