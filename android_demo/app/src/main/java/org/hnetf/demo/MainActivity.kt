package org.hnetf.demo

import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.compose.foundation.Image
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlin.math.roundToInt

class MainActivity : ComponentActivity() {
    private val viewModel: MainViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { AnytimeScreen(viewModel, ::decode) } }
    }

    private fun decode(uri: Uri): Bitmap =
        if (Build.VERSION.SDK_INT >= 28) {
            ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, _, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            }
        } else {
            @Suppress("DEPRECATION")
            MediaStore.Images.Media.getBitmap(contentResolver, uri)
        }
}

@Composable
fun AnytimeScreen(viewModel: MainViewModel, decode: (Uri) -> Bitmap) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    val gallery = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let { viewModel.classify(decode(it), "gallery image") }
    }
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicturePreview()) { bitmap ->
        bitmap?.let { viewModel.classify(it, "camera picture") }
    }
    val options = state.options
    LazyColumn(Modifier.fillMaxSize().padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Text("HNE anytime inference", style = MaterialTheme.typography.titleLarge)
            Text("${state.status} · ${state.delegateUsed}", style = MaterialTheme.typography.bodySmall)
            state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        }
        item {
            LazyRow(horizontalArrangement = Arrangement.spacedBy(6.dp)) {
                items(state.samples) { s ->
                    Image(
                        s.bitmap.asImageBitmap(), contentDescription = s.labelName,
                        modifier = Modifier.size(56.dp).clickable(enabled = !state.busy) { viewModel.selectSample(s) },
                        filterQuality = FilterQuality.None,
                    )
                }
            }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedButton(onClick = { gallery.launch("image/*") }, enabled = !state.busy) { Text("Gallery") }
                OutlinedButton(onClick = { camera.launch(null) }, enabled = !state.busy) { Text("Camera") }
            }
        }
        item {
            Row(verticalAlignment = Alignment.CenterVertically) {
                state.image?.let {
                    Image(it.asImageBitmap(), contentDescription = "input", modifier = Modifier.size(112.dp),
                        filterQuality = FilterQuality.None)
                }
                Spacer(Modifier.size(8.dp))
                Column {
                    Text(state.imageCaption, style = MaterialTheme.typography.bodySmall)
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
        item { Controls(state, options, viewModel) }
        item {
            Button(onClick = viewModel::benchmark, enabled = !state.busy) { Text("Benchmark bundled images") }
            state.benchmark?.let { b ->
                Text(
                    "${b.images} images, ${b.rule}: mean %.2f leaves, mean %.3f ms, accuracy %.1f%%\n".format(
                        b.meanLeaves, b.meanMs, b.accuracy * 100) +
                        "progressive cost: steps 1..${state.numSteps} %.3f ms vs k=${state.numSteps} file %.3f ms (ratio %.2f)"
                            .format(b.stepsMs, b.prefixMs, b.ratio),
                    style = MaterialTheme.typography.bodySmall,
                )
            }
            Spacer(Modifier.height(24.dp))
        }
    }
}

@Composable
private fun Controls(state: UiState, options: AnytimeOptions, viewModel: MainViewModel) {
    val n = state.numSteps.coerceAtLeast(1)
    val allMs = state.predictedMs.sum().coerceAtLeast(0.1)
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text("anytime file")
            Switch(
                checked = options.mode == Mode.FIXED, enabled = !state.busy,
                onCheckedChange = { viewModel.setOptions(options.copy(mode = if (it) Mode.FIXED else Mode.ANYTIME)) },
            )
            Text("fixed prefix file")
        }
        if (options.mode == Mode.FIXED) {
            Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                Text("k:", Modifier.align(Alignment.CenterVertically))
                state.prefixSizes.forEach { k ->
                    FilterChip(selected = options.fixedK == k, enabled = !state.busy,
                        onClick = { viewModel.setOptions(options.copy(fixedK = k)) }, label = { Text("$k") })
                }
            }
        } else {
            // Slider at its right end: no budget. Range up to 1.5x the predicted cost of all leaves.
            val budget = options.timeBudgetMs
            Text(if (budget == null) "time budget: none" else "time budget: %.3f ms".format(budget))
            Slider(
                value = (budget ?: (1.5 * allMs)).toFloat().coerceIn(0.01f * allMs.toFloat(), 1.5f * allMs.toFloat()),
                valueRange = (0.01f * allMs.toFloat())..(1.5f * allMs.toFloat()),
                enabled = !state.busy,
                onValueChange = { v ->
                    val none = v >= 1.5f * allMs.toFloat() * 0.999f
                    viewModel.setOptions(options.copy(timeBudgetMs = if (none) null else v.toDouble()))
                },
            )
            Text("confidence threshold: %.3f%s".format(options.confidence, if (options.confidence >= 1.0) " (off)" else ""))
            Slider(
                value = options.confidence.toFloat(), valueRange = 0.3f..1f, enabled = !state.busy,
                onValueChange = { viewModel.setOptions(options.copy(confidence = (it * 1000).roundToInt() / 1000.0)) },
            )
            val maxLeaves = options.maxLeaves ?: n
            Text("maximum leaves: $maxLeaves of $n")
            Slider(
                value = maxLeaves.toFloat(), valueRange = 1f..n.toFloat(), steps = (n - 2).coerceAtLeast(0),
                enabled = !state.busy,
                onValueChange = { viewModel.setOptions(options.copy(maxLeaves = it.roundToInt().coerceIn(1, n))) },
            )
        }
        Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
            Text("delegate:", Modifier.align(Alignment.CenterVertically))
            Delegate.values().forEach { d ->
                FilterChip(selected = options.delegate == d, enabled = !state.busy,
                    onClick = { viewModel.setOptions(options.copy(delegate = d)) }, label = { Text(d.name) })
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
            Text("threads:", Modifier.align(Alignment.CenterVertically))
            listOf(1, 2, 4).forEach { t ->
                FilterChip(selected = options.threads == t, enabled = !state.busy,
                    onClick = { viewModel.setOptions(options.copy(threads = t)) }, label = { Text("$t") })
            }
        }
        Text(
            "predicted step ms (90th percentile): " + state.predictedMs.joinToString(" ") { "%.3f".format(it) },
            style = MaterialTheme.typography.bodySmall,
        )
        OutlinedButton(onClick = viewModel::recalibrate, enabled = !state.busy) { Text("Recalibrate") }
    }
}
