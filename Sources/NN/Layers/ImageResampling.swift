import Foundation

/// How a resampling layer reads between pixels (Keras's `interpolation`).
public enum ImageInterpolation: String, Sendable, CaseIterable {
    case bilinear
    case nearest
}

/// How an affine augmentation fills points that fall outside the input (Keras's `fill_mode`,
/// TensorFlow's `ImageProjectiveTransformV3`), shown on a row `a b c d`:
/// reflect `d c b a | a b c d | d c b a`, constant `k k k k | a b c d | k k k k` (k = `fillValue`),
/// wrap `a b c d | a b c d | a b c d`, nearest `a a a a | a b c d | d d d d`.
public enum FillMode: String, Sendable, CaseIterable {
    case reflect
    case constant
    case wrap
    case nearest
}

/// A Keras augmentation `factor`: one number (Keras then picks a symmetric range, or a layer's own
/// rule) or a `[lower, upper]` pair. Written as a literal: `0.1` or `[-0.2, 0.3]`.
public struct AugmentationFactor: Equatable, Sendable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
                                  ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The numbers as given: one, or two (a layer refuses any other count when built).
    public let values: [Float]

    public init(_ value: Float) { values = [value] }
    public init(_ lower: Float, _ upper: Float) { values = [lower, upper] }
    public init(floatLiteral value: Float) { values = [value] }
    public init(integerLiteral value: Int) { values = [Float(value)] }
    public init(arrayLiteral elements: Float...) { values = elements }

    /// True when the factor was one number.
    public var isSingle: Bool { values.count == 1 }

    /// Keras's `_set_factor`: a pair sorted, one number f as (max(−|f|, floor), |f|).
    public func range(floor: Float = -.infinity) -> (lower: Float, upper: Float) {
        if values.count == 1 { return (max(-abs(values[0]), floor), abs(values[0])) }
        return (min(values[0], values[1]), max(values[0], values[1]))
    }

    /// Refuses a factor that is not one or two finite numbers inside `bounds` (Keras's message names
    /// the layer's allowed range). `lowerOpen`: RandomZoom's −1 is excluded (a zoom of 0).
    func validate(_ key: String, bounds: ClosedRange<Float>, lowerOpen: Bool = false, layer: String) throws {
        let ok = (1...2).contains(values.count) && values.allSatisfy {
            $0.isFinite && bounds.contains($0) && !(lowerOpen && $0 == bounds.lowerBound)
        }
        guard ok else {
            let open = lowerOpen ? "(" : "["
            throw NNError.invalidArgument("layer \(layer): \(key) must be a number or a [lower, upper] pair in \(open)\(bounds.lowerBound), \(bounds.upperBound)], got \(self)")
        }
    }

    public var description: String { values.count == 1 ? "\(values[0])" : "\(values)" }
}

/// TensorFlow's `MapCoordinate` for each fill mode: where an out-of-range source coordinate reads
/// from, in Float32 as `image_ops.h` computes it (constant leaves it alone; the read then fills).
@inline(__always)
func mapCoordinate(_ coordinate: Float, _ length: Int, _ mode: FillMode) -> Float {
    let len = Float(length)
    var c = coordinate
    switch mode {
    case .constant:
        return c
    case .nearest:
        break
    case .reflect:
        if c < 0 {
            if length <= 1 { c = 0 } else {
                let size2 = 2 * len
                if c < size2 { c = size2 * (-c / size2).rounded(.towardZero) + c }
                c = c < -len ? c + size2 : -c - 1
            }
        } else if c > len - 1 {
            if length <= 1 { c = 0 } else {
                let size2 = 2 * len
                c -= size2 * (c / size2).rounded(.towardZero)
                if c >= len { c = size2 - c - 1 }
            }
        }
    case .wrap:
        if c < 0 {
            if length <= 1 { c = 0 } else {
                let size = len - 1
                c += len * ((-c / size).rounded(.towardZero) + 1)
            }
        } else if c > len - 1 {
            if length <= 1 { c = 0 } else {
                let size = len - 1
                c -= len * (c / size).rounded(.towardZero)
            }
        }
    }
    return min(max(c, 0), len - 1)
}

