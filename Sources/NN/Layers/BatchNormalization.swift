import CKernels
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

    /// The last forward pass's input: backward recomputes x̂ = (x − μ)·σ⁻¹ from it rather than
    /// keeping x̂, a second copy of every BatchNormalization's input through a training step (the
    /// input is the previous layer's output, which training keeps anyway).
    private var input: Tensor?
    private var partialBuffer = ScratchBuffer()
    /// Per-channel scratch, 4·C floats (reserved when built): mean, σ⁻¹, Σ (centred squares, then dy), Σ dy·x̂.
    private var statsBuffer = ScratchBuffer()
    private var stats: UnsafeMutablePointer<Float> { statsBuffer.floats(4 * channelCount) }
    private var mean: UnsafeMutablePointer<Float> { stats }
    private var inverseStd: UnsafeMutablePointer<Float> { stats + channelCount }
    private var channelSum: UnsafeMutablePointer<Float> { stats + 2 * channelCount }
    private var channelDot: UnsafeMutablePointer<Float> { stats + 3 * channelCount }
    private var channelCount = 1
    private var usedBatchStatistics = false
    /// With `replicas` (`--sync-batchnorm`): the statistics are the global batch's, summed over
    /// the replicas in forward (and the matching terms in backward); nil uses this replica's share
    /// alone (Keras's default under MirroredStrategy).
    public var replicas: (any ReplicaGroup)?
    /// This replica's rows over the global batch's, from the last synchronized forward.
    private var replicaWeight: Float = 1
    /// Set by the model (`BatchNormActivationFusion`) for whole training passes: the ReLU or ReLU6
    /// after this layer runs in place on its output, so this layer applies it while writing y, and
    /// masks the incoming gradient with it in backward (the activation layer passes dy through).
    package var appliesActivation: Activation?
    /// What the last forward pass applied (`NN_BATCHNORM_RELU`, `_RELU6`, or 0) and its output, the
    /// activation's output, whose mask backward applies.
    private var appliedActivation: Int32 = 0
    private var output: Tensor?

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, name: String? = nil) {
        self.momentum = momentum
        self.epsilon = epsilon
        super.init(name: name)
    }

    /// The inference transform as a per-channel scale and shift: y = s·x + t with s = γ/√(σ² + ε)
    /// and t = β − μ·s, from the moving statistics (what a folded convolution applies).
    package func inferenceScaleShift(scale s: UnsafeMutablePointer<Float>, shift t: UnsafeMutablePointer<Float>) {
        let g = gamma.value.pointer, b = beta.value.pointer, mm = movingMean.value.pointer, mv = movingVariance.value.pointer
        for j in 0..<channelCount {
            s[j] = g[j] / (mv[j] + epsilon).squareRoot()
            t[j] = b[j] - mm[j] * s[j]
        }
    }

    public override var typeName: String { "BatchNormalization" }
    public override var defaultNameStem: String { "batch_normalization" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard epsilon > 0, momentum >= 0, momentum <= 1 else {
            throw NNError.invalidArgument("layer '\(displayName)' (BatchNormalization): epsilon must be positive and momentum in [0, 1]")
        }
        return inputShape
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let c = inputShape.last!
        gamma = addParameter("gamma", shape: [c], initializer: .ones, rng: &rng)
        beta = addParameter("beta", shape: [c], rng: &rng)
        movingMean = addParameter("moving_mean", shape: [c], trainable: false, rng: &rng)
        movingVariance = addParameter("moving_variance", shape: [c], initializer: .ones, trainable: false, rng: &rng)
        channelCount = c
        _ = stats
    }

    /// Backward recomputes x̂ from the input: the activation after this layer may overwrite y.
    package override var backwardReadsOutput: Bool { false }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let c = inputShape.last!, rows = input.count / c
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        self.input = input
        output = out
        appliedActivation = !training ? 0 : appliesActivation == .relu ? Int32(NN_BATCHNORM_RELU)
            : appliesActivation == .relu6 ? Int32(NN_BATCHNORM_RELU6) : 0
        usedBatchStatistics = training && trainable
        let x = input.pointer
        let parts = Parallel.partCount(input.count, grain: Parallel.elementGrain)
        if usedBatchStatistics {
            // Per-channel sums over row ranges on the threads, combined in part order; the
            // variance by a second pass around the mean, for accuracy.
            let mean = self.mean, sq = channelSum, s = inverseStd
            let partials = partialSums(parts: parts, channels: c)
            Parallel.run(parts, BatchNormSums(x: x, center: nil, rows: rows, channels: c, partials: partials))
            var count = Float(rows)
            if let replicas {
                // Σx and the row count (adjacent: channelSum then channelDot[0]) summed over replicas.
                combine(partials, parts: parts, channels: c, into: sq, scale: 1)
                sq[c] = count
                try replicas.sum(sq, count: c + 1)
                count = sq[c]
                replicaWeight = Float(rows) / count
                for j in 0..<c { mean[j] = sq[j] / count }
            } else {
                combine(partials, parts: parts, channels: c, into: mean, scale: 1 / Float(rows))
            }
            Parallel.run(parts, BatchNormSums(x: x, center: mean, rows: rows, channels: c, partials: partials))
            combine(partials, parts: parts, channels: c, into: sq, scale: 1)
            if let replicas { try replicas.sum(sq, count: c) }
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c {
                let variance = sq[j] / count
                s[j] = 1 / (variance + epsilon).squareRoot()
                mm[j] = momentum * mm[j] + (1 - momentum) * mean[j]
                mv[j] = momentum * mv[j] + (1 - momentum) * variance
            }
        } else {
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            let mean = self.mean, s = inverseStd
            for j in 0..<c { mean[j] = mm[j]; s[j] = 1 / (mv[j] + epsilon).squareRoot() }
        }
        Parallel.run(parts, BatchNormNormalize(x: x, mean: mean, inverseStd: inverseStd, gamma: gamma.value.pointer,
                                               beta: beta.value.pointer, y: out.pointer, activation: appliedActivation,
                                               rows: rows, channels: c))
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let c = inputShape.last!, rows = outputGradient.count / c
        // With a fused activation dy is the activation's (passed through) and nothing reads it
        // after this layer: dx is written over it, element by element (see `MemoryPlan`).
        let dx = appliedActivation != 0 ? outputGradient
            : inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        guard let x = input else {
            throw NNError.invalidArgument("layer '\(displayName)' (BatchNormalization): backward called before forward")
        }
        let parts = Parallel.partCount(outputGradient.count, grain: Parallel.elementGrain)
        // dβ = Σ dy ; dγ = Σ dy·x̂ (per channel), partial sums side by side: [Σ dy | Σ dy·x̂] per part.
        let partials = partialSums(parts: parts, channels: 2 * c)
        // With a fused activation, dy is the activation's output gradient: masked by its output.
        let y = appliedActivation == 0 ? nil : output?.pointer
        Parallel.run(parts, BatchNormGradientSums(dy: outputGradient.pointer, y: y, activation: appliedActivation, x: x.pointer,
                                                  mean: mean, inverseStd: inverseStd, rows: rows, channels: c, partials: partials))
        let sum = channelSum, dot = channelDot
        combine(partials, parts: parts, channels: 2 * c, into: sum, scale: 1)  // fills sum and dot, adjacent
        let db = beta.gradient.pointer, dg = gamma.gradient.pointer
        for j in 0..<c { db[j] = sum[j]; dg[j] = dot[j] }
        if let replicas, usedBatchStatistics {
            // The global means of dy and dy·x̂, in this replica's scale (its loss is the mean over its
            // own rows; the gradient reduction weights it by replicaWeight afterwards).
            for j in 0..<(2 * c) { sum[j] *= replicaWeight }
            try replicas.sum(sum, count: 2 * c)
        }
        let invR = 1 / Float(rows)
        for j in 0..<c { sum[j] *= invR; dot[j] *= invR }  // per-channel terms, hoisted
        Parallel.run(parts, BatchNormInputGradient(dy: outputGradient.pointer, y: y, activation: appliedActivation,
                                                   x: x.pointer, mean: mean, gamma: gamma.value.pointer,
                                                   inverseStd: inverseStd, meanGradient: sum, meanDot: dot,
                                                   batchStatistics: usedBatchStatistics, dx: dx.pointer, rows: rows, channels: c))
        return dx
    }

    /// Scratch for `parts` rows of per-channel partial sums (`channels` ≤ 2·C). Viewed at 2·C per
    /// part whatever `channels` is, so forward and backward share one view and a step allocates nothing.
    private func partialSums(parts: Int, channels: Int) -> UnsafeMutablePointer<Float> {
        partialBuffer.tensor(batch: parts * 2 * channelCount, sampleShape: []).pointer
    }

    /// Adds the parts' partial sums in part order into `result`, times `scale`.
    private func combine(_ partials: UnsafeMutablePointer<Float>, parts: Int, channels: Int,
                         into result: UnsafeMutablePointer<Float>, scale: Float) {
        for j in 0..<channels {
            var t: Float = 0
            for p in 0..<parts { t += partials[p * channels + j] }
            result[j] = t * scale
        }
    }
}

