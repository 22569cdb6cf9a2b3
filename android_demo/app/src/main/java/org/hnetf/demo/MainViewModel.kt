package org.hnetf.demo

import android.app.Application
import android.graphics.Bitmap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import java.util.concurrent.Executors
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
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
    val status: String = "loading the model…",
    val busy: Boolean = true,
    val error: String? = null,
    val samples: List<Sample> = emptyList(),
    val image: Bitmap? = null,
    val imageCaption: String = "",
    val rows: List<StepRow> = emptyList(),
    val answer: String = "",
    val options: AnytimeOptions = AnytimeOptions(),
    val numSteps: Int = 0,
    val prefixSizes: List<Int> = emptyList(),
    val delegateUsed: String = "",
    val predictedMs: List<Double> = emptyList(),
    val benchmark: BenchmarkReport? = null,
)

/**
 * Runs the helper on one background thread (the interpreters are not thread-safe) and publishes
 * every leaf step to the screen as it finishes.
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val executor = Executors.newSingleThreadExecutor()
    private val worker = executor.asCoroutineDispatcher()
    private val helper = AnytimeClassifierHelper(application)
    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state

    init {
        work("loading the model…") {
            helper.init()
            val samples = helper.samples()
            val images = samples.map { helper.preprocess(it.bitmap) }
            val predicted = helper.calibrate(images)
            _state.update {
                it.copy(
                    samples = samples, numSteps = helper.numSteps, prefixSizes = helper.prefixSizes,
                    options = helper.options.copy(maxLeaves = null, fixedK = helper.prefixSizes.first()),
                    delegateUsed = helper.delegateUsed, predictedMs = predicted.toList(),
                )
            }
            helper.setOptions(_state.value.options)
        }
    }

    fun selectSample(sample: Sample) = classify(sample.bitmap, "bundled: ${sample.file} (label ${sample.labelName})")

    fun classify(bitmap: Bitmap, caption: String) {
        _state.update { it.copy(image = bitmap, imageCaption = caption, rows = emptyList(), answer = "") }
        work("classifying…") {
            val input = helper.preprocess(bitmap)
            val labels = helper.manifest.labels
            val result = helper.classify(input, StepUpdate.Listener { u -> publish(u, labels) })
            val best = labels[result.label]
            _state.update {
                it.copy(answer = "%s (p = %.3f) after %d of %d leaves, %.3f ms".format(
                    best, result.probabilities[result.label], result.steps, helper.numSteps, result.elapsedMs))
            }
        }
    }

    private fun publish(u: StepUpdate, labels: List<String>) {
        val top = u.top(3).map { labels[it] to u.probabilities[it] }
        val row = StepRow(u.steps, u.leaf, top, u.stepMs, u.elapsedMs)
        _state.update { it.copy(rows = it.rows + row) }
    }

    /**
     * New options from the controls. Rule values apply at once (sliders call this while dragging);
     * threads or delegate rebuild the interpreters and recalibrate, which the busy flag shows.
     */
    fun setOptions(options: AnytimeOptions) {
        val old = _state.value.options
        try {
            options.rule(_state.value.numSteps.coerceAtLeast(1))
        } catch (e: IllegalArgumentException) {
            _state.update { it.copy(error = e.message) }
            return
        }
        _state.update { it.copy(options = options, error = null) }
        if (!old.needsNewInterpreter(options)) {
            viewModelScope.launch(worker) { helper.setOptions(options) }
            return
        }
        work("loading interpreters…") {
            helper.setOptions(options)
            val images = _state.value.samples.map { helper.preprocess(it.bitmap) }
            val predicted = helper.calibrate(images)
            _state.update { it.copy(delegateUsed = helper.delegateUsed, predictedMs = predicted.toList()) }
        }
    }

    fun recalibrate() = work("calibrating…") {
        val images = _state.value.samples.map { helper.preprocess(it.bitmap) }
        val predicted = helper.calibrate(images)
        _state.update { it.copy(predictedMs = predicted.toList()) }
    }

    fun benchmark() = work("benchmarking…") {
        val samples = _state.value.samples
        val images = samples.map { helper.preprocess(it.bitmap) }
        val report = helper.benchmark(images, samples.map { it.label }.toIntArray())
        _state.update { it.copy(benchmark = report) }
    }

    /** Runs [block] on the worker; any exception becomes the screen's error line. */
    private fun work(status: String, block: suspend () -> Unit) {
        viewModelScope.launch {
            _state.update { it.copy(busy = true, status = status, error = null) }
            try {
                withContext(worker) { block() }
                _state.update { it.copy(busy = false, status = "ready") }
            } catch (e: Exception) {
                _state.update { it.copy(busy = false, status = "error", error = "${e.javaClass.simpleName}: ${e.message}") }
            }
        }
    }

    override fun onCleared() {
        // viewModelScope is already cancelled here: close the interpreters on their own thread.
        executor.execute { helper.close() }
        executor.shutdown()
    }
}
