package org.hnetf.demo

import android.graphics.Bitmap
import org.hnetf.anytime.InputSpec

/**
 * Any picture -> the model's input: the centred square crop, scaled (bilinear) to the manifest's
 * width x height, then gray or RGB and normalized by the engine's [InputSpec].
 */
object ImageInput {
    fun toModelInput(bitmap: Bitmap, spec: InputSpec): FloatArray {
        val scaled = scaled(bitmap, spec.width, spec.height)
        val argb = IntArray(spec.width * spec.height)
        scaled.getPixels(argb, 0, spec.width, 0, 0, spec.width, spec.height)
        return spec.fromArgb(argb, spec.width, spec.height)
    }

    /** Centred crop to the target's aspect ratio, then scale; the bundled samples pass unchanged. */
    fun scaled(bitmap: Bitmap, width: Int, height: Int): Bitmap {
        if (bitmap.width == width && bitmap.height == height) {
            return bitmap.copy(Bitmap.Config.ARGB_8888, false)
        }
        val target = width.toFloat() / height
        var cropW = bitmap.width
        var cropH = bitmap.height
        if (cropW.toFloat() / cropH > target) cropW = (cropH * target).toInt() else cropH = (cropW / target).toInt()
        val cropped = Bitmap.createBitmap(bitmap, (bitmap.width - cropW) / 2, (bitmap.height - cropH) / 2, cropW, cropH)
        return Bitmap.createScaledBitmap(cropped, width, height, true).copy(Bitmap.Config.ARGB_8888, false)
    }
}