/// Per-channel sums over part `part` of the rows, into row `part` of `partials`: Σ x, or
/// Σ (x − center)² when `center` is given (C floats).
struct BatchNormSums: ParallelWork {
    let x: UnsafeMutablePointer<Float>, center: UnsafeMutablePointer<Float>?
    let rows: Int, channels: Int
    let partials: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = channels, r = Parallel.range(part, of: parts, count: rows)
        let sum = partials + part * c
        sum.update(repeating: 0, count: c)
        nn_batchnorm_sums(x + r.lowerBound * c, center, r.count, c, sum)
    }
}

/// Σ dy and Σ dy·x̂ per channel over part `part` of the rows, side by side in row `part` of
/// `partials` (2·C floats), with x̂ = (x − mean)·σ⁻¹ made on the fly as forward made it (dy masked
/// by the fused activation's output `y` when there is one).
struct BatchNormGradientSums: ParallelWork {
    let dy: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>?, activation: Int32
    let x: UnsafeMutablePointer<Float>
    let mean: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    let rows: Int, channels: Int
    let partials: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = channels
        let sum = partials + part * 2 * c, dot = sum + c
        sum.update(repeating: 0, count: 2 * c)
        let r = Parallel.range(part, of: parts, count: rows)
        let o = r.lowerBound * c
        nn_batchnorm_gradient_sums(dy + o, y.map { $0 + o }, activation, x + o, mean, inverseStd, r.count, c, sum, dot)
    }
}

