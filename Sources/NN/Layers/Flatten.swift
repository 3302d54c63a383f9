/// Flattens each sample to one axis. NHWC is already contiguous, so this is a view, not a copy.
public final class Flatten: Layer {
    package override var forwardMayReturnInput: Bool { true }
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Flatten" }
    public override var defaultNameStem: String { "flatten" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }

    // The views of the last call, reused while the same buffers come back (no allocation per step).
    private var forwardView: (input: Tensor, output: Tensor)?
    private var backwardView: (input: Tensor, output: Tensor)?

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        if let v = forwardView, v.input.isSameView(as: input) { return v.output }
        let out = input.reshaped([input.shape[0], outputShape[0]])
        forwardView = (input, out)
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        if let v = backwardView, v.input.isSameView(as: outputGradient) { return v.output }
        let out = outputGradient.reshaped([outputGradient.shape[0]] + inputShape)
        backwardView = (outputGradient, out)
        return out
    }
}
