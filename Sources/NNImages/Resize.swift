import NN

/// How pixels are resampled to the target size (Keras's `interpolation`).
public enum Interpolation: String, Sendable {
    /// `tf.image.resize(method: "bilinear", antialias: false)`: half-pixel centres, Float32.
    case bilinear
    /// `tf.image.resize(method: "nearest")`: half-pixel centres, the floor of the source position.
    case nearest
}

/// The source window Keras's `smart_resize` (`crop_to_aspect_ratio=True`) keeps: the largest
/// centred crop with the target's aspect ratio.
public struct CropWindow: Equatable, Sendable {
    public var top: Int, left: Int, height: Int, width: Int

    /// The whole image, or its centred crop to `targetHeight : targetWidth` with Keras's integer rule.
    public init(imageHeight: Int, imageWidth: Int, targetHeight: Int, targetWidth: Int, crop: Bool) {
        guard crop else {
            (top, left, height, width) = (0, 0, imageHeight, imageWidth)
            return
        }
        let cropHeight = max(min(imageHeight, Int(Double(imageWidth * targetHeight) / Double(targetWidth))), 1)
        let cropWidth = max(min(imageWidth, Int(Double(imageHeight * targetWidth) / Double(targetHeight))), 1)
        top = Int(Double(imageHeight - cropHeight) / 2)
        left = Int(Double(imageWidth - cropWidth) / 2)
        height = cropHeight
        width = cropWidth
    }
}

/// Resizing with TensorFlow's arithmetic (`resize_bilinear_op.cc`, half-pixel centres): output
/// pixel y samples source row `(y + 0.5) · (in / out) − 0.5` in Float32, between rows
/// `max(floor, 0)` and `min(ceil, in − 1)`, lerped as `top + (bottom − top) · lerp`.
/// Per-column weights live in a reusable `ResizeScratch`, so resizing allocates nothing once warm.
final class ResizeScratch {
    var lower: [Int] = [], upper: [Int] = [], lerp: [Float] = []

    func prepare(_ count: Int) {
        if lower.count < count {
            lower = [Int](repeating: 0, count: count)
            upper = [Int](repeating: 0, count: count)
            lerp = [Float](repeating: 0, count: count)
        }
    }
}

enum Resampler {
    /// Source positions for `outSize` outputs over `inSize` inputs (TensorFlow's
    /// `compute_interpolation_weights` with `HalfPixelScaler`).
    @inline(__always)
    static func weight(_ i: Int, inSize: Int, scale: Float) -> (Int, Int, Float) {
        let position = (Float(i) + 0.5) * scale - 0.5
        let f = position.rounded(.down)
        return (max(Int(f), 0), min(Int(position.rounded(.up)), inSize - 1), position - f)
    }

    /// Resizes `window` of the `height`×`width`×`channels` bytes at `source` to `outHeight`×`outWidth`
    /// floats (0…255, unscaled, as Keras yields them) at `destination`.
    static func resize(_ source: UnsafePointer<UInt8>, width: Int, channels c: Int, window: CropWindow,
                       to destination: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int,
                       interpolation: Interpolation, scratch: ResizeScratch) {
        let yScale = Float(window.height) / Float(outHeight), xScale = Float(window.width) / Float(outWidth)
        let rowStride = width * c
        let origin = source + window.top * rowStride + window.left * c
        switch interpolation {
        case .nearest:
            for y in 0..<outHeight {
                let sy = min(Int(((Float(y) + 0.5) * yScale).rounded(.down)), window.height - 1)
                for x in 0..<outWidth {
                    let sx = min(Int(((Float(x) + 0.5) * xScale).rounded(.down)), window.width - 1)
                    let s = origin + sy * rowStride + sx * c, d = destination + (y * outWidth + x) * c
                    for k in 0..<c { d[k] = Float(s[k]) }
                }
            }
        case .bilinear:
            scratch.prepare(outWidth)
            for x in 0..<outWidth {
                let (l, u, t) = weight(x, inSize: window.width, scale: xScale)
                scratch.lower[x] = l * c
                scratch.upper[x] = u * c
                scratch.lerp[x] = t
            }
            scratch.lower.withUnsafeBufferPointer { xl in
                scratch.upper.withUnsafeBufferPointer { xu in
                    scratch.lerp.withUnsafeBufferPointer { xt in
                        for y in 0..<outHeight {
                            let (yl, yu, yt) = weight(y, inSize: window.height, scale: yScale)
                            let top = origin + yl * rowStride, bottom = origin + yu * rowStride
                            let d = destination + y * outWidth * c
                            for x in 0..<outWidth {
                                let l = xl[x], u = xu[x], t = xt[x]
                                for k in 0..<c {
                                    let topLeft = Float(top[l + k]), topRight = Float(top[u + k])
                                    let bottomLeft = Float(bottom[l + k]), bottomRight = Float(bottom[u + k])
                                    let upper = topLeft + (topRight - topLeft) * t
                                    let lower = bottomLeft + (bottomRight - bottomLeft) * t
                                    d[x * c + k] = upper + (lower - upper) * yt
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension DecodedImage {
    /// The image resized to `height`×`width` as a Float32 tensor `[height, width, channels]` of
    /// values 0…255 (Keras's `image_dataset_from_directory` pipeline: optional `smart_resize`
    /// centre crop, then `tf.image.resize`).
    public func resized(height outHeight: Int, width outWidth: Int, interpolation: Interpolation = .bilinear,
                        cropToAspectRatio: Bool = false) throws -> Tensor {
        guard outHeight > 0, outWidth > 0 else {
            throw NNError.invalidArgument("resize target \(outHeight)×\(outWidth) must be positive")
        }
        let result = try Tensor.validated(shape: [outHeight, outWidth, channels], what: "resized image")
        let window = CropWindow(imageHeight: height, imageWidth: width, targetHeight: outHeight, targetWidth: outWidth, crop: cropToAspectRatio)
        pixels.withUnsafeBufferPointer { p in
            Resampler.resize(p.baseAddress!, width: width, channels: channels, window: window, to: result.pointer,
                             outHeight: outHeight, outWidth: outWidth, interpolation: interpolation, scratch: ResizeScratch())
        }
        return result
    }
}
