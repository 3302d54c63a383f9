/// A graph of layers (Keras `Model`, the Functional API): model inputs and layer outputs are the
/// graph's values, each layer reads one value (a merge layer several) and produces one. Built from
/// symbolic tensors (`Input`, a layer applied to them, `Model(inputs:outputs:)`), so every shape and
/// buffer is fixed before the first batch; compiled with an optimizer and a loss; trained with `fit`
/// and used with `evaluate` and `predict`.
///
/// This class is the engine's one executor: a `Sequential` is a `Model` whose graph is a chain, so
/// training, evaluation, freezing, head replacement, weights files and checkpoints have one code path.
/// `layers` is in topological order (each layer after the layers it reads), the order in which
/// layers are built, named, listed by `summary()`, saved and run forward.
public class Model {
    /// The model's name (`summary()`'s title, the Keras config's `name`).
    public var name: String
    /// Per-sample shapes of the model inputs, e.g. `[[28, 28, 1]]`.
    public let inputShapes: [[Int]]
    /// Names of the model inputs (Keras's `InputLayer` names; `input_layer` by default).
    public let inputNames: [String]
    /// The per-sample shape of the (first) model input.
    public var inputShape: [Int] { inputShapes[0] }
    public private(set) var layers: [Layer] = []
    /// For each layer (same index as `layers`), the values it reads. Value `i < inputShapes.count`
    /// is model input `i`; value `inputShapes.count + j` is the output of `layers[j]`.
    package private(set) var inbound: [[Int]] = []
    /// The values the model returns, in order.
    package private(set) var outputValues: [Int] = []
    /// The one workspace all layers share (darknet's rule): sized by the largest im2col.
    package let workspace: Workspace
    /// Draws the initial weights, the dropout seeds and every `fit` epoch's shuffle (checkpoints save it).
    public internal(set) var rng: RandomGenerator
    public private(set) var optimizer: Optimizer?
    public private(set) var loss: Loss?
    public private(set) var metrics: [Metric] = [] {
        didSet {
            epochMetrics = MetricStates(metrics)
            stepMetrics = MetricStates(metrics)
            accuracyIndex = metrics.firstIndex { $0.name == "accuracy" }
        }
    }
    /// The metrics' running state over the current epoch (`fit`), filled by `trainStep`.
    var epochMetrics = MetricStates([])
    /// One step's metric sums, reduced over the replicas of a data-parallel run.
    var stepMetrics = MetricStates([])
    /// Where Keras's `"accuracy"` sits in `metrics`, for `trainStep`'s correct count.
    private(set) var accuracyIndex: Int?
    /// Set by a callback to end `fit` after the current epoch (Keras `model.stop_training`).
    public var stopTraining = false
    /// The processes of a data-parallel run (`ReplicaGroup`, e.g. NNDistributed's MPI group), or nil for one.
    public var replicas: (any ReplicaGroup)?
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
    /// The executor's per-pass state, reused so a step does not allocate (see `GraphExecution`).
    var execution = GraphExecution()
    /// The current memory plan (see `MemoryPlan`), made whenever the graph changes.
    private var plan: MemoryPlan?
    /// Whether the layers' outputs use the plan's inference slots (else their own buffers, as
    /// training needs: backward reads them).
    private var outputsBoundForInference = false

    /// An empty chain on one input (what `Sequential` grows with `add`).
    init(inputShape: [Int], name: String, seed: UInt64) throws {
        // Checked before any layer sees it: an input shape from a flag may overflow when multiplied.
        _ = try Tensor.validatedElementCount(inputShape, what: "model input shape")
        self.inputShapes = [inputShape]
        self.inputNames = ["input_layer"]
        self.name = name
        self.workspace = Workspace()
        rng = RandomGenerator(seed: seed)
        outputValues = [0]
    }

