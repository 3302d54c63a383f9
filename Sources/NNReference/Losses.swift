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
}
