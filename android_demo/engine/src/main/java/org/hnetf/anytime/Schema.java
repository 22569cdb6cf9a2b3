package org.hnetf.anytime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The subset of JSON Schema (2020-12) that {@code hne_tf/export/manifest.schema.json} uses, as a
 * tiny validator: type, required, properties, additionalProperties, items, enum, const, pattern,
 * minimum, exclusiveMinimum, maximum, minItems, maxItems, $ref ({@code #/$defs/NAME}) and if/then.
 * {@code hne_tf/export/schema.py} and {@code web_demo/engine.js} implement the same subset; {@code
 * tests/data/manifest_vectors.json} keeps the three in agreement. Problems name the path that
 * {@code files[2].precision} spells.
 */
public final class Schema {
  /** The manifest's schema: a class-path resource (the build copies the package's one file). */
  public static final String RESOURCE = "/manifest.schema.json";

  private static final Set<String> KEYWORDS = new HashSet<>(Arrays.asList("type", "required", "properties",
      "additionalProperties", "items", "enum", "const", "pattern", "minimum", "exclusiveMinimum", "maximum",
      "minItems", "maxItems", "$ref", "if", "then", "$schema", "$id", "$defs", "title", "description"));
  private static volatile JSONObject manifestSchema;

  /** One problem: the field's path and what is wrong with it. */
  public static final class Problem {
    public final String path;
    public final String message;

    public Problem(String path, String message) {
      this.path = path;
      this.message = message;
    }

    @Override
    public String toString() {
      return path + ": " + message;
    }
  }

  private Schema() {}

  /** The manifest schema, read once from the class path. */
  public static JSONObject manifestSchema() {
    JSONObject s = manifestSchema;
    if (s == null) {
      try (InputStream in = Schema.class.getResourceAsStream(RESOURCE)) {
        if (in == null) {
          throw new IllegalStateException(RESOURCE + " is not on the class path (the engine's build copies "
              + "hne_tf/export/manifest.schema.json there)");
        }
        s = new JSONObject(new String(Manifest.readAll(in), StandardCharsets.UTF_8));
      } catch (IOException | JSONException e) {
        throw new IllegalStateException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
      }
      manifestSchema = s;
    }
    return s;
  }

  /** The JSON type of a parsed value: null, boolean, integer, number, string, array, object. */
  public static String typeName(Object v) {
    if (v == null || v == JSONObject.NULL) {
      return "null";
    }
    if (v instanceof Boolean) {
      return "boolean";
    }
    if (v instanceof Integer || v instanceof Long) {
      return "integer";
    }
    if (v instanceof Number) {
      return v instanceof Double || v instanceof Float ? "number" : "integer";
    }
    if (v instanceof String) {
      return "string";
    }
    return v instanceof JSONArray ? "array" : "object";
  }

  static String join(String path, Object key) {
    if (key instanceof Integer) {
      return path + "[" + key + "]";
    }
    return path.isEmpty() ? String.valueOf(key) : path + "." + key;
  }

  /** JSON equality: numbers by value, arrays and objects by their items. */
  static boolean jsonEqual(Object a, Object b) {
    if (a instanceof Number && b instanceof Number) {
      return ((Number) a).doubleValue() == ((Number) b).doubleValue();
    }
    if (a instanceof JSONArray && b instanceof JSONArray) {
      JSONArray x = (JSONArray) a;
      JSONArray y = (JSONArray) b;
      if (x.length() != y.length()) {
        return false;
      }
      for (int i = 0; i < x.length(); i++) {
        if (!jsonEqual(x.opt(i), y.opt(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof JSONObject && b instanceof JSONObject) {
      return a.toString().equals(b.toString());
    }
    return typeName(a).equals(typeName(b)) && String.valueOf(a).equals(String.valueOf(b));
  }

  static String show(Object v) {
    if (v == null || v == JSONObject.NULL) {
      return "null";
    }
    return v instanceof String ? JSONObject.quote((String) v) : String.valueOf(v);
  }

  /** Every way {@code value} breaks {@code schema}, a node of the document {@code root}. */
  public static List<Problem> problems(Object value, JSONObject schema, JSONObject root, String path) {
    for (Iterator<String> it = schema.keys(); it.hasNext(); ) {
      String key = it.next();
      if (!KEYWORDS.contains(key)) {
        throw new IllegalArgumentException("schema at " + (path.isEmpty() ? "the root" : path) + " uses '" + key
            + "', outside the supported subset");
      }
    }
    if (schema.has("$ref")) {
      String name = schema.optString("$ref").replaceFirst("^#/\\$defs/", "");
      return problems(value, root.optJSONObject("$defs").optJSONObject(name), root, path);
    }
    List<Problem> out = new ArrayList<>();
    String type = typeName(value);
    if (schema.has("type")) {
      Object t = schema.opt("type");
      List<String> kinds = new ArrayList<>();
      if (t instanceof JSONArray) {
        for (int i = 0; i < ((JSONArray) t).length(); i++) {
          kinds.add(((JSONArray) t).optString(i));
        }
      } else {
        kinds.add(String.valueOf(t));
      }
      boolean ok = false;
      for (String k : kinds) {
        ok |= k.equals(type) || ("number".equals(k) && "integer".equals(type));
      }
      if (!ok) {
        out.add(new Problem(path, "expected " + String.join(" or ", kinds) + ", got " + type));
        return out;
      }
    }
    if (schema.has("const") && !jsonEqual(value, schema.opt("const"))) {
      out.add(new Problem(path, "expected " + show(schema.opt("const")) + ", got " + show(value)));
    }
    JSONArray options = schema.optJSONArray("enum");
    if (options != null) {
      boolean found = false;
      List<String> shown = new ArrayList<>();
      for (int i = 0; i < options.length(); i++) {
        found |= jsonEqual(value, options.opt(i));
        shown.add(show(options.opt(i)));
      }
      if (!found) {
        out.add(new Problem(path, show(value) + " is not one of " + String.join(", ", shown)));
      }
    }
    if (value instanceof String && schema.has("pattern")
        && !Pattern.compile(schema.optString("pattern")).matcher((String) value).find()) {
      out.add(new Problem(path, show(value) + " does not match " + schema.optString("pattern")));
    }
    if (value instanceof Number) {
      double d = ((Number) value).doubleValue();
      if (schema.has("minimum") && d < schema.optDouble("minimum")) {
        out.add(new Problem(path, "must be >= " + show(schema.opt("minimum")) + ", got " + show(value)));
      }
      if (schema.has("exclusiveMinimum") && d <= schema.optDouble("exclusiveMinimum")) {
        out.add(new Problem(path, "must be > " + show(schema.opt("exclusiveMinimum")) + ", got " + show(value)));
      }
      if (schema.has("maximum") && d > schema.optDouble("maximum")) {
        out.add(new Problem(path, "must be <= " + show(schema.opt("maximum")) + ", got " + show(value)));
      }
    }
    if (value instanceof JSONArray) {
      JSONArray a = (JSONArray) value;
      if (schema.has("minItems") && a.length() < schema.optInt("minItems")) {
        out.add(new Problem(path, "expected at least " + schema.optInt("minItems") + " items, got " + a.length()));
      }
      if (schema.has("maxItems") && a.length() > schema.optInt("maxItems")) {
        out.add(new Problem(path, "expected at most " + schema.optInt("maxItems") + " items, got " + a.length()));
      }
      JSONObject items = schema.optJSONObject("items");
      for (int i = 0; items != null && i < a.length(); i++) {
        out.addAll(problems(a.opt(i), items, root, join(path, i)));
      }
    }
    if (value instanceof JSONObject) {
      JSONObject o = (JSONObject) value;
      JSONArray required = schema.optJSONArray("required");
      for (int i = 0; required != null && i < required.length(); i++) {
        if (!o.has(required.optString(i))) {
          out.add(new Problem(join(path, required.optString(i)), "missing"));
        }
      }
      JSONObject properties = schema.optJSONObject("properties");
      Object extra = schema.opt("additionalProperties");
      for (Iterator<String> it = o.keys(); it.hasNext(); ) {
        String key = it.next();
        if (properties != null && properties.has(key)) {
          out.addAll(problems(o.opt(key), properties.optJSONObject(key), root, join(path, key)));
        } else if (Boolean.FALSE.equals(extra)) {
          out.add(new Problem(join(path, key), "not allowed here"));
        } else if (extra instanceof JSONObject) {
          out.addAll(problems(o.opt(key), (JSONObject) extra, root, join(path, key)));
        }
      }
    }
    JSONObject ifSchema = schema.optJSONObject("if");
    JSONObject thenSchema = schema.optJSONObject("then");
    if (ifSchema != null && thenSchema != null && problems(value, ifSchema, root, path).isEmpty()) {
      out.addAll(problems(value, thenSchema, root, path));
    }
    return out;
  }
}