    /// The model computing `outputs` from `inputs` (Keras `Model(inputs, outputs)`): the layers
    /// between them are collected, checked and built in the order they were applied, with weights
    /// drawn from `seed`. Throws, naming the layers, for a merge of mismatched shapes, an output that
    /// depends on an input not in `inputs`, an input no output uses, or a layer applied twice.
    public init(inputs: [SymbolicTensor], outputs: [SymbolicTensor], name: String = "functional", seed: UInt64 = 0) throws {
        guard !inputs.isEmpty else { throw NNError.invalidArgument("Model(inputs:outputs:) needs at least one input") }
        guard !outputs.isEmpty else { throw NNError.invalidArgument("Model(inputs:outputs:) needs at least one output") }
        for (i, x) in inputs.enumerated() {
            guard x.layer == nil, let shape = x.inputShape else {
                throw NNError.invalidArgument("model input \(i) is the output of layer '\(x.layer!.displayName)', not an Input: pass the Input(shape:) it was computed from")
            }
            _ = try Tensor.validatedElementCount(shape, what: "model input '\(x.inputName)'")
            guard shape.allSatisfy({ $0 > 0 }) else { throw NNError.invalidArgument("model input '\(x.inputName)': shape \(shape) has an empty axis") }
            guard !inputs[..<i].contains(where: { $0 === x }) else { throw NNError.invalidArgument("input '\(x.inputName)' is listed twice in Model(inputs:)") }
        }
        self.inputShapes = inputs.map { $0.inputShape! }
        self.inputNames = Model.uniqueInputNames(inputs)
        self.name = name
        self.workspace = Workspace()
        rng = RandomGenerator(seed: seed)

        // Every node the outputs depend on; a node's inputs were created before it, so creation order
        // is a topological order (and the order in which the user applied the layers).
        var reached: [ObjectIdentifier: SymbolicTensor] = [:]
        var stack = outputs
        while let t = stack.popLast() {
            guard reached[ObjectIdentifier(t)] == nil else { continue }
            reached[ObjectIdentifier(t)] = t
            stack += t.inbound
        }
        let nodes = reached.values.sorted { $0.order < $1.order }
        var value: [ObjectIdentifier: Int] = [:]
        for (i, x) in inputs.enumerated() { value[ObjectIdentifier(x)] = i }
        for node in nodes where node.layer == nil && value[ObjectIdentifier(node)] == nil {
            let user = nodes.first { $0.inbound.contains { $0 === node } }
            throw NNError.invalidArgument("input '\(node.inputName)' is used\(user.map { " by layer '\($0.layer!.displayName)'" } ?? " as an output") but is not one of the model's inputs: list it in Model(inputs:)")
        }
        for (i, x) in inputs.enumerated() where reached[ObjectIdentifier(x)] == nil {
            throw NNError.invalidArgument("model input \(i) ('\(x.inputName)') is not connected to any output")
        }
        var seen = Set<ObjectIdentifier>()
        for node in nodes {
            guard let layer = node.layer else { continue }
            guard seen.insert(ObjectIdentifier(layer)).inserted else {
                throw NNError.invalidArgument("layer '\(layer.displayName)' is applied more than once; shared layers are not supported (make a second layer)")
            }
        }
        for node in nodes where node.layer != nil {
            try append(node.layer!, reading: node.inbound.map { value[ObjectIdentifier($0)]! })
            value[ObjectIdentifier(node)] = inputShapes.count + layers.count - 1
        }
        outputValues = outputs.map { value[ObjectIdentifier($0)]! }
        configureOutputHead()
        configureInputGradient()
    }

    /// `Model(inputs: [x], outputs: [y])`.
    public convenience init(inputs: SymbolicTensor, outputs: SymbolicTensor, name: String = "functional", seed: UInt64 = 0) throws {
        try self.init(inputs: [inputs], outputs: [outputs], name: name, seed: seed)
    }

    /// Names the layer if needed, builds it on the shapes of `reading` and appends it to the graph.
    private func append(_ layer: Layer, reading values: [Int]) throws {
        if layer.name.isEmpty { layer.name = uniqueName(layer.defaultNameStem) }
        guard !layers.contains(where: { $0.name == layer.name }), !inputNames.contains(layer.name) else {
            throw NNError.invalidArgument("a layer named '\(layer.name)' is already in the model; layer names must be unique")
        }
        guard !layers.contains(where: { $0 === layer }) else {
            throw NNError.invalidArgument("layer '\(layer.name)' is already in the model")
        }
        let shapes = values.map(shape(ofValue:))
        if let merge = layer as? MergeLayer {
            try merge.build(inputShapes: shapes, producers: values.map(producerName(ofValue:)), rng: &rng)
        } else {
            guard shapes.count == 1 else {
                throw NNError.invalidArgument("layer '\(layer.displayName)' (\(layer.typeName)) takes one input but was applied to \(shapes.count) (\(values.map(producerName(ofValue:)).joined(separator: ", ")))")
            }
            if !layer.isBuilt || layer.inputShape != shapes[0] {
                try layer.build(inputShape: shapes[0], rng: &rng)
            }
        }
        layer.useWorkspace(workspace)
        layer.seedRandomState(&rng)
        layers.append(layer)
        inbound.append(values)
    }

