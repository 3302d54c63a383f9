/// How a convolution or pooling window treats the border (Keras / TensorFlow `padding`).
public enum RefPadding: Sendable, Equatable {
    /// No padding: only windows that fit entirely inside the input.
    case valid
    /// Zero padding so that out = ceil(in / stride); the odd padded pixel goes after (bottom/right).
    case same
}

extension Ref {
    /// Output length along one axis and the padding before it, exactly as TensorFlow computes them.
    @inlinable
    public static func outputSize(input: Int, kernel: Int, stride: Int,
                                  padding: RefPadding) -> (out: Int, padBefore: Int) {
        precondition(input > 0 && kernel > 0 && stride > 0,
                     "window needs positive input (\(input)), kernel (\(kernel)) and stride (\(stride))")
        switch padding {
        case .valid:
            precondition(input >= kernel, "valid padding needs input \(input) >= kernel \(kernel)")
            return ((input - kernel) / stride + 1, 0)
        case .same:
            let out = (input + stride - 1) / stride
            let padTotal = Swift.max((out - 1) * stride + kernel - input, 0)
            return (out, padTotal / 2)
        }
    }
}

/// The sizes of a 2-D sliding window over an NHWC input, shared by convolution and pooling so
/// they cannot disagree about padding.
@usableFromInline
struct WindowGeometry {
    @usableFromInline let n, h, w, c: Int
    @usableFromInline let kh, kw, sh, sw: Int
    @usableFromInline let oh, ow, padTop, padLeft: Int

    @inlinable
    init(input shape: [Int], window: (Int, Int), strides: (Int, Int), padding: RefPadding) {
        precondition(shape.count == 4, "expected an NHWC input, got shape \(shape)")
        (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        (kh, kw) = window
        (sh, sw) = strides
        (oh, padTop) = Ref.outputSize(input: h, kernel: kh, stride: sh, padding: padding)
        (ow, padLeft) = Ref.outputSize(input: w, kernel: kw, stride: sw, padding: padding)
    }

    /// Offset of pixel (n, y, x) in the input, in elements (times `c` already applied).
    @inlinable func inputOffset(_ n: Int, _ y: Int, _ x: Int) -> Int { ((n * h + y) * w + x) * c }
}
