package org.hnetf.demo

import android.util.Log
import android.util.Size
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import java.util.concurrent.Executors
import org.hnetf.anytime.FrameGate

/**
 * The live mode: CameraX's preview of the back camera, and an analysis stream classified frame by
 * frame. Frames come as RGBA_8888 at about 640x480 with STRATEGY_KEEP_ONLY_LATEST; the engine's
 * [FrameGate] admits one only while the worker is idle and the rest are closed unconverted, so the
 * answer is always for a recent frame. Each admitted frame is turned upright by CameraX's
 * rotationDegrees (the engine's Orientation), so the phone may be held any way.
 */
@Composable
fun LiveCamera(viewModel: MainViewModel, modifier: Modifier = Modifier) {
    val context = LocalContext.current
    val lifecycleOwner = LocalLifecycleOwner.current
    val providerFuture = remember { ProcessCameraProvider.getInstance(context) }
    val analysisExecutor = remember { Executors.newSingleThreadExecutor() }
    DisposableEffect(lifecycleOwner) {
        onDispose {
            if (providerFuture.isDone) providerFuture.get().unbindAll()
            analysisExecutor.shutdown()
        }
    }
    AndroidView(modifier = modifier, factory = { ctx ->
        val previewView = PreviewView(ctx).apply { scaleType = PreviewView.ScaleType.FILL_CENTER }
        providerFuture.addListener(Runnable {
            try {
                val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
                val analysis = ImageAnalysis.Builder()
                    .setResolutionSelector(
                        ResolutionSelector.Builder().setResolutionStrategy(
                            ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_LOWER_THEN_HIGHER)
                        ).build()
                    )
                    .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                    .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                    .build()
                analysis.setAnalyzer(analysisExecutor, ImageAnalysis.Analyzer { image ->
                    val ticket = viewModel.gate.tryAdmit()
                    if (ticket == FrameGate.DROPPED) {
                        image.close()
                        return@Analyzer
                    }
                    val picture = try {
                        Pictures.frame(image)
                    } catch (e: Exception) {
                        Log.w(TAG, "could not convert a camera frame", e)
                        viewModel.gate.finish(ticket)
                        null
                    } finally {
                        image.close()
                    }
                    picture?.let { viewModel.classifyFrame(it, ticket) }
                })
                val provider = providerFuture.get()
                provider.unbindAll()
                provider.bindToLifecycle(lifecycleOwner, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
            } catch (e: Exception) {  // no back camera, camera in use, ...
                Log.w(TAG, "live camera unavailable", e)
                viewModel.stopLive()
                viewModel.showError("live camera unavailable: ${e.message}")
            }
        }, ContextCompat.getMainExecutor(ctx))
        previewView
    })
}
