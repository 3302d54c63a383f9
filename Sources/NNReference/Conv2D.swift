/// Direct 2-D convolution (Keras `Conv2D`, cross-correlation, no dilation), forward and backward.
///
/// Loops run over output pixels, then kernel taps, then input channels, with the filter axis
/// innermost so the kernel row [F] and the output row [F] are both contiguous. No im2col: this is
/// the naive algorithm the GEMM engine is measured against.
extension Ref {
    /// y[n, oh, ow, f] = b[f] + Σ_{kh, kw, c} x[n, oh·sh − padTop + kh, ow·sw − padLeft + kw, c] · k[kh, kw, c, f],
    /// for x [N, H, W, C] and kernel [KH, KW, C, F]; taps in the padding contribute zero.
    @inlinable
    public static func conv2D<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, bias: [T]? = nil,
                                            strides: (Int, Int) = (1, 1),
                                            padding: RefPadding = .valid) -> RefTensor<T> {
        let (g, f) = convGeometry(x, kernel: kernel, strides: strides, padding: padding)
        if let bias { precondition(bias.count == f, "conv bias has \(bias.count) elements, filters are \(f)") }
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
                        let kTap = (kh * g.kw + kw) * g.c * f
                        for c in 0..<g.c {
                            let xv = xp[xRow + c]
                            let kRow = kTap + c * f
                            for j in 0..<f { yp[yRow + j] += xv * kp[kRow + j] }
                        }
                    }
                }
            }}}
        }}}
        return y
    }

    /// Gradients of `conv2D` given dY [N, OH, OW, F]: dX scatters dY back through every tap,
    /// dKernel correlates X with dY, dBias sums dY over N·OH·OW (nil when `hasBias` is false).
    @inlinable
    public static func conv2DBackward<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, hasBias: Bool = false,
                                                    strides: (Int, Int) = (1, 1), padding: RefPadding = .valid,
                                                    outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, kernel: RefTensor<T>, bias: [T]?) {
        let (g, f) = convGeometry(x, kernel: kernel, strides: strides, padding: padding)
        precondition(dy.shape == [g.n, g.oh, g.ow, f], "conv output gradient shape \(dy.shape), expected \([g.n, g.oh, g.ow, f])")
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
                        let kTap = (kh * g.kw + kw) * g.c * f
                        for c in 0..<g.c {
                            let xv = xp[xRow + c]
                            let kRow = kTap + c * f
                            var acc: T = 0
                            for j in 0..<f {
                                let d = dyp[yRow + j]
                                acc += kp[kRow + j] * d
                                dkp[kRow + j] += xv * d
                            }
                            dxp[xRow + c] += acc
                        }
                    }
                }
            }}}
        }}}}}
        return (dx, dk, hasBias ? db : nil)
    }

    /// Window geometry and filter count for an NHWC input and an HWIO kernel, checking they agree.
    @inlinable
    static func convGeometry<T>(_ x: RefTensor<T>, kernel: RefTensor<T>, strides: (Int, Int),
                                padding: RefPadding) -> (WindowGeometry, Int) {
        precondition(kernel.rank == 4, "conv kernel must be [KH, KW, C, F], got \(kernel.shape)")
        let g = WindowGeometry(input: x.shape, window: (kernel.shape[0], kernel.shape[1]),
                               strides: strides, padding: padding)
        precondition(kernel.shape[2] == g.c, "conv kernel \(kernel.shape) expects \(kernel.shape[2]) channels, input has \(g.c)")
        return (g, kernel.shape[3])
    }
}
