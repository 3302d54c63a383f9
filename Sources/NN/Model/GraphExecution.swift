/// The executor's state for one model: the values of the current forward pass, the gradients of the
/// current backward pass and their buffers, kept between passes so a warmed-up step allocates nothing.
///
/// Forward runs the layers in topological order, each on the values it reads. Backward runs them in
/// reverse: a layer's output gradient is complete once every layer reading that output has run, and
/// the gradients of a value read by several layers (fan-out) are summed, in the fixed order of those
/// layers (so results are deterministic), into a buffer of the executor's own: a layer's buffers are
/// never written by anyone else.
struct GraphExecution {
    /// The tensor of each value in the current forward pass (inputs, then each layer's output).
    private var values: [Tensor?] = []
    /// dLoss/dValue of the current backward pass.
    private var gradients: [Tensor?] = []
    /// Whether the gradient of each value is stored in `sums` (and may be added to in place).
    private var gradientIsSum: [Bool] = []
    /// Per value, the buffer its fan-out gradients are summed into.
    private var sums: [ScratchBuffer] = []
    /// Per merge layer, the array its inputs are passed in (filled in place each pass).
    private var arguments: [[Tensor]] = []
    /// Set by the model (`configureInputGradient`): whether each value needs its gradient.
    var needsGradient: [Bool] = []
    /// The convolution → BatchNormalization (→ ReLU) chains folded in whole inference passes.
    private var folds: [BatchNormFold] = []
    /// The BatchNormalization → ReLU pairs fused in whole training passes.
    private var fusions: [BatchNormActivationFusion] = []

    func value(_ v: Int) -> Tensor { values[v]! }
    func gradient(_ v: Int) -> Tensor? { v < gradients.count ? gradients[v] : nil }

    /// Sizes the per-value state for `model`'s graph (again, after the graph changed) and binds the
    /// fan-out sums to the memory plan's slots.
    mutating func reset(for model: Model, sumSlots: [Int: SharedBuffer], folds: [BatchNormFold],
                        fusions: [BatchNormActivationFusion]) {
        values = []
        arguments = []
        self.folds = folds
        self.fusions = fusions
        prepare(model)
        for (v, slot) in sumSlots { sums[v].shared = slot }
    }

    private mutating func prepare(_ model: Model) {
        let count = model.inputShapes.count + model.layers.count
        if values.count != count {
            values = Array(repeating: nil, count: count)
            gradients = Array(repeating: nil, count: count)
            gradientIsSum = Array(repeating: false, count: count)
            sums = Array(repeating: ScratchBuffer(), count: count)
        }
        if arguments.count != model.layers.count {
            arguments = model.inbound.map { $0.count > 1 ? Array(repeating: Tensor(shape: [0]), count: $0.count) : [] }
        }
    }

    /// Sets model input `i` for the next `forward`.
    mutating func setInput(_ i: Int, _ x: Tensor) { values[i] = x }

    /// Runs `model.layers[0..<end]` on the inputs set with `setInput`.
    mutating func forward(_ model: Model, training: Bool, through end: Int) throws {
        prepare(model)
        // Fold only in whole inference passes: a pass that stops early returns a layer's own output,
        // and a layer called on its own (outside a pass) always runs as written.
        let fold = !training && end == model.layers.count && !folds.isEmpty
        if fold { for f in folds { f.applies(true) } }
        defer { if fold { for f in folds { f.applies(false) } } }
        let fuse = training && end == model.layers.count && !fusions.isEmpty
        if fuse { for f in fusions { f.applies(true) } }
        defer { if fuse { for f in fusions { f.applies(false) } } }
        let k = model.inputShapes.count
        for i in 0..<end {
            let layer = model.layers[i], reads = model.inbound[i]
            if let merge = layer as? MergeLayer {
                if arguments[i].count != reads.count { arguments[i] = reads.map { _ in Tensor(shape: [0]) } }
                for (j, v) in reads.enumerated() { arguments[i][j] = values[v]! }
                values[k + i] = try merge.forward(arguments[i], training: training)
                for j in reads.indices { arguments[i][j] = Layer.skippedGradient }
            } else {
                values[k + i] = try layer.forward(values[reads[0]]!, training: training)
            }
        }
    }

    /// Back-propagates `outputGradient` from the model's output through every layer that needs it.
    mutating func backward(_ model: Model, outputGradient: Tensor) throws {
        prepare(model)
        let k = model.inputShapes.count
        for v in gradients.indices { gradients[v] = nil; gradientIsSum[v] = false }
        gradients[model.outputValues[0]] = outputGradient
        for i in model.layers.indices.reversed() {
            guard let g = gradients[k + i] else { continue }
            let layer = model.layers[i], reads = model.inbound[i]
            if let merge = layer as? MergeLayer {
                let inputGradients: [Tensor] = try merge.backward(g)
                guard merge.computesInputGradient else { continue }
                for (j, v) in reads.enumerated() where needsGradient[v] { accumulate(inputGradients[j], into: v, shape: model.shape(ofValue: v)) }
            } else {
                let dx = try layer.backward(g)
                if layer.computesInputGradient && needsGradient[reads[0]] { accumulate(dx, into: reads[0], shape: model.shape(ofValue: reads[0])) }
            }
            gradients[k + i] = nil
        }
    }

    /// Adds `g` to the gradient of value `v`: the first contribution is kept as it is, a second one
    /// sums both into the value's own buffer, later ones add into that buffer.
    private mutating func accumulate(_ g: Tensor, into v: Int, shape: [Int]) {
        guard let current = gradients[v] else { gradients[v] = g; return }
        if gradientIsSum[v] {
            Parallel.add(g.pointer, into: current.pointer, count: current.count)
        } else {
            let sum = sums[v].tensor(batch: g.shape[0], sampleShape: shape)
            Parallel.add(current.pointer, g.pointer, into: sum.pointer, count: sum.count)
            gradients[v] = sum
            gradientIsSum[v] = true
        }
    }
}
