import Foundation

/// The element-wise (and softmax) functions a layer can apply to its output, by Keras name.
public enum Activation: String, Sendable, CaseIterable {
    case linear
    case relu
    /// ReLU capped at 6 (MobileNet's `ReLU(max_value=6)`).
    case relu6
    case sigmoid
    case tanh
    /// Over the last axis.
    case softmax
    /// x for x > 0, eˣ − 1 otherwise (Keras's `elu`, alpha 1; the `ELU` layer takes another alpha).
    case elu
    /// scale · elu(x) with alpha 1.6732632 on the negative side and scale 1.0507010 (Keras's `selu`).
    case selu
    /// x · Φ(x) = ½x(1 + erf(x/√2)): Keras 3's `gelu` with its default `approximate=False`.
    case gelu
    /// x · sigmoid(x) (Keras 3's `silu`; `swish` is the same function, read as `.silu`).
    case silu
    /// relu6(x + 3) / 6 (Keras 3's `hard_sigmoid`).
    case hardSigmoid = "hard_sigmoid"
    /// x · relu6(x + 3) / 6 (Keras 3's `hard_silu`; `hard_swish` is read as it).
    case hardSilu = "hard_silu"
    /// log(1 + eˣ).
    case softplus

    /// Keras's other name for `.silu`.
    public static var swish: Activation { .silu }
    /// Keras's other name for `.hardSilu`.
    public static var hardSwish: Activation { .hardSilu }

    /// The activation Keras knows by `name`, aliases included (`swish`, `hard_swish`, TF's `softmax_v2`).
    public init?(kerasName name: String) {
        switch name {
        case "swish": self = .silu
        case "hard_swish": self = .hardSilu
        case "softmax_v2": self = .softmax
        default: self.init(rawValue: name)
        }
    }

    /// True when the derivative needs the activation's input, not only its output (the function is
    /// not monotonic or not invertible from its output): a layer applying it keeps its preactivation.
    package var needsInput: Bool { self == .gelu || self == .silu || self == .hardSilu }

    /// SELU's constants, as TensorFlow's `selu` kernel has them.
    static let seluAlpha: Float = 1.6732632423543772848170429916717
    static let seluScale: Float = 1.0507009873554804934193349852946

