import Foundation

/// Binary cross-entropy (Keras `BinaryCrossentropy`): each output is the probability of a yes, each
/// target a 0/1 label (or a probability) of the same count. With logits — a model whose output layer
/// ends in sigmoid hands them over, or `fromLogits` — it is computed stably as
/// max(x, 0) − x·y + log(1 + e^−|x|) with gradient (σ(x) − y)/count; on probabilities it clips to
/// [1e-7, 1 − 1e-7] as Keras does. `labelSmoothing` moves targets towards 0.5: y·(1 − s) + s/2.
public final class BinaryCrossentropy: Loss {
    public let fromLogits: Bool
    public let labelSmoothing: Float

    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.fromLogits = fromLogits
        self.labelSmoothing = labelSmoothing
    }

    public var name: String { "binary_crossentropy" }
    public var fusedActivation: Activation? { .sigmoid }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.gradientShape(name, prediction, gradient)
        guard target.count == prediction.count else {
            throw NNError.invalidArgument("loss '\(name)': predictions of shape \(prediction.shape) and targets of shape \(target.shape) differ in size")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw NNError.invalidArgument("loss '\(name)': label smoothing \(labelSmoothing) is outside [0, 1]")
        }
        let p = prediction.pointer, t = target.pointer, n = prediction.count, s = labelSmoothing
        let scale = 1 / Float(max(1, n)), epsilon = CrossEntropyKernel.epsilon
        var total: Double = 0
        for i in 0..<n {
            let y = t[i] * (1 - s) + 0.5 * s
            if logits || fromLogits {
                let x = p[i]
                total += Double(max(x, 0) - x * y + log1p(exp(-abs(x))))
                if let g = gradient?.pointer { g[i] = (1 / (1 + exp(-x)) - y) * scale }
            } else {
                let q = min(max(p[i], epsilon), 1 - epsilon)
                total -= Double(y * log(q) + (1 - y) * log(1 - q))
                if let g = gradient?.pointer {
                    g[i] = p[i] > epsilon && p[i] < 1 - epsilon ? (q - y) / (q * (1 - q)) * scale : 0
                }
            }
        }
        return Float(total / Double(max(1, n)))
    }

    /// Targets must be one value in [0, 1] per output; class ids call for the sparse loss.
    public func checkTargets(_ target: Tensor, outputShape: [Int]) throws {
        let perSample = outputShape.reduce(1, *), n = target.shape.first ?? 0
        guard target.count == n * perSample else {
            throw NNError.invalidArgument("loss '\(name)' needs one target per output (\(perSample) per sample) but the targets have shape \(target.shape)")
        }
        for i in 0..<target.count where !(target.pointer[i] >= 0 && target.pointer[i] <= 1) {
            let v = target.pointer[i]
            let hint = v == v.rounded() && v > 1 ? ": these look like class ids, use SparseCategoricalCrossentropy with a softmax output of one unit per class" : ""
            throw NNError.invalidArgument("target \(v) of sample \(i / max(1, perSample)) is not in [0, 1] (loss '\(name)')\(hint)")
        }
    }
}

/// Kullback–Leibler divergence (Keras `KLDivergence`): Σ y·log(y/p) over the last axis, averaged over
/// the rows, with both clipped to [1e-7, 1] as Keras does.
public final class KLDivergence: Loss {
    public init() {}
    public var name: String { "kl_divergence" }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.sameShape(name, prediction, target)
        try LossCheck.gradientShape(name, prediction, gradient)
        let width = prediction.shape.last ?? 1, rows = prediction.count / max(1, width)
        let p = prediction.pointer, t = target.pointer, epsilon = CrossEntropyKernel.epsilon
        let scale = 1 / Float(max(1, rows))
        var total: Double = 0
        for i in 0..<prediction.count {
            let y = min(max(t[i], epsilon), 1), q = min(max(p[i], epsilon), 1)
            total += Double(y * log(y / q))
            if let g = gradient?.pointer { g[i] = p[i] > epsilon && p[i] < 1 ? -y / q * scale : 0 }
        }
        return Float(total / Double(max(1, rows)))
    }
}
