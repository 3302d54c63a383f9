/// Direct depthwise 2-D convolution (Keras `DepthwiseConv2D`): each input channel c has its own
/// M filters, and output channel c·M + m sees only input channel c.
extension Ref {
    /// y[n, oh, ow, c·M + m] = b[c·M + m] + Σ_{kh, kw} x[n, ih, iw, c] · k[kh, kw, c, m],
    /// for x [N, H, W, C] and kernel [KH, KW, C, M] (M = depth multiplier); output [N, OH, OW, C·M].
    @inlinable
    public static func depthwiseConv2D<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, bias: [T]? = nil,
                                                     strides: (Int, Int) = (1, 1),
                                                     padding: RefPadding = .valid) -> RefTensor<T> {
        let (g, m) = convGeometry(x, kernel: kernel, strides: strides, padding: padding)
        let f = g.c * m
        if let bias { precondition(bias.count == f, "depthwise bias has \(bias.count) elements, outputs are \(f)") }
        var y = RefTensor<T>(shape: [g.n, g.oh, g.ow, f])
        x.data.withUnsafeBufferPointer { xp in
        kernel.data.withUnsafeBufferPointer { kp in
        y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow {
                let yRow = ((n * g.oh + oh) * g.ow + ow) * f
                if let bias { for j in 0..<f { yp[yRow + j] = bias[j] } }
                for kh in 0..<g.kh {
                    let ih = oh * g.sh - g.padTop + kh
                    if ih < 0 || ih >= g.h { continue }
                    for kw in 0..<g.kw {
                        let iw = ow * g.sw - g.padLeft + kw
                        if iw < 0 || iw >= g.w { continue }
                        let xRow = g.inputOffset(n, ih, iw)
                        let kTap = (kh * g.kw + kw) * f     // [C, M] at this tap, same order as the output row
                        for j in 0..<f { yp[yRow + j] += xp[xRow + j / m] * kp[kTap + j] }
                    }
                }
            }}}
        }}}
        return y
    }

    /// Gradients of `depthwiseConv2D` given dY [N, OH, OW, C·M]: dX, dKernel [KH, KW, C, M] and
    /// dBias [C·M] (nil when `hasBias` is false).
    @inlinable
    public static func depthwiseConv2DBackward<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, hasBias: Bool = false,
                                                             strides: (Int, Int) = (1, 1), padding: RefPadding = .valid,
                                                             outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, kernel: RefTensor<T>, bias: [T]?) {
        let (g, m) = convGeometry(x, kernel: kernel, strides: strides, padding: padding)
        let f = g.c * m
        precondition(dy.shape == [g.n, g.oh, g.ow, f], "depthwise output gradient shape \(dy.shape), expected \([g.n, g.oh, g.ow, f])")
        var dx = RefTensor<T>(shape: x.shape)
        var dk = RefTensor<T>(shape: kernel.shape)
        var db = [T](repeating: 0, count: f)
        x.data.withUnsafeBufferPointer { xp in
        kernel.data.withUnsafeBufferPointer { kp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
        dk.data.withUnsafeMutableBufferPointer { dkp in
            for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow {
                let yRow = ((n * g.oh + oh) * g.ow + ow) * f
                if hasBias { for j in 0..<f { db[j] += dyp[yRow + j] } }
                for kh in 0..<g.kh {
                    let ih = oh * g.sh - g.padTop + kh
                    if ih < 0 || ih >= g.h { continue }
                    for kw in 0..<g.kw {
                        let iw = ow * g.sw - g.padLeft + kw
                        if iw < 0 || iw >= g.w { continue }
                        let xRow = g.inputOffset(n, ih, iw)
                        let kTap = (kh * g.kw + kw) * f
                        for j in 0..<f {
                            let d = dyp[yRow + j]
                            dxp[xRow + j / m] += kp[kTap + j] * d
                            dkp[kTap + j] += xp[xRow + j / m] * d
                        }
                    }
                }
            }}}
        }}}}}
        return (dx, dk, hasBias ? db : nil)
    }
}
