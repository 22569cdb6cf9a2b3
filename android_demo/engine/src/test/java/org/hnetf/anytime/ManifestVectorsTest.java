package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The manifest contract: this engine's verdict on every manifest of {@code
 * tests/data/manifest_vectors.json} (written by {@code tests/test_manifest_vectors.py}), which the
 * Python and JS readers are held to as well. Found through {@code HNETF_MANIFEST_VECTORS}, else in the
 * repository above the working directory. With {@code -Dhnetf.manifest}, the exporter's real manifest
 * must meet the contract too.
 */
class ManifestVectorsTest {
  private static Path vectorsPath() {
    return Fakes.sharedTestData("manifest_vectors.json", "HNETF_MANIFEST_VECTORS");
  }

  private static TreeSet<String> paths(List<Schema.Problem> problems) {
    TreeSet<String> out = new TreeSet<>();
    for (Schema.Problem p : problems) {
      out.add(p.path);
    }
    return out;
  }

  @Test
  void manifestVectorsGiveTheirVerdicts() throws Exception {
    JSONObject vectors = new JSONObject(new String(Files.readAllBytes(vectorsPath()), "UTF-8"));
    assertEquals("hne-tf-manifest-vectors", vectors.getString("format"));
    JSONArray cases = vectors.getJSONArray("cases");
    assertTrue(cases.length() >= 35);
    List<String> wrong = new ArrayList<>();
    for (int i = 0; i < cases.length(); i++) {
      JSONObject c = cases.getJSONObject(i);
      TreeSet<String> want = new TreeSet<>();
      JSONArray expected = c.getJSONArray("paths");
      for (int j = 0; j < expected.length(); j++) {
        want.add(expected.getString(j));
      }
      Object manifest = c.get("manifest");
      List<Schema.Problem> problems = manifest instanceof JSONObject
          ? Manifest.problems((JSONObject) manifest)
          : java.util.Collections.singletonList(new Schema.Problem("manifest", "expected a JSON object"));
      if (!paths(problems).equals(want)) {
        wrong.add(c.getString("name") + ": expected " + want + ", got " + problems);
      }
      if (c.getBoolean("valid") && manifest instanceof JSONObject) {
        Manifest.parse(manifest.toString()); // a valid manifest is one the engine can read
      }
    }
    assertTrue(wrong.isEmpty(), String.join("\n", wrong));
  }

  @Test
  void exportedManifestMeetsTheContract() throws Exception {
    String path = System.getProperty("hnetf.manifest");
    Assumptions.assumeTrue(path != null && !path.isEmpty(), "no -Dhnetf.manifest");
    JSONObject m = new JSONObject(new String(Files.readAllBytes(Paths.get(path)), "UTF-8"));
    assertEquals(new ArrayList<Schema.Problem>().toString(), Manifest.problems(m).toString());
  }
}
