/// The base of every layer, as in Keras: a named unit with per-sample input and output shapes fixed
/// when it is built, parameters it owns, and an explicit forward and backward pass.
///
/// Contract: `forward` saves what `backward` needs; `backward` receives dLoss/dOutput for the batch
/// of the last `forward`, fills the gradients of its parameters and returns dLoss/dInput.
/// Outputs are the layer's own buffers, reused by the next call: copy one to keep it.
open class Layer {
    /// Unique within a model; the prefix of its parameters' names in weight files (`dense.kernel`).
    public var name: String
    /// When false, optimizers leave this layer's parameters alone (and BatchNormalization runs in
    /// inference mode, as in Keras).
    open var trainable: Bool = true
    /// Per-sample shapes (without the batch axis), known once built.
    public internal(set) var inputShape: [Int] = []
    public internal(set) var outputShape: [Int] = []
    public internal(set) var isBuilt = false
    /// Scratch memory for im2col and the like. A layer makes its own; a model hands all its layers
    /// its one workspace with `useWorkspace` (darknet's rule).
    package private(set) var workspace: Workspace
    /// False for a model's first layer, whose input gradient nobody reads: Dense and Conv2D then
    /// skip that GEMM (and col2im) and `backward` returns an empty tensor.
    public var computesInputGradient = true
    /// The output head's one hook (see `OutputHead`): the activation this layer applies last, when it
    /// can keep that activation's input in `logits` for a loss to absorb (softmax into cross-entropy,
    /// sigmoid into binary cross-entropy); nil when it cannot.
    package var outputActivation: Activation? { nil }
    /// The input (logits) of the layer's last activation in the last forward pass, kept by a layer
    /// whose softmax or fused activation a loss may read.
    package internal(set) var logits: Tensor?
    /// Set by the model's `OutputHead` when its loss absorbs this layer's activation: `forward` keeps
    /// `logits`, and `backward` receives dLoss/dLogits and skips the activation's own derivative.
    package internal(set) var activationFusedWithLoss = false
    /// Whether `forward` keeps `logits`: always for softmax (so fusion can be decided later), for
    /// any activation the loss absorbs, and for one whose derivative needs its input (gelu, silu).
    var keepsLogits: Bool { outputActivation == .softmax || activationFusedWithLoss || outputActivation?.needsInput == true }
    /// The buffer `forwardBatch` writes its output into, and the one `backwardBatch` writes dLoss/dInput
    /// into. A model binds them to memory shared by layers whose buffers are never needed at once
    /// (see `MemoryPlan`); a layer on its own keeps its own.
    package var outputBuffer = ScratchBuffer()
    package var inputGradientBuffer = ScratchBuffer()
    /// True when `forward` may return its input (or a view of it) at inference: Flatten and Reshape
    /// are views; Dropout and the augmentation layers pass their input through. The memory plan keeps
    /// the input alive as long as the output.
    package var forwardMayReturnInput: Bool { false }
    /// True when `backward` may return dLoss/dOutput itself (or a view of it) as dLoss/dInput.
    package var backwardMayReturnOutputGradient: Bool { forwardMayReturnInput }
    /// False when `backward` never reads the layer's own output, so the one layer reading it may
    /// overwrite it in training (see `MemoryPlan`).
    package var backwardReadsOutput: Bool { true }
    /// True when `forward` may write its training output over its input (an element-wise function
    /// whose derivative needs only its output); the model's plan decides whether it does.
    package var mayRunInPlaceInTraining: Bool { false }
    /// Set by the model on a BatchNormalization or ReLU that the convolution before it applies in
    /// whole-model inference passes (`Model/BatchNormFolding.swift`).
    package var foldedIntoConvolution = false
    /// Set only during such a pass: `forward` then hands its input on, already transformed.
    package var appliedByConvolution = false
    /// What the inference memory plan aliases: outputs that may be the input itself.
    package var inferenceMayReturnInput: Bool { forwardMayReturnInput || foldedIntoConvolution }
    /// What `backward` returns when `computesInputGradient` is false.
    static let skippedGradient = Tensor(shape: [0])

    /// The Keras class name shown in `summary()` (`Dense`, `Conv2D`, …).
    open var typeName: String { "Layer" }
    /// The stem of automatic names (`dense`, `conv2d`, …).
    open var defaultNameStem: String { "layer" }
    /// Everything saved with the weights, trainable or not, in the order `addParameter` registered
    /// them (that order and the names are the weights file's, so they never change).
    public private(set) var parameters: [Parameter] = []
    /// The first parameter shape `addParameter` refused during `createParameters`; `build` throws it.
    private var parameterSizeError: Error?
    /// Elements of the values and gradients `addParameter` allocated in the current `build`.
    private var parameterElements = 0
    /// A lower cap than one tensor's on the elements of values and gradients `build` may allocate,
    /// with the reason for errors: a model read from a file may not allocate more than the file's
    /// weights can fill (a hostile config declaring a 2^38-unit Dense is refused before allocating).
    package var parameterLimit: (elements: Int, reason: String)?

