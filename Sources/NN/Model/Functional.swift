import Foundation

/// A placeholder for a batch of values in a model being described (Keras's `KerasTensor`): made by
/// `Input(shape:)` or by applying a layer to symbolic tensors, and turned into a model by
/// `Model(inputs:outputs:)`, which checks and builds the whole graph at once.
///
/// ```swift
/// let x = Input(shape: [28, 28, 1])
/// let h = Conv2D(filters: 16, kernelSize: (3, 3), padding: .same, activation: .relu)(x)
/// let y = Add()([h, Conv2D(filters: 16, kernelSize: (3, 3), padding: .same)(h)])
/// let model = try Model(inputs: x, outputs: Dense(units: 10, activation: .softmax)(Flatten()(y)))
/// ```
public class SymbolicTensor {
    /// The layer producing this tensor; nil for a model input.
    public let layer: Layer?
    /// The tensors the layer was applied to.
    public let inbound: [SymbolicTensor]
    /// A model input's per-sample shape.
    let inputShape: [Int]?
    /// A model input's name, when the user gave one.
    let explicitName: String?
    /// When this tensor was made: inputs exist before the tensors computed from them, so sorting by
    /// it is a topological order, the order in which the user applied the layers.
    let order: Int

    init(layer: Layer?, inbound: [SymbolicTensor], inputShape: [Int]?, name: String?) {
        self.layer = layer
        self.inbound = inbound
        self.inputShape = inputShape
        self.explicitName = name
        order = SymbolicTensor.counter.next()
    }

    /// An input's name for messages.
    var inputName: String { explicitName ?? "input_layer" }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }
    private static let counter = Counter()
}

/// A model input (Keras `Input(shape=...)`): its per-sample shape, without the batch axis.
public final class Input: SymbolicTensor {
    public init(shape: [Int], name: String? = nil) {
        super.init(layer: nil, inbound: [], inputShape: shape, name: name)
    }
}

extension Layer {
    /// Applies the layer to a symbolic tensor (Keras `layer(x)`): describes, does not compute.
    /// Shapes are checked when `Model(inputs:outputs:)` builds the graph.
    public func callAsFunction(_ input: SymbolicTensor) -> SymbolicTensor {
        SymbolicTensor(layer: self, inbound: [input], inputShape: nil, name: nil)
    }

    /// Applies a merge layer (`Add`, `Concatenate`, …) to several symbolic tensors.
    public func callAsFunction(_ inputs: [SymbolicTensor]) -> SymbolicTensor {
        SymbolicTensor(layer: self, inbound: inputs, inputShape: nil, name: nil)
    }
}
