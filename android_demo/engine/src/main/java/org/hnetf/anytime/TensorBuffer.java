package org.hnetf.anytime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * A float32 tensor of batch 1 held in a direct, native-order {@link ByteBuffer}: the form LiteRT
 * reads an input from with one native memcpy ({@code TensorImpl.setTo} takes its {@code
 * writeDirectBuffer} path) and writes an output into with one bulk put. A heap array or a wrapped
 * heap buffer would go through a Java-side element copy on every call instead.
 *
 * <p>The engine owns one per slot and reuses it for every step and image. {@link #bytes()} is what
 * crosses the {@link StepRunner} boundary; {@link #floats()} is a view for reading and writing
 * values by absolute index, so neither depends on the byte buffer's position.
 */
public final class TensorBuffer {
  private final ByteBuffer bytes;
  private final FloatBuffer floats;

  public TensorBuffer(int size) {
    if (size < 1) {
      throw new IllegalArgumentException("a tensor buffer needs at least one value, got " + size);
    }
    bytes = ByteBuffer.allocateDirect(4 * size).order(ByteOrder.nativeOrder());
    floats = bytes.asFloatBuffer();
  }

  /** Values held. */
  public int size() {
    return floats.capacity();
  }

  /** The bytes, position rewound to 0: hand these to the interpreter. */
  public ByteBuffer bytes() {
    bytes.clear();
    return bytes;
  }

  /** The values as floats (absolute get/put by index). */
  public FloatBuffer floats() {
    return floats;
  }

  public float get(int i) {
    return floats.get(i);
  }

  public void put(int i, float v) {
    floats.put(i, v);
  }

  /** Copies {@code values} in; they must be exactly {@link #size()} long. */
  public void set(float[] values) {
    if (values.length != size()) {
      throw new IllegalArgumentException(values.length + " values for a tensor of " + size());
    }
    floats.clear();
    floats.put(values);
    floats.clear();
  }

  public void fill(float v) {
    for (int i = 0; i < size(); i++) {
      floats.put(i, v);
    }
  }

  /** A copy of the values. */
  public float[] toArray() {
    float[] out = new float[size()];
    floats.clear();
    floats.get(out);
    floats.clear();
    return out;
  }
}
