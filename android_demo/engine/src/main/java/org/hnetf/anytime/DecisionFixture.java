package org.hnetf.anytime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The decision fixture {@code python -m export.fixture} writes: what the Python anytime engine
 * decided on recorded traces (format documented in {@code hne_tf/export/fixture.py}).
 */
public final class DecisionFixture {
  public static final String FORMAT = "hne-tf-decision-fixture";
  public static final int VERSION = 1;

  /** One rule and the Python engine's decisions under it. */
  public static final class Case {
    public final StoppingRule rule;
    public final int[] steps;
    public final int[] prediction;
    public final double[] elapsedMs;

    Case(StoppingRule rule, int[] steps, int[] prediction, double[] elapsedMs) {
      this.rule = rule;
      this.steps = steps;
      this.prediction = prediction;
      this.elapsedMs = elapsedMs;
    }
  }

  public final String manifestSha256;
  public final String precision;
  public final int numImages;
  public final int numSteps;
  public final int numClasses;
  public final int[] labels;
  public final double[] predictedMs;
  /** {@code [images][steps][classes]}: float32 values, as the interpreter gave them. */
  public final float[][][] leafLogits;
  public final double[][] stepMs;
  public final double[][][] runningMean;
  public final List<Case> cases;

  private DecisionFixture(JSONObject f) throws JSONException {
    if (!FORMAT.equals(f.opt("format")) || f.optInt("version", -1) != VERSION) {
      throw new IllegalArgumentException("not a decision fixture of format " + FORMAT + " version "
          + VERSION + ": got " + f.opt("format") + " version " + f.opt("version"));
    }
    manifestSha256 = f.getString("manifest");
    precision = f.getString("precision");
    numImages = f.getInt("num_images");
    numSteps = f.getInt("num_steps");
    numClasses = f.getInt("num_classes");
    labels = Manifest.ints(f.getJSONArray("labels"));
    predictedMs = Manifest.doubles(f.getJSONArray("predicted_ms"));
    JSONArray logits = f.getJSONArray("leaf_logits");
    JSONArray times = f.getJSONArray("step_ms");
    JSONArray means = f.getJSONArray("running_mean");
    leafLogits = new float[numImages][numSteps][numClasses];
    stepMs = new double[numImages][];
    runningMean = new double[numImages][numSteps][];
    for (int i = 0; i < numImages; i++) {
      stepMs[i] = Manifest.doubles(times.getJSONArray(i));
      for (int s = 0; s < numSteps; s++) {
        JSONArray row = logits.getJSONArray(i).getJSONArray(s);
        for (int c = 0; c < numClasses; c++) {
          leafLogits[i][s][c] = (float) row.getDouble(c);
        }
        runningMean[i][s] = Manifest.doubles(means.getJSONArray(i).getJSONArray(s));
      }
    }
    List<Case> cs = new ArrayList<>();
    JSONArray casesJson = f.getJSONArray("cases");
    for (int i = 0; i < casesJson.length(); i++) {
      JSONObject c = casesJson.getJSONObject(i);
      cs.add(new Case(StoppingRule.of(c.getString("rule"), c.getDouble("value")),
          Manifest.ints(c.getJSONArray("steps")), Manifest.ints(c.getJSONArray("prediction")),
          Manifest.doubles(c.getJSONArray("elapsed_ms"))));
    }
    cases = Collections.unmodifiableList(cs);
  }

  public static DecisionFixture parse(String text) {
    try {
      return new DecisionFixture(new JSONObject(text));
    } catch (JSONException e) {
      throw new IllegalArgumentException("malformed decision fixture: " + e.getMessage(), e);
    }
  }

  public static DecisionFixture read(InputStream in) throws IOException {
    return parse(new String(Manifest.readAll(in), StandardCharsets.UTF_8));
  }
}
