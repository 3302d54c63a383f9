/// Mean absolute error over every element (Keras `MeanAbsoluteError`). Gradient sign(p − t)/count
/// (0 where they are equal).
public final class MeanAbsoluteError: Loss {
    public init() {}
    public var name: String { "mean_absolute_error" }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.sameShape(name, prediction, target)
        try LossCheck.gradientShape(name, prediction, gradient)
        let p = prediction.pointer, t = target.pointer, n = prediction.count, scale = 1 / Float(max(1, n))
        var total: Double = 0
        for i in 0..<n {
            let d = p[i] - t[i]
            total += Double(abs(d))
            if let g = gradient?.pointer { g[i] = d > 0 ? scale : d < 0 ? -scale : 0 }
        }
        return Float(total / Double(max(1, n)))
    }
}

/// Huber loss (Keras `Huber`, `delta` 1 by default): ½d² where |d| ≤ δ, δ(|d| − ½δ) beyond, averaged
/// over every element; quadratic near the target and linear far from it, so outliers pull less.
public final class Huber: Loss {
    public let delta: Float
    public init(delta: Float = 1) { self.delta = delta }
    public var name: String { "huber_loss" }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.sameShape(name, prediction, target)
        try LossCheck.gradientShape(name, prediction, gradient)
        guard delta > 0, delta.isFinite else { throw NNError.invalidArgument("loss '\(name)': delta must be positive, got \(delta)") }
        let p = prediction.pointer, t = target.pointer, n = prediction.count, scale = 1 / Float(max(1, n))
        var total: Double = 0
        for i in 0..<n {
            let d = p[i] - t[i], a = abs(d)
            total += Double(a <= delta ? 0.5 * d * d : delta * (a - 0.5 * delta))
            if let g = gradient?.pointer { g[i] = (a <= delta ? d : (d > 0 ? delta : -delta)) * scale }
        }
        return Float(total / Double(max(1, n)))
    }
}
