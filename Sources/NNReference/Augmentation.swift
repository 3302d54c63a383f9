/// Keras's preprocessing and augmentation layers as plain loops, with the random per-image
/// parameters supplied by the caller (the oracle replays what the engine drew): resizing and
/// cropping (TensorFlow's half-pixel `resize`), flips, affine resampling as TensorFlow's
/// `ImageProjectiveTransformV3` does it (rotation, zoom, translation), contrast and brightness.
/// Every backward is the transpose of its forward (the parameters are not trained).

/// Keras's `fill_mode` for points sampled outside the image.
public enum RefFillMode: Sendable, Equatable { case reflect, constant, wrap, nearest }

extension Ref {
    // MARK: Resizing

    /// Source (lower, upper, lerp) for each of `out` outputs over `size` inputs starting at `offset`:
    /// half-pixel centres; nearest takes min(floor((i + ½)·size/out), size − 1).
    @inlinable
    static func resizeTaps<T: RefScalar>(out: Int, size: Int, offset: Int, bilinear: Bool, _: T.Type) -> [(Int, Int, T)] {
        let scale = T(size) / T(out)
        return (0..<out).map { i in
            if bilinear {
                let p = (T(i) + T(0.5)) * scale - T(0.5), f = p.rounded(.down)
                return (offset + max(Int(f), 0), offset + min(Int(p.rounded(.up)), size - 1), p - f)
            }
            let s = offset + max(0, min(Int(((T(i) + T(0.5)) * scale).rounded(.down)), size - 1))
            return (s, s, 0)
        }
    }

    /// `tf.image.resize` (antialias off) of the window (top, left, height, width) of each image to
    /// `height`×`width`; the window defaults to the whole image.
    @inlinable
    public static func resize<T: RefScalar>(_ x: RefTensor<T>, height: Int, width: Int, bilinear: Bool = true,
                                            window: (top: Int, left: Int, height: Int, width: Int)? = nil) -> RefTensor<T> {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let win = window ?? (0, 0, h, w)
        let rows = resizeTaps(out: height, size: win.height, offset: win.top, bilinear: bilinear, T.self)
        let cols = resizeTaps(out: width, size: win.width, offset: win.left, bilinear: bilinear, T.self)
        var y = RefTensor<T>(shape: [n, height, width, c])
        for b in 0..<n { for r in 0..<height { for q in 0..<width { for k in 0..<c {
            let (y0, y1, yl) = rows[r], (x0, x1, xl) = cols[q]
            func at(_ i: Int, _ j: Int) -> T { x.data[((b * h + i) * w + j) * c + k] }
            let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * xl
            let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * xl
            y.data[((b * height + r) * width + q) * c + k] = top + (bottom - top) * yl
        }}}}
        return y
    }

    /// Transpose of `resize`: each dY element split over its taps with the same weights.
    @inlinable
    public static func resizeBackward<T: RefScalar>(inputShape: [Int], bilinear: Bool = true,
                                                    window: (top: Int, left: Int, height: Int, width: Int)? = nil,
                                                    outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (height, width) = (dy.shape[1], dy.shape[2])
        let win = window ?? (0, 0, h, w)
        let rows = resizeTaps(out: height, size: win.height, offset: win.top, bilinear: bilinear, T.self)
        let cols = resizeTaps(out: width, size: win.width, offset: win.left, bilinear: bilinear, T.self)
        var dx = RefTensor<T>(shape: inputShape)
        for b in 0..<n { for r in 0..<height { for q in 0..<width { for k in 0..<c {
            let (y0, y1, yl) = rows[r], (x0, x1, xl) = cols[q]
            let g = dy.data[((b * height + r) * width + q) * c + k]
            func add(_ i: Int, _ j: Int, _ v: T) { dx.data[((b * h + i) * w + j) * c + k] += v }
            add(y0, x0, g * (1 - yl) * (1 - xl)); add(y0, x1, g * (1 - yl) * xl)
            add(y1, x0, g * yl * (1 - xl)); add(y1, x1, g * yl * xl)
        }}}}
        return dx
    }

    /// Keras `smart_resize`'s window: the largest centred crop with the target's aspect ratio.
    @inlinable
    public static func aspectCropWindow(height: Int, width: Int, targetHeight: Int, targetWidth: Int)
        -> (top: Int, left: Int, height: Int, width: Int) {
        let ch = max(min(height, width * targetHeight / targetWidth), 1)
        let cw = max(min(width, height * targetWidth / targetHeight), 1)
        return ((height - ch) / 2, (width - cw) / 2, ch, cw)
    }

    // MARK: Flip

