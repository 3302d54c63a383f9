import Foundation

/// The activations of Keras's core set beyond relu/sigmoid/tanh/softmax, and the activation layers
/// LeakyReLU, ELU and PReLU, as plain loops with their derivatives. Every backward takes the input
/// x (the derivative of gelu, silu and hard_silu needs it) and returns dX = dY · f′(x).
/// Transcendentals go through Double (erf, expm1, log1p), exact enough for Float and Double alike.
extension Ref {
    /// SELU's constants (Klambauer et al.; TensorFlow's values).
    public static let seluAlpha = 1.6732632423543772848170429916717
    public static let seluScale = 1.0507009873554804934193349852946

    /// The activation Keras names `name` (elu, selu, gelu, silu, hard_sigmoid, hard_silu, softplus)
    /// applied elementwise.
    @inlinable
    public static func activation<T: RefScalar>(_ name: String, _ x: RefTensor<T>) -> RefTensor<T> {
        x.map { T(activationValue(name, Double($0)).value) }
    }

    /// dX = dY · f′(x) for the activation Keras names `name`.
    @inlinable
    public static func activationBackward<T: RefScalar>(_ name: String, input x: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(x.shape == dy.shape, "\(name) gradient shape \(dy.shape) differs from input \(x.shape)")
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= T(activationValue(name, Double(x.data[i])).derivative) }
        return dx
    }

    /// f(v) and f′(v) in Double.
    @inlinable
    static func activationValue(_ name: String, _ v: Double) -> (value: Double, derivative: Double) {
        switch name {
        case "elu":
            return v > 0 ? (v, 1) : (expm1(v), exp(v))
        case "selu":
            return v > 0 ? (seluScale * v, seluScale) : (seluScale * seluAlpha * expm1(v), seluScale * seluAlpha * exp(v))
        case "gelu":
            let cdf = 0.5 * (1 + erf(v / 2.0.squareRoot())), pdf = exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
            return (v * cdf, cdf + v * pdf)
        case "silu", "swish":
            let s = 1 / (1 + exp(-v))
            return (v * s, s * (1 + v * (1 - s)))
        case "hard_sigmoid":
            return (min(max(v + 3, 0), 6) / 6, v > -3 && v < 3 ? 1.0 / 6 : 0)
        case "hard_silu", "hard_swish":
            let h = min(max(v + 3, 0), 6) / 6
            return (v * h, h + (v > -3 && v < 3 ? v / 6 : 0))
        case "softplus":
            return (v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)), 1 / (1 + exp(-v)))
        case "linear":
            return (v, 1)
        default:
            preconditionFailure("no reference for the activation '\(name)'")
        }
    }

    /// Keras `LeakyReLU`: x for x > 0, slope · x otherwise.
    @inlinable
    public static func leakyRelu<T: RefScalar>(_ x: RefTensor<T>, negativeSlope: T) -> RefTensor<T> {
        x.map { $0 > 0 ? $0 : negativeSlope * $0 }
    }

    @inlinable
    public static func leakyReluBackward<T: RefScalar>(input x: RefTensor<T>, negativeSlope: T, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        var dx = dy
        for i in 0..<dx.count where !(x.data[i] > 0) { dx.data[i] *= negativeSlope }
        return dx
    }

    /// Keras `ELU(alpha)`: x for x > 0, alpha · (eˣ − 1) otherwise.
    @inlinable
    public static func elu<T: RefScalar>(_ x: RefTensor<T>, alpha: T) -> RefTensor<T> {
        x.map { $0 > 0 ? $0 : alpha * T(expm1(Double($0))) }
    }

    @inlinable
    public static func eluBackward<T: RefScalar>(input x: RefTensor<T>, alpha: T, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        var dx = dy
        for i in 0..<dx.count where !(x.data[i] > 0) { dx.data[i] *= alpha * T.refExp(x.data[i]) }
        return dx
    }

    /// Keras `PReLU`: x for x > 0, α · x otherwise, α broadcast from `alphaShape` (size 1 on the
    /// shared axes) over each sample of x `[N] + sampleShape`.
    @inlinable
    public static func prelu<T: RefScalar>(_ x: RefTensor<T>, alpha: RefTensor<T>) -> RefTensor<T> {
        var y = x
        for i in 0..<x.count where !(x.data[i] > 0) { y.data[i] = alpha.data[alphaOffset(i, x.shape, alpha.shape)] * x.data[i] }
        return y
    }

    /// (dX, dα): dX = dY for x > 0, dY · α for x < 0, 0 at 0; dα sums dY · x over x < 0.
    @inlinable
    public static func preluBackward<T: RefScalar>(_ x: RefTensor<T>, alpha: RefTensor<T>,
                                                   outputGradient dy: RefTensor<T>) -> (input: RefTensor<T>, alpha: RefTensor<T>) {
        var dx = dy, da = RefTensor<T>(shape: alpha.shape)
        for i in 0..<x.count where !(x.data[i] > 0) {
            let a = alphaOffset(i, x.shape, alpha.shape)
            dx.data[i] = x.data[i] < 0 ? dy.data[i] * alpha.data[a] : 0
            if x.data[i] < 0 { da.data[a] += dy.data[i] * x.data[i] }
        }
        return (dx, da)
    }

    /// The offset in α (shape `alphaShape`, the per-sample shape with 1 on shared axes) of element
    /// `i` of a tensor of shape `shape` (batch first).
    @inlinable
    static func alphaOffset(_ i: Int, _ shape: [Int], _ alphaShape: [Int]) -> Int {
        var rest = i, offset = 0, stride = 1
        for a in (0..<alphaShape.count).reversed() {
            let coordinate = rest % shape[a + 1]
            rest /= shape[a + 1]
            if alphaShape[a] != 1 { offset += coordinate * stride }
            stride *= alphaShape[a]
        }
        return offset
    }
}
