/// y = x · scale + offset on every element (Keras `Rescaling`): the layer tutorials put first to
/// turn 0–255 pixels into 0–1 (`Rescaling(scale: 1 / 255)`) or −1…1 (`scale: 1 / 127.5, offset: -1`),
/// so a saved model carries its own preprocessing.
public final class Rescaling: Layer {
    public let scale: Float
    public let offset: Float

    public init(scale: Float, offset: Float = 0, name: String? = nil) {
        self.scale = scale
        self.offset = offset
        super.init(name: name)
    }

    public override var typeName: String { "Rescaling" }
    public override var defaultNameStem: String { "rescaling" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard scale.isFinite, offset.isFinite else {
            throw NNError.invalidArgument("layer '\(displayName)' (Rescaling): scale \(scale) and offset \(offset) must be finite")
        }
        return inputShape
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        let x = input.pointer, y = out.pointer, s = scale, o = offset
        for i in 0..<out.count { y[i] = x[i] * s + o }
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let dy = outputGradient.pointer, d = dx.pointer, s = scale
        for i in 0..<dx.count { d[i] = dy[i] * s }
        return dx
    }
}
