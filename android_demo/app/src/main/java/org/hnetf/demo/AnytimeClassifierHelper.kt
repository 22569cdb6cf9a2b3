package org.hnetf.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import org.hnetf.anytime.AnytimeEngine
import org.hnetf.anytime.Benchmark
import org.hnetf.anytime.Clock
import org.hnetf.anytime.Manifest
import org.hnetf.anytime.PrefixClassifier
import org.hnetf.anytime.Result
import org.hnetf.anytime.StepUpdate
import org.json.JSONObject

/** A bundled test image with its label (assets/samples/, written by fill_assets.py). */
data class Sample(val file: String, val label: Int, val labelName: String, val bitmap: Bitmap)

/** The benchmark's figures: the bundled images under the current options. */
data class BenchmarkReport(
    val images: Int,
    val rule: String,
    val meanLeaves: Double,
    val meanMs: Double,
    val accuracy: Double,
    /** Steps 1..N in sequence against the k = N prefix file once (medians). */
    val stepsMs: Double,
    val prefixMs: Double,
    val ratio: Double,
    val predictedMs: DoubleArray,
)

/**
 * Owns the interpreters (through [LiteRtStepRunner]s: the anytime file, and each fixed prefix
 * file once used) and the engine, configured by [AnytimeOptions]. Models, manifest and samples come
 * from the app's assets. Call everything from one background thread: interpreters are not
 * thread-safe.
 */
class AnytimeClassifierHelper(private val context: Context, options: AnytimeOptions = AnytimeOptions()) :
    AutoCloseable {
    var options: AnytimeOptions = options
        private set
    lateinit var manifest: Manifest
        private set
    private lateinit var anytimeFile: String
    private val prefixFiles = mutableMapOf<Int, String>()
    private var anytimeRunner: LiteRtStepRunner? = null
    private var engine: AnytimeEngine? = null
    private val prefixRunners = mutableMapOf<Int, LiteRtStepRunner>()
    private val prefixes = mutableMapOf<Int, PrefixClassifier>()

    val numSteps: Int get() = manifest.steps.size
    val prefixSizes: List<Int> get() = prefixFiles.keys.sorted()
    val delegateUsed: String get() = anytimeRunner?.delegateUsed ?: "not loaded"
    val predictedMs: DoubleArray get() = engine?.predictedMs() ?: DoubleArray(0)

    /** Reads and validates the manifest, checks every model file's bytes, loads the anytime file. */
    fun init() {
        manifest = context.assets.open("manifest.json").use { Manifest.read(it) }
        val config = JSONObject(context.assets.open("demo_config.json").bufferedReader().use { it.readText() })
        anytimeFile = config.getString("anytime")
        val precision = config.getString("precision")
        check(manifest.anytimeFile(precision).file == anytimeFile) {
            "demo_config.json names $anytimeFile, the manifest's $precision anytime file is " +
                manifest.anytimeFile(precision).file
        }
        val ks = config.getJSONObject("prefixes")
        prefixFiles.clear()
        for (key in ks.keys()) prefixFiles[key.toInt()] = ks.getString(key)
        for (file in listOf(anytimeFile) + prefixFiles.values) {
            val entry = manifest.files.first { it.file == file }
            Manifest.checkFile(entry, context.assets.open(file).use { it.readBytes() })
        }
        loadInterpreters()
    }

    /** New options; the interpreters are rebuilt only when threads or the delegate change. */
    fun setOptions(newOptions: AnytimeOptions) {
        newOptions.rule(numSteps) // rejects out-of-range values before anything changes
        val rebuild = options.needsNewInterpreter(newOptions)
        options = newOptions
        if (rebuild) loadInterpreters()
    }

    private fun loadInterpreters() {
        val predicted = engine?.predictedMs()
        closeInterpreters()
        val runner = LiteRtStepRunner(mapAsset(anytimeFile), options)
        anytimeRunner = runner
        engine = AnytimeEngine(manifest, runner, Clock.SYSTEM) // checks signatures and slot shapes
        // Timings of other threads or delegates do not carry over: recalibrate.
        if (predicted != null) engine!!.setPredictedMs(DoubleArray(predicted.size))
    }

    private fun prefix(k: Int): PrefixClassifier = prefixes.getOrPut(k) {
        val file = prefixFiles[k] ?: throw IllegalArgumentException("no prefix file for k=$k; have $prefixSizes")
        val runner = LiteRtStepRunner(mapAsset(file), options)
        prefixRunners[k] = runner
        PrefixClassifier(manifest, manifest.files.first { it.file == file }, runner, Clock.SYSTEM)
    }

    /** The deadline rule's step predictions: 90th percentile over the bundled images. */
    fun calibrate(images: List<FloatArray>): DoubleArray = engine!!.calibrate(images)

    fun preprocess(bitmap: Bitmap): FloatArray = ImageInput.toModelInput(bitmap, manifest.input)

    /** One image under the current options; [listener] sees each leaf step as it finishes. */
    fun classify(image: FloatArray, listener: StepUpdate.Listener?): Result = when (options.mode) {
        Mode.ANYTIME -> engine!!.classify(image, options.rule(numSteps), listener)
        Mode.FIXED -> prefix(options.fixedK).classify(image).also { r -> listener?.let { r.updates.forEach(it::onStep) } }
    }

    /** The bundled images under the current options, and the progressive cost on the first. */
    fun benchmark(images: List<FloatArray>, labels: IntArray, runs: Int = 20): BenchmarkReport {
        val results = images.map { classify(it, null) }
        val summary = Benchmark.summarize(results, labels)
        val full = prefix(numSteps)
        val progressive = Benchmark.progressive(engine!!, full, Clock.SYSTEM, images[0], runs)
        val rule = if (options.mode == Mode.FIXED) "fixed k=${options.fixedK}" else options.rule(numSteps).describe()
        return BenchmarkReport(
            summary.images, rule, summary.meanLeaves, summary.meanMs, summary.accuracy,
            progressive.stepsMs, progressive.prefixMs, progressive.ratio, progressive.stepMs,
        )
    }

    /** The bundled test images, from assets/samples/samples.json. */
    fun samples(): List<Sample> {
        val meta = JSONObject(context.assets.open("samples/samples.json").bufferedReader().use { it.readText() })
        val list = meta.getJSONArray("samples")
        return (0 until list.length()).map { i ->
            val s = list.getJSONObject(i)
            val file = s.getString("file")
            val bitmap = context.assets.open("samples/$file").use { BitmapFactory.decodeStream(it) }
            Sample(file, s.getInt("label"), s.getString("label_name"), bitmap)
        }
    }

    /** Memory-maps an uncompressed asset (build.gradle.kts keeps .tflite uncompressed). */
    private fun mapAsset(name: String): ByteBuffer =
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).use { stream ->
                stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }

    private fun closeInterpreters() {
        anytimeRunner?.close()
        anytimeRunner = null
        engine = null
        prefixRunners.values.forEach { it.close() }
        prefixRunners.clear()
        prefixes.clear()
    }

    override fun close() = closeInterpreters()
}
