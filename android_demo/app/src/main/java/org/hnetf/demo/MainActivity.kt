package org.hnetf.demo

import android.Manifest
import android.content.ActivityNotFoundException
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Log
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.compose.foundation.Image
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.WindowInsets
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawing
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.layout.windowInsetsPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Surface
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlin.math.roundToInt
import org.hnetf.anytime.AnytimeOptions
import org.hnetf.anytime.Delegate

class MainActivity : ComponentActivity() {
    private val viewModel: MainViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        // targetSdk 35: Android 15 draws the app under the status and navigation bars; the screen
        // pads itself by the safe-drawing insets (bars, cutout, keyboard).
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) { AnytimeScreen(viewModel) }
            }
        }
    }

    override fun onStop() {
        super.onStop()
        viewModel.stopLive()  // the camera is unbound with the screen; stale frames are not shown
    }
}

@Composable
fun AnytimeScreen(viewModel: MainViewModel) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    val gallery = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let { viewModel.classifyUri(it) }
    }
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicturePreview()) { bitmap ->
        bitmap?.let { viewModel.classifyBitmap(it, "camera picture") }
    }
    val permission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) viewModel.startLive() else viewModel.showError("the live mode needs the camera permission")
    }
    val hasCamera = context.packageManager.hasSystemFeature(PackageManager.FEATURE_CAMERA_ANY)
    val idle = state.ready && !state.busy
    LazyColumn(
        Modifier.fillMaxSize().windowInsetsPadding(WindowInsets.safeDrawing).padding(horizontal = 12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        item {
            Text("HNE anytime inference", style = MaterialTheme.typography.titleLarge)
            Text("${state.status} · ${state.runtime}", style = MaterialTheme.typography.bodySmall)
            state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            if (state.phase == org.hnetf.anytime.ClassifierSession.Phase.FAILED && !state.busy) {
                OutlinedButton(onClick = viewModel::load) { Text("Try loading again") }
            }
        }
        item {
            LazyRow(horizontalArrangement = Arrangement.spacedBy(6.dp)) {
                items(state.samples) { s ->
                    Image(
                        s.bitmap.asImageBitmap(), contentDescription = "sample: ${s.labelName}",
                        modifier = Modifier.size(56.dp).clickable(enabled = idle) { viewModel.selectSample(s) },
                        filterQuality = FilterQuality.None,
                    )
                }
            }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedButton(onClick = { gallery.launch("image/*") }, enabled = idle) { Text("Gallery") }
                OutlinedButton(
                    onClick = {
                        try {
                            camera.launch(null)
                        } catch (e: ActivityNotFoundException) {
                            Log.w(TAG, "no camera app", e)
                            viewModel.showError("no camera app on this phone to take a picture with")
                        }
                    },
                    enabled = idle && hasCamera,
                ) { Text("Camera") }
                Row(verticalAlignment = Alignment.CenterVertically) {
                    Text("Live")
                    Switch(
                        checked = state.live, enabled = state.ready && hasCamera && (state.live || !state.busy),
                        onCheckedChange = { on ->
                            when {
                                !on -> viewModel.stopLive()
                                ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) ==
                                    PackageManager.PERMISSION_GRANTED -> viewModel.startLive()
                                else -> permission.launch(Manifest.permission.CAMERA)
                            }
                        },
                    )
                }
            }
        }
        if (state.live) {
            item {
                LiveCamera(viewModel, Modifier.fillMaxWidth().height(240.dp))
                Text(state.liveStats, style = MaterialTheme.typography.bodySmall)
            }
        }
        item {
            Row(verticalAlignment = Alignment.CenterVertically) {
                state.image?.let {
                    Image(it.asImageBitmap(), contentDescription = "the picture", modifier = Modifier.size(112.dp))
                    Spacer(Modifier.size(8.dp))
                }
                state.seen?.let {
                    Image(it.asImageBitmap(), contentDescription = "what the model sees", modifier = Modifier.size(84.dp),
                        filterQuality = FilterQuality.None)
                    Spacer(Modifier.size(8.dp))
                }
                Column {
                    Text(state.imageCaption, style = MaterialTheme.typography.bodySmall)
                    if (state.seen != null) {
                        Text("right: what the model sees (trained on light garments on black)", style = MaterialTheme.typography.bodySmall)
                    }
                    Text(state.answer, style = MaterialTheme.typography.titleMedium)
                }
            }
        }
        items(state.rows) { row ->
            Column(Modifier.fillMaxWidth()) {
                Text("${row.steps} leaves (leaf ${row.leaf} added) · step %.3f ms · time used %.3f ms"
                    .format(row.stepMs, row.elapsedMs), style = MaterialTheme.typography.labelMedium)
                Text(row.top3.joinToString("   ") { (name, p) -> "%s %.3f".format(name, p) })
            }
        }
        item { Controls(state, viewModel) }
        item {
            Button(onClick = viewModel::benchmark, enabled = idle) { Text("Benchmark bundled images") }
            state.benchmark?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
            Spacer(Modifier.height(24.dp))
        }
    }
}

