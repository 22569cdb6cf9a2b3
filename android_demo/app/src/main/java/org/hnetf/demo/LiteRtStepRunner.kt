package org.hnetf.demo

import android.content.Context
import android.util.Log
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import org.hnetf.anytime.Delegate
import org.hnetf.anytime.DelegatePlan
import org.hnetf.anytime.RunnerFactory
import org.tensorflow.lite.ExecutionPlanProbe
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate

/**
 * One LiteRT [Interpreter] over one model file on one delegate: the classic Interpreter API,
 * `runSignature(inputs, outputs, signatureKey)`, with the signature introspection calls. It does only
 * what it is told; which delegate to try, and what to do when it fails, is the engine's
 * [org.hnetf.anytime.DelegatePlan] and [org.hnetf.anytime.FallbackRunner].
 *
 * The engine's buffers are direct, native-order ByteBuffers: LiteRT reads such an input with one
 * native memcpy and writes an output into it with one bulk put.
 */
class LiteRtStepRunner(model: ByteBuffer, private val delegate: Delegate, threads: Int) : RunnerFactory.Opened {
    private var gpuDelegate: GpuDelegate? = null
    private val interpreter: Interpreter
    private val label: String

    init {
        val options = Interpreter.Options().setNumThreads(threads)
        when (delegate) {
            Delegate.CPU -> options.setUseXNNPACK(false)
            Delegate.XNNPACK -> options.setUseXNNPACK(true)
            Delegate.GPU -> {
                // XNNPACK off: the ops the GPU leaves behind then stay separate nodes of the plan,
                // which is how partial delegation is told from full.
                options.setUseXNNPACK(false)
                val gpu = CompatibilityList().use { GpuDelegate(it.bestOptionsForThisDevice) }
                gpuDelegate = gpu
                options.addDelegate(gpu)
            }
        }
        interpreter = try {
            Interpreter(model, options)
        } catch (e: Throwable) {
            // Ours to free; the constructor's own native handles are LiteRT's (see DelegatePlan).
            gpuDelegate?.close()
            gpuDelegate = null
            throw e
        }
        val planNodes = if (delegate == Delegate.GPU) ExecutionPlanProbe.length(interpreter) else -1
        label = DelegatePlan.label(delegate, planNodes)
    }

    override fun describe(): String = label

    override fun signatureKeys(): Set<String> = interpreter.signatureKeys.toSet()

    override fun inputNames(signature: String): List<String> = interpreter.getSignatureInputs(signature).toList()

    override fun outputNames(signature: String): List<String> = interpreter.getSignatureOutputs(signature).toList()

    override fun shape(signature: String, tensor: String, input: Boolean): IntArray {
        val t = if (input) interpreter.getInputTensorFromSignature(tensor, signature)
        else interpreter.getOutputTensorFromSignature(tensor, signature)
        return t.shapeSignature()
    }

    override fun run(signature: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        interpreter.runSignature(inputs, outputs, signature)
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
        gpuDelegate = null
    }
}

/** Opens [LiteRtStepRunner]s over the app's assets (memory-mapped; the build keeps .tflite uncompressed). */
class LiteRtFactory(private val context: Context) : RunnerFactory {
    private val gpu: Boolean by lazy {
        try {
            CompatibilityList().use { it.isDelegateSupportedOnThisDevice }
        } catch (e: Throwable) {  // no GPU delegate library, or its native part failed to load
            Log.w(TAG, "GPU delegate unavailable", e)
            false
        }
    }

    override fun gpuAvailable(): Boolean = gpu

    override fun open(file: String, delegate: Delegate, threads: Int): RunnerFactory.Opened =
        LiteRtStepRunner(mapAsset(file), delegate, threads)

    private fun mapAsset(name: String): ByteBuffer =
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).use { stream ->
                stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
}