/// y = γ·x̂ + β with x̂ = (x − mean)·σ⁻¹ over part `part` of the rows (then the fused activation).
struct BatchNormNormalize: ParallelWork {
    let x: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    let gamma: UnsafeMutablePointer<Float>, beta: UnsafeMutablePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let activation: Int32
    let rows: Int, channels: Int

    func run(part: Int, of parts: Int) {
        let c = channels, r = Parallel.range(part, of: parts, count: rows)
        nn_batchnorm_normalize(x + r.lowerBound * c, mean, inverseStd, gamma, beta, y + r.lowerBound * c, r.count, c, activation)
    }
}

/// dx over part `part` of the rows: γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) with batch statistics
/// (`meanGradient`, `meanDot` per channel), or γ·σ⁻¹·dy when the statistics were constants.
struct BatchNormInputGradient: ParallelWork {
    let dy: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>?, activation: Int32
    let x: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>
    let gamma: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    let meanGradient: UnsafeMutablePointer<Float>, meanDot: UnsafeMutablePointer<Float>
    let batchStatistics: Bool
    let dx: UnsafeMutablePointer<Float>
    let rows: Int, channels: Int

    func run(part: Int, of parts: Int) {
        let c = channels, r = Parallel.range(part, of: parts, count: rows), o = r.lowerBound * c
        nn_batchnorm_input_gradient(dy + o, y.map { $0 + o }, activation, x + o, mean, gamma, inverseStd, batchStatistics ? meanGradient : nil,
                                    batchStatistics ? meanDot : nil, dx + o, r.count, c)
    }
}