    public init(name: String? = nil) {
        self.name = name ?? ""
        workspace = Workspace()
    }

    /// Fixes the shapes and creates the parameters. A model calls this once, in order, with the
    /// previous layer's output shape.
    public final func build(inputShape: [Int], rng: inout RandomGenerator) throws {
        guard inputShape.allSatisfy({ $0 > 0 }) else {
            throw NNError.invalidArgument("layer '\(displayName)': input shape \(inputShape) has an empty axis")
        }
        // Sizes are checked before any layer multiplies them (Flatten, Reshape) or allocates.
        _ = try Tensor.validatedElementCount(inputShape, what: "layer '\(displayName)' (\(typeName)) input")
        let out = try makeOutputShape(inputShape: inputShape)
        guard out.allSatisfy({ $0 > 0 }) else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): input shape \(inputShape) gives an empty output \(out)")
        }
        _ = try Tensor.validatedElementCount(out, what: "layer '\(displayName)' (\(typeName)) output")
        self.inputShape = inputShape
        self.outputShape = out
        parameters.removeAll()
        parameterSizeError = nil
        parameterElements = 0
        try createParameters(rng: &rng)
        if let error = parameterSizeError {
            parameters.removeAll()
            parameterSizeError = nil
            throw error
        }
        isBuilt = true
    }

    /// Builds with a generator seeded by `seed` (for using a layer on its own).
    public final func build(inputShape: [Int], seed: UInt64 = 0) throws {
        var rng = RandomGenerator(seed: seed)
        try build(inputShape: inputShape, rng: &rng)
    }

    /// The per-sample output shape for a per-sample input shape; throws if the input does not fit.
    open func makeOutputShape(inputShape: [Int]) throws -> [Int] { inputShape }
    /// Allocates and initializes parameters once the shapes are known, each with `addParameter`.
    open func createParameters(rng: inout RandomGenerator) throws {}

    /// Creates, initializes and registers one parameter (Keras `add_weight`): the layer declares
    /// each tensor once, in `createParameters`, and `parameters` lists them in this order.
    @discardableResult
    public final func addParameter(_ name: String, shape: [Int], initializer: Initializer = .zeros,
                                   trainable: Bool = true, l2: Float = 0, rng: inout RandomGenerator) -> Parameter {
        // A shape that overflows or cannot be allocated is not allocated: the placeholder is empty and
        // `build` throws the error naming this layer, so `addParameter` stays non-throwing for subclasses.
        // After one refusal nothing more is allocated (a Dense of 2e9 units must not zero an 8 GB
        // bias before failing), and one layer's values and gradients together stay within the
        // limit of one tensor, so a layer is never bigger than the machine's memory.
        guard parameterSizeError == nil else { return Parameter(name: name, shape: [0], trainable: trainable, l2: l2) }
        do {
            let what = "layer '\(displayName)' (\(typeName)) parameter '\(name)'"
            let n = try Tensor.validatedElementCount(shape, what: what)
            let (withGradient, o1) = n.multipliedReportingOverflow(by: trainable ? 2 : 1)
            let (total, o2) = parameterElements.addingReportingOverflow(withGradient)
            guard !o1, !o2, total <= Tensor.maxElementCount else {
                throw NNError.invalidArgument("\(what): shape \(shape) brings the layer's parameters and gradients to more than \(Tensor.maxElementCount) elements, the limit of one tensor")
            }
            if let limit = parameterLimit, total > limit.elements {
                throw NNError.invalidArgument("\(what): shape \(shape) brings the layer's parameters and gradients to more than \(limit.elements) elements, \(limit.reason)")
            }
            parameterElements = total
        } catch {
            parameterSizeError = error
            return Parameter(name: name, shape: [0], trainable: trainable, l2: l2)
        }
        let p = Parameter(name: name, shape: shape, trainable: trainable, l2: l2)
        initializer.fill(p.value, using: &rng)
        parameters.append(p)
        return p
    }
    /// Called by a model as the layer joins it, in layer order. A layer with randomness of its own
    /// (Dropout's masks) and no seed from the user seeds it from one draw of the model's generator,
    /// so one model seed fixes a whole run; a layer the user seeded keeps its seed but takes the draw
    /// all the same, so seeding one layer changes no other layer's weights or seeds.
    open func seedRandomState(_ rng: inout RandomGenerator) {}

    /// The state of the layer's own generator, which checkpoints save and restore so a resumed run
    /// repeats; nil (the default) for layers without randomness.
    open var randomState: [UInt64]? {
        get { nil }
        set {}
    }

    /// Makes this layer use `workspace` from now on: the explicit hand-over of a model's one workspace.
    package final func useWorkspace(_ workspace: Workspace) { self.workspace = workspace }

    /// Runs the layer on a batch `[N, inputShape...]`. Builds from the input on first use.
    public final func forward(_ input: Tensor, training: Bool = false) throws -> Tensor {
        if !isBuilt { try build(inputShape: Array(input.shape.dropFirst())) }
        try checkInput(input)
        lastBatch = input.shape[0]
        if appliedByConvolution && !training { return input }
        return try forwardBatch(input, training: training)
    }

    /// dLoss/dInput for the batch of the last forward pass; fills parameter gradients.
    public final func backward(_ outputGradient: Tensor) throws -> Tensor {
        guard isBuilt, let batch = lastBatch else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): backward called before forward")
        }
        guard Tensor.shape(outputGradient.shape, isBatch: batch, of: outputShape) else {
            throw NNError.shapeMismatch(layer: displayName, typeName: typeName, what: "output gradient",
                                        expected: [batch] + outputShape, got: outputGradient.shape)
        }
        return try backwardBatch(outputGradient)
    }

    /// Refuses a window or stride above `Tensor.maxElementCount` (larger than any input axis can be)
    /// before `ConvGeometry` adds and multiplies them with the input size, where Int.max overflows.
    package func checkWindowSizes(_ sizes: KeyValuePairs<String, (Int, Int)>) throws {
        for (what, size) in sizes where size.0 > Tensor.maxElementCount || size.1 > Tensor.maxElementCount {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): \(what) \(size) is larger than any input can be (at most \(Tensor.maxElementCount))")
        }
    }

    /// The batch size of the last forward pass.
    public internal(set) var lastBatch: Int?

    open func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor { fatalError("\(typeName).forwardBatch not implemented") }
    open func backwardBatch(_ outputGradient: Tensor) throws -> Tensor { fatalError("\(typeName).backwardBatch not implemented") }

    /// Number of scalars in all parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
    public var trainableParameterCount: Int {
        trainable ? parameters.filter(\.trainable).reduce(0) { $0 + $1.value.count } : 0
    }

    var displayName: String { name.isEmpty ? defaultNameStem : name }

    private func checkInput(_ input: Tensor) throws {
        guard Tensor.shape(input.shape, isBatchOf: inputShape), input.shape[0] > 0 else {
            throw NNError.shapeMismatch(layer: displayName, typeName: typeName, what: "input",
                                        expected: [-1] + inputShape, got: input.shape)
        }
    }
}

