/// Flattens each sample to one axis. NHWC is already contiguous, so this is a view, not a copy.
public final class Flatten: Layer {
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Flatten" }
    public override var defaultNameStem: String { "flatten" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        input.reshaped([input.shape[0], outputShape[0]])
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        outputGradient.reshaped([outputGradient.shape[0]] + inputShape)
    }
}
