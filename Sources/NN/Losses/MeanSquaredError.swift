/// Mean squared error over every element (Keras averages over the last axis, then the batch:
/// the same number). Gradient 2(p − t) / count.
public final class MeanSquaredError: Loss {
    public init() {}
    public var name: String { "mean_squared_error" }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.sameShape(name, prediction, target)
        try LossCheck.gradientShape(name, prediction, gradient)
        let p = prediction.pointer, t = target.pointer, n = prediction.count
        var total: Double = 0
        let scale = 2 / Float(max(1, n))
        for i in 0..<n {
            let d = p[i] - t[i]
            total += Double(d * d)
            if let g = gradient?.pointer { g[i] = scale * d }
        }
        return Float(total / Double(max(1, n)))
    }
}
