/// Direct transposed 2-D convolution (Keras `Conv2DTranspose`, no dilation), forward and
/// backward: every input pixel scatters its channels through the kernel into the output window it
/// came from. No GEMM, no col2im: the loops follow the definition.
extension Ref {
    /// Keras's output length along one axis (`compute_conv_transpose_output_length`) and the
    /// padding before it (TensorFlow's for the convolution from that output back to the input).
    @inlinable
    public static func transposedOutputSize(input: Int, kernel: Int, stride: Int, padding: RefPadding,
                                            outputPadding: Int?) -> (out: Int, padBefore: Int) {
        let out: Int
        if let outputPadding {
            let pad = padding == .same ? kernel / 2 : 0
            out = (input - 1) * stride + kernel - 2 * pad + outputPadding
        } else {
            out = padding == .same ? input * stride : input * stride + Swift.max(kernel - stride, 0)
        }
        let padBefore = padding == .same ? Swift.max((input - 1) * stride + kernel - out, 0) / 2 : 0
        return (out, padBefore)
    }

    /// y[n, oh, ow, f] = b[f] + Σ over (ih, iw, kh, kw) with oh = ih·sh − padTop + kh, ow = iw·sw − padLeft + kw
    /// of Σ_c x[n, ih, iw, c] · k[kh, kw, f, c], for x [N, H, W, C] and kernel [KH, KW, F, C];
    /// taps that land outside the output are dropped.
    @inlinable
    public static func conv2DTranspose<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, bias: [T]? = nil,
                                                     strides: (Int, Int) = (1, 1), padding: RefPadding = .valid,
                                                     outputPadding: (Int, Int)? = nil) -> RefTensor<T> {
        let g = TransposedGeometry(x, kernel: kernel, strides: strides, padding: padding, outputPadding: outputPadding)
        var y = RefTensor<T>(shape: [g.n, g.oh, g.ow, g.f])
        for n in 0..<g.n { for oh in 0..<g.oh { for ow in 0..<g.ow { for f in 0..<g.f {
            y.data[((n * g.oh + oh) * g.ow + ow) * g.f + f] = bias?[f] ?? 0
        }}}}
        for n in 0..<g.n { for ih in 0..<g.h { for iw in 0..<g.w {
            for kh in 0..<g.kh {
                let oh = ih * g.sh - g.padTop + kh
                if oh < 0 || oh >= g.oh { continue }
                for kw in 0..<g.kw {
                    let ow = iw * g.sw - g.padLeft + kw
                    if ow < 0 || ow >= g.ow { continue }
                    for f in 0..<g.f {
                        var acc: T = 0
                        for c in 0..<g.c {
                            acc += x.data[((n * g.h + ih) * g.w + iw) * g.c + c] * kernel.data[((kh * g.kw + kw) * g.f + f) * g.c + c]
                        }
                        y.data[((n * g.oh + oh) * g.ow + ow) * g.f + f] += acc
                    }
                }
            }
        }}}
        return y
    }

    /// Gradients of `conv2DTranspose` given dY [N, OH, OW, F]: dX gathers dY through every tap,
    /// dKernel correlates dY with X, dBias sums dY (nil when `hasBias` is false).
    @inlinable
    public static func conv2DTransposeBackward<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, hasBias: Bool = false,
                                                             strides: (Int, Int) = (1, 1), padding: RefPadding = .valid,
                                                             outputPadding: (Int, Int)? = nil, outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, kernel: RefTensor<T>, bias: [T]?) {
        let g = TransposedGeometry(x, kernel: kernel, strides: strides, padding: padding, outputPadding: outputPadding)
        precondition(dy.shape == [g.n, g.oh, g.ow, g.f], "transposed conv output gradient shape \(dy.shape), expected \([g.n, g.oh, g.ow, g.f])")
        var dx = RefTensor<T>(shape: x.shape)
        var dk = RefTensor<T>(shape: kernel.shape)
        var db = [T](repeating: 0, count: g.f)
        if hasBias { for i in 0..<dy.count { db[i % g.f] += dy.data[i] } }
        for n in 0..<g.n { for ih in 0..<g.h { for iw in 0..<g.w {
            for kh in 0..<g.kh {
                let oh = ih * g.sh - g.padTop + kh
                if oh < 0 || oh >= g.oh { continue }
                for kw in 0..<g.kw {
                    let ow = iw * g.sw - g.padLeft + kw
                    if ow < 0 || ow >= g.ow { continue }
                    for f in 0..<g.f {
                        let d = dy.data[((n * g.oh + oh) * g.ow + ow) * g.f + f]
                        for c in 0..<g.c {
                            let xi = ((n * g.h + ih) * g.w + iw) * g.c + c, ki = ((kh * g.kw + kw) * g.f + f) * g.c + c
                            dx.data[xi] += kernel.data[ki] * d
                            dk.data[ki] += x.data[xi] * d
                        }
                    }
                }
            }
        }}}
        return (dx, dk, hasBias ? db : nil)
    }
}

/// The sizes of a transposed convolution of an NHWC input with a [KH, KW, F, C] kernel.
@usableFromInline
struct TransposedGeometry {
    @usableFromInline let n, h, w, c, f: Int
    @usableFromInline let kh, kw, sh, sw: Int
    @usableFromInline let oh, ow, padTop, padLeft: Int

    @inlinable
    init<T>(_ x: RefTensor<T>, kernel: RefTensor<T>, strides: (Int, Int), padding: RefPadding, outputPadding: (Int, Int)?) {
        precondition(x.rank == 4, "expected an NHWC input, got shape \(x.shape)")
        precondition(kernel.rank == 4 && kernel.shape[3] == x.shape[3],
                     "transposed conv kernel must be [KH, KW, F, \(x.shape[3])], got \(kernel.shape)")
        (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (kh, kw, f) = (kernel.shape[0], kernel.shape[1], kernel.shape[2])
        (sh, sw) = strides
        (oh, padTop) = Ref.transposedOutputSize(input: h, kernel: kh, stride: sh, padding: padding, outputPadding: outputPadding?.0)
        (ow, padLeft) = Ref.transposedOutputSize(input: w, kernel: kw, stride: sw, padding: padding, outputPadding: outputPadding?.1)
    }
}