    /// Applies the function in place to `x`, whose last axis has `width` elements.
    package func apply(_ x: UnsafeMutablePointer<Float>, count: Int, width: Int) {
        switch self {
        case .linear:
            break
        case .relu:
            // A select rather than a branch, so it vectorizes; NaN stays NaN, so a diverging run is seen.
            for i in 0..<count { x[i] = x[i] < 0 ? 0 : x[i] }
        case .relu6:
            for i in 0..<count { x[i] = Swift.min(Swift.max(x[i], 0), 6) }
        case .sigmoid:
            for i in 0..<count { x[i] = Activation.sigmoid(x[i]) }
        case .tanh:
            for i in 0..<count { x[i] = Foundation.tanh(x[i]) }
        case .softmax:
            Activation.softmaxRows(x, rows: count / Swift.max(1, width), width: width)
        case .elu:
            for i in 0..<count { let v = x[i]; x[i] = v > 0 ? v : Foundation.expm1(v) }
        case .selu:
            let a = Activation.seluAlpha, s = Activation.seluScale
            for i in 0..<count { let v = x[i]; x[i] = v > 0 ? s * v : s * a * Foundation.expm1(v) }
        case .gelu:
            for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + Foundation.erf(v * Float(0.5).squareRoot())) }
        case .silu:
            for i in 0..<count { x[i] *= Activation.sigmoid(x[i]) }
        case .hardSigmoid:
            for i in 0..<count { x[i] = Swift.min(Swift.max(x[i] + 3, 0), 6) / 6 }
        case .hardSilu:
            for i in 0..<count { let v = x[i]; x[i] = v * (Swift.min(Swift.max(v + 3, 0), 6) / 6) }
        case .softplus:
            for i in 0..<count { x[i] = Activation.softplus(x[i]) }
        }
    }

    /// Adds `bias` (one value per column of the `width`-wide rows) to `x`, then applies the function,
    /// in one pass for linear and ReLU: a convolution's GEMM output is still in cache.
    package func apply(_ x: UnsafeMutablePointer<Float>, count: Int, width: Int, bias: UnsafePointer<Float>?) {
        guard let bias else { return apply(x, count: count, width: width) }
        let rows = count / Swift.max(1, width)
        switch self {
        case .relu:
            for r in 0..<rows {
                let row = x + r * width
                for j in 0..<width { let v = row[j] + bias[j]; row[j] = v < 0 ? 0 : v }
            }
        default:
            for r in 0..<rows {
                let row = x + r * width
                for j in 0..<width { row[j] += bias[j] }
            }
            apply(x, count: count, width: width)
        }
    }

    /// dLoss/dPreactivation from dLoss/dOutput `dy` into `g` (which may be `dy`), given the output `y`
    /// and, for the activations that need it (`needsInput`), the input `x`.
    /// ReLU's masks are one pass from `dy` to `g`, rather than a copy and an in-place pass.
    package func backward(input x: UnsafePointer<Float>? = nil, output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         into g: UnsafeMutablePointer<Float>, count: Int, width: Int) {
        switch self {
        case .relu:
            // A bit mask rather than a select: the select was lowered to a branch and did not vectorize.
            for i in 0..<count {
                let keep: UInt32 = y[i] > 0 ? ~0 : 0
                g[i] = Float(bitPattern: dy[i].bitPattern & keep)
            }
        case .relu6:
            for i in 0..<count {
                let v = y[i], keep: UInt32 = (v > 0) && (v < 6) ? ~0 : 0
                g[i] = Float(bitPattern: dy[i].bitPattern & keep)
            }
        default:
            if UnsafePointer(g) != dy { g.update(from: dy, count: count) }
            backward(input: x, output: y, gradient: g, count: count, width: width)
        }
    }

    /// Turns dLoss/dOutput into dLoss/dPreactivation in place, given the function's output `y` and,
    /// for the activations that need it (`needsInput`), its input `x`.
    package func backward(input x: UnsafePointer<Float>? = nil, output y: UnsafePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                          count: Int, width: Int) {
        precondition(!needsInput || x != nil, "the \(rawValue) activation's derivative needs its input, which the layer did not keep")
        switch self {
        case .linear:
            break
        case .relu, .relu6:
            backward(output: y, outputGradient: g, into: g, count: count, width: width)  // masks work in place
        case .sigmoid:
            for i in 0..<count { g[i] *= y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<count { g[i] *= 1 - y[i] * y[i] }
        case .softmax:
            // dz = y ⊙ (dy − Σ dy ⊙ y), row by row.
            let rows = count / Swift.max(1, width)
            for r in 0..<rows {
                let yr = y + r * width, gr = g + r * width
                var s: Float = 0
                for j in 0..<width { s += yr[j] * gr[j] }
                for j in 0..<width { gr[j] = yr[j] * (gr[j] - s) }
            }
        case .elu:
            // TensorFlow's EluGrad: dy where y > 0, else dy · (y + 1).
            for i in 0..<count { let v = y[i]; g[i] *= v > 0 ? 1 : v + 1 }
        case .selu:
            let a = Activation.seluAlpha, s = Activation.seluScale
            for i in 0..<count { let v = y[i]; g[i] *= v > 0 ? s : v + s * a }
        case .gelu:
            // Φ(x) + x·φ(x).
            let x = x!, c = 1 / Float(2 * Float.pi).squareRoot(), r = Float(0.5).squareRoot()
            for i in 0..<count {
                let v = x[i]
                g[i] *= 0.5 * (1 + Foundation.erf(v * r)) + v * c * Foundation.exp(-0.5 * v * v)
            }
        case .silu:
            let x = x!
            for i in 0..<count { let v = x[i], s = Activation.sigmoid(v); g[i] *= s * (1 + v * (1 - s)) }
        case .hardSigmoid:
            // relu6's gradient passes where 0 < x + 3 < 6, i.e. where 0 < y < 1.
            for i in 0..<count { let v = y[i]; g[i] *= v > 0 && v < 1 ? 1 / 6 : 0 }
        case .hardSilu:
            // d/dx x·relu6(x + 3)/6 = relu6(x + 3)/6 + x/6 inside (−3, 3).
            let x = x!
            for i in 0..<count {
                let v = x[i], inside = v > -3 && v < 3
                g[i] *= Swift.min(Swift.max(v + 3, 0), 6) / 6 + (inside ? v / 6 : 0)
            }
        case .softplus:
            // sigmoid(x) = 1 − e^(−y).
            for i in 0..<count { g[i] *= -Foundation.expm1(-y[i]) }
        }
    }

    /// log(1 + eˣ) without overflow: x + log1p(e^(−x)) for positive x.
    @inline(__always) static func softplus(_ v: Float) -> Float {
        v > 0 ? v + Foundation.log1p(Foundation.exp(-v)) : Foundation.log1p(Foundation.exp(v))
    }

    @inline(__always) static func sigmoid(_ v: Float) -> Float {
        // Two branches so neither exp overflows.
        if v >= 0 { return 1 / (1 + Foundation.exp(-v)) }
        let e = Foundation.exp(v)
        return e / (1 + e)
    }

    /// Softmax of each row, shifted by the row maximum so large logits do not overflow.
    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = x + r * width
            var m = -Float.infinity
            for j in 0..<width { m = Swift.max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<width { row[j] = Foundation.exp(row[j] - m); sum += row[j] }
            let inv = 1 / sum
            for j in 0..<width { row[j] *= inv }
        }
    }
}

