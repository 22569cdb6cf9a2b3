package org.hnetf.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import android.os.Build
import androidx.camera.core.ImageProxy
import androidx.exifinterface.media.ExifInterface
import java.io.IOException
import org.hnetf.anytime.AnytimeException
import org.hnetf.anytime.DecodePlan
import org.hnetf.anytime.Orientation
import org.hnetf.anytime.Pixels

/** A picture as the engine takes it, with how to make it upright. */
class Picture(val pixels: Pixels, val orientation: Orientation)

/**
 * Bitmaps in and out of the engine's [Pixels]. All geometry (EXIF orientation, camera rotation,
 * crop, resize, sample size) is the engine's; this only moves pixels.
 */
object Pictures {
    /**
     * Decodes a picture from the gallery, on the caller's (background) thread. One path on every
     * API level: BitmapFactory never applies EXIF orientation (ImageDecoder on API 28+ does), so
     * reading the tag and rotating in the engine gives the same picture everywhere. A bounds-only
     * pass first gives the engine the size for its sample size, so a 12-Mpx photo is decoded at
     * about 1 Mpx.
     *
     * @throws AnytimeException or IOException, with a message for the screen
     */
    fun decode(resolver: ContentResolver, uri: Uri): Picture {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        open(resolver, uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        val sample = DecodePlan.sampleSize(bounds.outWidth, bounds.outHeight)
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        // null (not an exception) is how BitmapFactory reports a file it cannot decode.
        val bitmap = open(resolver, uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw AnytimeException("could not decode this ${bounds.outMimeType ?: "file"} (it may be damaged)")
        val tag = try {
            open(resolver, uri).use {
                ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
            }
        } catch (e: IOException) {
            ExifInterface.ORIENTATION_NORMAL  // no readable EXIF: taken as stored
        }
        return Picture(pixels(bitmap), Orientation.fromExif(tag))
    }

    private fun open(resolver: ContentResolver, uri: Uri) =
        resolver.openInputStream(uri) ?: throw IOException("could not open $uri")

    fun pixels(bitmap: Bitmap): Pixels {
        // getPixels converts any software config to ARGB; a hardware bitmap must be copied first.
        val hardware = Build.VERSION.SDK_INT >= 26 && bitmap.config == Bitmap.Config.HARDWARE  // API 26+
        val readable = if (hardware) bitmap.copy(Bitmap.Config.ARGB_8888, false) else bitmap
        val out = IntArray(readable.width * readable.height)
        readable.getPixels(out, 0, readable.width, 0, 0, readable.width, readable.height)
        return Pixels(out, readable.width, readable.height)
    }

    fun bitmap(pixels: Pixels): Bitmap =
        Bitmap.createBitmap(pixels.argb(), pixels.width, pixels.height, Bitmap.Config.ARGB_8888)

    /**
     * A CameraX frame (RGBA_8888 analysis output) as stored, and the rotation CameraX says makes it
     * upright. The caller closes the frame.
     */
    fun frame(image: ImageProxy): Picture =
        Picture(pixels(image.toBitmap()), Orientation.rotation(image.imageInfo.rotationDegrees))
}
