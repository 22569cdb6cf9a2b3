package org.hnetf.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import android.util.Log
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import java.util.concurrent.Executors
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.hnetf.anytime.AnytimeOptions
import org.hnetf.anytime.ClassifierSession
import org.hnetf.anytime.Clock
import org.hnetf.anytime.FrameGate
import org.hnetf.anytime.Orientation
import org.hnetf.anytime.Result
import org.hnetf.anytime.StepUpdate

/** One row of the refining answer: after [steps] leaves. */
data class StepRow(
    val steps: Int,
    val leaf: Int,
    val top3: List<Pair<String, Double>>,
    val stepMs: Double,
    val elapsedMs: Double,
)

data class UiState(
    val phase: ClassifierSession.Phase = ClassifierSession.Phase.NOT_LOADED,
    val status: String = "loading the model…",
    val busy: Boolean = true,
    val error: String? = null,
    val samples: List<Sample> = emptyList(),
    /** The picture, upright (downsampled for a photo). */
    val image: Bitmap? = null,
    /** What the model is given: the centred crop at its input size, gray for a gray model. */
    val seen: Bitmap? = null,
    val imageCaption: String = "",
    val rows: List<StepRow> = emptyList(),
    val answer: String = "",
    val options: AnytimeOptions = AnytimeOptions(),
    val numSteps: Int = 0,
    val prefixSizes: List<Int> = emptyList(),
    val precisions: List<String> = emptyList(),
    val threadChoices: List<Int> = listOf(1, 2, 4),
    /** The largest count the "auto" chip compares with 1 thread ([AnytimeOptions.defaultThreads]). */
    val autoThreads: Int = 2,
    /** What runs the anytime file, with any fallback and why. */
    val runtime: String = "",
    /** The thread count in use and, for "auto", what the session measured. */
    val threadChoice: String = "",
    val predictedMs: List<Double> = emptyList(),
    val benchmark: String? = null,
    val live: Boolean = false,
    val liveStats: String = "",
) {
    val ready: Boolean get() = phase == ClassifierSession.Phase.READY
}