    /// Appends and builds a layer on the model's (single) output, which it replaces (Keras
    /// `Sequential.add`; on a graph, a new layer on top of its output).
    public func add(_ layer: Layer) throws {
        guard outputValues.count == 1 else { throw NNError.invalidArgument("add: the model has \(outputValues.count) outputs; add needs one") }
        try append(layer, reading: outputValues)
        outputValues = [inputShapes.count + layers.count - 1]
        configureOutputHead()
        configureInputGradient()
    }

    /// Removes and returns the last layer, when it is the model's only output and nothing else reads
    /// its input's producer out of reach (to replace a model's head). Its input becomes the output.
    @discardableResult
    public func pop() throws -> Layer {
        guard let last = layers.last else { throw NNError.invalidArgument("pop() on a model with no layers") }
        let lastValue = inputShapes.count + layers.count - 1
        guard outputValues == [lastValue], inbound.last!.count == 1 else {
            throw NNError.invalidArgument("pop(): the last layer '\(last.name)' is not the model's only output or reads several inputs")
        }
        let newOutput = inbound.last![0]
        layers.removeLast()
        inbound.removeLast()
        outputValues = [newOutput]
        last.computesInputGradient = true
        last.activationFusedWithLoss = false
        Model.unbind(last)
        configureOutputHead()
        configureInputGradient()
        return last
    }

    /// A new model of `front` (built here) followed by this model's layers with their weights, as a
    /// Keras user puts preprocessing and augmentation in front of a model: a `Sequential` for a chain,
    /// otherwise the same graph on the new front. Not compiled; this model should not be used after.
    public func prepending(_ front: [Layer], seed: UInt64) throws -> Model {
        if self is Sequential { return try Sequential(inputShape: inputShape, layers: front + layers, name: name, seed: seed) }
        guard inputShapes.count == 1 else { throw NNError.invalidArgument("prepending layers needs a model with one input; this one has \(inputShapes.count)") }
        let input = Input(shape: inputShape, name: inputNames[0])
        var values: [SymbolicTensor] = [input]
        for layer in front { values[0] = layer(values[0]) }
        for (i, layer) in layers.enumerated() {
            let reads = inbound[i].map { values[$0] }
            values.append(layer is MergeLayer ? layer(reads) : layer(reads[0]))
        }
        return try Model(inputs: [input], outputs: outputValues.map { values[$0] }, name: name, seed: seed)
    }

    /// Per-sample shape of value `v` (a model input or a layer's output).
    package func shape(ofValue v: Int) -> [Int] {
        v < inputShapes.count ? inputShapes[v] : layers[v - inputShapes.count].outputShape
    }

    /// The name of what produces value `v`: an input's or a layer's.
    package func producerName(ofValue v: Int) -> String {
        v < inputShapes.count ? inputNames[v] : layers[v - inputShapes.count].name
    }

    /// Per-sample output shape of the (first) model output.
    public var outputShape: [Int] { shape(ofValue: outputValues[0]) }
    /// Per-sample shapes of every model output.
    public var outputShapes: [[Int]] { outputValues.map(shape(ofValue:)) }

    /// True when the graph is a chain: each layer reads the one before it (or the input) and the last
    /// is the output, as in a `Sequential` (Keras files save such a model as either).
    public var isChain: Bool {
        inputShapes.count == 1 && outputValues == [layers.count] && inbound.enumerated().allSatisfy { $0.element == [$0.offset] }
    }

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

    /// Runs the model on a batch of its (single) input. The result is the output layer's buffer:
    /// copy it to keep it. (No array is built, so a training step allocates nothing.)
    public func forward(_ x: Tensor, training: Bool = false) throws -> Tensor {
        guard inputShapes.count == 1 else { throw NNError.invalidArgument("the model has \(inputShapes.count) inputs: call forward(_ inputs: [Tensor])") }
        guard Tensor.shape(x.shape, isBatchOf: inputShape), x.shape[0] > 0 else { throw inputShapeError(what: "input", got: x.shape) }
        bindOutputs(forInference: !training)
        return try usingPool {
            execution.setInput(0, x)
            try execution.forward(self, training: training, through: layers.count)
            return execution.value(outputValues[0])
        }
    }

