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
    /// Per-channel scratch, 4·C floats: mean, σ⁻¹, Σ (centred squares, then dy), Σ dy·x̂.
    private var stats = UnsafeMutablePointer<Float>.allocate(capacity: 4)
    private var mean: UnsafeMutablePointer<Float> { stats }
    private var inverseStd: UnsafeMutablePointer<Float> { stats + channelCount }
    private var channelSum: UnsafeMutablePointer<Float> { stats + 2 * channelCount }
    private var channelDot: UnsafeMutablePointer<Float> { stats + 3 * channelCount }
    private var channelCount = 1
    private var usedBatchStatistics = false

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, name: String? = nil) {
        self.momentum = momentum
        self.epsilon = epsilon
        super.init(name: name)
    }

    deinit { stats.deallocate() }

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
        stats.deallocate()
        stats = .allocate(capacity: 4 * c)
        stats.initialize(repeating: 0, count: 4 * c)
        channelCount = c
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
            let mean = self.mean, sq = channelSum, s = inverseStd
            BLAS.gemv(trans: true, m: rows, n: c, alpha: 1 / Float(rows), a: x, x: one, y: mean)
            sq.update(repeating: 0, count: c)
            for r in 0..<rows {
                let row = x + r * c
                for j in 0..<c { let d = row[j] - mean[j]; sq[j] += d * d }
            }
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c {
                let variance = sq[j] / Float(rows)
                s[j] = 1 / (variance + epsilon).squareRoot()
                mm[j] = momentum * mm[j] + (1 - momentum) * mean[j]
                mv[j] = momentum * mv[j] + (1 - momentum) * variance
            }
        } else {
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            let mean = self.mean, s = inverseStd
            for j in 0..<c { mean[j] = mm[j]; s[j] = 1 / (mv[j] + epsilon).squareRoot() }
        }
        let m = UnsafePointer(mean), s = UnsafePointer(inverseStd)
        for r in 0..<rows {
            let xr = UnsafePointer(x + r * c), xhr = xh + r * c, yr = y + r * c
            for j in 0..<c {
                let v = (xr[j] - m[j]) * s[j]
                xhr[j] = v
                yr[j] = g[j] * v + b[j]
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
        let sum = channelSum, dot = channelDot, s = UnsafePointer(inverseStd)
        BLAS.gemv(trans: true, m: rows, n: c, a: dy, x: onesVector(rows), y: sum)
        dot.update(repeating: 0, count: c)
        for r in 0..<rows {
            let dyr = UnsafePointer(dy + r * c), xhr = UnsafePointer(xh + r * c)
            for j in 0..<c { dot[j] += dyr[j] * xhr[j] }
        }
        let db = beta.gradient.pointer, dg = gamma.gradient.pointer
        for j in 0..<c { db[j] = sum[j]; dg[j] = dot[j] }
        if usedBatchStatistics {
            // dx = γ·σ⁻¹/R · (R·dy − Σdy − x̂·Σ(dy·x̂))
            let invR = 1 / Float(rows)
            for j in 0..<c { sum[j] *= invR; dot[j] *= invR }  // per-channel terms, hoisted
            for r in 0..<rows {
                let dyr = UnsafePointer(dy + r * c), xhr = UnsafePointer(xh + r * c), dr = d + r * c
                for j in 0..<c {
                    dr[j] = g[j] * s[j] * (dyr[j] - sum[j] - xhr[j] * dot[j])
                }
            }
        } else {  // statistics were constants: a per-channel scale
            for r in 0..<rows {
                let dyr = UnsafePointer(dy + r * c), dr = d + r * c
                for j in 0..<c { dr[j] = dyr[j] * g[j] * s[j] }
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
