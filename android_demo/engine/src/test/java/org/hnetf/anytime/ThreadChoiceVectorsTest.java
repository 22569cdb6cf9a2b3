package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

/**
 * The thread-count rule against {@code tests/data/thread_choice_vectors.json}, the cases that Python's
 * {@code runtime.faster_count} and the page's {@code fewestNotBeaten} are held to as well. Found through
 * {@code HNETF_THREAD_CHOICE_VECTORS}, else in the repository above the working directory.
 */
class ThreadChoiceVectorsTest {
  @Test
  void threadChoiceVectorsGiveTheirVerdicts() throws Exception {
    JSONObject vectors = new JSONObject(new String(Files.readAllBytes(
        Fakes.sharedTestData("thread_choice_vectors.json", "HNETF_THREAD_CHOICE_VECTORS")), "UTF-8"));
    assertEquals("hne-tf-thread-choice-vectors", vectors.getString("format"));
    JSONArray cases = vectors.getJSONArray("cases");
    assertTrue(cases.length() >= 10);
    for (int i = 0; i < cases.length(); i++) {
      JSONObject c = cases.getJSONObject(i);
      int[] counts = Manifest.ints(c.getJSONArray("counts"));
      double[] ms = Manifest.doubles(c.getJSONArray("ms"));
      double margin = c.getDouble("margin");
      if (c.optBoolean("error", false)) {
        assertThrows(IllegalArgumentException.class, () -> ThreadChoice.fewestNotBeaten(counts, ms, margin),
            c.getString("name"));
      } else {
        assertEquals(c.getInt("chosen"), ThreadChoice.fewestNotBeaten(counts, ms, margin), c.getString("name"));
      }
    }
  }
}
