/// Inverted dropout, whatever the mask's shape (Keras's `noise_shape`): in training each mask value
/// is kept with probability 1 − rate as 1 / (1 − rate), else 0, and the input is multiplied by the
/// mask broadcast over it, so inference needs no rescaling and is the identity. The mask comes from
/// the layer's own generator, seeded by the user's `seed` or else by the model, so runs repeat.
/// `Dropout` masks every element, `SpatialDropout2D` whole channels; the rest is here.
public class DropoutLayer: SeededLayer {
    package override var forwardMayReturnInput: Bool { true }
    /// The fraction dropped in training, in [0, 1) (Keras `rate`).
    public let rate: Float
    private var maskBuffer = ScratchBuffer()
    private var appliedMask = false

    /// `salt` as `SeededLayer`'s: Dropout and SpatialDropout2D with one seed draw different masks.
    init(rate: Float, seed: UInt64?, salt: UInt64, name: String?) {
        self.rate = rate
        super.init(seed: seed, salt: salt, name: name)
    }

    /// One sample's mask shape: the input shape, or a shape whose values each cover a run of
    /// `[…, C]`-contiguous input values (SpatialDropout2D's `[C]` covers the channel at every pixel).
    var maskShape: [Int] { inputShape }

    /// Whether a replica of a data-parallel step numbers its mask from its window's first sample
    /// in the global batch (so it draws what one process would), or from its own first sample.
    var maskFollowsBatchWindow: Bool { true }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard rate >= 0 && rate < 1 else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): rate must be in [0, 1), got \(rate)")
        }
        return inputShape
    }

    /// The last training mask, `[N] + maskShape`: 0 where dropped, 1 / (1 − rate) where kept; nil
    /// when the last forward passed its input through.
    public var mask: Tensor? { appliedMask ? maskBuffer.tensor(batch: lastBatch ?? 1, sampleShape: maskShape) : nil }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        appliedMask = training && rate > 0
        guard appliedMask else { return input }
        let n = input.shape[0]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let m = maskBuffer.tensor(batch: n, sampleShape: maskShape)
        // One draw from the layer's generator per step keys a counter-based hash of the mask
        // index, so the mask is the same whatever the thread count and parts can fill it in any order.
        // A replica's values are numbered from its window's first sample in the global batch.
        let key = rng.next()
        let first = maskFollowsBatchWindow ? (window?.offset ?? 0) * (m.count / max(1, n)) : 0
        // A mask of the input's shape is filled and applied in one pass.
        let elementwise = m.count == input.count
        let work = DropoutMask(key: key, keep: 1 - rate, first: first, mask: m.pointer, count: m.count,
                               x: elementwise ? input.pointer : nil, y: elementwise ? out.pointer : nil)
        Parallel.run(Parallel.partCount(m.count, grain: Parallel.elementGrain), work)
        if !elementwise { Self.multiply(input, by: m, into: out) }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard appliedMask else { return outputGradient }
        let n = outputGradient.shape[0]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        Self.multiply(outputGradient, by: maskBuffer.tensor(batch: n, sampleShape: maskShape), into: dx)
        return dx
    }

    /// y = x · mask, the mask broadcast over x: per image, mask value k of K scales x's values
    /// k, k + K, k + 2K, … (every pixel's channel k when K is the channel count).
    private static func multiply(_ x: Tensor, by mask: Tensor, into y: Tensor) {
        guard mask.count != x.count else {
            Parallel.multiply(x.pointer, mask.pointer, into: y.pointer, count: y.count)
            return
        }
        let images = x.shape[0], c = mask.count / max(1, images), pixels = x.count / max(1, mask.count)
        let x = x.pointer, mask = mask.pointer, y = y.pointer
        for image in 0..<images {
            let m = mask + image * c
            for p in 0..<pixels {
                let at = (image * pixels + p) * c
                for ch in 0..<c { y[at + ch] = x[at + ch] * m[ch] }
            }
        }
    }
}

/// Inverted dropout (Keras `Dropout`): in training each element is kept with probability 1 − rate
/// and scaled by 1 / (1 − rate), so inference needs no rescaling and is the identity. The mask has
/// the input's shape and comes from the layer's own generator, seeded by the user's `seed` or else
/// by the model, so runs repeat (see `DropoutLayer`).
public final class Dropout: DropoutLayer {
    public init(rate: Float, seed: UInt64? = nil, name: String? = nil) {
        super.init(rate: rate, seed: seed, salt: 0xD809_0D7E, name: name)
    }

    public override var typeName: String { "Dropout" }
    public override var defaultNameStem: String { "dropout" }
}

/// Fills a dropout mask, and applies it when `x` and `y` are given (a mask of x's shape): value i is
/// kept when the top 24 bits of hash(key, first + i) fall below keep · 2²⁴. The hash is murmur3's
/// 32-bit finalizer, which vectorizes.
struct DropoutMask: ParallelWork {
    let key: UInt64
    let keep: Float
    /// The global index of value 0 (a replica's offset in the global batch; 0 in one process).
    let first: Int
    let mask: UnsafeMutablePointer<Float>
    let count: Int
    let x: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>?

    func run(part: Int, of parts: Int) {
        let r = Parallel.range(part, of: parts, count: count)
        let threshold = UInt32((Double(keep) * 16_777_216).rounded(.up))
        let scale = 1 / keep
        let k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        @inline(__always) func value(_ i: Int) -> Float {
            var h = UInt32(truncatingIfNeeded: first &+ i) &* 0x9E37_79B9 &+ k0
            h ^= k1
            h ^= h >> 16; h &*= 0x85EB_CA6B
            h ^= h >> 13; h &*= 0xC2B2_AE35
            h ^= h >> 16
            return (h >> 8) < threshold ? scale : 0
        }
        if let x, let y {
            for i in r {
                let m = value(i)
                mask[i] = m
                y[i] = x[i] * m
            }
        } else {
            for i in r { mask[i] = value(i) }
        }
    }
}
