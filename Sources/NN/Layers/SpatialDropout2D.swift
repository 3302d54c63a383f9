/// Dropout of whole channels (Keras `SpatialDropout2D`): in training each channel of each image is
/// kept with probability 1 − rate, scaled by 1 / (1 − rate), or zeroed across all its pixels
/// (Keras's noise shape `(N, 1, 1, C)`); inference is the identity. Neighbouring pixels of a
/// feature map are correlated, so dropping them one by one (Dropout) regularizes little. The mask
/// comes from the layer's own generator like Dropout's, seeded by `seed` or else by the model.
public final class SpatialDropout2D: SeededLayer {
    package override var forwardMayReturnInput: Bool { true }
    public let rate: Float
    private var maskBuffer = ScratchBuffer()
    private var appliedMask = false

    public init(rate: Float, seed: UInt64? = nil, name: String? = nil) {
        self.rate = rate
        super.init(seed: seed, salt: 0x5FA7_D809, name: name)
    }

    public override var typeName: String { "SpatialDropout2D" }
    public override var defaultNameStem: String { "spatial_dropout2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        guard rate >= 0 && rate < 1 else {
            throw NNError.invalidArgument("layer '\(displayName)' (SpatialDropout2D): rate must be in [0, 1), got \(rate)")
        }
        return inputShape
    }

    /// The last training mask, `[N, C]`: 0 for a dropped channel, 1 / (1 − rate) for a kept one.
    public var mask: Tensor? { appliedMask ? maskBuffer.tensor(batch: lastBatch ?? 1, sampleShape: [inputShape[2]]) : nil }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        appliedMask = training && rate > 0
        guard appliedMask else { return input }
        let n = input.shape[0], c = inputShape[2], pixels = inputShape[0] * inputShape[1]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let m = maskBuffer.tensor(batch: n, sampleShape: [c]).pointer
        // One draw per step keys the hash of (image, channel), as Dropout's mask is keyed.
        let key = rng.next()
        let threshold = UInt32((Double(1 - rate) * 16_777_216).rounded(.up)), scale = 1 / (1 - rate)
        let k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        for i in 0..<(n * c) {
            var h = UInt32(truncatingIfNeeded: i) &* 0x9E37_79B9 &+ k0
            h ^= k1
            h ^= h >> 16; h &*= 0x85EB_CA6B
            h ^= h >> 13; h &*= 0xC2B2_AE35
            h ^= h >> 16
            m[i] = (h >> 8) < threshold ? scale : 0
        }
        Self.scaleChannels(input.pointer, mask: m, into: out.pointer, images: n, pixels: pixels, channels: c)
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard appliedMask else { return outputGradient }
        let n = outputGradient.shape[0], c = inputShape[2], pixels = inputShape[0] * inputShape[1]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let m = maskBuffer.tensor(batch: n, sampleShape: [c]).pointer
        Self.scaleChannels(outputGradient.pointer, mask: m, into: dx.pointer, images: n, pixels: pixels, channels: c)
        return dx
    }

    /// y[n, p, c] = x[n, p, c] · mask[n, c].
    private static func scaleChannels(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
                                      into y: UnsafeMutablePointer<Float>, images: Int, pixels: Int, channels c: Int) {
        for image in 0..<images {
            let m = mask + image * c
            for p in 0..<pixels {
                let at = (image * pixels + p) * c
                for ch in 0..<c { y[at + ch] = x[at + ch] * m[ch] }
            }
        }
    }
}
