package org.hnetf.anytime;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The boundary to the interpreter: runs one signature of a model file on named float32 buffers.
 *
 * <p>The app implements it with LiteRT's {@code Interpreter.runSignature}; the tests implement it
 * with recorded traces ({@link TraceRunner}). Buffers are direct, native-order byte buffers holding
 * flat row-major float32 values of batch 1 ({@link TensorBuffer}), so a tensor of shape {@code
 * [-1, 7, 7, 64]} is {@code 4 * 7 * 7 * 64} bytes.
 */
public interface StepRunner {
  /** The signature keys the model file holds. */
  Set<String> signatureKeys();

  /** Input tensor names of {@code signature}. */
  List<String> inputNames(String signature);

  /** Output tensor names of {@code signature}. */
  List<String> outputNames(String signature);

  /**
   * The shape of one of {@code signature}'s tensors, -1 where a dimension is dynamic (LiteRT's
   * shape signature).
   *
   * @param input true for an input tensor, false for an output tensor
   */
  int[] shape(String signature, String tensor, boolean input);

  /**
   * Runs {@code signature}: reads {@code inputs}, invokes, writes every requested output into the
   * buffer given for it in {@code outputs} (already of the right size). Buffers come with position
   * 0; the runner may move their positions (the engine reads values by absolute index).
   */
  void run(String signature, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs);
}
