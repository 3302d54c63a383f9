/// Layer normalization over the last axis (Keras `LayerNormalization(axis=-1)`): each position's
/// vector of features is normalized by its own mean and (biased) variance, then scaled by `gamma`
/// and shifted by `beta` (one value per feature). No batch statistics, so training and inference
/// compute the same thing. Keras 3 defaults: epsilon 1e-3, center and scale on, gamma 1, beta 0.
/// Parameters in Keras's order: `gamma` (when `scale`), then `beta` (when `center`).
public final class LayerNormalization: Layer {
    public let epsilon: Float
    /// Whether `beta` is added (Keras `center`).
    public let center: Bool
    /// Whether `gamma` multiplies (Keras `scale`).
    public let scale: Bool
    public let gammaInitializer: Initializer
    public let betaInitializer: Initializer
    public private(set) var gamma: Parameter?
    public private(set) var beta: Parameter?

    /// x̂ of the last forward pass, for backward.
    private var normalized = ScratchBuffer()
    /// σ⁻¹ of every row of the last forward pass.
    private var inverseStd = ScratchBuffer()
    /// Per-part partial sums of dγ and dβ, 2·C floats each.
    private var partialBuffer = ScratchBuffer()

    public init(epsilon: Float = 1e-3, center: Bool = true, scale: Bool = true,
                gammaInitializer: Initializer = .ones, betaInitializer: Initializer = .zeros, name: String? = nil) {
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.gammaInitializer = gammaInitializer
        self.betaInitializer = betaInitializer
        super.init(name: name)
    }

    public override var typeName: String { "LayerNormalization" }
    public override var defaultNameStem: String { "layer_normalization" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard epsilon > 0 else {
            throw NNError.invalidArgument("layer '\(displayName)' (LayerNormalization): epsilon must be positive, got \(epsilon)")
        }
        return inputShape
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let c = inputShape.last!
        gamma = scale ? addParameter("gamma", shape: [c], initializer: gammaInitializer, rng: &rng) : nil
        beta = center ? addParameter("beta", shape: [c], initializer: betaInitializer, rng: &rng) : nil
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let c = inputShape.last!, n = input.shape[0], rows = input.count / c
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let xhat = normalized.tensor(batch: n, sampleShape: inputShape)
        let s = inverseStd.tensor(batch: rows, sampleShape: [])
        Parallel.run(Parallel.partCount(input.count, grain: Parallel.elementGrain),
                     LayerNormForward(x: input.pointer, gamma: gamma?.value.pointer, beta: beta?.value.pointer, epsilon: epsilon,
                                      xhat: xhat.pointer, inverseStd: s.pointer, y: out.pointer, rows: rows, channels: c))
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let c = inputShape.last!, n = outputGradient.shape[0], rows = outputGradient.count / c
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let xhat = normalized.tensor(batch: n, sampleShape: inputShape)
        let s = inverseStd.tensor(batch: rows, sampleShape: [])
        let parts = Parallel.partCount(outputGradient.count, grain: Parallel.elementGrain)
        let partials = partialBuffer.tensor(batch: parts * 2 * c, sampleShape: []).pointer
        Parallel.run(parts, LayerNormBackward(dy: outputGradient.pointer, xhat: xhat.pointer, gamma: gamma?.value.pointer,
                                              inverseStd: s.pointer, dx: dx.pointer, partials: partials, rows: rows, channels: c))
        // dγ = Σ dy·x̂ and dβ = Σ dy over all rows, the parts' sums added in part order.
        let dg = gamma?.gradient.pointer, db = beta?.gradient.pointer
        for j in 0..<c {
            var sumDot: Float = 0, sum: Float = 0
            for p in 0..<parts { sumDot += partials[p * 2 * c + j]; sum += partials[p * 2 * c + c + j] }
            dg?[j] = sumDot
            db?[j] = sum
        }
        return dx
    }
}

/// Normalizes part `part` of the rows: mean and variance (a second pass around the mean, for
/// accuracy), x̂ = (x − mean)·σ⁻¹, y = γ·x̂ + β.
struct LayerNormForward: ParallelWork {
    let x: UnsafeMutablePointer<Float>, gamma: UnsafeMutablePointer<Float>?, beta: UnsafeMutablePointer<Float>?
    let epsilon: Float
    let xhat: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let rows: Int, channels: Int

    func run(part: Int, of parts: Int) {
        let c = channels, invC = 1 / Float(c)
        for row in Parallel.range(part, of: parts, count: rows) {
            let xr = x + row * c, hr = xhat + row * c, yr = y + row * c
            var mean: Float = 0
            for j in 0..<c { mean += xr[j] }
            mean *= invC
            var variance: Float = 0
            for j in 0..<c { let d = xr[j] - mean; variance += d * d }
            let s = 1 / (variance * invC + epsilon).squareRoot()
            inverseStd[row] = s
            for j in 0..<c { hr[j] = (xr[j] - mean) * s }
            switch (gamma, beta) {
            case let (g?, b?): for j in 0..<c { yr[j] = g[j] * hr[j] + b[j] }
            case let (g?, nil): for j in 0..<c { yr[j] = g[j] * hr[j] }
            case let (nil, b?): for j in 0..<c { yr[j] = hr[j] + b[j] }
            case (nil, nil): yr.update(from: hr, count: c)
            }
        }
    }
}

/// dx over part `part` of the rows, with g = dy·γ: σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)); and the part's
/// sums Σ dy·x̂ and Σ dy per feature into its row of `partials` (2·C floats).
struct LayerNormBackward: ParallelWork {
    let dy: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>, gamma: UnsafeMutablePointer<Float>?
    let inverseStd: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>
    let rows: Int, channels: Int

    func run(part: Int, of parts: Int) {
        let c = channels, invC = 1 / Float(c)
        let dot = partials + part * 2 * c, sum = dot + c
        dot.update(repeating: 0, count: 2 * c)
        for row in Parallel.range(part, of: parts, count: rows) {
            let dyr = dy + row * c, hr = xhat + row * c, dr = dx + row * c
            var meanG: Float = 0, meanGX: Float = 0
            for j in 0..<c {
                dot[j] += dyr[j] * hr[j]
                sum[j] += dyr[j]
                let g = gamma.map { dyr[j] * $0[j] } ?? dyr[j]
                meanG += g
                meanGX += g * hr[j]
            }
            meanG *= invC
            meanGX *= invC
            let s = inverseStd[row]
            for j in 0..<c {
                let g = gamma.map { dyr[j] * $0[j] } ?? dyr[j]
                dr[j] = s * (g - meanG - hr[j] * meanGX)
            }
        }
    }
}
