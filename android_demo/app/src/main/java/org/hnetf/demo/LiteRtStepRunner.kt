package org.hnetf.demo

import java.nio.ByteBuffer
import java.nio.FloatBuffer
import java.util.IdentityHashMap
import org.hnetf.anytime.StepRunner
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate

/**
 * Owns one LiteRT [Interpreter] over one model file and runs its signatures for the engine: the
 * classic Interpreter API, `runSignature(inputs, outputs, signatureKey)`, with the signature
 * introspection calls (`getSignatureKeys`, `getSignatureInputs`, `getSignatureOutputs`,
 * `getInputTensorFromSignature(...).shapeSignature()`).
 *
 * Buffers cross as [FloatBuffer]s wrapping the engine's arrays: LiteRT copies a Buffer in and out
 * when its byte size matches the tensor's, which it checks.
 */
class LiteRtStepRunner(model: ByteBuffer, options: AnytimeOptions) : StepRunner, AutoCloseable {
    private var gpuDelegate: GpuDelegate? = null
    val interpreter: Interpreter
    /** What the interpreter runs on, for the screen: "GPU", "XNNPACK", "CPU" (+ why, on fallback). */
    val delegateUsed: String
    private val wrappers = IdentityHashMap<FloatArray, FloatBuffer>()

    init {
        var used = options.delegate.name
        val interpreterOptions = Interpreter.Options()
        interpreterOptions.setNumThreads(options.threads)
        when (options.delegate) {
            Delegate.CPU -> interpreterOptions.setUseXNNPACK(false)
            Delegate.XNNPACK -> interpreterOptions.setUseXNNPACK(true)
            Delegate.GPU -> {
                val compatibility = CompatibilityList()
                try {
                    if (compatibility.isDelegateSupportedOnThisDevice) {
                        val delegate = GpuDelegate(compatibility.bestOptionsForThisDevice)
                        gpuDelegate = delegate
                        interpreterOptions.addDelegate(delegate)
                    } else {
                        interpreterOptions.setUseXNNPACK(true)
                        used = "XNNPACK (no GPU delegate on this device)"
                    }
                } finally {
                    compatibility.close()
                }
            }
        }
        interpreter = try {
            Interpreter(model, interpreterOptions)
        } catch (e: RuntimeException) {
            // The GPU delegate can refuse a graph when it prepares it; run it on the CPU instead.
            if (gpuDelegate == null) throw e
            gpuDelegate?.close()
            gpuDelegate = null
            used = "XNNPACK (GPU refused the model: ${e.message})"
            val cpu = Interpreter.Options()
            cpu.setNumThreads(options.threads)
            cpu.setUseXNNPACK(true)
            Interpreter(model, cpu)
        }
        delegateUsed = used
    }

    override fun signatureKeys(): Set<String> = interpreter.signatureKeys.toSet()

    override fun inputNames(signature: String): List<String> =
        interpreter.getSignatureInputs(signature).toList()

    override fun outputNames(signature: String): List<String> =
        interpreter.getSignatureOutputs(signature).toList()

    override fun shape(signature: String, tensor: String, input: Boolean): IntArray {
        val t = if (input) interpreter.getInputTensorFromSignature(tensor, signature)
        else interpreter.getOutputTensorFromSignature(tensor, signature)
        return t.shapeSignature()
    }

    override fun run(signature: String, inputs: Map<String, FloatArray>, outputs: Map<String, FloatArray>) {
        val ins = HashMap<String, Any>(inputs.size)
        for ((name, array) in inputs) ins[name] = wrap(array)
        val outs = HashMap<String, Any>(outputs.size)
        for ((name, array) in outputs) outs[name] = wrap(array)
        interpreter.runSignature(ins, outs, signature)
    }

    /** The engine passes the same arrays every step; wrap each once and rewind it per call. */
    private fun wrap(array: FloatArray): FloatBuffer {
        val buffer = wrappers.getOrPut(array) { FloatBuffer.wrap(array) }
        buffer.rewind()
        return buffer
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
        gpuDelegate = null
    }
}