    /// Runs the model on a batch of each input; returns one tensor per output (the layers' buffers).
    public func forward(_ inputs: [Tensor], training: Bool = false) throws -> [Tensor] {
        try checkInputs(inputs)
        bindOutputs(forInference: !training)
        return try usingPool {
            for (i, x) in inputs.enumerated() { execution.setInput(i, x) }
            try execution.forward(self, training: training, through: layers.count)
            return outputValues.map { execution.value($0) }
        }
    }

    /// The output of `layers[index]` for a batch (running only the layers up to it, in order).
    package func forward(_ inputs: [Tensor], through index: Int, training: Bool) throws -> Tensor {
        try checkInputs(inputs)
        bindOutputs(forInference: !training)
        return try usingPool {
            for (i, x) in inputs.enumerated() { execution.setInput(i, x) }
            try execution.forward(self, training: training, through: index + 1)
            return execution.value(inputShapes.count + index)
        }
    }

    private func checkInputs(_ inputs: [Tensor]) throws {
        guard inputs.count == inputShapes.count else {
            throw NNError.invalidArgument("the model takes \(inputShapes.count) inputs (\(inputNames.joined(separator: ", "))) but was given \(inputs.count)")
        }
        for (i, x) in inputs.enumerated() {
            guard Tensor.shape(x.shape, isBatchOf: inputShapes[i]), x.shape[0] > 0,
                  inputs.allSatisfy({ $0.shape.first == x.shape[0] }) else {
                throw inputShapeError(what: "input", got: x.shape, input: i)
            }
        }
    }

    /// Runs `body` with this model's pool as the current one (the shared pool when it has none).
    @inline(__always)
    func usingPool<R>(_ body: () throws -> R) rethrows -> R {
        guard let pool else { return try body() }
        return try pool.installed(body)
    }

    /// Whether `backward` computes dLoss/dInput of the model inputs (saliency maps need it; training
    /// does not, and skipping it saves the first layer's input-gradient GEMM and col2im).
    public var computesInputGradient = false {
        didSet { configureInputGradient() }
    }

    /// Which values need dLoss/dValue: those downstream of a layer with parameters, and the model
    /// inputs when the caller asks (`computesInputGradient`). A layer computes its input gradient
    /// only when one of its inputs needs it, so layers in front without parameters (Rescaling,
    /// augmentation) skip it, and the first layer with weights skips its input-gradient GEMM.
    func configureInputGradient() {
        execution.needsGradient = inputShapes.map { _ in computesInputGradient }
        for (i, layer) in layers.enumerated() {
            let needed = inbound[i].contains { execution.needsGradient[$0] }
            layer.computesInputGradient = needed
            execution.needsGradient.append(needed || !layer.parameters.isEmpty)
        }
        planMemory()
    }

    /// Whether whole-model inference passes fold each BatchNormalization (and the ReLU after it)
    /// into the convolution before it (see `BatchNormFolding.swift`); off runs every layer as
    /// written, for comparing the two (tests, nn-bench).
    package var foldsBatchNormalization = true {
        didSet { if foldsBatchNormalization != oldValue { planMemory() } }
    }

    /// Whether training runs an activation after a BatchNormalization in place (see `MemoryPlan`);
    /// off keeps every output in its own buffer, for comparing the two (tests).
    package var runsActivationsInPlace = true {
        didSet { if runsActivationsInPlace != oldValue { planMemory() } }
    }

    /// The memory plan of the current graph: how many floats per sample its buffers take with and
    /// without sharing (see `MemoryPlan`).
    public var memoryPlan: MemoryPlan { plan ?? MemoryPlan(self) }

    /// Plans the buffers for the current graph and binds every layer's gradient buffers to the plan's
    /// slots (outputs are bound when a pass runs in inference mode: `bindOutputs`).
    private func planMemory() {
        // First: folded layers alias the convolution's output, which the plan must know.
        let folds = foldBatchNormalization()
        let plan = MemoryPlan(self)
        self.plan = plan
        for (i, layer) in layers.enumerated() {
            if let merge = layer as? MergeLayer {
                for j in merge.inputGradients.indices { merge.inputGradients[j].shared = plan.inputGradientSlots[i][j] }
            } else {
                layer.inputGradientBuffer.shared = plan.inputGradientSlots[i][0]
            }
            (layer as? KernelLayer)?.activationGradient.shared = plan.preactivationGradientSlot
            layer.outputBuffer.shared = plan.trainingOutputSlots[i]
        }
        outputsBoundForInference = false
        outputGradientBuffer.shared = plan.outputGradientSlot
        let fusions = plan.trainingFusions.map {
            BatchNormActivationFusion(batchNorm: layers[$0.batchNorm] as! BatchNormalization, activation: layers[$0.activation] as! ActivationLayer)
        }
        execution.reset(for: self, sumSlots: plan.sumSlots, folds: folds, fusions: fusions)
    }

