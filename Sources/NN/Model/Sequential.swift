/// A linear stack of layers (Keras `Sequential`): built from an input shape, so every output shape
/// and buffer is fixed before the first batch; compiled with an optimizer and a loss; then trained
/// with `fit` and used with `evaluate` and `predict`.
public final class Sequential {
    /// Per-sample input shape, e.g. `[28, 28, 1]`.
    public let inputShape: [Int]
    public private(set) var layers: [Layer] = []
    /// The one workspace all layers share (darknet's rule): sized by the largest im2col.
    package let workspace: Workspace
    /// Draws the initial weights, the dropout seeds and every `fit` epoch's shuffle (checkpoints save it).
    public internal(set) var rng: RandomGenerator
    public private(set) var optimizer: Optimizer?
    public private(set) var loss: Loss?
    public private(set) var metrics: [Metric] = []
    /// Set by a callback to end `fit` after the current epoch (Keras `model.stop_training`).
    public var stopTraining = false
    /// The threads this model's kernels run on: its own pool, or nil for the engine's shared one
    /// (`WorkerPool.shared`, sized by `Parallel.threads`). `forward`, `backward` and `trainStep`
    /// install it for their duration, so two models on two threads can use two pools.
    package var pool: WorkerPool? {
        // The engine splits every kernel over its own threads: OpenBLAS must run single-threaded
        // inside each part (the shared pool's creation does the same).
        didSet { if pool != nil { BLAS.setOpenBLASThreads(1) } }
    }
    /// The loss and its fusion with the last layer, decided by `compile`.
    private(set) var head: OutputHead?
    /// dLoss/dOutput for the current batch, reused across steps.
    var outputGradientBuffer = ScratchBuffer()
    private var trainableScratch: [Parameter] = []

    /// Builds `layers` in order from `inputShape`. Unnamed layers get Keras-style names
    /// (`conv2d`, `conv2d_1`, …) unique within this model.
    public init(inputShape: [Int], layers: [Layer] = [], seed: UInt64 = 0) throws {
        // Checked before any layer sees it: an input shape from a flag may overflow when multiplied.
        _ = try Tensor.validatedElementCount(inputShape, what: "model input shape")
        self.inputShape = inputShape
        self.workspace = Workspace()
        rng = RandomGenerator(seed: seed)
        for layer in layers { try add(layer) }
    }

    /// Appends and builds a layer on the current output shape.
    public func add(_ layer: Layer) throws {
        if layer.name.isEmpty { layer.name = uniqueName(layer.defaultNameStem) }
        guard !layers.contains(where: { $0.name == layer.name }) else {
            throw NNError.invalidArgument("a layer named '\(layer.name)' is already in the model; layer names must be unique")
        }
        guard !layers.contains(where: { $0 === layer }) else {
            throw NNError.invalidArgument("layer '\(layer.name)' is already in the model")
        }
        if !layer.isBuilt || layer.inputShape != outputShape {
            try layer.build(inputShape: outputShape, rng: &rng)
        }
        layer.useWorkspace(workspace)
        layer.seedRandomState(&rng)
        layers.append(layer)
        configureOutputHead()
        configureInputGradient()
    }

    /// Removes and returns the last layer (to replace a model's head).
    @discardableResult
    public func pop() throws -> Layer {
        guard let last = layers.popLast() else { throw NNError.invalidArgument("pop() on a model with no layers") }
        last.computesInputGradient = true
        last.softmaxFusedWithLoss = false
        configureOutputHead()
        configureInputGradient()
        return last
    }

