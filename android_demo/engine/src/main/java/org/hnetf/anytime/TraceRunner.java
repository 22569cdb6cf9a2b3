package org.hnetf.anytime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link StepRunner} that plays back recorded leaf logits and step latencies instead of running a
 * model, and the {@link Clock} those latencies advance: the engine's decisions on it are those it
 * takes on a device that produced the recording.
 *
 * <p>It serves the manifest's signatures with the manifest's slot shapes, and checks the engine's
 * plumbing as it goes: steps run in order from step 1 for each image, each step gets exactly the
 * slot it reads, and that slot holds what the step that last wrote it put there (every write fills
 * the slot with a value unique to the step and image).
 */
public final class TraceRunner implements StepRunner, Clock {
  private final Manifest manifest;
  private final float[][][] logits;
  private final double[][] stepMs;
  private final Map<String, Integer> stepOf = new HashMap<>();
  private final Map<String, Float> slotMark = new HashMap<>();
  private int image = -1;
  private int nextStep;
  private double now;
  private int calls;

  /**
   * @param logits {@code [images][steps][classes]} leaf logits
   * @param stepMs {@code [images][steps]} step latencies
   */
  public TraceRunner(Manifest manifest, float[][][] logits, double[][] stepMs) {
    int n = manifest.steps.size();
    if (logits.length != stepMs.length) {
      throw new IllegalArgumentException(logits.length + " traced images, " + stepMs.length + " timed");
    }
    for (int i = 0; i < logits.length; i++) {
      if (logits[i].length != n || stepMs[i].length != n) {
        throw new IllegalArgumentException("image " + i + ": the trace has " + logits[i].length
            + " steps, the manifest " + n);
      }
    }
    this.manifest = manifest;
    this.logits = logits;
    this.stepMs = stepMs;
    for (int s = 0; s < n; s++) {
      stepOf.put(manifest.steps.get(s).signature, s);
    }
  }

  /** Plays image {@code i} next; its clock starts at 0. */
  public void select(int i) {
    if (i < 0 || i >= logits.length) {
      throw new IllegalArgumentException("image " + i + " outside the trace's " + logits.length);
    }
    image = i;
    now = 0;
    rewind();
  }

  /** Plays the selected image again from step 1; the clock runs on. */
  public void rewind() {
    nextStep = 0;
    slotMark.clear();
  }

  public int numImages() {
    return logits.length;
  }

  /** Steps run since construction. */
  public int calls() {
    return calls;
  }

  @Override
  public double nowMs() {
    return now;
  }

  @Override
  public Set<String> signatureKeys() {
    return new LinkedHashSet<>(stepOf.keySet());
  }

  @Override
  public List<String> inputNames(String signature) {
    return Collections.singletonList(step(signature).reads);
  }

  @Override
  public List<String> outputNames(String signature) {
    List<String> out = new ArrayList<>(step(signature).writes);
    out.add("logits");
    return out;
  }

  @Override
  public int[] shape(String signature, String tensor, boolean input) {
    step(signature);
    if (tensor.equals("logits") && !input) {
      return new int[] {-1, manifest.numClasses};
    }
    int[] shape = manifest.slots.get(tensor);
    if (shape == null) {
      throw new IllegalArgumentException("no tensor '" + tensor + "' in signature " + signature);
    }
    return shape.clone();
  }

  @Override
  public void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
    if (image < 0) {
      throw new IllegalStateException("select() an image of the trace first");
    }
    int s = stepOf.get(step(signature).signature);
    Manifest.Step step = manifest.steps.get(s);
    if (s != nextStep) {
      throw new IllegalStateException("step " + step.step + " ran after " + nextStep
          + " steps: anytime steps run in order from step 1");
    }
    if (!inputs.keySet().equals(Collections.singleton(step.reads))) {
      throw new IllegalStateException("step " + step.step + " got inputs " + inputs.keySet()
          + ", reads '" + step.reads + "'");
    }
    FloatBuffer in = floats(inputs.get(step.reads), "input '" + step.reads + "'");
    int n = in.capacity();
    if (n != manifest.slotSize(step.reads)) {
      throw new IllegalStateException("slot '" + step.reads + "' has " + n + " values");
    }
    Float mark = slotMark.get(step.reads);
    if (mark != null && (in.get(0) != mark || in.get(n - 1) != mark)) {
      throw new IllegalStateException("step " + step.step + " read slot '" + step.reads
          + "' which does not hold what the step that wrote it left there");
    }
    for (String w : step.writes) {
      float value = 1000f * (image + 1) + step.step;
      FloatBuffer slot = floats(outputs.get(w), "output '" + w + "'");
      for (int i = 0; i < slot.capacity(); i++) {
        slot.put(i, value);
      }
      slotMark.put(w, value);
    }
    FloatBuffer out = floats(outputs.get("logits"), "output 'logits'");
    out.put(logits[image][s]);
    now += stepMs[image][s];
    nextStep++;
    calls++;
  }

  /**
   * The floats of a buffer as LiteRT would take it: direct and in native order (anything else
   * would take LiteRT's copying path), from position 0.
   */
  private static FloatBuffer floats(ByteBuffer b, String what) {
    if (b == null || !b.isDirect() || b.order() != ByteOrder.nativeOrder() || b.position() != 0) {
      throw new IllegalStateException(what + " is not a direct native-order buffer at position 0: " + b);
    }
    return b.asFloatBuffer();
  }

  private Manifest.Step step(String signature) {
    Integer s = stepOf.get(signature);
    if (s == null) {
      throw new IllegalArgumentException("no signature '" + signature + "' in the trace");
    }
    return manifest.steps.get(s);
  }
}