/// A layer that only applies an activation (Keras `Activation("relu")`, and the subclasses `ReLU`
/// and `Softmax` below): the engine's one activation layer, whatever the function.
public class ActivationLayer: Layer {
    public let activation: Activation
    private var y: Tensor?
    /// A ReLU cap other than 6 (Keras `ReLU(max_value=…)`; 6 is the `.relu6` activation).
    let reluCap: Float?

    public convenience init(_ activation: Activation, name: String? = nil) {
        self.init(activation, reluCap: nil, name: name)
    }

    init(_ activation: Activation, reluCap: Float?, name: String?) {
        self.activation = activation
        self.reluCap = reluCap
        super.init(name: name)
    }

    package override var outputActivation: Activation? { reluCap == nil ? activation : nil }
    /// Element-wise, and unless the layer keeps its input (softmax, a loss-fused or gelu-like
    /// activation) its derivative reads only y: it may write y over x in training.
    package override var mayRunInPlaceInTraining: Bool { !keepsLogits && !activation.needsInput }
    public override var typeName: String { "Activation" }
    public override var defaultNameStem: String { "activation" }
    /// A ReLU or ReLU6 (not a ReLU with another cap, not a subclass such as Softmax): what the
    /// layer before it may apply in its own pass (`Model/BatchNormFolding.swift`).
    var isPlainReLU: Bool {
        (type(of: self) == ActivationLayer.self || self is ReLU) && (activation == .relu || activation == .relu6) && reluCap == nil
    }

    /// Set during whole training passes in which the BatchNormalization before this layer applies
    /// the activation to the buffer both share (`BatchNormActivationFusion`).
    package var appliedByBatchNorm = false
    /// Whether the last forward pass was applied that way: backward then hands dy on unchanged.
    private var passedThrough = false

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        passedThrough = training && appliedByBatchNorm
        if passedThrough {
            y = out  // the input's own memory, already activated
            return out
        }
        let width = outputShape.last ?? 1
        Parallel.run(Parallel.partCount(out.count, grain: Parallel.elementGrain),
                     ActivationForwardPart(activation: activation, cap: reluCap, x: input.pointer, y: out.pointer,
                                           rows: out.count / max(1, width), width: width))
        y = out
        if keepsLogits { logits = input }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        if passedThrough { return outputGradient }  // the BatchNormalization masks it
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        guard !activationFusedWithLoss, let y else {
            dx.assign(outputGradient)
            return dx
        }
        let width = outputShape.last ?? 1
        Parallel.run(Parallel.partCount(dx.count, grain: Parallel.elementGrain),
                     ActivationBackwardPart(activation: activation, cap: reluCap, x: logits?.pointer, y: y.pointer,
                                            dy: outputGradient.pointer, dx: dx.pointer, rows: dx.count / max(1, width), width: width))
        return dx
    }
}

