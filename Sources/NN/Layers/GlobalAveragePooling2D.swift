/// The mean over height and width of each channel (Keras `GlobalAveragePooling2D`): `[H, W, C]` →
/// `[C]`, or `[1, 1, C]` with `keepdims` (as MobileNet's head uses it, ahead of a 1×1 convolution).
/// Forward is one sgemv per image over its `[H·W, C]` view; backward spreads dY / (H·W) back.
public final class GlobalAveragePooling2D: Layer {
    public let keepdims: Bool
    private var ones = ScratchBuffer()

    public init(keepdims: Bool = false, name: String? = nil) {
        self.keepdims = keepdims
        super.init(name: name)
    }

    public override var typeName: String { "GlobalAveragePooling2D" }
    public override var defaultNameStem: String { "global_average_pooling2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("layer '\(displayName)' (GlobalAveragePooling2D) expects images [N, height, width, channels] but its input shape is \(inputShape)")
        }
        return keepdims ? [1, 1, inputShape[2]] : [inputShape[2]]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let n = input.shape[0], pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let one = ones.tensor(batch: pixels, sampleShape: [])
        if one[flat: 0] != 1 || one[flat: pixels - 1] != 1 { one.fill(1) }
        for image in 0..<n {
            BLAS.gemv(trans: true, m: pixels, n: c, alpha: 1 / Float(pixels), a: input.pointer + image * pixels * c,
                      x: one.pointer, y: out.pointer + image * c)
        }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let n = outputGradient.shape[0], pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let scale = 1 / Float(pixels), dy = outputGradient.pointer, d = dx.pointer
        for image in 0..<n {
            let src = dy + image * c
            for p in 0..<pixels {
                let dst = d + (image * pixels + p) * c
                for j in 0..<c { dst[j] = src[j] * scale }
            }
        }
        return dx
    }
}
