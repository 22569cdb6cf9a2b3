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
  public static final List<String> FILE_KINDS =
      Collections.unmodifiableList(Arrays.asList("prefix", "member", "anytime", "teacher"));
  /** The {@code teacher} section's cost fields (non-negative integers). */
  public static final List<String> TEACHER_COSTS = Collections.unmodifiableList(Arrays.asList(
      "macs", "params", "leaves_macs", "leaves_params", "gate_macs", "gate_params"));
  public static final List<String> PRECISIONS = Collections.unmodifiableList(Arrays.asList("float32", "float16", "dynamic", "int8"));
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

  private Manifest(JSONObject m) throws JSONException {
    json = m;
    numLeaves = m.getInt("num_leaves");
    JSONObject model = m.getJSONObject("model");
    numClasses = model.getInt("num_classes");
    dataset = model.optString("dataset", "");
    labels = Collections.unmodifiableList(strings(m.getJSONArray("labels")));
    JSONObject inp = m.getJSONObject("input");
    JSONArray shape = inp.getJSONArray("shape");
    JSONObject norm = inp.getJSONObject("normalization");
    input =
        new InputSpec(
            inp.getString("name"),
            shape.getInt(1),
            shape.getInt(2),
            shape.getInt(3),
            doubles(norm.getJSONArray("mean")),
            doubles(norm.getJSONArray("std")));
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
   * Every problem with {@code m}, as {@code hne_tf/export/manifest.py:validate} finds them (files are
   * checked separately: {@link #checkFile}).
   */
  public static List<String> validate(JSONObject m) {
    List<String> p = new ArrayList<>();
    Object format = m.opt("format");
    if (!FORMAT.equals(format)) {
      p.add("format: expected '" + FORMAT + "', got " + repr(format));
    }
    Object version = m.opt("version");
    if (!(isInt(version) && ((Number) version).longValue() == VERSION)) {
      p.add("version: this reader understands version " + VERSION + ", got " + repr(version));
    }
    Integer n = needInt(m, "num_leaves", "manifest", p);
    JSONObject model = needObject(m, "model", "manifest", p);
    if (model != null) {
      needString(model, "preset", "model", p);
      needString(model, "family", "model", p);
      JSONArray branching = needArray(model, "branching", "model", p);
      if (branching != null && n != null) {
        long prod = 1;
        for (int i = 0; i < branching.length(); i++) {
          Object r = branching.opt(i);
          prod *= isInt(r) ? ((Number) r).longValue() : 0;
        }
        if (prod != n) {
          p.add("model.branching " + branching + " does not give num_leaves=" + n);
        }
      }
    }
    JSONObject inp = needObject(m, "input", "manifest", p);
    if (inp != null) {
      needString(inp, "name", "input", p);
      JSONArray shape = needArray(inp, "shape", "input", p);
      boolean shapeOk = shape != null && shape.length() == 4 && allInts(shape);
      if (shape != null && !shapeOk) {
        p.add("input.shape: expected [batch, H, W, C] integers, got " + shape);
      }
      if (shapeOk) {
        for (int d = 1; d < 4; d++) {
          if (shape.optInt(d) < 1) {
            p.add("input.shape: H, W and C must be positive, got " + shape);
            break;
          }
        }
      }
      if (!"float32".equals(inp.opt("dtype"))) {
        p.add("input.dtype: expected 'float32', got " + repr(inp.opt("dtype")));
      }
      JSONObject norm = needObject(inp, "normalization", "input", p);
      if (norm != null && shape != null && shape.length() == 4) {
        for (String key : new String[] {"mean", "std"}) {
          JSONArray v = needArray(norm, key, "input.normalization", p);
          if (v != null && v.length() != shape.optInt(3)) {
            p.add(
                "input.normalization." + key + ": " + v.length() + " values for "
                    + shape.opt(3) + " channels");
          }
          if (v != null && !allNumbers(v)) {
            p.add("input.normalization." + key + ": expected numbers, got " + v);
          }
        }
        JSONArray std = norm.optJSONArray("std");
        if (std != null) {
          for (int i = 0; i < std.length(); i++) {
            if (std.optDouble(i, 1) == 0) {
              p.add("input.normalization.std: must not contain 0");
              break;
            }
          }
        }
      }
    }
    JSONArray labels = needArray(m, "labels", "manifest", p);
    if (model != null && labels != null) {
      Object nc = model.opt("num_classes");
      if (!(isInt(nc) && ((Number) nc).longValue() == labels.length())) {
        p.add("labels: " + labels.length() + " names for num_classes=" + repr(nc));
      }
    }

    JSONObject anytime = m.optJSONObject("anytime");
    if (m.has("anytime") && anytime == null) {
      p.add("manifest.anytime: expected dict, got " + typeName(m.opt("anytime")));
    }
    if (anytime != null) {
      JSONObject slots = needObject(anytime, "slots", "anytime", p);
      Set<String> declared = new HashSet<>();
      if (slots != null) {
        for (Iterator<String> it = slots.keys(); it.hasNext(); ) {
          String name = it.next();
          declared.add(name);
          JSONArray shape = slots.optJSONArray(name);
          if (shape == null || shape.length() < 1 || !allInts(shape)) {
            p.add("anytime.slots." + name + ": expected a shape (list of integers), got "
                + repr(slots.opt(name)));
          }
        }
      }
      JSONArray steps = needArray(anytime, "steps", "anytime", p);
      int count = steps == null ? 0 : steps.length();
      if (n != null && steps != null && count != n) {
        p.add("anytime.steps: " + count + " steps for num_leaves=" + n);
      }
      Set<String> available = new HashSet<>();
      available.add(INPUT_SLOT);
      long macsSum = 0;
      boolean macsOk = true;
      for (int i = 0; i < count; i++) {
        String where = "anytime.steps[" + i + "]";
        JSONObject s = steps.optJSONObject(i);
        if (s == null) {
          p.add(where + ": expected dict, got " + typeName(steps.opt(i)));
          macsOk = false;
          continue;
        }
        Integer stepNo = needInt(s, "step", where, p);
        if (stepNo != null && stepNo != i + 1) {
          p.add(where + ".step: expected " + (i + 1) + " (steps are ordered)");
        }
        needString(s, "signature", where, p);
        Integer macs = null;
        Object mv = s.opt("macs");
        if (isInt(mv)) {
          macsSum += ((Number) mv).longValue();
          macs = 0;
        }
        if (macs == null) {
          needInt(s, "macs", where, p);
          macsOk = false;
        }
        String reads = needString(s, "reads", where, p);
        JSONArray writes = needArray(s, "writes", where, p);
        if (reads != null && !available.contains(reads)) {
          p.add(where + ".reads: slot '" + reads + "' is not written by an earlier step");
        }
        if (writes != null) {
          for (int w = 0; w < writes.length(); w++) {
            String name = String.valueOf(writes.opt(w));
            if (!declared.contains(name)) {
              p.add(where + ".writes: slot '" + name + "' not declared in anytime.slots");
            }
            available.add(name);
          }
        }
      }
      Object full = anytime.opt("full_macs");
      if (count > 0 && isInt(full) && macsOk && macsSum != ((Number) full).longValue()) {
        p.add("anytime: step MACs sum to " + macsSum + ", full_macs is " + full);
      }
    }

    JSONObject teacher = m.optJSONObject("teacher");
    if (m.has("teacher")) {
      validateTeacher(m.opt("teacher"), n, model == null ? null : model.opt("num_classes"), anytime, p);
    }

    JSONArray files = needArray(m, "files", "manifest", p);
    Set<String> names = new HashSet<>();
    for (int i = 0; files != null && i < files.length(); i++) {
      String where = "files[" + i + "]";
      JSONObject f = files.optJSONObject(i);
      if (f == null) {
        p.add(where + ": missing 'file'");
        continue;
      }
      String name = needString(f, "file", where, p);
      String kind = needString(f, "kind", where, p);
      String precision = needString(f, "precision", where, p);
      needString(f, "sha256", where, p);
      needInt(f, "bytes", where, p);
      if (name != null) {
        if (!names.add(name)) {
          p.add(where + ".file: " + name + " listed twice");
        }
        if (name.contains("/") || name.contains("\\") || name.isEmpty()) {
          p.add(where + ".file: must be a bare file name, got '" + name + "'");
        }
      }
      if (kind != null && !FILE_KINDS.contains(kind)) {
        p.add(where + ".kind: '" + kind + "' is not one of " + FILE_KINDS);
      }
      if (precision != null && !PRECISIONS.contains(precision)) {
        p.add(where + ".precision: '" + precision + "' is not one of " + PRECISIONS);
      }
      if ("prefix".equals(kind)) {
        Integer k = needInt(f, "k", where, p);
        if (k != null && n != null && !(1 <= k && k <= n)) {
          p.add(where + ".k: " + k + " outside [1, " + n + "]");
        }
      }
      if ("member".equals(kind)) {
        Integer leaf = needInt(f, "leaf", where, p);
        if (leaf != null && n != null && !(0 <= leaf && leaf < n)) {
          p.add(where + ".leaf: " + leaf + " outside [0, " + (n - 1) + "]");
        }
      }
      if ("anytime".equals(kind)) {
        if (anytime == null) {
          p.add(where + ": an anytime file needs the manifest's 'anytime' section");
        }
        JSONArray acc = f.optJSONArray("accuracy_by_leaves");
        if (acc != null && n != null && acc.length() != n) {
          p.add(where + ".accuracy_by_leaves: " + acc.length() + " values for " + n + " leaves");
        }
      }
      if ("teacher".equals(kind)) {
        if (teacher == null) {
          p.add(where + ": a teacher file needs the manifest's 'teacher' section");
        } else if (f.has("macs") && !String.valueOf(f.opt("macs")).equals(String.valueOf(teacher.opt("macs")))) {
          p.add(where + ".macs: " + repr(f.opt("macs")) + " differs from teacher.macs " + repr(teacher.opt("macs")));
        }
      }
    }
    return p;
  }

  /**
   * The {@code teacher} section (models with a teacher role: ONE's gated teacher, "ONE-E"), as
   * {@code hne_tf/export/manifest.py:_validate_teacher} checks it.
   */
  private static void validateTeacher(Object value, Integer n, Object numClasses, JSONObject anytime,
      List<String> p) {
    if (!(value instanceof JSONObject)) {
      p.add("teacher: expected dict, got " + typeName(value));
      return;
    }
    JSONObject t = (JSONObject) value;
    String role = needString(t, "role", "teacher", p);
    if (role != null && !"teacher".equals(role)) {
      p.add("teacher.role: expected 'teacher', got '" + role + "'");
    }
    needString(t, "combine", "teacher", p);
    Integer leaves = needInt(t, "num_leaves", "teacher", p);
    if (leaves != null && n != null && !leaves.equals(n)) {
      p.add("teacher.num_leaves: " + leaves + ", the manifest's num_leaves is " + n
          + " (the teacher uses every leaf)");
    }
    JSONObject output = needObject(t, "output", "teacher", p);
    if (output != null) {
      needString(output, "name", "teacher.output", p);
      JSONArray shape = needArray(output, "shape", "teacher.output", p);
      if (shape != null && !(shape.length() == 2 && allInts(shape)
          && (!isInt(numClasses) || shape.optLong(1) == ((Number) numClasses).longValue()))) {
        p.add("teacher.output.shape: expected [batch, " + repr(numClasses) + "], got " + shape);
      }
    }
    Map<String, Long> costs = new LinkedHashMap<>();
    for (String key : TEACHER_COSTS) {
      Object v = need(t, key, "int", "teacher", p);
      if (v != null) {
        long c = ((Number) v).longValue();
        if (c < 0) {
          p.add("teacher." + key + ": must not be negative, got " + c);
        }
        costs.put(key, c);
      }
    }
    for (String total : new String[] {"macs", "params"}) {
      Long all = costs.get(total);
      Long leavesPart = costs.get("leaves_" + total);
      Long gatePart = costs.get("gate_" + total);
      if (all != null && leavesPart != null && gatePart != null && all != leavesPart + gatePart) {
        p.add("teacher." + total + ": " + all + " is not leaves_" + total + " + gate_" + total + " = "
            + (leavesPart + gatePart));
      }
    }
    Object full = anytime == null ? null : anytime.opt("full_macs");
    Long leavesMacs = costs.get("leaves_macs");
    if (isInt(full) && leavesMacs != null && leavesMacs != ((Number) full).longValue()) {
      p.add("teacher.leaves_macs: " + leavesMacs + ", anytime.full_macs is " + full
          + " (the teacher runs every leaf)");
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

  private static boolean allNumbers(JSONArray a) {
    for (int i = 0; i < a.length(); i++) {
      if (!(a.opt(i) instanceof Number)) {
        return false;
      }
    }
    return true;
  }

  private static String typeName(Object v) {
    if (v == null || v == JSONObject.NULL) {
      return "NoneType";
    }
    if (v instanceof JSONObject) {
      return "dict";
    }
    if (v instanceof JSONArray) {
      return "list";
    }
    if (v instanceof String) {
      return "str";
    }
    if (v instanceof Boolean) {
      return "bool";
    }
    return isInt(v) ? "int" : "float";
  }

  private static String repr(Object v) {
    if (v == null || v == JSONObject.NULL) {
      return "None";
    }
    return v instanceof String ? "'" + v + "'" : String.valueOf(v);
  }

  private static Object need(JSONObject o, String key, String kind, String where, List<String> p) {
    if (!o.has(key)) {
      p.add(where + ": missing '" + key + "'");
      return null;
    }
    Object v = o.opt(key);
    if (!typeName(v).equals(kind)) {
      p.add(where + "." + key + ": expected " + kind + ", got " + typeName(v));
      return null;
    }
    return v;
  }

  private static Integer needInt(JSONObject o, String key, String where, List<String> p) {
    Object v = need(o, key, "int", where, p);
    return v == null ? null : ((Number) v).intValue();
  }

  private static String needString(JSONObject o, String key, String where, List<String> p) {
    return (String) need(o, key, "str", where, p);
  }

  private static JSONObject needObject(JSONObject o, String key, String where, List<String> p) {
    return (JSONObject) need(o, key, "dict", where, p);
  }

  private static JSONArray needArray(JSONObject o, String key, String where, List<String> p) {
    return (JSONArray) need(o, key, "list", where, p);
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
