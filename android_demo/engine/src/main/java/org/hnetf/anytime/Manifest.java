package org.hnetf.anytime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * {@code manifest.json}, schema version 1: read and validated with the checks of {@code
 * hne_tf/export/manifest.py:validate}, plus what this engine needs to run (slot shapes as integer lists).
 * Every problem found is listed in one {@link ManifestException}.
 *
 * <p>Whether the model file holds every signature the steps name, with the shapes the slots
 * declare, is checked against a {@link StepRunner} by {@link #checkAnytimeRunner} and {@link
 * #checkPrefixRunner}.
 */
public final class Manifest {
  public static final String FORMAT = "hne-tf-manifest";
  public static final int VERSION = 1;
  /** The {@code teacher} section's cost fields (non-negative integers). */
  public static final List<String> TEACHER_COSTS = Collections.unmodifiableList(Arrays.asList(
      "macs", "params", "leaves_macs", "leaves_params", "gate_macs", "gate_params"));
  /** The cache name of the image itself: step 1 reads it. */
  public static final String INPUT_SLOT = "input";

  /** One anytime step: which signature, which slot it reads and which it writes. */
  public static final class Step {
    public final int step;
    public final String signature;
    public final int leaf;
    public final String reads;
    public final List<String> writes;
    public final long macs;

    Step(int step, String signature, int leaf, String reads, List<String> writes, long macs) {
      this.step = step;
      this.signature = signature;
      this.leaf = leaf;
      this.reads = reads;
      this.writes = Collections.unmodifiableList(writes);
      this.macs = macs;
    }
  }

  /** One {@code files[]} entry. */
  public static final class FileEntry {
    public final String file;
    public final String kind;
    public final String precision;
    public final long bytes;
    public final String sha256;
    /** Prefix size k (prefix files), else 0. */
    public final int k;
    /** Signature name -> its input and output names, as the export recorded them. */
    public final Map<String, List<String>> signatureInputs;
    public final Map<String, List<String>> signatureOutputs;
    public final JSONObject json;

    FileEntry(JSONObject f) {
      json = f;
      file = f.optString("file");
      kind = f.optString("kind");
      precision = f.optString("precision");
      bytes = f.optLong("bytes");
      sha256 = f.optString("sha256");
      k = f.optInt("k", 0);
      Map<String, List<String>> ins = new LinkedHashMap<>();
      Map<String, List<String>> outs = new LinkedHashMap<>();
      JSONObject sigs = f.optJSONObject("signatures");
      if (sigs != null) {
        for (Iterator<String> it = sigs.keys(); it.hasNext(); ) {
          String key = it.next();
          JSONObject s = sigs.optJSONObject(key);
          ins.put(key, strings(s == null ? null : s.optJSONArray("inputs")));
          outs.put(key, strings(s == null ? null : s.optJSONArray("outputs")));
        }
      }
      signatureInputs = Collections.unmodifiableMap(ins);
      signatureOutputs = Collections.unmodifiableMap(outs);
    }
  }

  public final JSONObject json;
  public final int numLeaves;
  public final int numClasses;
  public final List<String> labels;
  public final String dataset;
  public final InputSpec input;
  /** Anytime steps in order; empty when the export had no anytime file. */
  public final List<Step> steps;
  /** Slot name -> shape ({@code -1} batch), including {@code "input"}. */
  public final Map<String, int[]> slots;
  public final List<FileEntry> files;
  /**
   * {@code latency.thread_margin}: more threads are chosen only when over this fraction faster
   * ({@link ThreadChoice}); 0 for exports before it.
   */
  public final double threadMargin;

  private Manifest(JSONObject m) throws JSONException {
    json = m;
    JSONObject latency = m.optJSONObject("latency");
    threadMargin = latency == null ? 0 : latency.optDouble("thread_margin", 0);
    numLeaves = m.getInt("num_leaves");
    JSONObject model = m.getJSONObject("model");
    numClasses = model.getInt("num_classes");
    dataset = model.optString("dataset", "");
    labels = Collections.unmodifiableList(strings(m.getJSONArray("labels")));
    JSONObject inp = m.getJSONObject("input");
    JSONArray shape = inp.getJSONArray("shape");
    JSONObject norm = inp.getJSONObject("normalization");
    JSONObject spec = m.optJSONObject("input_spec");
    JSONObject resize = spec == null ? null : spec.optJSONObject("resize");
    input =
        new InputSpec(
            inp.getString("name"),
            shape.getInt(1),
            shape.getInt(2),
            shape.getInt(3),
            doubles(norm.getJSONArray("mean")),
            doubles(norm.getJSONArray("std")),
            resize == null ? InputSpec.STRETCH : resize.getString("rule"),
            resize == null ? 1.0 : resize.getDouble("crop_fraction"));
    List<Step> st = new ArrayList<>();
    Map<String, int[]> sl = new LinkedHashMap<>();
    sl.put(INPUT_SLOT, ints(shape));
    JSONObject anytime = m.optJSONObject("anytime");
    if (anytime != null) {
      JSONObject slotsJson = anytime.getJSONObject("slots");
      for (Iterator<String> it = slotsJson.keys(); it.hasNext(); ) {
        String name = it.next();
        sl.put(name, ints(slotsJson.getJSONArray(name)));
      }
      JSONArray stepsJson = anytime.getJSONArray("steps");
      for (int i = 0; i < stepsJson.length(); i++) {
        JSONObject s = stepsJson.getJSONObject(i);
        st.add(
            new Step(
                s.getInt("step"),
                s.getString("signature"),
                s.optInt("leaf", i),
                s.getString("reads"),
                strings(s.getJSONArray("writes")),
                s.getLong("macs")));
      }
    }
    steps = Collections.unmodifiableList(st);
    slots = Collections.unmodifiableMap(sl);
    List<FileEntry> fs = new ArrayList<>();
    JSONArray filesJson = m.getJSONArray("files");
    for (int i = 0; i < filesJson.length(); i++) {
      fs.add(new FileEntry(filesJson.getJSONObject(i)));
    }
    files = Collections.unmodifiableList(fs);
  }

  /** Parses and validates manifest text. */
  public static Manifest parse(String text) {
    JSONObject m;
    try {
      m = new JSONObject(text);
    } catch (JSONException e) {
      throw new ManifestException("manifest.json is not a JSON object: " + e.getMessage(), e);
    }
    List<String> problems = validate(m);
    if (!problems.isEmpty()) {
      throw new ManifestException("invalid manifest:\n  " + String.join("\n  ", problems));
    }
    try {
      return new Manifest(m);
    } catch (JSONException e) {  // a field validate() does not cover, e.g. a step's leaf
      throw new ManifestException("invalid manifest: " + e.getMessage(), e);
    }
  }

  public static Manifest read(InputStream in) throws IOException {
    return parse(new String(readAll(in), StandardCharsets.UTF_8));
  }

  /**
   * Every problem with {@code m} as text ({@code path: message}); files are checked separately
   * ({@link #checkFile}).
   */
  public static List<String> validate(JSONObject m) {
    List<String> out = new ArrayList<>();
    for (Schema.Problem problem : problems(m)) {
      out.add(problem.toString());
    }
    return out;
  }

  /**
   * Every problem with {@code m}: the schema's ({@code manifest.schema.json}), then the cross-field
   * rules'. The same paths as {@code hne_tf/export/manifest.py:problems} and {@code web_demo/engine.js}'s
   * {@code manifestProblems} name ({@code tests/data/manifest_vectors.json}).
   */
  public static List<Schema.Problem> problems(JSONObject m) {
    JSONObject schema = Schema.manifestSchema();
    List<Schema.Problem> p = Schema.problems(m, schema, schema, "");
    p.addAll(crossFieldProblems(m));
    return p;
  }

  private static Integer intOf(Object v) {
    return isInt(v) ? ((Number) v).intValue() : null;
  }

  private static JSONObject dict(Object v) {
    return v instanceof JSONObject ? (JSONObject) v : new JSONObject();
  }

  private static JSONArray list(Object v) {
    return v instanceof JSONArray ? (JSONArray) v : new JSONArray();
  }

  private static JSONArray slice(JSONArray a, int from, int to) {
    JSONArray out = new JSONArray();
    for (int i = from; i < to; i++) {
      out.put(a.opt(i));
    }
    return out;
  }

  /**
   * The rules that relate fields to each other (docs/architecture.md, "The manifest contract"),
   * rule for rule those of {@code hne_tf/export/manifest.py:cross_field_problems}. Each reads only
   * fields of the right type: the schema reports the others.
   */
  public static List<Schema.Problem> crossFieldProblems(JSONObject m) {
    List<Schema.Problem> p = new ArrayList<>();
    Integer n = intOf(m.opt("num_leaves"));
    JSONObject model = dict(m.opt("model"));
    JSONObject inp = dict(m.opt("input"));
    Integer numClasses = intOf(model.opt("num_classes"));
    Object branching = model.opt("branching");
    if (n != null && branching instanceof JSONArray) {
      JSONArray b = (JSONArray) branching;
      long prod = 1;
      boolean ints = true;
      for (int i = 0; i < b.length(); i++) {
        Integer r = intOf(b.opt(i));
        ints &= r != null && r != 0;
        prod *= r == null ? 1 : r;
      }
      if (ints && prod != n) {
        p.add(new Schema.Problem("model.branching", b + " does not give num_leaves=" + n));
      }
    }
    Integer modelLeaves = intOf(model.opt("num_leaves"));
    if (n != null && modelLeaves != null && !modelLeaves.equals(n)) {
      p.add(new Schema.Problem("model.num_leaves", modelLeaves + ", the manifest's num_leaves is " + n));
    }
    Object shapeValue = inp.opt("shape");
    Integer channels = null;
    JSONArray shape = shapeValue instanceof JSONArray ? (JSONArray) shapeValue : null;
    if (shape != null && shape.length() == 4 && allInts(shape)) {
      int b = shape.optInt(0);
      int c = shape.optInt(3);
      if ((b != 1 && b != -1) || Math.min(shape.optInt(1), shape.optInt(2)) < 1 || (c != 1 && c != 3)) {
        p.add(new Schema.Problem("input.shape",
            "expected an image [1 or -1, H >= 1, W >= 1, 1 or 3 channels], got " + shape));
      } else {
        channels = c;
      }
    }
    JSONObject norm = dict(inp.opt("normalization"));
    for (String key : new String[] {"mean", "std"}) {
      JSONArray v = norm.optJSONArray(key);
      if (channels != null && v != null && v.length() != channels) {
        p.add(new Schema.Problem("input.normalization." + key, v.length() + " values for " + channels
            + " channels"));
      }
    }
    JSONArray labels = m.optJSONArray("labels");
    if (numClasses != null && labels != null && labels.length() != numClasses) {
      p.add(new Schema.Problem("labels", labels.length() + " names for num_classes=" + numClasses));
    }
    JSONObject spec = m.optJSONObject("input_spec");
    if (spec != null && channels != null) {
      JSONArray size = spec.optJSONArray("size");
      if (size != null && !Schema.jsonEqual(size, slice(shape, 1, 3))) {
        p.add(new Schema.Problem("input_spec.size", size + ", the input's H, W are " + slice(shape, 1, 3)));
      }
      Integer specChannels = intOf(spec.opt("channels"));
      if (specChannels != null && !specChannels.equals(channels)) {
        p.add(new Schema.Problem("input_spec.channels", specChannels + ", the input has " + channels));
      }
      Object color = spec.opt("color");
      if (("grayscale".equals(color) || "rgb".equals(color))
          && !color.equals(channels == 1 ? "grayscale" : "rgb")) {
        p.add(new Schema.Problem("input_spec.color", "'" + color + "' for " + channels + " channel(s)"));
      }
      JSONObject specNorm = dict(spec.opt("normalization"));
      for (String key : new String[] {"mean", "std"}) {
        JSONArray a = specNorm.optJSONArray(key);
        JSONArray b = norm.optJSONArray(key);
        if (a != null && b != null && !Schema.jsonEqual(a, b)) {
          p.add(new Schema.Problem("input_spec.normalization." + key, a + " differs from input.normalization."
              + key + " " + b));
        }
      }
    }
    JSONObject anytime = m.optJSONObject("anytime");
    if (anytime != null) {
      anytimeProblems(anytime, n, p);
    }
    JSONObject teacher = m.optJSONObject("teacher");
    if (teacher != null) {
      teacherProblems(teacher, n, numClasses, anytime, p);
    }
    JSONArray files = list(m.opt("files"));
    Set<String> names = new HashSet<>();
    for (int i = 0; i < files.length(); i++) {
      JSONObject f = files.optJSONObject(i);
      if (f == null) {
        continue;
      }
      String where = "files[" + i + "]";
      Object name = f.opt("file");
      Object kind = f.opt("kind");
      if (name instanceof String && !names.add((String) name)) {
        p.add(new Schema.Problem(where + ".file", name + " listed twice"));
      }
      Integer k = intOf(f.opt("k"));
      Integer leaf = intOf(f.opt("leaf"));
      if (("prefix".equals(kind) || "batched".equals(kind)) && k != null && n != null && k > n) {
        p.add(new Schema.Problem(where + ".k", k + " outside [1, " + n + "]"));
      }
      if ("member".equals(kind)) {
        if (!f.has("leaf")) {
          p.add(new Schema.Problem(where + ".leaf", "missing (a member file names its leaf)"));
        } else if (leaf != null && n != null && leaf >= n) {
          p.add(new Schema.Problem(where + ".leaf", leaf + " outside [0, " + (n - 1) + "]"));
        }
      }
      if ("anytime".equals(kind) && anytime == null) {
        p.add(new Schema.Problem(where + ".kind", "an anytime file needs the manifest's 'anytime' section"));
      }
      JSONArray acc = f.optJSONArray("accuracy_by_leaves");
      if (acc != null && n != null && acc.length() != n) {
        p.add(new Schema.Problem(where + ".accuracy_by_leaves", acc.length() + " values for num_leaves=" + n));
      }
      if ("teacher".equals(kind)) {
        if (teacher == null) {
          p.add(new Schema.Problem(where + ".kind", "a teacher file needs the manifest's 'teacher' section"));
        } else if (f.has("macs") && !Schema.jsonEqual(f.opt("macs"), teacher.opt("macs"))) {
          p.add(new Schema.Problem(where + ".macs", Schema.show(f.opt("macs")) + " differs from teacher.macs "
              + Schema.show(teacher.opt("macs"))));
        }
      }
    }
    return p;
  }

  private static void anytimeProblems(JSONObject anytime, Integer n, List<Schema.Problem> p) {
    JSONObject slots = dict(anytime.opt("slots"));
    JSONArray steps = anytime.optJSONArray("steps");
    if (n != null && steps != null && steps.length() != n) {
      p.add(new Schema.Problem("anytime.steps", steps.length() + " steps for num_leaves=" + n));
    }
    Set<String> available = new HashSet<>();
    available.add(INPUT_SLOT);
    long sum = 0;
    boolean allMacs = true;
    int count = steps == null ? 0 : steps.length();
    for (int i = 0; i < count; i++) {
      String where = "anytime.steps[" + i + "]";
      JSONObject s = steps.optJSONObject(i);
      if (s == null) {
        allMacs = false;
        continue;
      }
      Integer step = intOf(s.opt("step"));
      if (step != null && step != i + 1) {
        p.add(new Schema.Problem(where + ".step", "expected " + (i + 1) + " (steps are ordered)"));
      }
      Object macs = s.opt("macs");
      if (isInt(macs)) {
        sum += ((Number) macs).longValue();
      } else {
        allMacs = false;
      }
      Object reads = s.opt("reads");
      if (reads instanceof String && !available.contains(reads)) {
        p.add(new Schema.Problem(where + ".reads", "slot '" + reads + "' is not written by an earlier step"));
      }
      JSONArray writes = list(s.opt("writes"));
      for (int w = 0; w < writes.length(); w++) {
        Object name = writes.opt(w);
        if (!(name instanceof String)) {
          continue;
        }
        if (!slots.has((String) name)) {
          p.add(new Schema.Problem(where + ".writes", "slot '" + name + "' not declared in anytime.slots"));
        } else {
          available.add((String) name);
        }
      }
    }
    Object full = anytime.opt("full_macs");
    if (count > 0 && allMacs && isInt(full) && sum != ((Number) full).longValue()) {
      p.add(new Schema.Problem("anytime.full_macs", full + ", but the step MACs sum to " + sum));
    }
  }

  /**
   * The {@code teacher} section (models with a teacher role: ONE's gated teacher, "ONE-E"): what
   * the teacher files compute and cost.
   */
  private static void teacherProblems(JSONObject t, Integer n, Integer numClasses, JSONObject anytime,
      List<Schema.Problem> p) {
    Integer leaves = intOf(t.opt("num_leaves"));
    if (leaves != null && n != null && !leaves.equals(n)) {
      p.add(new Schema.Problem("teacher.num_leaves", leaves + ", the manifest's num_leaves is " + n
          + " (the teacher uses every leaf)"));
    }
    JSONArray shape = dict(t.opt("output")).optJSONArray("shape");
    if (shape != null && shape.length() == 2 && numClasses != null
        && !Schema.jsonEqual(shape.opt(1), numClasses)) {
      p.add(new Schema.Problem("teacher.output.shape", "expected [batch, " + numClasses + "], got " + shape));
    }
    Map<String, Long> c = new LinkedHashMap<>();
    for (String key : TEACHER_COSTS) {
      Object v = t.opt(key);
      c.put(key, isInt(v) ? ((Number) v).longValue() : null);
    }
    for (String total : new String[] {"macs", "params"}) {
      Long all = c.get(total);
      Long a = c.get("leaves_" + total);
      Long b = c.get("gate_" + total);
      if (all != null && a != null && b != null && all != a + b) {
        p.add(new Schema.Problem("teacher." + total, all + " is not leaves_" + total + " + gate_" + total
            + " = " + (a + b)));
      }
    }
    Object full = anytime == null ? null : anytime.opt("full_macs");
    Long leavesMacs = c.get("leaves_macs");
    if (isInt(full) && leavesMacs != null && leavesMacs != ((Number) full).longValue()) {
      p.add(new Schema.Problem("teacher.leaves_macs", leavesMacs + ", anytime.full_macs is " + full
          + " (the teacher runs every leaf)"));
    }
  }

  // ---- files --------------------------------------------------------------------------------

  public List<FileEntry> filesOf(String kind, String precision) {
    List<FileEntry> out = new ArrayList<>();
    for (FileEntry f : files) {
      if (f.kind.equals(kind) && (precision == null || f.precision.equals(precision))) {
        out.add(f);
      }
    }
    return out;
  }

  /** The anytime file of {@code precision}. */
  public FileEntry anytimeFile(String precision) {
    if (steps.isEmpty()) {
      throw new ManifestException("the manifest has no anytime section (exported with --noanytime)");
    }
    List<FileEntry> found = filesOf("anytime", precision);
    if (found.isEmpty()) {
      Set<String> have = new java.util.TreeSet<>();
      for (FileEntry f : filesOf("anytime", null)) {
        have.add(f.precision);
      }
      throw new ManifestException(
          "the manifest has no " + precision + " anytime file; it has: "
              + (have.isEmpty() ? "none" : String.join(", ", have)));
    }
    return found.get(0);
  }

  /**
   * The teacher file of {@code precision} (ONE's gated teacher: every leaf and the gate, output
   * {@code logits [batch, numClasses]}).
   */
  public FileEntry teacherFile(String precision) {
    if (!json.has("teacher")) {
      throw new ManifestException("the manifest has no teacher section: its model has no teacher role (only "
          + "ONE's gated teacher is one), or it was exported with --noteacher");
    }
    List<FileEntry> found = filesOf("teacher", precision);
    if (found.isEmpty()) {
      Set<String> have = new java.util.TreeSet<>();
      for (FileEntry f : filesOf("teacher", null)) {
        have.add(f.precision);
      }
      throw new ManifestException("the manifest has no " + precision + " teacher file; it has: "
          + (have.isEmpty() ? "none" : String.join(", ", have)));
    }
    return found.get(0);
  }

  /** The prefix file of size {@code k} and {@code precision}. */
  public FileEntry prefixFile(int k, String precision) {
    List<Integer> have = new ArrayList<>();
    for (FileEntry f : filesOf("prefix", precision)) {
      if (f.k == k) {
        return f;
      }
      have.add(f.k);
    }
    Collections.sort(have);
    throw new ManifestException(
        "the manifest has no " + precision + " prefix file for k=" + k + "; it has k in " + have);
  }

  /** The prefix sizes exported in {@code precision}, ascending. */
  public List<Integer> prefixSizes(String precision) {
    List<Integer> ks = new ArrayList<>();
    for (FileEntry f : filesOf("prefix", precision)) {
      ks.add(f.k);
    }
    Collections.sort(ks);
    return ks;
  }

  /** Checks a model file's bytes against its entry's size and sha256. */
  public static void checkFile(FileEntry entry, byte[] content) {
    if (content.length != entry.bytes) {
      throw new ManifestException(
          entry.file + " has " + content.length + " bytes, manifest says " + entry.bytes);
    }
    String digest = sha256(content);
    if (!digest.equals(entry.sha256)) {
      throw new ManifestException(entry.file + " does not match its sha256 in the manifest");
    }
  }

  public static String sha256(byte[] content) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(content);
      StringBuilder sb = new StringBuilder();
      for (byte b : d) {
        sb.append(String.format(Locale.ROOT, "%02x", b & 0xff));
      }
      return sb.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is not available", e);
    }
  }

  // ---- the model file behind a runner ----------------------------------------------------------

  /**
   * Checks that the anytime file behind {@code runner} holds every step's signature, reading the
   * slot the step reads and writing the slots it writes plus {@code logits}, with the shapes the
   * manifest declares. Lists every problem.
   */
  public void checkAnytimeRunner(StepRunner runner) {
    if (steps.isEmpty()) {
      throw new ManifestException("the manifest has no anytime section (exported with --noanytime)");
    }
    List<String> p = new ArrayList<>();
    Set<String> keys = runner.signatureKeys();
    for (Step s : steps) {
      String where = "step " + s.step + " (signature '" + s.signature + "')";
      if (!keys.contains(s.signature)) {
        p.add(where + ": missing from the model file, which has " + new java.util.TreeSet<>(keys));
        continue;
      }
      List<String> ins = runner.inputNames(s.signature);
      List<String> outs = runner.outputNames(s.signature);
      if (!ins.equals(Collections.singletonList(s.reads))) {
        p.add(where + ": takes inputs " + ins + ", the manifest says it reads '" + s.reads + "'");
      } else {
        checkShape(p, where, "input " + s.reads, slots.get(s.reads),
            runner.shape(s.signature, s.reads, true));
      }
      for (String w : s.writes) {
        if (!outs.contains(w)) {
          p.add(where + ": has no output '" + w + "' (outputs " + outs + ")");
        } else {
          checkShape(p, where, "output " + w, slots.get(w), runner.shape(s.signature, w, false));
        }
      }
      if (!outs.contains("logits")) {
        p.add(where + ": has no output 'logits' (outputs " + outs + ")");
      } else {
        checkShape(p, where, "output logits", new int[] {-1, numClasses},
            runner.shape(s.signature, "logits", false));
      }
    }
    if (!p.isEmpty()) {
      throw new ManifestException("the anytime file does not match the manifest:\n  "
          + String.join("\n  ", p));
    }
  }

  /**
   * Checks a prefix file behind {@code runner}: its signature takes the manifest's input and gives
   * {@code logits [-1, k, numClasses]}. Returns the signature key.
   */
  public String checkPrefixRunner(FileEntry entry, StepRunner runner) {
    if (!"prefix".equals(entry.kind)) {
      throw new ManifestException(entry.file + " is a " + entry.kind + " file, not a prefix file");
    }
    List<String> p = new ArrayList<>();
    String key = entry.signatureInputs.isEmpty()
        ? "serving_default" : entry.signatureInputs.keySet().iterator().next();
    String where = entry.file + " (signature '" + key + "')";
    if (!runner.signatureKeys().contains(key)) {
      p.add(where + ": missing from the model file, which has "
          + new java.util.TreeSet<>(runner.signatureKeys()));
    } else {
      List<String> ins = runner.inputNames(key);
      if (!ins.equals(Collections.singletonList(input.name))) {
        p.add(where + ": takes inputs " + ins + ", expected ['" + input.name + "']");
      } else {
        checkShape(p, where, "input " + input.name, slots.get(INPUT_SLOT),
            runner.shape(key, input.name, true));
      }
      if (!runner.outputNames(key).contains("logits")) {
        p.add(where + ": has no output 'logits'");
      } else {
        checkShape(p, where, "output logits", new int[] {-1, entry.k, numClasses},
            runner.shape(key, "logits", false));
      }
    }
    if (!p.isEmpty()) {
      throw new ManifestException("the prefix file does not match the manifest:\n  "
          + String.join("\n  ", p));
    }
    return key;
  }

  /** Number of floats in one batch-1 tensor of {@code shape} (the batch dimension excluded). */
  public static int elements(int[] shape) {
    int n = 1;
    for (int d = 1; d < shape.length; d++) {
      n *= shape[d];
    }
    return n;
  }

  public int slotSize(String slot) {
    int[] shape = slots.get(slot);
    if (shape == null) {
      throw new ManifestException("no slot '" + slot + "' in the manifest");
    }
    return elements(shape);
  }

  private static void checkShape(List<String> p, String where, String what, int[] want, int[] got) {
    boolean ok = got != null && want != null && got.length == want.length;
    for (int d = 0; ok && d < want.length; d++) {
      // The batch dimension: -1 (dynamic) or 1 in the file; the manifest writes -1.
      ok = d == 0 ? (got[0] == -1 || got[0] == 1 || got[0] == want[0]) : got[d] == want[d];
    }
    if (!ok) {
      p.add(where + ": " + what + " has shape " + Arrays.toString(got) + ", the manifest says "
          + Arrays.toString(want));
    }
  }

  // ---- JSON helpers -------------------------------------------------------------------------

  static boolean isInt(Object v) {
    return v instanceof Integer || v instanceof Long;
  }

  private static boolean allInts(JSONArray a) {
    for (int i = 0; i < a.length(); i++) {
      if (!isInt(a.opt(i))) {
        return false;
      }
    }
    return true;
  }

  static List<String> strings(JSONArray a) {
    List<String> out = new ArrayList<>();
    for (int i = 0; a != null && i < a.length(); i++) {
      out.add(a.optString(i));
    }
    return out;
  }

  static int[] ints(JSONArray a) throws JSONException {
    int[] out = new int[a.length()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.getInt(i);
    }
    return out;
  }

  static double[] doubles(JSONArray a) throws JSONException {
    double[] out = new double[a.length()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.getDouble(i);
    }
    return out;
  }

  static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[1 << 16];
    for (int r; (r = in.read(buf)) > 0; ) {
      out.write(buf, 0, r);
    }
    return out.toByteArray();
  }
}
