/// Gives each sample a new shape with the same number of elements (Keras `Reshape`); one axis may
/// be -1 and is inferred. The data are contiguous, so forward and backward are views, not copies.
public final class Reshape: Layer {
    package override var forwardMayReturnInput: Bool { true }
    public let targetShape: [Int]

    public init(_ targetShape: [Int], name: String? = nil) {
        self.targetShape = targetShape
        super.init(name: name)
    }

    public override var typeName: String { "Reshape" }
    public override var defaultNameStem: String { "reshape" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        // Products are overflow-checked: the target shape is the user's (build already checked the input).
        let count = try Tensor.validatedElementCount(inputShape, what: "layer '\(displayName)' (Reshape) input")
        let unknown = targetShape.indices.filter { targetShape[$0] == -1 }
        let known = targetShape.filter { $0 != -1 }
        guard unknown.count <= 1, known.allSatisfy({ $0 > 0 }) else {
            throw NNError.invalidArgument("layer '\(displayName)' (Reshape): target shape \(targetShape) needs positive sizes and at most one -1")
        }
        var shape = targetShape
        guard let product = Tensor.checkedElementCount(known) else {
            throw NNError.invalidArgument("layer '\(displayName)' (Reshape): target shape \(targetShape) has more elements than an Int can count")
        }
        if let i = unknown.first, count % product == 0 { shape[i] = count / product }
        guard Tensor.checkedElementCount(shape) == count else {
            throw NNError.invalidArgument("layer '\(displayName)' (Reshape): cannot reshape \(inputShape) (\(count) elements) to \(targetShape)")
        }
        return shape
    }

    private var forwardView = CachedView(), backwardView = CachedView()

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        forwardView.view(of: input, shape: [input.shape[0]] + outputShape)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        backwardView.view(of: outputGradient, shape: [outputGradient.shape[0]] + inputShape)
    }
}
