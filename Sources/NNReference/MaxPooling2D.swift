/// Max pooling over NHWC windows (Keras `MaxPooling2D`), forward and backward.
///
/// Padded positions never win (they count as −∞). Ties go to the FIRST maximal element in scan
/// order (kh outer, kw inner), which is what the backward pass routes the gradient to; the engine
/// must make the same choice for the oracle comparison to be exact.
extension Ref {
    /// y[n, oh, ow, c] = max over the (ph, pw) window of x; `strides` defaults to the pool size.
    @inlinable
    public static func maxPool2D<T: RefScalar>(_ x: RefTensor<T>, pool: (Int, Int) = (2, 2), strides: (Int, Int)? = nil,
                                               padding: RefPadding = .valid) -> RefTensor<T> {
        let g = WindowGeometry(input: x.shape, window: pool, strides: strides ?? pool, padding: padding)
        var y = RefTensor<T>(shape: [g.n, g.oh, g.ow, g.c])
        x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow { for c in 0..<g.c {
                yp[((n * g.oh + oh) * g.ow + ow) * g.c + c] = xp[poolArgmax(xp, g, n, oh, ow, c)]
            }}}}
        }}
        return y
    }

    /// Gradient of `maxPool2D`: each dY element is added to the first maximal input of its window;
    /// overlapping windows accumulate.
    @inlinable
    public static func maxPool2DBackward<T: RefScalar>(_ x: RefTensor<T>, pool: (Int, Int) = (2, 2), strides: (Int, Int)? = nil,
                                                       padding: RefPadding = .valid,
                                                       outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        let g = WindowGeometry(input: x.shape, window: pool, strides: strides ?? pool, padding: padding)
        precondition(dy.shape == [g.n, g.oh, g.ow, g.c], "max-pool output gradient shape \(dy.shape), expected \([g.n, g.oh, g.ow, g.c])")
        var dx = RefTensor<T>(shape: x.shape)
        x.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
            for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow { for c in 0..<g.c {
                dxp[poolArgmax(xp, g, n, oh, ow, c)] += dyp[((n * g.oh + oh) * g.ow + ow) * g.c + c]
            }}}}
        }}}
        return dx
    }

    /// Offset in x of the first maximal element of window (n, oh, ow) in channel c.
    @inlinable
    static func poolArgmax<T: RefScalar>(_ xp: UnsafeBufferPointer<T>, _ g: WindowGeometry,
                                         _ n: Int, _ oh: Int, _ ow: Int, _ c: Int) -> Int {
        var best = -T.infinity
        var bestIndex = -1
        for kh in 0..<g.kh {
            let ih = oh * g.sh - g.padTop + kh
            if ih < 0 || ih >= g.h { continue }
            for kw in 0..<g.kw {
                let iw = ow * g.sw - g.padLeft + kw
                if iw < 0 || iw >= g.w { continue }
                let index = g.inputOffset(n, ih, iw) + c
                if bestIndex < 0 || xp[index] > best { best = xp[index]; bestIndex = index }
            }
        }
        precondition(bestIndex >= 0, "max-pool window (\(oh), \(ow)) lies entirely in the padding")
        return bestIndex
    }
}