/// One named tensor a layer owns (`kernel`, `bias`, `gamma`, `moving_mean`, …) and, when trainable,
/// its gradient. Moving statistics are parameters that are saved but never trained.
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    /// False for statistics such as BatchNormalization's moving mean: saved, never optimized.
    public let trainable: Bool
    /// L2 penalty factor: the loss gains `l2 · Σ value²` and the gradient `2 · l2 · value` (Keras `l2(x)`).
    public var l2: Float

    public init(name: String, shape: [Int], trainable: Bool = true, l2: Float = 0) {
        self.name = name
        value = Tensor(shape: shape)
        gradient = trainable ? Tensor(shape: shape) : Tensor(shape: [0])
        self.trainable = trainable
        self.l2 = l2
    }
}

/// Errors from building, running or feeding the engine. Each names what the user controls.
public enum NNError: Error, CustomStringConvertible, Equatable {
    /// A tensor reached a layer with the wrong shape. `-1` in `expected` stands for "any batch size".
    case shapeMismatch(layer: String, typeName: String, what: String, expected: [Int], got: [Int])
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(layer, typeName, what, expected, got):
            let e = expected.map { $0 < 0 ? "N" : String($0) }.joined(separator: ", ")
            let g = got.map(String.init).joined(separator: ", ")
            return "layer '\(layer)' (\(typeName)) expected \(what) of shape [\(e)] but got [\(g)]"
        case let .invalidArgument(message):
            return message
        }
    }
}

extension NNError: CustomDebugStringConvertible {
    public var debugDescription: String { description }
}

import Foundation
extension NNError: LocalizedError {
    public var errorDescription: String? { description }
}