/**
 * Runs the engine's session on one background thread (the interpreters are not thread-safe) and
 * publishes its status and every leaf step to the screen. Every error becomes the screen's error
 * line; what state follows an error is the session's decision.
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val executor = Executors.newSingleThreadExecutor()
    private val worker = executor.asCoroutineDispatcher()
    private val helper = AnytimeClassifierHelper(application)
    private val session get() = helper.session
    /** The live camera mode's latest-frame backpressure (the engine's policy). */
    val gate = FrameGate(Clock.SYSTEM, 0.0)
    private val cores = Runtime.getRuntime().availableProcessors()
    private val _state = MutableStateFlow(
        UiState(threadChoices = AnytimeOptions.threadChoices(cores), autoThreads = AnytimeOptions.defaultThreads(cores)),
    )
    val state: StateFlow<UiState> = _state

    init {
        load()
    }

    /** Loads the model (again, after a failure). */
    fun load() = work("loading the model…") {
        val st = helper.init(AnytimeOptions().withAutoThreads(AnytimeOptions.defaultThreads(cores)))
        apply(st)
        _state.update { it.copy(samples = helper.samples) }
        if (st.phase == ClassifierSession.Phase.FAILED) throw IllegalStateException("the model did not load: ${st.error}")
    }

    private fun apply(st: ClassifierSession.Status) = _state.update {
        it.copy(
            phase = st.phase, options = st.options, numSteps = st.numSteps, prefixSizes = st.prefixSizes,
            precisions = st.precisions, runtime = st.runtime, threadChoice = st.threadChoice,
            predictedMs = st.predictedMs.toList(),
        )
    }

    fun selectSample(sample: Sample) =
        classify(Picture(sample.pixels, Orientation.UPRIGHT), "bundled: ${sample.file} (label ${sample.labelName})")

    /** A gallery picture: decoded, downsampled and turned upright off the main thread. */
    fun classifyUri(uri: Uri) {
        stopLive()
        work("decoding…") {
            val picture = Pictures.decode(getApplication<Application>().contentResolver, uri)
            classifyNow(picture, "gallery image (EXIF: ${picture.orientation})")
        }
    }

    /** The camera app's still (a small upright preview bitmap). */
    fun classifyBitmap(bitmap: Bitmap, caption: String) {
        stopLive()
        classify(Picture(Pictures.pixels(bitmap), Orientation.UPRIGHT), caption)
    }

    private fun classify(picture: Picture, caption: String) {
        stopLive()
        work("classifying…") { classifyNow(picture, caption) }
    }

    /** On the worker: prepare, then classify with every leaf shown as it finishes. */
    private fun classifyNow(picture: Picture, caption: String) {
        val prepared = session.prepare(picture.pixels, picture.orientation)
        val upright = Pictures.bitmap(picture.orientation.apply(picture.pixels))
        _state.update {
            it.copy(image = upright, seen = Pictures.bitmap(prepared.seen), imageCaption = caption, rows = emptyList(), answer = "")
        }
        val labels = session.manifest().labels
        val result = session.classify(prepared.input, StepUpdate.Listener { u -> _state.update { it.copy(rows = it.rows + row(u, labels)) } })
        _state.update { it.copy(answer = answer(result, labels), runtime = session.status().runtime) }
    }

    private fun row(u: StepUpdate, labels: List<String>) =
        StepRow(u.steps, u.leaf, u.top(3).map { labels[it] to u.probabilities[it] }, u.stepMs, u.elapsedMs)

    private fun answer(r: Result, labels: List<String>) =
        "%s (p = %.3f) after %d of %d leaves, %.3f ms".format(
            labels[r.label], r.probabilities[r.label], r.steps, session.status().numSteps, r.elapsedMs)

    fun startLive() {
        if (!_state.value.ready) return
        gate.start()
        Log.i(TAG, "live camera on")
        _state.update { it.copy(live = true, liveStats = "", rows = emptyList(), answer = "", error = null) }
    }

    fun stopLive() {
        if (!gate.running()) return
        gate.stop()
        Log.i(TAG, "live camera off: ${gate.describe()}")
        _state.update { it.copy(live = false) }
    }

    /**
     * A camera frame the [gate] admitted (converted on the camera's thread); classified on the
     * worker. Only a frame still current when it finishes is shown.
     */
    fun classifyFrame(picture: Picture, ticket: Long) {
        viewModelScope.launch(worker) {
            var error: String? = null
            var shown: Triple<Bitmap, List<StepRow>, String>? = null
            try {
                val prepared = session.prepare(picture.pixels, picture.orientation)
                val labels = session.manifest().labels
                val result = session.classify(prepared.input, null)
                shown = Triple(Pictures.bitmap(prepared.seen), result.updates.map { row(it, labels) }, answer(result, labels))
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                Log.w(TAG, "live frame failed", e)
                error = describe(e)
            } finally {
                apply(session.status())
                if (!_state.value.ready) stopLive()  // nothing left to run the frames on
                val current = gate.finish(ticket)
                val stats = gate.describe()
                if (current) {
                    _state.update { s ->
                        shown?.let { (seen, rows, answer) ->
                            s.copy(seen = seen, image = null, imageCaption = "live camera", rows = rows, answer = answer,
                                liveStats = stats, error = null)
                        } ?: s.copy(error = error, liveStats = stats)
                    }
                }
            }
        }
    }

    /**
     * New options from the controls. Rule values apply at once (sliders call this while dragging);
     * a new precision, delegate or thread count rebuilds and recalibrates, which the busy flag
     * shows. If the session refuses, the screen goes back to the options it kept.
     */
    fun setOptions(options: AnytimeOptions) {
        val rebuild = _state.value.options.needsNewInterpreters(options)
        _state.update { it.copy(options = options) }
        if (!rebuild) {
            viewModelScope.launch(worker) {
                try {
                    apply(session.setOptions(options))
                    _state.update { it.copy(error = null) }
                } catch (e: Exception) {
                    _state.update { it.copy(options = session.options(), error = describe(e)) }
                }
            }
            return
        }
        stopLive()
        work("loading interpreters…") {
            try {
                apply(session.setOptions(options))
            } finally {
                val st = session.status()
                _state.update { it.copy(options = session.options(), runtime = st.runtime, threadChoice = st.threadChoice) }
            }
        }
    }

    fun recalibrate() = work("calibrating…") {
        session.recalibrate()
        apply(session.status())
    }

    fun benchmark() {
        stopLive()
        work("benchmarking…") {
            val samples = helper.samples
            val report = session.benchmark(helper.inputs(), samples.map { it.label }.toIntArray(), 20)
            _state.update { it.copy(benchmark = report.describe(session.status().numSteps), runtime = session.status().runtime) }
        }
    }

    /** An error that happened outside the worker (e.g. no camera app). */
    fun showError(message: String) = _state.update { it.copy(error = message) }

    /** Runs [block] on the worker; any exception becomes the screen's error line. */
    private fun work(status: String, block: suspend () -> Unit) {
        viewModelScope.launch {
            _state.update { it.copy(busy = true, status = status, error = null) }
            try {
                // The session's status afterwards, error or not: a failure may change its phase.
                withContext(worker) {
                    try {
                        block()
                    } finally {
                        apply(session.status())
                    }
                }
                _state.update { it.copy(busy = false, status = "ready") }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                Log.w(TAG, "$status failed", e)
                _state.update { it.copy(busy = false, status = if (it.ready) "ready" else "not loaded", error = describe(e)) }
            } catch (e: OutOfMemoryError) {
                Log.w(TAG, "$status ran out of memory", e)
                _state.update { it.copy(busy = false, status = "ready", error = "out of memory: ${e.message}") }
            }
        }
    }

    private fun describe(e: Throwable): String =
        if (e.message.isNullOrBlank()) e.javaClass.simpleName else "${e.javaClass.simpleName}: ${e.message}"

    override fun onCleared() {
        gate.stop()
        // viewModelScope is already cancelled here: close the interpreters on their own thread.
        executor.execute { helper.close() }
        executor.shutdown()
    }
}
