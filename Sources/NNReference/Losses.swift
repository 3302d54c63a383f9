/// Losses, each averaged over the batch (axis 0) and returning the gradient with respect to its
/// input, so a training step is forward → loss → backward with nothing else in between.
extension Ref {
    /// loss = mean_n(−Σ_k y_nk · log softmax(z)_nk) for logits z [N, K] and probability targets y
    /// [N, K], computed with log-sum-exp. dZ = (softmax(z) · Σ_k y_nk − y) / N, which is the usual
    /// (softmax(z) − y) / N whenever each target row sums to 1, and exact for any targets.
    @inlinable
    public static func categoricalCrossentropyFromLogits<T: RefScalar>(_ logits: RefTensor<T>, targets: RefTensor<T>)
        -> (loss: T, gradient: RefTensor<T>) {
        precondition(logits.rank == 2, "cross-entropy logits must be [N, K], got \(logits.shape)")
        precondition(targets.shape == logits.shape, "targets \(targets.shape) do not match logits \(logits.shape)")
        let (n, k) = (logits.shape[0], logits.shape[1])
        let p = softmax(logits)
        var total: T = 0
        var gradient = p
        for r in 0..<n {
            let row = r * k
            var m = -T.infinity
            for j in 0..<k { m = Swift.max(m, logits.data[row + j]) }
            var sum: T = 0
            for j in 0..<k { sum += T.refExp(logits.data[row + j] - m) }
            let logSumExp = m + T.refLog(sum)
            var targetSum: T = 0
            for j in 0..<k {
                let y = targets.data[row + j]
                total -= y * (logits.data[row + j] - logSumExp)
                targetSum += y
            }
            for j in 0..<k {
                gradient.data[row + j] = (p.data[row + j] * targetSum - targets.data[row + j]) / T(n)
            }
        }
        return (total / T(n), gradient)
    }

    /// The same loss with integer class labels [N] in place of one-hot targets.
    @inlinable
    public static func sparseCategoricalCrossentropyFromLogits<T: RefScalar>(_ logits: RefTensor<T>, labels: [Int])
        -> (loss: T, gradient: RefTensor<T>) {
        precondition(logits.rank == 2, "cross-entropy logits must be [N, K], got \(logits.shape)")
        let (n, k) = (logits.shape[0], logits.shape[1])
        precondition(labels.count == n, "\(labels.count) labels for a batch of \(n)")
        var oneHot = RefTensor<T>(shape: logits.shape)
        for (r, label) in labels.enumerated() {
            precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k)")
            oneHot.data[r * k + label] = 1
        }
        return categoricalCrossentropyFromLogits(logits, targets: oneHot)
    }

    /// loss = mean over all elements of (p − t)²; dP = 2 (p − t) / count.
    @inlinable
    public static func meanSquaredError<T: RefScalar>(_ predictions: RefTensor<T>, targets: RefTensor<T>)
        -> (loss: T, gradient: RefTensor<T>) {
        precondition(predictions.shape == targets.shape, "targets \(targets.shape) do not match predictions \(predictions.shape)")
        let count = T(predictions.count)
        var total: T = 0
        var gradient = predictions
        for i in 0..<predictions.count {
            let d = predictions.data[i] - targets.data[i]
            total += d * d
            gradient.data[i] = 2 * d / count
        }
        return (total / count, gradient)
    }
    /// Binary cross-entropy over every element of probabilities p (clipped to [ε, 1 − ε], Keras's ε =
    /// 1e-7) or, with `logits`, of σ(x): loss = mean(−y log p − (1 − y) log(1 − p)); the gradient is
    /// with respect to what was given (p, or x: (σ(x) − y)/count).
    @inlinable
    public static func binaryCrossentropy<T: RefScalar>(_ predictions: RefTensor<T>, targets: RefTensor<T>, logits: Bool)
        -> (loss: T, gradient: RefTensor<T>) {
        precondition(predictions.count == targets.count, "targets \(targets.shape) do not match predictions \(predictions.shape)")
        let count = T(predictions.count), epsilon: T = 1e-7
        var total: T = 0
        var gradient = predictions
        for i in 0..<predictions.count {
            let y = targets.data[i]
            if logits {
                let p = 1 / (1 + T.refExp(-predictions.data[i]))
                total -= y * T.refLog(p) + (1 - y) * T.refLog(1 - p)
                gradient.data[i] = (p - y) / count
            } else {
                let raw = predictions.data[i], p = Swift.min(Swift.max(raw, epsilon), 1 - epsilon)
                total -= y * T.refLog(p) + (1 - y) * T.refLog(1 - p)
                gradient.data[i] = raw > epsilon && raw < 1 - epsilon ? (-y / p + (1 - y) / (1 - p)) / count : 0
            }
        }
        return (total / count, gradient)
    }

    /// loss = mean |p − t|; dP = sign(p − t)/count.
    @inlinable
    public static func meanAbsoluteError<T: RefScalar>(_ predictions: RefTensor<T>, targets: RefTensor<T>) -> (loss: T, gradient: RefTensor<T>) {
        let count = T(predictions.count)
        var total: T = 0
        var gradient = predictions
        for i in 0..<predictions.count {
            let d = predictions.data[i] - targets.data[i]
            total += Swift.abs(d)
            gradient.data[i] = (d > 0 ? 1 : d < 0 ? -1 : 0) / count
        }
        return (total / count, gradient)
    }

    /// Huber: ½d² for |d| ≤ δ, δ(|d| − ½δ) beyond, averaged over every element.
    @inlinable
    public static func huber<T: RefScalar>(_ predictions: RefTensor<T>, targets: RefTensor<T>, delta: T) -> (loss: T, gradient: RefTensor<T>) {
        let count = T(predictions.count)
        var total: T = 0
        var gradient = predictions
        for i in 0..<predictions.count {
            let d = predictions.data[i] - targets.data[i]
            if Swift.abs(d) <= delta {
                total += d * d / 2
                gradient.data[i] = d / count
            } else {
                total += delta * (Swift.abs(d) - delta / 2)
                gradient.data[i] = (d > 0 ? delta : -delta) / count
            }
        }
        return (total / count, gradient)
    }

    /// KL divergence: mean over rows of Σ_k y log(y/p) on the last axis, both clipped to [ε, 1].
    @inlinable
    public static func klDivergence<T: RefScalar>(_ predictions: RefTensor<T>, targets: RefTensor<T>) -> (loss: T, gradient: RefTensor<T>) {
        let width = predictions.shape.last!, rows = T(predictions.count / width), epsilon: T = 1e-7
        var total: T = 0
        var gradient = predictions
        for i in 0..<predictions.count {
            let y = Swift.min(Swift.max(targets.data[i], epsilon), 1), raw = predictions.data[i]
            let p = Swift.min(Swift.max(raw, epsilon), 1)
            total += y * T.refLog(y / p)
            gradient.data[i] = raw > epsilon && raw < 1 ? -y / p / rows : 0
        }
        return (total / rows, gradient)
    }
}
