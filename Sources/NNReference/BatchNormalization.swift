/// Batch normalization over the last (channel) axis, statistics over all other axes (N·H·W),
/// as Keras 3 `BatchNormalization` does it: biased batch variance, and the moving variance is
/// updated with that same biased variance.
extension Ref {
    /// What training-mode backward needs from the forward pass.
    public struct BatchNormCache<T: RefScalar> {
        /// (x − mean) / sqrt(var + eps), same shape as x.
        public var normalized: RefTensor<T>
        /// Per-channel batch mean and biased batch variance.
        public var mean: [T]
        public var variance: [T]
        /// Per-channel 1 / sqrt(var + eps).
        public var inverseStd: [T]

        @inlinable
        public init(normalized: RefTensor<T>, mean: [T], variance: [T], inverseStd: [T]) {
            self.normalized = normalized
            self.mean = mean
            self.variance = variance
            self.inverseStd = inverseStd
        }
    }

    /// Training mode: normalizes with the batch statistics and moves the moving statistics toward
    /// them: moving = momentum · moving + (1 - momentum) · batch.
    @inlinable
    public static func batchNormTraining<T: RefScalar>(_ x: RefTensor<T>, gamma: [T], beta: [T],
                                                       movingMean: inout [T], movingVariance: inout [T],
                                                       momentum: T = 0.99, epsilon: T = 1e-3)
        -> (output: RefTensor<T>, cache: BatchNormCache<T>) {
        let c = batchNormChannels(x, gamma: gamma, beta: beta)
        precondition(movingMean.count == c && movingVariance.count == c, "batch-norm moving statistics must have \(c) elements")
        let rows = c == 0 ? 0 : x.count / c
        precondition(rows > 0, "batch-norm training needs a non-empty batch")
        var mean = [T](repeating: 0, count: c)
        var variance = [T](repeating: 0, count: c)
        for r in 0..<rows { for j in 0..<c { mean[j] += x.data[r * c + j] } }
        for j in 0..<c { mean[j] /= T(rows) }
        for r in 0..<rows { for j in 0..<c {
            let d = x.data[r * c + j] - mean[j]
            variance[j] += d * d
        }}
        for j in 0..<c { variance[j] /= T(rows) }
        let inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var xhat = x
        var y = x
        for r in 0..<rows { for j in 0..<c {
            let i = r * c + j
            xhat.data[i] = (x.data[i] - mean[j]) * inverseStd[j]
            y.data[i] = gamma[j] * xhat.data[i] + beta[j]
        }}
        for j in 0..<c {
            movingMean[j] = momentum * movingMean[j] + (1 - momentum) * mean[j]
            movingVariance[j] = momentum * movingVariance[j] + (1 - momentum) * variance[j]
        }
        return (y, BatchNormCache(normalized: xhat, mean: mean, variance: variance, inverseStd: inverseStd))
    }

    /// Inference mode: y = gamma · (x − moving mean) / sqrt(moving var + eps) + beta.
    @inlinable
    public static func batchNormInference<T: RefScalar>(_ x: RefTensor<T>, gamma: [T], beta: [T],
                                                        movingMean: [T], movingVariance: [T],
                                                        epsilon: T = 1e-3) -> RefTensor<T> {
        let c = batchNormChannels(x, gamma: gamma, beta: beta)
        precondition(movingMean.count == c && movingVariance.count == c, "batch-norm moving statistics must have \(c) elements")
        var y = x
        for i in 0..<x.count {
            let j = i % c
            y.data[i] = gamma[j] * (x.data[i] - movingMean[j]) / (movingVariance[j] + epsilon).squareRoot() + beta[j]
        }
        return y
    }

    /// Training-mode gradients, M = N·H·W: dBeta = Σ dY, dGamma = Σ dY · x̂,
    /// dX = gamma · invStd / M · (M · dY − dBeta − x̂ · dGamma).
    @inlinable
    public static func batchNormBackward<T: RefScalar>(cache: BatchNormCache<T>, gamma: [T],
                                                       outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, gamma: [T], beta: [T]) {
        let xhat = cache.normalized
        precondition(dy.shape == xhat.shape, "batch-norm gradient shape \(dy.shape) differs from input \(xhat.shape)")
        let c = gamma.count
        let rows = xhat.count / c
        var dGamma = [T](repeating: 0, count: c)
        var dBeta = [T](repeating: 0, count: c)
        for r in 0..<rows { for j in 0..<c {
            let i = r * c + j
            dBeta[j] += dy.data[i]
            dGamma[j] += dy.data[i] * xhat.data[i]
        }}
        var dx = dy
        let m = T(rows)
        for r in 0..<rows { for j in 0..<c {
            let i = r * c + j
            dx.data[i] = gamma[j] * cache.inverseStd[j] / m * (m * dy.data[i] - dBeta[j] - xhat.data[i] * dGamma[j])
        }}
        return (dx, dGamma, dBeta)
    }

    /// The channel count (last axis), checking gamma and beta match it.
    @inlinable
    static func batchNormChannels<T>(_ x: RefTensor<T>, gamma: [T], beta: [T]) -> Int {
        precondition(x.rank >= 1, "batch-norm input needs a channel axis")
        let c = x.shape[x.rank - 1]
        precondition(gamma.count == c && beta.count == c, "batch-norm gamma/beta must have \(c) elements")
        return c
    }
}