/// What an affine sampler needs per image: the 2×3 inverse transform that takes an output pixel
/// (x, y) to the source point (a0·x + a1·y + a2, b0·x + b1·y + b2) — Keras's `affine_transform`
/// matrix without its projective row, six floats per image.
struct AffineGeometry {
    let height: Int, width: Int, channels: Int
    let fillMode: FillMode
    let interpolation: ImageInterpolation
    let fillValue: Float

    /// Calls `tap(offset, weight)` for every in-image source pixel output (x, y) reads and returns
    /// the weight that falls outside (reads `fillValue`). Offsets are pixel indices in the image.
    @inline(__always)
    func taps(_ t: UnsafePointer<Float>, x: Int, y: Int, _ tap: (Int, Float) -> Void) -> Float {
        let fx = Float(x), fy = Float(y)
        let sx = mapCoordinate(t[0] * fx + t[1] * fy + t[2], width, fillMode)
        let sy = mapCoordinate(t[3] * fx + t[4] * fy + t[5], height, fillMode)
        let w = Float(width), h = Float(height)
        var outside: Float = 0
        switch interpolation {
        case .nearest:
            let rx = sx.rounded(), ry = sy.rounded()
            if rx >= 0 && rx < w && ry >= 0 && ry < h { tap(Int(ry) * width + Int(rx), 1) } else { outside = 1 }
        case .bilinear:
            // TensorFlow's bilinear_interpolation: floor and floor + 1, each tap outside reads the fill.
            let x0 = sx.rounded(.down), y0 = sy.rounded(.down), x1 = x0 + 1, y1 = y0 + 1
            let wx0 = x1 - sx, wx1 = sx - x0, wy0 = y1 - sy, wy1 = sy - y0
            let xin0 = x0 >= 0 && x0 < w, xin1 = x1 >= 0 && x1 < w
            let yin0 = y0 >= 0 && y0 < h, yin1 = y1 >= 0 && y1 < h
            if yin0 {
                let row = Int(y0) * width
                if xin0 { tap(row + Int(x0), wy0 * wx0) } else { outside += wy0 * wx0 }
                if xin1 { tap(row + Int(x1), wy0 * wx1) } else { outside += wy0 * wx1 }
            } else { outside += wy0 * (wx0 + wx1) }
            if yin1 {
                let row = Int(y1) * width
                if xin0 { tap(row + Int(x0), wy1 * wx0) } else { outside += wy1 * wx0 }
                if xin1 { tap(row + Int(x1), wy1 * wx1) } else { outside += wy1 * wx1 }
            } else { outside += wy1 * (wx0 + wx1) }
        }
        return outside
    }
}

/// Forward affine sampling over part of the batch: y = Σ weight · x[tap] + outside · fillValue.
/// TensorFlow sums the four taps as (x-lerp of the top row)·wy0 + (… bottom row)·wy1; here each tap
/// carries wy·wx, equal up to Float32 rounding (~1e-7 relative).
struct AffineForwardPart: ParallelWork {
    let geometry: AffineGeometry
    let images: Int
    let transforms: UnsafeMutablePointer<Float>
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let g = geometry, c = g.channels, imageSize = g.height * g.width * c
        for n in Parallel.range(part, of: parts, count: images) {
            let src = UnsafePointer(x + n * imageSize), t = UnsafePointer(transforms + 6 * n)
            var dst = y + n * imageSize
            for oy in 0..<g.height {
                for ox in 0..<g.width {
                    for k in 0..<c { dst[k] = 0 }
                    let d = dst
                    let outside = g.taps(t, x: ox, y: oy) { offset, weight in
                        let s = src + offset * c
                        for k in 0..<c { d[k] += weight * s[k] }
                    }
                    if outside != 0 { for k in 0..<c { dst[k] += outside * g.fillValue } }
                    dst += c
                }
            }
        }
    }
}

