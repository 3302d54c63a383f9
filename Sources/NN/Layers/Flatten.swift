/// Flattens each sample to one axis. NHWC is already contiguous, so this is a view, not a copy.
public final class Flatten: Layer {
    package override var forwardMayReturnInput: Bool { true }
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Flatten" }
    public override var defaultNameStem: String { "flatten" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }

    private var forwardView = CachedView(), backwardView = CachedView()

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        forwardView.view(of: input, shape: [input.shape[0], outputShape[0]])
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        backwardView.view(of: outputGradient, shape: [outputGradient.shape[0]] + inputShape)
    }
}

/// The view a view layer (Flatten, Reshape) returned for the last tensor it was given, returned
/// again while the same buffer and shape come back: a new view allocates its shape array, and a
/// training step must not allocate once warmed up.
struct CachedView {
    private var last: (input: Tensor, output: Tensor)?

    mutating func view(of input: Tensor, shape: @autoclosure () -> [Int]) -> Tensor {
        if let last, last.input.isSameView(as: input) { return last.output }
        let output = input.reshaped(shape())
        last = (input, output)
        return output
    }
}
