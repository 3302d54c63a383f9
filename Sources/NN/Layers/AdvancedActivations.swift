import Foundation

/// Keras's `LeakyReLU` layer: y = x for x > 0, `negativeSlope` · x otherwise (Keras 3's
/// `negative_slope`, default 0.3; Keras 2 called it `alpha`). The gradient is 1 or the slope,
/// read from the output's sign (the slope is never negative).
public final class LeakyReLU: Layer {
    public let negativeSlope: Float
    private var y: Tensor?

    public init(negativeSlope: Float = 0.3, name: String? = nil) {
        self.negativeSlope = negativeSlope
        super.init(name: name)
    }

    public override var typeName: String { "LeakyReLU" }
    public override var defaultNameStem: String { "leaky_re_lu" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard negativeSlope >= 0, negativeSlope.isFinite else {
            throw NNError.invalidArgument("layer '\(displayName)' (LeakyReLU): negative slope must be a non-negative number, got \(negativeSlope)")
        }
        return inputShape
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        let x = input.pointer, o = out.pointer, a = negativeSlope
        for i in 0..<out.count { let v = x[i]; o[i] = v > 0 ? v : v * a }
        y = out
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        guard let y else { throw NNError.invalidArgument("layer '\(displayName)' (LeakyReLU): backward before forward") }
        let yp = y.pointer, g = outputGradient.pointer, d = dx.pointer, a = negativeSlope
        for i in 0..<dx.count { d[i] = yp[i] > 0 ? g[i] : g[i] * a }
        return dx
    }
}

/// Keras's `ELU` layer: y = x for x > 0, `alpha` · (eˣ − 1) otherwise. The gradient is 1 for
/// x > 0 and y + alpha (= alpha · eˣ) otherwise, as TensorFlow differentiates it.
public final class ELU: Layer {
    public let alpha: Float
    private var x: Tensor?, y: Tensor?

    public init(alpha: Float = 1, name: String? = nil) {
        self.alpha = alpha
        super.init(name: name)
    }

    public override var typeName: String { "ELU" }
    public override var defaultNameStem: String { "elu" }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        let xp = input.pointer, o = out.pointer, a = alpha
        for i in 0..<out.count { let v = xp[i]; o[i] = v > 0 ? v : a * expm1(v) }
        x = input
        y = out
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        guard let x, let y else { throw NNError.invalidArgument("layer '\(displayName)' (ELU): backward before forward") }
        let xp = x.pointer, yp = y.pointer, g = outputGradient.pointer, d = dx.pointer, a = alpha
        for i in 0..<dx.count { d[i] = xp[i] > 0 ? g[i] : g[i] * (yp[i] + a) }
        return dx
    }
}

/// Keras's `PReLU` layer: y = x for x > 0, α · x otherwise, with a trainable `alpha` of the
/// per-sample shape, except that the axes in `sharedAxes` (Keras's 1-based per-sample axes, e.g.
/// `[1, 2]` for one α per channel of an image) have size 1 and share one value. α starts at
/// `alphaInitializer` (Keras's default: zeros, a plain ReLU).
public final class PReLU: Layer {
    public let alphaInitializer: Initializer
    /// Keras's `shared_axes` (1-based per-sample axes), or nil.
    public let sharedAxes: [Int]?
    public private(set) var alpha: Parameter!
    /// For each per-sample element, the index of its α.
    private var alphaIndex: [Int] = []
    private var x: Tensor?

    public init(alphaInitializer: Initializer = .zeros, sharedAxes: [Int]? = nil, name: String? = nil) {
        self.alphaInitializer = alphaInitializer
        self.sharedAxes = sharedAxes
        super.init(name: name)
    }

    public override var typeName: String { "PReLU" }
    public override var defaultNameStem: String { "p_re_lu" }

    /// α's shape: the per-sample shape with 1 on the shared axes.
    var alphaShape: [Int] {
        var shape = inputShape
        for a in sharedAxes ?? [] { shape[a - 1] = 1 }
        return shape
    }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        for a in sharedAxes ?? [] where !(1...inputShape.count).contains(a) {
            throw NNError.invalidArgument("layer '\(displayName)' (PReLU): shared axis \(a) is not one of the per-sample axes 1…\(inputShape.count) of \(inputShape)")
        }
        return inputShape
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let shape = alphaShape
        alpha = addParameter("alpha", shape: shape, initializer: alphaInitializer, rng: &rng)
        // Row-major strides of α, zero on the shared axes: element → its α.
        var strides = [Int](repeating: 0, count: shape.count), s = 1
        for a in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[a] = shape[a] == 1 ? 0 : s
            s *= shape[a]
        }
        let count = inputShape.reduce(1, *)
        alphaIndex = [Int](repeating: 0, count: count)
        for i in 0..<count {
            var rest = i, index = 0
            for a in stride(from: inputShape.count - 1, through: 0, by: -1) {
                index += (rest % inputShape[a]) * strides[a]
                rest /= inputShape[a]
            }
            alphaIndex[i] = index
        }
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let n = input.shape[0], size = alphaIndex.count
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let xp = input.pointer, o = out.pointer, a = alpha.value.pointer
        alphaIndex.withUnsafeBufferPointer { index in
            for image in 0..<n {
                let xi = xp + image * size, oi = o + image * size
                for j in 0..<size { let v = xi[j]; oi[j] = v > 0 ? v : a[index[j]] * v }
            }
        }
        x = input
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard let x else { throw NNError.invalidArgument("layer '\(displayName)' (PReLU): backward before forward") }
        let n = outputGradient.shape[0], size = alphaIndex.count
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let xp = x.pointer, g = outputGradient.pointer, d = dx.pointer
        let a = alpha.value.pointer, da = alpha.gradient.pointer
        alpha.gradient.fill(0)
        // dα = Σ dy · min(x, 0); dx = dy for x > 0, dy · α for x < 0, and 0 at x = 0 (TensorFlow's
        // relu gradient on both parts).
        alphaIndex.withUnsafeBufferPointer { index in
            for image in 0..<n {
                let xi = xp + image * size, gi = g + image * size, di = d + image * size
                for j in 0..<size {
                    let v = xi[j]
                    di[j] = v > 0 ? gi[j] : (v < 0 ? gi[j] * a[index[j]] : 0)
                    if v < 0 { da[index[j]] += gi[j] * v }
                }
            }
        }
        return dx
    }
}