/// The transpose of `AffineForwardPart`: each output gradient goes back to the taps it was read
/// from, with the same weights (the fill's share has no input).
struct AffineBackwardPart: ParallelWork {
    let geometry: AffineGeometry
    let images: Int
    let transforms: UnsafeMutablePointer<Float>
    let dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let g = geometry, c = g.channels, imageSize = g.height * g.width * c
        for n in Parallel.range(part, of: parts, count: images) {
            let d = dx + n * imageSize, t = UnsafePointer(transforms + 6 * n)
            d.update(repeating: 0, count: imageSize)
            var src = UnsafePointer(dy + n * imageSize)
            for oy in 0..<g.height {
                for ox in 0..<g.width {
                    let s = src
                    _ = g.taps(t, x: ox, y: oy) { offset, weight in
                        let p = d + offset * c
                        for k in 0..<c { p[k] += weight * s[k] }
                    }
                    src += c
                }
            }
        }
    }
}

/// TensorFlow's `resize_bilinear` / `resize_nearest_neighbor` (half-pixel centres, no antialias)
/// from a window of the input: per output row and column the source rows/columns and weights.
struct ResizeGeometry {
    let inHeight: Int, inWidth: Int, channels: Int
    let top: Int, left: Int, cropHeight: Int, cropWidth: Int
    let outHeight: Int, outWidth: Int
    let interpolation: ImageInterpolation
    /// Per output row: (lower row, upper row, lerp); per output column likewise (absolute indices).
    let rows: [(Int, Int, Float)], columns: [(Int, Int, Float)]

    init(inHeight: Int, inWidth: Int, channels: Int, top: Int, left: Int, cropHeight: Int, cropWidth: Int,
         outHeight: Int, outWidth: Int, interpolation: ImageInterpolation) {
        (self.inHeight, self.inWidth, self.channels) = (inHeight, inWidth, channels)
        (self.top, self.left, self.cropHeight, self.cropWidth) = (top, left, cropHeight, cropWidth)
        (self.outHeight, self.outWidth, self.interpolation) = (outHeight, outWidth, interpolation)
        rows = Self.weights(out: outHeight, in: cropHeight, offset: top, interpolation)
        columns = Self.weights(out: outWidth, in: cropWidth, offset: left, interpolation)
    }

    /// `compute_interpolation_weights` with `HalfPixelScaler` (bilinear: position (i + ½)·in/out − ½,
    /// rows max(floor, 0) and min(ceil, in − 1)), or nearest's min(floor((i + ½)·in/out), in − 1)
    /// (lerp 0, both rows the same).
    static func weights(out: Int, in size: Int, offset: Int, _ interpolation: ImageInterpolation) -> [(Int, Int, Float)] {
        let scale = Float(size) / Float(out)
        return (0..<out).map { i in
            switch interpolation {
            case .bilinear:
                let p = (Float(i) + 0.5) * scale - 0.5, f = p.rounded(.down)
                return (offset + max(Int(f), 0), offset + min(Int(p.rounded(.up)), size - 1), p - f)
            case .nearest:
                let s = offset + max(min(Int(((Float(i) + 0.5) * scale).rounded(.down)), size - 1), 0)
                return (s, s, 0)
            }
        }
    }

    /// The plain crop (no resampling) when the window is the output's size.
    var isCrop: Bool { cropHeight == outHeight && cropWidth == outWidth }
}

