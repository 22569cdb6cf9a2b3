package org.hnetf.anytime;

import java.nio.ByteBuffer;
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
  private final TensorBuffer in;
  private final TensorBuffer out;
  private final Map<String, ByteBuffer> inputs;
  private final Map<String, ByteBuffer> outputs;

  public PrefixClassifier(Manifest manifest, Manifest.FileEntry entry, StepRunner runner, Clock clock) {
    this.signature = manifest.checkPrefixRunner(entry, runner);
    this.manifest = manifest;
    this.runner = runner;
    this.clock = clock;
    this.k = entry.k;
    in = new TensorBuffer(manifest.input.size());
    out = new TensorBuffer(k * manifest.numClasses);
    inputs = Collections.singletonMap(manifest.input.name, in.bytes());
    outputs = Collections.singletonMap("logits", out.bytes());
  }

  public Result classify(float[] image) {
    if (image == null || image.length != in.size()) {
      throw new AnytimeException("input image has " + (image == null ? 0 : image.length)
          + " values; the model takes " + manifest.input.describe() + " = " + in.size());
    }
    in.set(image);  // before the clock starts, as in AnytimeEngine
    out.fill(Float.NaN);
    in.bytes();  // rewinds
    out.bytes();
    double start = clock.nowMs();
    runner.run(signature, inputs, outputs);
    double ms = clock.nowMs() - start;
    float[] all = out.toArray();
    int c = manifest.numClasses;
    Ensemble ensemble = new Ensemble(c);
    for (int leaf = 0; leaf < k; leaf++) {
      float[] row = new float[c];
      System.arraycopy(all, leaf * c, row, 0, c);
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
