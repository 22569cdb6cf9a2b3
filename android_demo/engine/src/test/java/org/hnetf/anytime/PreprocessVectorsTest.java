package org.hnetf.anytime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;

/**
 * The engine's preprocessing against the Python one's test vectors ({@code
 * tests/data/preprocess_vectors.json}, written by {@code tests/test_preprocess_vectors.py} from {@code
 * hne_tf.export.samples.preprocess}). Found through {@code HNETF_PREPROCESS_VECTORS}, else in the
 * repository above the working directory.
 */
class PreprocessVectorsTest {
  private static Path vectorsPath() {
    return Fakes.sharedTestData("preprocess_vectors.json", "HNETF_PREPROCESS_VECTORS");
  }

  @Test
  void preprocessVectorsMatchPython() throws Exception {
    JSONObject vectors = new JSONObject(new String(Files.readAllBytes(vectorsPath()), "UTF-8"));
    assertEquals("hne-tf-preprocess-vectors", vectors.getString("format"));
    double tolerance = vectors.getDouble("tolerance");
    JSONArray cases = vectors.getJSONArray("cases");
    assertTrue(cases.length() >= 5);
    for (int n = 0; n < cases.length(); n++) {
      JSONObject c = cases.getJSONObject(n);
      String name = c.getString("name");
      JSONObject input = c.getJSONObject("input");
      JSONArray shape = input.getJSONArray("shape");
      int h = shape.getInt(1);
      int w = shape.getInt(2);
      int ch = shape.getInt(3);
      JSONObject norm = input.getJSONObject("normalization");
      InputSpec spec = new InputSpec("input", h, w, ch, Manifest.doubles(norm.getJSONArray("mean")),
          Manifest.doubles(norm.getJSONArray("std")));
      JSONArray pixels = c.getJSONArray("pixels");
      double[] want = Manifest.doubles(c.getJSONArray("expected"));
      float[] raw = new float[pixels.length()];
      for (int i = 0; i < raw.length; i++) {
        raw[i] = pixels.getInt(i);
      }
      // The same pixels as the app gets them: packed ARGB (gray: R = G = B).
      int[] argb = new int[h * w];
      for (int i = 0; i < argb.length; i++) {
        int r = pixels.getInt(ch == 1 ? i : 3 * i);
        int g = ch == 1 ? r : pixels.getInt(3 * i + 1);
        int b = ch == 1 ? r : pixels.getInt(3 * i + 2);
        argb[i] = 0xff000000 | (r << 16) | (g << 8) | b;
      }
      float[][] got = {spec.normalize(raw), spec.fromArgb(argb, w, h)};
      for (float[] x : got) {
        assertEquals(want.length, x.length, name);
        for (int i = 0; i < x.length; i++) {
          assertEquals(want[i], x[i], tolerance * Math.max(1.0, Math.abs(want[i])), name + "[" + i + "]");
        }
      }
    }
  }

  /** Pictures of other sizes than the model's: the input spec's resize, colour and rounding. */
  @Test
  void picturesOfAnySizeBecomeThePixelsPythonMakes() throws Exception {
    JSONObject vectors = new JSONObject(new String(Files.readAllBytes(vectorsPath()), "UTF-8"));
    JSONArray cases = vectors.getJSONArray("image_cases");
    assertTrue(cases.length() >= 6);
    StringBuilder wrong = new StringBuilder();
    for (int n = 0; n < cases.length(); n++) {
      JSONObject c = cases.getJSONObject(n);
      JSONObject specJson = c.getJSONObject("spec");
      JSONArray size = specJson.getJSONArray("size");
      JSONObject norm = specJson.getJSONObject("normalization");
      JSONObject resize = specJson.getJSONObject("resize");
      InputSpec spec = new InputSpec("input", size.getInt(0), size.getInt(1), specJson.getInt("channels"),
          Manifest.doubles(norm.getJSONArray("mean")), Manifest.doubles(norm.getJSONArray("std")), resize.getString("rule"),
          resize.getDouble("crop_fraction"));
      int w = c.getInt("width");
      int h = c.getInt("height");
      JSONArray rgb = c.getJSONArray("rgb");
      int[] argb = new int[w * h];
      for (int i = 0; i < argb.length; i++) {
        argb[i] = 0xff000000 | (rgb.getInt(3 * i) << 16) | (rgb.getInt(3 * i + 1) << 8) | rgb.getInt(3 * i + 2);
      }
      float[] got = SpecResize.pixels(argb, w, h, spec);
      JSONArray want = c.getJSONArray("pixels");
      assertEquals(want.length(), got.length, c.getString("name"));
      int off = 0;
      for (int i = 0; i < got.length; i++) {
        off += got[i] == want.getInt(i) ? 0 : 1;
      }
      if (off > 0) {
        wrong.append(c.getString("name")).append(": ").append(off).append(" of ").append(got.length)
            .append(" pixels differ\n");
      }
      float[] input = spec.fromPicture(argb, w, h);
      assertEquals(got.length, input.length);
    }
    assertEquals("", wrong.toString());
  }
}