    /// Flips image b along width (`horizontal`) and/or height (`vertical`) when `flips[b]`; its own transpose.
    @inlinable
    public static func flip<T: RefScalar>(_ x: RefTensor<T>, flips: [Bool], horizontal: Bool, vertical: Bool) -> RefTensor<T> {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = x
        for b in 0..<n where flips[b] { for i in 0..<h { for j in 0..<w { for k in 0..<c {
            let si = vertical ? h - 1 - i : i, sj = horizontal ? w - 1 - j : j
            y.data[((b * h + i) * w + j) * c + k] = x.data[((b * h + si) * w + sj) * c + k]
        }}}}
        return y
    }

    // MARK: Affine resampling

    /// Keras's rotation matrix (`_compute_affine_matrix`): about ((W−1)/2, (H−1)/2), counter-clockwise
    /// for positive degrees. Six numbers a0 a1 a2 b0 b1 b2: output (x, y) reads (a0x + a1y + a2, b0x + b1y + b2).
    @inlinable
    public static func rotationTransform<T: RefScalar>(degrees: T, height: Int, width: Int) -> [T] {
        let a = Double(degrees) * Double.pi / 180
        let c = T(_refCos(a)), s = T(_refSin(a))
        let cx = T(width - 1) / 2, cy = T(height - 1) / 2
        return [c, -s, cx - cx * c + cy * s, s, c, cy - cx * s - cy * c]
    }

    /// Keras's zoom matrix: x' = zx·x + (W−1)/2·(1 − zx), y' likewise with zy.
    @inlinable
    public static func zoomTransform<T: RefScalar>(heightZoom: T, widthZoom: T, height: Int, width: Int) -> [T] {
        [widthZoom, 0, T(width - 1) / 2 * (1 - widthZoom), 0, heightZoom, T(height - 1) / 2 * (1 - heightZoom)]
    }

    /// Keras's translation matrix: content moves `down` and `right` pixels.
    @inlinable
    public static func translationTransform<T: RefScalar>(down: T, right: T) -> [T] { [1, 0, -right, 0, 1, -down] }

    /// TensorFlow's `MapCoordinate`: where a source coordinate outside [0, len − 1] reads from.
    @inlinable
    public static func mapCoordinate<T: RefScalar>(_ coordinate: T, length: Int, mode: RefFillMode) -> T {
        let len = T(length)
        var c = coordinate
        switch mode {
        case .constant: return c
        case .nearest: break
        case .reflect:
            if c < 0 {
                if length <= 1 { c = 0 } else {
                    let sz2 = 2 * len
                    c = sz2 * (-c / sz2).rounded(.towardZero) + c
                    c = c < -len ? c + sz2 : -c - 1
                }
            } else if c > len - 1 {
                if length <= 1 { c = 0 } else {
                    let sz2 = 2 * len
                    c -= sz2 * (c / sz2).rounded(.towardZero)
                    if c >= len { c = sz2 - c - 1 }
                }
            }
        case .wrap:
            if c < 0 {
                if length <= 1 { c = 0 } else { c += len * ((-c / (len - 1)).rounded(.towardZero) + 1) }
            } else if c > len - 1 {
                if length <= 1 { c = 0 } else { c -= len * (c / (len - 1)).rounded(.towardZero) }
            }
        }
        return min(max(c, 0), len - 1)
    }

    /// The (row, column, weight) taps output (i, j) of an h×w image reads through `t`; taps outside
    /// the image are returned with row or column out of range (they read the fill value).
    @inlinable
    static func affineTaps<T: RefScalar>(_ t: [T], i: Int, j: Int, h: Int, w: Int, mode: RefFillMode, bilinear: Bool) -> [(Int, Int, T)] {
        let sx = mapCoordinate(t[0] * T(j) + t[1] * T(i) + t[2], length: w, mode: mode)
        let sy = mapCoordinate(t[3] * T(j) + t[4] * T(i) + t[5], length: h, mode: mode)
        func index(_ v: T) -> Int { v < -1 ? -1 : v > T(Int32.max) ? Int(Int32.max) : Int(v) }
        if !bilinear { return [(index(sy.rounded()), index(sx.rounded()), 1)] }
        let x0 = sx.rounded(.down), y0 = sy.rounded(.down)
        return [(index(y0), index(x0), (y0 + 1 - sy) * (x0 + 1 - sx)), (index(y0), index(x0 + 1), (y0 + 1 - sy) * (sx - x0)),
                (index(y0 + 1), index(x0), (sy - y0) * (x0 + 1 - sx)), (index(y0 + 1), index(x0 + 1), (sy - y0) * (sx - x0))]
    }