    /// Per-sample output shape of the whole model.
    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }

    /// The layer with the given name.
    public func layer(named name: String) -> Layer? { layers.first { $0.name == name } }

    /// Every parameter with its dotted name (`conv2d.kernel`, `batch_normalization.moving_mean`).
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.flatMap { l in l.parameters.map { ("\(l.name).\($0.name)", $0) } }
    }

    /// The parameters an optimizer may change: trainable ones of trainable layers.
    public var trainableParameters: [Parameter] {
        layers.filter(\.trainable).flatMap { $0.parameters.filter(\.trainable) }
    }

    /// `trainableParameters` gathered into a reused array, so a training step does not allocate.
    func gatherTrainableParameters() -> [Parameter] {
        trainableScratch.removeAll(keepingCapacity: true)
        for layer in layers where layer.trainable {
            for p in layer.parameters where p.trainable { trainableScratch.append(p) }
        }
        return trainableScratch
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    public var trainableParameterCount: Int { layers.reduce(0) { $0 + $1.trainableParameterCount } }

    /// Chooses the optimizer, the loss and the metrics (`["accuracy"]`) for `fit` and `evaluate`.
    /// A model that is only evaluated needs no optimizer.
    public func compile(optimizer: Optimizer? = nil, loss: Loss, metrics: [Metric] = []) {
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        configureOutputHead()
    }

    /// Runs the layers on a batch. The result is the last layer's buffer: copy it to keep it.
    public func forward(_ x: Tensor, training: Bool = false) throws -> Tensor {
        guard Tensor.shape(x.shape, isBatchOf: inputShape) else { throw inputShapeError(what: "input", got: x.shape) }
        return try usingPool {
            var out = x
            for layer in layers { out = try layer.forward(out, training: training) }
            return out
        }
    }

    /// Runs `body` with this model's pool as the current one (the shared pool when it has none).
    @inline(__always)
    func usingPool<R>(_ body: () throws -> R) rethrows -> R {
        guard let pool else { return try body() }
        return try pool.installed(body)
    }

    /// Whether `backward` computes dLoss/dInput of the whole model (saliency maps need it; training
    /// does not, and skipping it saves the first layer's input-gradient GEMM and col2im).
    public var computesInputGradient = false {
        didSet { configureInputGradient() }
    }

    /// A layer computes dLoss/dInput only when a layer before it has parameters (or the caller asked
    /// for the model's): the first layer never needs it, nor does a parameterless prefix such as
    /// preprocessing and augmentation (RandomFlip, RandomRotation, Rescaling…), whose backward
    /// `backward` then skips altogether.
    func configureInputGradient() {
        var needed = computesInputGradient
        for layer in layers {
            layer.computesInputGradient = needed
            if !layer.parameters.isEmpty { needed = true }
        }
    }

    /// Back-propagates dLoss/dOutput (or dLoss/dLogits when the softmax is fused with the loss).
    /// Returns dLoss/dInput when `computesInputGradient` is set, otherwise an empty tensor.
    @discardableResult
    public func backward(_ outputGradient: Tensor) throws -> Tensor {
        try usingPool {
            var g = outputGradient
            for layer in layers.reversed() {
                g = try layer.backward(g)
                // The layers before this one have no parameters and nobody reads their gradient.
                if !layer.computesInputGradient { return Layer.skippedGradient }
            }
            return g
        }
    }

    /// True when the last layer's softmax is fused with the cross-entropy loss (see `OutputHead`).
    package var softmaxFusedWithLoss: Bool { head?.fusedLayer != nil }

    /// Re-decides the output head for the current loss and last layer.
    func configureOutputHead() {
        for layer in layers { layer.softmaxFusedWithLoss = false }
        head = loss.map { OutputHead(loss: $0, layers: layers) }
    }

    /// A wrong model input is the first layer's error: it names that layer and its type.
    package func inputShapeError(what: String, got: [Int]) -> NNError {
        .shapeMismatch(layer: layers.first?.displayName ?? "input", typeName: layers.first?.typeName ?? "Sequential",
                       what: what, expected: [-1] + inputShape, got: got)
    }

    private func uniqueName(_ stem: String) -> String {
        let taken = Set(layers.map(\.name))
        if !taken.contains(stem) { return stem }
        var i = 1
        while taken.contains("\(stem)_\(i)") { i += 1 }
        return "\(stem)_\(i)"
    }
}