    /// Uses the plan's shared slots for the layers' outputs at inference, their own buffers in training
    /// (but for the in-place activations and the layers before them: `MemoryPlan.trainingOutputSlots`).
    private func bindOutputs(forInference: Bool) {
        guard forInference != outputsBoundForInference, let plan else { return }
        for (i, layer) in layers.enumerated() {
            layer.outputBuffer.shared = forInference ? plan.outputSlots[i] : plan.trainingOutputSlots[i]
        }
        outputsBoundForInference = forInference
    }

    /// Gives a layer leaving the model its own buffers back.
    private static func unbind(_ layer: Layer) {
        (layer as? ConvolutionLayer)?.foldedBatchNorm = nil
        layer.foldedIntoConvolution = false
        layer.outputBuffer.shared = nil
        layer.inputGradientBuffer.shared = nil
        (layer as? KernelLayer)?.activationGradient.shared = nil
        if let merge = layer as? MergeLayer { for j in merge.inputGradients.indices { merge.inputGradients[j].shared = nil } }
    }

    /// Back-propagates dLoss/dOutput (or dLoss/dLogits when the softmax is fused with the loss) of
    /// the (single) output. Returns dLoss/dInput of the first input when `computesInputGradient` is
    /// set, otherwise an empty tensor.
    @discardableResult
    public func backward(_ outputGradient: Tensor) throws -> Tensor {
        guard outputValues.count == 1 else { throw NNError.invalidArgument("backward: the model has \(outputValues.count) outputs; training uses one") }
        return try usingPool {
            try execution.backward(self, outputGradient: outputGradient)
            return computesInputGradient ? execution.gradient(0) ?? Layer.skippedGradient : Layer.skippedGradient
        }
    }

    /// True when the output layer's activation is fused with the loss (see `OutputHead`).
    package var activationFusedWithLoss: Bool { head?.fusedLayer != nil }

    /// Re-decides the output head for the current loss and output layer.
    func configureOutputHead() {
        for layer in layers { layer.activationFusedWithLoss = false }
        let output = outputValues.count == 1 && outputValues[0] >= inputShapes.count ? layers[outputValues[0] - inputShapes.count] : nil
        // A layer whose output also feeds other layers cannot hand over its logits: they read its output.
        let feedsOthers = inbound.contains { $0.contains(outputValues[0]) }
        head = loss.map { OutputHead(loss: $0, outputLayer: feedsOthers ? nil : output, layers: layers) }
    }

    /// A wrong model input is the first layer reading it: the error names that layer and its type.
    package func inputShapeError(what: String, got: [Int], input: Int = 0) -> NNError {
        let reader = inbound.firstIndex { $0.contains(input) }.map { layers[$0] }
        return .shapeMismatch(layer: reader?.displayName ?? inputNames[input], typeName: reader?.typeName ?? "InputLayer",
                              what: what, expected: [-1] + inputShapes[input], got: got)
    }

    private func uniqueName(_ stem: String) -> String {
        let taken = Set(layers.map(\.name) + inputNames)
        if !taken.contains(stem) { return stem }
        var i = 1
        while taken.contains("\(stem)_\(i)") { i += 1 }
        return "\(stem)_\(i)"
    }

    private static func uniqueInputNames(_ inputs: [SymbolicTensor]) -> [String] {
        var names: [String] = []
        for x in inputs {
            var name = x.explicitName ?? "input_layer", i = 1
            while names.contains(name) { name = "\(x.explicitName ?? "input_layer")_\(i)"; i += 1 }
            names.append(name)
        }
        return names
    }
}

/// A linear stack of layers (Keras `Sequential`): a `Model` whose graph is a chain, grown with `add`.
public final class Sequential: Model {
    /// Builds `layers` in order from `inputShape`. Unnamed layers get Keras-style names
    /// (`conv2d`, `conv2d_1`, …) unique within this model.
    public init(inputShape: [Int], layers: [Layer] = [], name: String = "sequential", seed: UInt64 = 0) throws {
        try super.init(inputShape: inputShape, name: name, seed: seed)
        for layer in layers { try add(layer) }
    }
}