    /// Keras's `affine_transform` (TensorFlow's `ImageProjectiveTransformV3`, no projective part):
    /// image b resampled through `transforms[b]`, taps outside the image reading `fillValue`.
    @inlinable
    public static func affineTransform<T: RefScalar>(_ x: RefTensor<T>, transforms: [[T]], fillMode: RefFillMode,
                                                     fillValue: T = 0, bilinear: Bool = true) -> RefTensor<T> {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = RefTensor<T>(shape: x.shape)
        for b in 0..<n { for i in 0..<h { for j in 0..<w {
            for (r, q, weight) in affineTaps(transforms[b], i: i, j: j, h: h, w: w, mode: fillMode, bilinear: bilinear) {
                let inside = r >= 0 && r < h && q >= 0 && q < w
                for k in 0..<c {
                    y.data[((b * h + i) * w + j) * c + k] += weight * (inside ? x.data[((b * h + r) * w + q) * c + k] : fillValue)
                }
            }
        }}}
        return y
    }

    /// Transpose of `affineTransform`: dY goes back to the in-image taps with the same weights.
    @inlinable
    public static func affineTransformBackward<T: RefScalar>(transforms: [[T]], fillMode: RefFillMode, bilinear: Bool = true,
                                                             outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let (n, h, w, c) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
        var dx = RefTensor<T>(shape: dy.shape)
        for b in 0..<n { for i in 0..<h { for j in 0..<w {
            for (r, q, weight) in affineTaps(transforms[b], i: i, j: j, h: h, w: w, mode: fillMode, bilinear: bilinear)
            where r >= 0 && r < h && q >= 0 && q < w {
                for k in 0..<c { dx.data[((b * h + r) * w + q) * c + k] += weight * dy.data[((b * h + i) * w + j) * c + k] }
            }
        }}}
        return dx
    }

    // MARK: Contrast and brightness

    /// Keras `RandomContrast` with image b's factor `factors[b]`: clip((x − mean)·f + mean), the mean
    /// per image and channel over height and width.
    @inlinable
    public static func contrast<T: RefScalar>(_ x: RefTensor<T>, factors: [T], low: T, high: T) -> RefTensor<T> {
        let means = channelMeans(x)
        var y = x
        forEachElement(x.shape) { b, k, index in
            y.data[index] = min(max((x.data[index] - means[b][k]) * factors[b] + means[b][k], low), high)
        }
        return y
    }

    /// Gradient of `contrast`: g = dY where the unclipped value is within [low, high], then
    /// dX = f·g + (1 − f)·mean(g) per image and channel.
    @inlinable
    public static func contrastBackward<T: RefScalar>(_ x: RefTensor<T>, factors: [T], low: T, high: T,
                                                      outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let means = channelMeans(x)
        var g = dy
        forEachElement(x.shape) { b, k, index in
            let v = (x.data[index] - means[b][k]) * factors[b] + means[b][k]
            if v < low || v > high { g.data[index] = 0 }
        }
        let gMeans = channelMeans(g)
        var dx = g
        forEachElement(x.shape) { b, k, index in dx.data[index] = factors[b] * g.data[index] + (1 - factors[b]) * gMeans[b][k] }
        return dx
    }

    /// Keras `RandomBrightness` with image b's offset `deltas[b]` (in value units): clip(x + δ).
    @inlinable
    public static func brightness<T: RefScalar>(_ x: RefTensor<T>, deltas: [T], low: T, high: T) -> RefTensor<T> {
        var y = x
        forEachElement(x.shape) { b, _, index in y.data[index] = min(max(x.data[index] + deltas[b], low), high) }
        return y
    }

    /// Gradient of `brightness`: dY where low ≤ x + δ ≤ high, else 0.
    @inlinable
    public static func brightnessBackward<T: RefScalar>(_ x: RefTensor<T>, deltas: [T], low: T, high: T,
                                                        outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        var dx = dy
        forEachElement(x.shape) { b, _, index in
            let v = x.data[index] + deltas[b]
            if v < low || v > high { dx.data[index] = 0 }
        }
        return dx
    }

    /// Per image and channel, the mean over height and width.
    @inlinable
    static func channelMeans<T: RefScalar>(_ x: RefTensor<T>) -> [[T]] {
        let (n, c) = (x.shape[0], x.shape[3]), pixels = x.shape[1] * x.shape[2]
        var sums = [[T]](repeating: [T](repeating: 0, count: c), count: n)
        forEachElement(x.shape) { b, k, index in sums[b][k] += x.data[index] }
        return sums.map { $0.map { $0 / T(pixels) } }
    }

    /// Calls body(image, channel, flat index) for every element of an NHWC shape.
    @inlinable
    static func forEachElement(_ shape: [Int], _ body: (Int, Int, Int) -> Void) {
        let c = shape[3], perImage = shape[1] * shape[2] * c
        for b in 0..<shape[0] { for p in 0..<(perImage / c) { for k in 0..<c { body(b, k, b * perImage + p * c + k) } } }
    }
}

import Foundation
@inlinable func _refCos(_ x: Double) -> Double { Foundation.cos(x) }
@inlinable func _refSin(_ x: Double) -> Double { Foundation.sin(x) }
