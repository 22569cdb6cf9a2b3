package org.hnetf.anytime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * {@code demo_config.json}, which {@code android_demo/scripts/fill_assets.py} writes beside the
 * manifest: the model files bundled for each precision (the anytime file and the fixed prefix files
 * by k), the default precision, and the sample list. The older one-precision form
 * ({@code precision}, {@code anytime}, {@code prefixes}) is read as well.
 */
public final class DemoConfig {
  /** One precision's files. */
  public static final class Files {
    public final String anytime;
    /** k -> prefix file, by increasing k. */
    public final Map<Integer, String> prefixes;

    Files(String anytime, Map<Integer, String> prefixes) {
      this.anytime = anytime;
      this.prefixes = Collections.unmodifiableMap(prefixes);
    }

    public List<Integer> prefixSizes() {
      return new ArrayList<>(prefixes.keySet());
    }
  }

  /** Precision -> its files, in the config's order. */
  public final Map<String, Files> precisions;
  public final String defaultPrecision;
  public final String samples;

  private DemoConfig(Map<String, Files> precisions, String defaultPrecision, String samples) {
    this.precisions = Collections.unmodifiableMap(precisions);
    this.defaultPrecision = defaultPrecision;
    this.samples = samples;
  }

  public List<String> precisionNames() {
    return new ArrayList<>(precisions.keySet());
  }

  /** The files of {@code precision}, or of the default when it is null. */
  public Files files(String precision) {
    String p = precision == null ? defaultPrecision : precision;
    Files f = precisions.get(p);
    if (f == null) {
      throw new IllegalArgumentException("no " + p + " model files in the app; it has "
          + String.join(", ", precisions.keySet()));
    }
    return f;
  }

  /**
   * Reads the config and checks it against the manifest: every file it names is a manifest file of
   * the right kind, precision and k. Lists every problem in one {@link ManifestException}.
   */
  public static DemoConfig parse(String text, Manifest manifest) {
    List<String> problems = new ArrayList<>();
    Map<String, Files> precisions = new LinkedHashMap<>();
    String defaultPrecision;
    String samples;
    try {
      JSONObject c = new JSONObject(text);
      samples = c.optString("samples", "samples/samples.json");
      JSONObject all = c.optJSONObject("precisions");
      if (all == null && c.has("anytime")) {  // the one-precision form
        all = new JSONObject().put(c.getString("precision"), c);
        defaultPrecision = c.getString("precision");
      } else if (all == null) {
        throw new ManifestException("demo_config.json: no 'precisions'; rerun android_demo/scripts/fill_assets.py");
      } else {
        defaultPrecision = c.optString("default", null);
      }
      for (Iterator<String> it = all.keys(); it.hasNext(); ) {
        String p = it.next();
        JSONObject f = all.getJSONObject(p);
        Map<Integer, String> prefixes = new TreeMap<>();
        JSONObject ks = f.getJSONObject("prefixes");
        for (Iterator<String> k = ks.keys(); k.hasNext(); ) {
          String key = k.next();
          prefixes.put(Integer.parseInt(key), ks.getString(key));
        }
        precisions.put(p, new Files(f.getString("anytime"), prefixes));
      }
    } catch (JSONException | NumberFormatException e) {
      throw new ManifestException("demo_config.json: " + e.getMessage());
    }
    if (precisions.isEmpty()) {
      problems.add("it names no model files");
    }
    if (defaultPrecision == null && !precisions.isEmpty()) {
      defaultPrecision = precisions.keySet().iterator().next();
    }
    if (defaultPrecision != null && !precisions.isEmpty() && !precisions.containsKey(defaultPrecision)) {
      problems.add("default precision " + defaultPrecision + " has no files");
    }
    for (Map.Entry<String, Files> e : precisions.entrySet()) {
      String p = e.getKey();
      check(manifest, e.getValue().anytime, "anytime", p, 0, problems);
      for (Map.Entry<Integer, String> k : e.getValue().prefixes.entrySet()) {
        check(manifest, k.getValue(), "prefix", p, k.getKey(), problems);
      }
    }
    if (!problems.isEmpty()) {
      throw new ManifestException("demo_config.json does not match manifest.json: "
          + String.join("; ", problems) + " (rerun android_demo/scripts/fill_assets.py)");
    }
    return new DemoConfig(precisions, defaultPrecision, samples);
  }

  private static void check(Manifest m, String file, String kind, String precision, int k, List<String> problems) {
    for (Manifest.FileEntry f : m.files) {
      if (f.file.equals(file)) {
        if (!f.kind.equals(kind) || !f.precision.equals(precision) || f.k != k) {
          problems.add(file + " is a " + f.precision + " " + f.kind + (f.k > 0 ? " k=" + f.k : "")
              + " file, named as " + precision + " " + kind + (k > 0 ? " k=" + k : ""));
        }
        return;
      }
    }
    problems.add(file + " is not in the manifest");
  }
}