/// ActivationLayer's forward over part `part` of the rows: y = f(x), clamped at `cap` when given.
/// Whole rows (softmax works on rows), a block at a time so the copy and the in-place pass meet in cache.
struct ActivationForwardPart: ParallelWork {
    let activation: Activation, cap: Float?
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let rows: Int, width: Int

    func run(part: Int, of parts: Int) {
        let r = Parallel.range(part, of: parts, count: rows), block = max(1, 4096 / max(1, width))
        var row = r.lowerBound
        while row < r.upperBound {
            let n = min(block, r.upperBound - row), at = row * width, count = n * width
            switch (activation, cap) {
            case (.relu, nil):
                for i in at..<(at + count) { let v = x[i]; y[i] = v < 0 ? 0 : v }
            case (.relu6, nil):
                for i in at..<(at + count) { y[i] = Swift.min(Swift.max(x[i], 0), 6) }
            default:
                if x != y { (y + at).update(from: x + at, count: count) }  // in place when x is y
                activation.apply(y + at, count: count, width: width)
                if let cap { for i in at..<(at + count) { y[i] = y[i] > cap ? cap : y[i] } }
            }
            row += n
        }
    }
}

/// ActivationLayer's backward over part `part` of the rows: dx from dy, the output y and (for the
/// activations that need it) the input x.
struct ActivationBackwardPart: ParallelWork {
    let activation: Activation, cap: Float?
    let x: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>
    let dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
    let rows: Int, width: Int

    func run(part: Int, of parts: Int) {
        let r = Parallel.range(part, of: parts, count: rows), at = r.lowerBound * width, count = r.count * width
        if let cap {
            // y is x clamped to [0, cap], so 0 < y < cap exactly where 0 < x < cap.
            for i in at..<(at + count) { let v = y[i]; dx[i] = v > 0 && v < cap ? dy[i] : 0 }
        } else {
            // One pass from dy to dx for ReLU's masks; a copy then the derivative in place otherwise.
            activation.backward(input: x.map { UnsafePointer($0 + at) }, output: y + at, outputGradient: dy + at, into: dx + at,
                                count: count, width: width)
        }
    }
}

/// Keras's `ReLU` layer, y = min(max(x, 0), maxValue): the activation layer with `.relu`, `.relu6`
/// for `ReLU(maxValue: 6)` (MobileNet's ReLU6), or `.relu` clamped at any other positive cap. The
/// gradient passes where 0 < y < maxValue, as TensorFlow's `relu6` gradient does; NaN stays NaN so
/// a diverging run is seen.
public final class ReLU: ActivationLayer {
    /// The cap asked for, or nil for none.
    public let maxValue: Float?

    public init(maxValue: Float? = nil, name: String? = nil) {
        self.maxValue = maxValue
        super.init(maxValue == 6 ? .relu6 : .relu, reluCap: maxValue == 6 ? nil : maxValue, name: name)
    }

    public override var typeName: String { "ReLU" }
    public override var defaultNameStem: String { "re_lu" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        if let maxValue, !(maxValue > 0) {
            throw NNError.invalidArgument("layer '\(displayName)' (ReLU): max value must be positive, got \(maxValue)")
        }
        return inputShape
    }
}

/// Keras's `Softmax` layer: the softmax over the last axis (the only axis Keras's default and this
/// engine support), fused with a following cross-entropy loss like any softmax.
public final class Softmax: ActivationLayer {
    public init(name: String? = nil) {
        super.init(.softmax, reluCap: nil, name: name)
    }
    public override var typeName: String { "Softmax" }
    public override var defaultNameStem: String { "softmax" }
}
