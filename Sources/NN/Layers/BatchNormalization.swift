import Foundation

/// Batch normalization over the last axis (channels), statistics over every other axis.
/// Training uses the batch's mean and (biased) variance and moves the running statistics toward
/// them; inference, and a frozen layer (`trainable = false`, Keras's rule), use the running ones.
/// Keras defaults: momentum 0.99, epsilon 1e-3, gamma 1, beta 0, moving mean 0, moving variance 1.
public final class BatchNormalization: Layer {
    public let momentum: Float
    public let epsilon: Float
    public private(set) var gamma: Parameter!
    public private(set) var beta: Parameter!
    public private(set) var movingMean: Parameter!
    public private(set) var movingVariance: Parameter!

    private var output = BatchBuffer()
    private var normalized = BatchBuffer()   // x̂, kept for backward
    private var inputGradient = BatchBuffer()
    private var ones = BatchBuffer()
    private var mean: [Float] = []
    private var inverseStd: [Float] = []
    private var channelSum: [Float] = []
    private var channelDot: [Float] = []
    private var usedBatchStatistics = false

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, name: String? = nil) {
        self.momentum = momentum
        self.epsilon = epsilon
        super.init(name: name)
    }

    public override var typeName: String { "BatchNormalization" }
    public override var defaultNameStem: String { "batch_normalization" }
    public override var parameters: [Parameter] { ownParameters }
    private var ownParameters: [Parameter] = []

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard epsilon > 0, momentum >= 0, momentum <= 1 else {
            throw NNError.invalidArgument("layer '\(displayName)' (BatchNormalization): epsilon must be positive and momentum in [0, 1]")
        }
        return inputShape
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let c = inputShape.last!
        gamma = Parameter(name: "gamma", shape: [c]); gamma.value.fill(1)
        beta = Parameter(name: "beta", shape: [c])
        movingMean = Parameter(name: "moving_mean", shape: [c], trainable: false)
        movingVariance = Parameter(name: "moving_variance", shape: [c], trainable: false); movingVariance.value.fill(1)
        mean = [Float](repeating: 0, count: c)
        inverseStd = mean; channelSum = mean; channelDot = mean
        ownParameters = [gamma, beta, movingMean, movingVariance].compactMap { $0 }
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let c = inputShape.last!, rows = input.count / c
        let out = output.tensor(batch: input.shape[0], sampleShape: outputShape)
        let xhat = normalized.tensor(batch: input.shape[0], sampleShape: inputShape)
        usedBatchStatistics = training && trainable
        let x = input.pointer, xh = xhat.pointer, y = out.pointer
        let g = gamma.value.pointer, b = beta.value.pointer
        if usedBatchStatistics {
            let one = onesVector(rows)
            // Per-channel sums as one sgemv over the [rows, C] view; variance by a second pass for accuracy.
            BLAS.gemv(trans: true, m: rows, n: c, alpha: 1 / Float(rows), a: x, x: one, y: &mean)
            channelSum.withUnsafeMutableBufferPointer { v in
                v.update(repeating: 0)
                for r in 0..<rows {
                    let row = x + r * c
                    for j in 0..<c { let d = row[j] - mean[j]; v[j] += d * d }
                }
            }
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c {
                let variance = channelSum[j] / Float(rows)
                inverseStd[j] = 1 / (variance + epsilon).squareRoot()
                mm[j] = momentum * mm[j] + (1 - momentum) * mean[j]
                mv[j] = momentum * mv[j] + (1 - momentum) * variance
            }
        } else {
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c { mean[j] = mm[j]; inverseStd[j] = 1 / (mv[j] + epsilon).squareRoot() }
        }
        mean.withUnsafeBufferPointer { m in
            inverseStd.withUnsafeBufferPointer { s in
                for r in 0..<rows {
                    let o = r * c
                    for j in 0..<c {
                        let v = (x[o + j] - m[j]) * s[j]
                        xh[o + j] = v
                        y[o + j] = g[j] * v + b[j]
                    }
                }
            }
        }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let c = inputShape.last!, rows = outputGradient.count / c
        let dx = inputGradient.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let xhat = normalized.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let dy = outputGradient.pointer, xh = xhat.pointer, d = dx.pointer
        let g = gamma.value.pointer
        // dβ = Σ dy ; dγ = Σ dy·x̂ (per channel).
        BLAS.gemv(trans: true, m: rows, n: c, a: dy, x: onesVector(rows), y: &channelSum)
        channelDot.withUnsafeMutableBufferPointer { v in
            v.update(repeating: 0)
            for r in 0..<rows { let o = r * c; for j in 0..<c { v[j] += dy[o + j] * xh[o + j] } }
        }
        for j in 0..<c { beta.gradient[flat: j] = channelSum[j]; gamma.gradient[flat: j] = channelDot[j] }
        inverseStd.withUnsafeBufferPointer { s in
            if usedBatchStatistics {
                // dx = γ·σ⁻¹/R · (R·dy − Σdy − x̂·Σ(dy·x̂))
                let invR = 1 / Float(rows)
                for r in 0..<rows {
                    let o = r * c
                    for j in 0..<c {
                        d[o + j] = g[j] * s[j] * (dy[o + j] - invR * channelSum[j] - xh[o + j] * invR * channelDot[j])
                    }
                }
            } else {  // statistics were constants: a per-channel scale
                for r in 0..<rows { let o = r * c; for j in 0..<c { d[o + j] = dy[o + j] * g[j] * s[j] } }
            }
        }
        return dx
    }

    private func onesVector(_ rows: Int) -> UnsafeMutablePointer<Float> {
        let one = ones.tensor(batch: rows, sampleShape: [])
        if one[flat: 0] != 1 || one[flat: rows - 1] != 1 { one.fill(1) }
        return one.pointer
    }
}
