package org.hnetf.anytime;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A fixed per-prefix file: the ensemble of the first k leaves in one call ({@code logits
 * [1, k, classes]}), combined like the anytime steps. The app's "fixed k" mode and the benchmark's
 * reference for the progressive cost.
 */
public final class PrefixClassifier {
  private final Manifest manifest;
  private final StepRunner runner;
  private final Clock clock;
  private final String signature;
  public final int k;
  private final Map<String, float[]> inputs;
  private final float[] out;
  private final Map<String, float[]> outputs;

  public PrefixClassifier(Manifest manifest, Manifest.FileEntry entry, StepRunner runner, Clock clock) {
    this.signature = manifest.checkPrefixRunner(entry, runner);
    this.manifest = manifest;
    this.runner = runner;
    this.clock = clock;
    this.k = entry.k;
    inputs = Collections.singletonMap(manifest.input.name, new float[manifest.input.size()]);
    out = new float[k * manifest.numClasses];
    outputs = Collections.singletonMap("logits", out);
  }

  public Result classify(float[] image) {
    float[] in = inputs.get(manifest.input.name);
    if (image == null || image.length != in.length) {
      throw new AnytimeException("input image has " + (image == null ? 0 : image.length)
          + " values; the model takes " + manifest.input.describe() + " = " + in.length);
    }
    System.arraycopy(image, 0, in, 0, in.length);
    double start = clock.nowMs();
    java.util.Arrays.fill(out, Float.NaN);
    runner.run(signature, inputs, outputs);
    double ms = clock.nowMs() - start;
    int c = manifest.numClasses;
    Ensemble ensemble = new Ensemble(c);
    for (int leaf = 0; leaf < k; leaf++) {
      float[] row = new float[c];
      System.arraycopy(out, leaf * c, row, 0, c);
      for (float v : row) {
        if (Float.isNaN(v) || Float.isInfinite(v)) {
          throw new AnytimeException("prefix k=" + k + " returned non-finite logits for leaf " + leaf);
        }
      }
      ensemble.add(row);
    }
    double[] mean = ensemble.mean();
    double[] probs = Ensemble.softmax(mean);
    StepUpdate u = new StepUpdate(k, k, k - 1, null, mean, probs, ms, ms);
    return new Result(Ensemble.argmax(probs), probs, k, ms, Collections.singletonList(u));
  }
}