@Composable
private fun Chips(label: String, choices: List<String>, selected: String?, enabled: Boolean, onSelect: (String) -> Unit) {
    Row(horizontalArrangement = Arrangement.spacedBy(4.dp), verticalAlignment = Alignment.CenterVertically) {
        Text(label)
        choices.forEach { c ->
            FilterChip(selected = c == selected, enabled = enabled, onClick = { onSelect(c) }, label = { Text(c) })
        }
    }
}

@Composable
private fun Controls(state: UiState, viewModel: MainViewModel) {
    val options = state.options
    val n = state.numSteps.coerceAtLeast(1)
    val allMs = state.predictedMs.sum().coerceAtLeast(0.1)
    val enabled = state.ready && !state.busy
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Chips("model file:", state.precisions, options.precision, enabled) { viewModel.setOptions(options.withPrecision(it)) }
        Chips("delegate:", Delegate.values().map { it.name }, options.delegate.name, enabled) {
            viewModel.setOptions(options.withDelegate(Delegate.valueOf(it)))
        }
        Chips(
            "threads:", listOf("auto") + state.threadChoices.map { "$it" },
            if (options.autoThreads) "auto" else "${options.threads}", enabled,
        ) {
            viewModel.setOptions(if (it == "auto") options.withAutoThreads(state.autoThreads) else options.withThreads(it.toInt()))
        }
        Text(state.threadChoice, style = MaterialTheme.typography.bodySmall)
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text("anytime file")
            Switch(
                checked = options.mode == AnytimeOptions.Mode.FIXED, enabled = enabled,
                onCheckedChange = {
                    viewModel.setOptions(options.withMode(if (it) AnytimeOptions.Mode.FIXED else AnytimeOptions.Mode.ANYTIME))
                },
            )
            Text("fixed prefix file")
        }
        if (options.mode == AnytimeOptions.Mode.FIXED) {
            Chips("k:", state.prefixSizes.map { "$it" }, "${options.fixedK}", enabled) {
                viewModel.setOptions(options.withFixedK(it.toInt()))
            }
        } else {
            // Slider at its right end: no budget. Range: step 1's prediction up to 1.5x all steps'.
            val low = (state.predictedMs.firstOrNull() ?: 0.01).coerceAtLeast(0.01).toFloat()
            val high = (1.5 * allMs).toFloat().coerceAtLeast(low * 1.01f)
            val budget = options.timeBudgetMs
            Text(if (budget == null) "time budget: none" else "time budget: %.3f ms".format(budget))
            Slider(
                value = (budget ?: high.toDouble()).toFloat().coerceIn(low, high), valueRange = low..high,
                enabled = state.ready,
                onValueChange = { v ->
                    val none = v >= high * 0.999f
                    viewModel.setOptions(options.withTimeBudgetMs(if (none) null else v.toDouble()))
                },
            )
            Text("confidence threshold: %.3f%s".format(options.confidence, if (options.confidence >= 1.0) " (off)" else ""))
            Slider(
                value = options.confidence.toFloat(), valueRange = 0.3f..1f, enabled = state.ready,
                onValueChange = { viewModel.setOptions(options.withConfidence((it * 1000).roundToInt() / 1000.0)) },
            )
            val maxLeaves = options.maxLeaves ?: n
            Text("maximum leaves: $maxLeaves of $n")
            Slider(
                value = maxLeaves.toFloat(), valueRange = 1f..n.toFloat(), steps = (n - 2).coerceAtLeast(0),
                enabled = state.ready,
                onValueChange = { viewModel.setOptions(options.withMaxLeaves(it.roundToInt().coerceIn(1, n))) },
            )
        }
        Text(
            "predicted step ms (90th percentile): " + state.predictedMs.joinToString(" ") { "%.3f".format(it) },
            style = MaterialTheme.typography.bodySmall,
        )
        OutlinedButton(onClick = viewModel::recalibrate, enabled = enabled) { Text("Recalibrate") }
    }
}
