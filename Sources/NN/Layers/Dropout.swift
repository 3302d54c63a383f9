/// Inverted dropout: in training each element is kept with probability 1 − rate and scaled by
/// 1 / (1 − rate), so inference needs no rescaling and is the identity. The mask comes from the
/// layer's own seeded generator, so runs repeat.
public final class Dropout: Layer {
    public let rate: Float
    /// The generator the masks come from; part of a checkpoint's state.
    public var rng: RandomGenerator
    private var output = BatchBuffer()
    private var inputGradient = BatchBuffer()
    private var maskBuffer = BatchBuffer()
    private var appliedMask = false

    public init(rate: Float, seed: UInt64 = 0, name: String? = nil) {
        self.rate = rate
        rng = RandomGenerator(seed: seed ^ 0xD809_0D7E)
        super.init(name: name)
    }

    public override func seedRandomState(_ rng: inout RandomGenerator) {
        self.rng = RandomGenerator(seed: rng.next())
    }

    public override var typeName: String { "Dropout" }
    public override var defaultNameStem: String { "dropout" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard rate >= 0 && rate < 1 else {
            throw NNError.invalidArgument("layer '\(displayName)' (Dropout): rate must be in [0, 1), got \(rate)")
        }
        return inputShape
    }

    /// The last training mask: 0 for dropped elements, 1 / (1 − rate) for kept ones.
    public var mask: Tensor? { appliedMask ? maskBuffer.tensor(batch: lastBatch ?? 1, sampleShape: inputShape) : nil }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        appliedMask = training && rate > 0
        guard appliedMask else { return input }
        let n = input.shape[0]
        let out = output.tensor(batch: n, sampleShape: outputShape)
        let m = maskBuffer.tensor(batch: n, sampleShape: inputShape)
        let scale = 1 / (1 - rate), keep = 1 - rate
        let mp = m.pointer, x = input.pointer, y = out.pointer, count = input.count
        // Two 24-bit uniforms per 64-bit draw (bits 63…40 and 39…16): half the generator calls.
        // An element is kept when its uniform u / 2^24 < keep, i.e. when u < ⌈keep · 2^24⌉.
        let threshold = UInt64((Double(keep) * 16_777_216).rounded(.up))
        var i = 0
        while i + 1 < count {
            let r = rng.next()
            let a = r >> 40, b = (r >> 16) & 0xFF_FFFF
            let ma: Float = a < threshold ? scale : 0, mb: Float = b < threshold ? scale : 0
            mp[i] = ma; mp[i + 1] = mb
            y[i] = x[i] * ma; y[i + 1] = x[i + 1] * mb
            i += 2
        }
        if i < count {
            let m0: Float = (rng.next() >> 40) < threshold ? scale : 0
            mp[i] = m0; y[i] = x[i] * m0
        }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard appliedMask else { return outputGradient }
        let dx = inputGradient.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let m = maskBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape).pointer
        let dy = outputGradient.pointer, d = dx.pointer
        for i in 0..<dx.count { d[i] = dy[i] * m[i] }
        return dx
    }
}
