/// Keras's core shape layers beyond the first set: average pooling (TensorFlow's `avg_pool`, whose
/// same padding averages only the pixels inside the image), global max pooling, up-sampling
/// (nearest repeats; bilinear is `resize`), cropping, channel dropout with a caller's mask, and
/// axis permutation. Each backward is the transpose of its forward.
extension Ref {
    /// y[n, oh, ow, c] = mean of x over the window's pixels inside the image.
    @inlinable
    public static func averagePool2D<T: RefScalar>(_ x: RefTensor<T>, pool: (Int, Int) = (2, 2), strides: (Int, Int)? = nil,
                                                   padding: RefPadding = .valid) -> RefTensor<T> {
        let g = WindowGeometry(input: x.shape, window: pool, strides: strides ?? pool, padding: padding)
        var y = RefTensor<T>(shape: [g.n, g.oh, g.ow, g.c])
        for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow { for c in 0..<g.c {
            let taps = averagePoolTaps(g, n, oh, ow)
            var sum: T = 0
            for t in taps { sum += x.data[t + c] }
            y.data[((n * g.oh + oh) * g.ow + ow) * g.c + c] = sum / T(taps.count)
        }}}}
        return y
    }

    @inlinable
    public static func averagePool2DBackward<T: RefScalar>(inputShape: [Int], pool: (Int, Int) = (2, 2), strides: (Int, Int)? = nil,
                                                           padding: RefPadding = .valid, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let g = WindowGeometry(input: inputShape, window: pool, strides: strides ?? pool, padding: padding)
        precondition(dy.shape == [g.n, g.oh, g.ow, g.c], "average-pool output gradient shape \(dy.shape), expected \([g.n, g.oh, g.ow, g.c])")
        var dx = RefTensor<T>(shape: inputShape)
        for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow { for c in 0..<g.c {
            let taps = averagePoolTaps(g, n, oh, ow)
            let share = dy.data[((n * g.oh + oh) * g.ow + ow) * g.c + c] / T(taps.count)
            for t in taps { dx.data[t + c] += share }
        }}}}
        return dx
    }

    /// Offsets (channel 0) of the window's pixels that lie inside the image.
    @inlinable
    static func averagePoolTaps(_ g: WindowGeometry, _ n: Int, _ oh: Int, _ ow: Int) -> [Int] {
        var taps: [Int] = []
        for kh in 0..<g.kh {
            let ih = oh * g.sh - g.padTop + kh
            if ih < 0 || ih >= g.h { continue }
            for kw in 0..<g.kw {
                let iw = ow * g.sw - g.padLeft + kw
                if iw >= 0 && iw < g.w { taps.append(g.inputOffset(n, ih, iw)) }
            }
        }
        return taps
    }

    /// y[n, c] = max over (h, w) of x[n, h, w, c] ([N, 1, 1, C] with `keepdims`).
    @inlinable
    public static func globalMaxPool2D<T: RefScalar>(_ x: RefTensor<T>, keepdims: Bool = false) -> RefTensor<T> {
        let (n, c) = (x.shape[0], x.shape[3]), pixels = x.shape[1] * x.shape[2]
        var y = RefTensor<T>(shape: keepdims ? [n, 1, 1, c] : [n, c])
        for i in 0..<n { for j in 0..<c { y.data[i * c + j] = x.data[(i * pixels + globalArgmax(x, i, j)) * c + j] } }
        return y
    }

    /// dY is split equally between the pixels equal to the channel's maximum (TensorFlow's
    /// `reduce_max` gradient).
    @inlinable
    public static func globalMaxPool2DBackward<T: RefScalar>(_ x: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let (n, c) = (x.shape[0], x.shape[3]), pixels = x.shape[1] * x.shape[2]
        var dx = RefTensor<T>(shape: x.shape)
        for i in 0..<n { for j in 0..<c {
            let m = x.data[(i * pixels + globalArgmax(x, i, j)) * c + j]
            let ties = (0..<pixels).filter { x.data[(i * pixels + $0) * c + j] == m }
            for p in ties { dx.data[(i * pixels + p) * c + j] = dy.data[i * c + j] / T(ties.count) }
        }}
        return dx
    }

    @inlinable
    static func globalArgmax<T: RefScalar>(_ x: RefTensor<T>, _ i: Int, _ j: Int) -> Int {
        let c = x.shape[3], pixels = x.shape[1] * x.shape[2]
        var best = 0
        for p in 1..<max(pixels, 1) where x.data[(i * pixels + p) * c + j] > x.data[(i * pixels + best) * c + j] { best = p }
        return best
    }

    /// Keras `UpSampling2D`: nearest repeats each row `size.0` and each column `size.1` times;
    /// bilinear is `resize` (half-pixel centres) to the larger size.
    @inlinable
    public static func upSample2D<T: RefScalar>(_ x: RefTensor<T>, size: (Int, Int), bilinear: Bool) -> RefTensor<T> {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if bilinear { return resize(x, height: h * size.0, width: w * size.1, bilinear: true) }
        let (oh, ow) = (h * size.0, w * size.1)
        var y = RefTensor<T>(shape: [n, oh, ow, c])
        for b in 0..<n { for r in 0..<oh { for q in 0..<ow { for k in 0..<c {
            y.data[((b * oh + r) * ow + q) * c + k] = x.data[((b * h + r / size.0) * w + q / size.1) * c + k]
        }}}}
        return y
    }

    /// Nearest: each input pixel sums its size.0 × size.1 copies' gradients; bilinear: `resizeBackward`.
    @inlinable
    public static func upSample2DBackward<T: RefScalar>(inputShape: [Int], size: (Int, Int), bilinear: Bool,
                                                        outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        if bilinear { return resizeBackward(inputShape: inputShape, bilinear: true, outputGradient: dy) }
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (h * size.0, w * size.1)
        var dx = RefTensor<T>(shape: inputShape)
        for b in 0..<n { for r in 0..<oh { for q in 0..<ow { for k in 0..<c {
            dx.data[((b * h + r / size.0) * w + q / size.1) * c + k] += dy.data[((b * oh + r) * ow + q) * c + k]
        }}}}
        return dx
    }

    /// Keras `Cropping2D`: drops `top`/`bottom` rows and `left`/`right` columns.
    @inlinable
    public static func crop2D<T: RefScalar>(_ x: RefTensor<T>, top: Int, bottom: Int, left: Int, right: Int) -> RefTensor<T> {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h - top - bottom, w - left - right)
        var y = RefTensor<T>(shape: [n, oh, ow, c])
        for b in 0..<n { for r in 0..<oh { for q in 0..<ow { for k in 0..<c {
            y.data[((b * oh + r) * ow + q) * c + k] = x.data[((b * h + r + top) * w + q + left) * c + k]
        }}}}
        return y
    }

    /// The gradient of `crop2D` is dY zero-padded back to the input's size.
    @inlinable
    public static func crop2DBackward<T: RefScalar>(inputShape: [Int], top: Int, left: Int, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let (h, w) = (inputShape[1], inputShape[2])
        return zeroPad2D(dy, top: top, bottom: h - dy.shape[1] - top, left: left, right: w - dy.shape[2] - left)
    }

    /// Keras `SpatialDropout2D` in training with the caller's mask `[N · C]` of 0/1:
    /// y[n, h, w, c] = x · mask[n, c] / (1 − rate). Its own backward (the same scaling of dY).
    @inlinable
    public static func spatialDropout2D<T: RefScalar>(_ x: RefTensor<T>, mask: [T], rate: T) -> RefTensor<T> {
        let (n, c) = (x.shape[0], x.shape[3]), pixels = x.shape[1] * x.shape[2]
        precondition(mask.count == n * c, "spatial dropout mask has \(mask.count) elements, expected \(n * c)")
        var y = x
        for b in 0..<n { for p in 0..<pixels { for k in 0..<c {
            y.data[(b * pixels + p) * c + k] *= mask[b * c + k] / (1 - rate)
        }}}
        return y
    }

    /// Keras `Permute(dims)`: output axis i (1-based, batch excluded) is input axis dims[i − 1].
    @inlinable
    public static func permute<T: RefScalar>(_ x: RefTensor<T>, dims: [Int]) -> RefTensor<T> {
        let axes = [0] + dims
        let outShape = axes.map { x.shape[$0] }
        var inStrides = [Int](repeating: 1, count: x.rank)
        for a in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[a] = inStrides[a + 1] * x.shape[a + 1] }
        var y = RefTensor<T>(shape: outShape)
        for o in 0..<y.count {
            var rest = o, offset = 0
            for a in (0..<outShape.count).reversed() {
                offset += (rest % outShape[a]) * inStrides[axes[a]]
                rest /= outShape[a]
            }
            y.data[o] = x.data[offset]
        }
        return y
    }

    /// The gradient of `permute` is dY permuted back by the inverse permutation.
    @inlinable
    public static func permuteBackward<T: RefScalar>(dims: [Int], outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        var inverse = [Int](repeating: 0, count: dims.count)
        for (i, d) in dims.enumerated() { inverse[d - 1] = i + 1 }
        return permute(dy, dims: inverse)
    }
}