/// Resize forward over part of the batch (`top + (bottom − top)·ylerp` of the x-lerped rows, as TensorFlow).
struct ResizeForwardPart: ParallelWork {
    let g: ResizeGeometry
    let images: Int
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = g.channels, inSize = g.inHeight * g.inWidth * c, outSize = g.outHeight * g.outWidth * c
        let rowStride = g.inWidth * c
        g.rows.withUnsafeBufferPointer { rows in
        g.columns.withUnsafeBufferPointer { cols in
            for n in Parallel.range(part, of: parts, count: images) {
                let src = x + n * inSize, dst = y + n * outSize
                if g.isCrop {
                    for r in 0..<g.outHeight {
                        (dst + r * g.outWidth * c).update(from: src + (g.top + r) * rowStride + g.left * c, count: g.outWidth * c)
                    }
                    continue
                }
                for r in 0..<g.outHeight {
                    let (y0, y1, yl) = rows[r]
                    let topRow = src + y0 * rowStride, bottomRow = src + y1 * rowStride
                    let d = dst + r * g.outWidth * c
                    for col in 0..<g.outWidth {
                        let (x0, x1, xl) = cols[col]
                        let a = x0 * c, b = x1 * c
                        for k in 0..<c {
                            let top = topRow[a + k] + (topRow[b + k] - topRow[a + k]) * xl
                            let bottom = bottomRow[a + k] + (bottomRow[b + k] - bottomRow[a + k]) * xl
                            d[col * c + k] = top + (bottom - top) * yl
                        }
                    }
                }
            }
        }}
    }
}

/// The transpose of `ResizeForwardPart`: each output gradient split over its four taps with the
/// bilinear weights (or routed to its one nearest pixel, or placed back into the crop window).
struct ResizeBackwardPart: ParallelWork {
    let g: ResizeGeometry
    let images: Int
    let dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = g.channels, inSize = g.inHeight * g.inWidth * c, outSize = g.outHeight * g.outWidth * c
        let rowStride = g.inWidth * c
        g.rows.withUnsafeBufferPointer { rows in
        g.columns.withUnsafeBufferPointer { cols in
            for n in Parallel.range(part, of: parts, count: images) {
                let d = dx + n * inSize, s = dy + n * outSize
                d.update(repeating: 0, count: inSize)
                if g.isCrop {
                    for r in 0..<g.outHeight {
                        (d + (g.top + r) * rowStride + g.left * c).update(from: s + r * g.outWidth * c, count: g.outWidth * c)
                    }
                    continue
                }
                for r in 0..<g.outHeight {
                    let (y0, y1, yl) = rows[r]
                    let topRow = d + y0 * rowStride, bottomRow = d + y1 * rowStride
                    let grad = s + r * g.outWidth * c
                    for col in 0..<g.outWidth {
                        let (x0, x1, xl) = cols[col]
                        let a = x0 * c, b = x1 * c
                        for k in 0..<c {
                            let v = grad[col * c + k]
                            let top = v * (1 - yl), bottom = v * yl
                            topRow[a + k] += top * (1 - xl); topRow[b + k] += top * xl
                            bottomRow[a + k] += bottom * (1 - xl); bottomRow[b + k] += bottom * xl
                        }
                    }
                }
            }
        }}
    }
}

/// Keras's `smart_resize` window (`crop_to_aspect_ratio=True`): the largest centred crop of the
/// input with the target's aspect ratio, sizes truncated as Keras's integer arithmetic does.
func aspectCropWindow(height: Int, width: Int, targetHeight: Int, targetWidth: Int) -> (top: Int, left: Int, height: Int, width: Int) {
    let cropHeight = max(min(height, Int(Float(width * targetHeight) / Float(targetWidth))), 1)
    let cropWidth = max(min(width, Int(Float(height * targetWidth) / Float(targetHeight))), 1)
    return ((height - cropHeight) / 2, (width - cropWidth) / 2, cropHeight, cropWidth)
}

extension Layer {
    /// The (height, width, channels) of an image layer's input, or an error naming the layer.
    func imageShape(_ inputShape: [Int]) throws -> (Int, Int, Int) {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) expects images [height, width, channels] (NHWC), got per-sample shape \(inputShape)")
        }
        return (inputShape[0], inputShape[1], inputShape[2])
    }
}
