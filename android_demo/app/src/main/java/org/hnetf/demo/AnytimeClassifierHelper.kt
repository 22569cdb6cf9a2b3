package org.hnetf.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.util.Log
import org.hnetf.anytime.AnytimeOptions
import org.hnetf.anytime.ClassifierSession
import org.hnetf.anytime.Clock
import org.hnetf.anytime.EngineLog
import org.hnetf.anytime.ImagePrep
import org.hnetf.anytime.Manifest
import org.hnetf.anytime.Orientation
import org.hnetf.anytime.Pixels
import org.json.JSONObject

const val TAG = "HneAnytime"

/** The engine's log, into logcat (`adb logcat -s HneAnytime`). */
object AndroidLog : EngineLog {
    override fun log(level: EngineLog.Level, message: String, error: Throwable?) {
        when (level) {
            EngineLog.Level.DEBUG -> Log.d(TAG, message, error)
            EngineLog.Level.INFO -> Log.i(TAG, message, error)
            EngineLog.Level.WARN -> Log.w(TAG, message, error)
            EngineLog.Level.ERROR -> Log.e(TAG, message, error)
        }
    }
}

/** A bundled test image with its label (assets/samples/, written by fill_assets.py). */
class Sample(val file: String, val label: Int, val labelName: String, val bitmap: Bitmap, val pixels: Pixels)

/**
 * The app's side of the engine's [ClassifierSession], as the helper of LiteRT's image-classification
 * sample owns its interpreter: the assets, the LiteRT factory and the bundled samples. Every decision
 * (states, options, fallbacks, calibration) is the session's. Call it from one background thread.
 */
class AnytimeClassifierHelper(private val context: Context) : AutoCloseable {
    val session = ClassifierSession(LiteRtFactory(context), Clock.SYSTEM, AndroidLog)
    var samples: List<Sample> = emptyList()
        private set

    /** Loads and checks the export, builds the interpreters and calibrates on the samples; never throws. */
    fun init(options: AnytimeOptions): ClassifierSession.Status =
        session.init({ name -> context.assets.open(name).use { it.readBytes() } }, options) { manifest ->
            samples = loadSamples()
            inputs(manifest)
        }

    /** The samples as the model takes them (calibration and benchmark images). */
    fun inputs(manifest: Manifest = session.manifest()): List<FloatArray> =
        samples.map { ImagePrep.prepare(it.pixels, Orientation.UPRIGHT, manifest.input).input }

    private fun loadSamples(): List<Sample> {
        val meta = JSONObject(context.assets.open("samples/samples.json").bufferedReader().use { it.readText() })
        val list = meta.getJSONArray("samples")
        return (0 until list.length()).map { i ->
            val s = list.getJSONObject(i)
            val file = s.getString("file")
            val bitmap = context.assets.open("samples/$file").use { BitmapFactory.decodeStream(it) }
                ?: throw IllegalStateException("samples/$file could not be decoded")
            Sample(file, s.getInt("label"), s.getString("label_name"), bitmap, Pictures.pixels(bitmap))
        }
    }

    override fun close() = session.close()
}
