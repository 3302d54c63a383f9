/// Inverted dropout: in training each element is kept with probability 1 − rate and scaled by
/// 1 / (1 − rate), so inference needs no rescaling and is the identity. The mask comes from the
/// layer's own generator, seeded by the user's `seed` or else by the model, so runs repeat.
public final class Dropout: SeededLayer {
    package override var forwardMayReturnInput: Bool { true }
    public let rate: Float
    private var maskBuffer = ScratchBuffer()
    private var appliedMask = false

    public init(rate: Float, seed: UInt64? = nil, name: String? = nil) {
        self.rate = rate
        super.init(seed: seed, salt: 0xD809_0D7E, name: name)
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
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let m = maskBuffer.tensor(batch: n, sampleShape: inputShape)
        // One draw from the layer's generator per step keys a counter-based hash of the element
        // index, so the mask is the same whatever the thread count and parts can fill it in any order.
        // A replica's elements are numbered from its window's first sample in the global batch.
        let key = rng.next()
        let first = (window?.offset ?? 0) * (input.count / max(1, n))
        let work = DropoutMask(key: key, keep: 1 - rate, first: first, x: input.pointer, mask: m.pointer, y: out.pointer, count: input.count)
        Parallel.run(Parallel.partCount(input.count, grain: Parallel.elementGrain), work)
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard appliedMask else { return outputGradient }
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let m = maskBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        Parallel.multiply(outputGradient.pointer, m.pointer, into: dx.pointer, count: dx.count)
        return dx
    }
}

/// Fills a dropout mask and applies it: element i is kept when the top 24 bits of
/// hash(key, i) fall below keep · 2²⁴. The hash is murmur3's 32-bit finalizer, which vectorizes.
struct DropoutMask: ParallelWork {
    let key: UInt64
    let keep: Float
    /// The global index of element 0 (a replica's offset in the global batch; 0 in one process).
    let first: Int
    let x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let count: Int

    func run(part: Int, of parts: Int) {
        let r = Parallel.range(part, of: parts, count: count)
        let threshold = UInt32((Double(keep) * 16_777_216).rounded(.up))
        let scale = 1 / keep
        let k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        for i in r {
            var h = UInt32(truncatingIfNeeded: first &+ i) &* 0x9E37_79B9 &+ k0
            h ^= k1
            h ^= h >> 16; h &*= 0x85EB_CA6B
            h ^= h >> 13; h &*= 0xC2B2_AE35
            h ^= h >> 16
            let m: Float = (h >> 8) < threshold ? scale : 0
            mask[i] = m
            y[i] = x[i] * m
        }
    }
}
