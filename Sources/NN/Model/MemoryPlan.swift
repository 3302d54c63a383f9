/// Which of a model's per-batch buffers share memory, decided from the graph by liveness (as
/// inference engines and Caffe2's memonger do): two buffers may share a slot when no step needs
/// both. Two plans are made:
/// - **Gradients** (training): dLoss/dInput of every layer, the sums of fan-out gradients and the
///   model's output gradient. Backward visits the layers in reverse, and a gradient is dead once the
///   layer producing that value has run its backward, so a chain needs two or three slots however
///   deep it is; the intermediate dLoss/dPreactivation of every Dense/Conv2D/DepthwiseConv2D shares one
///   more. Activations are not planned in training: backward reads them. One exception: an
///   activation layer whose derivative needs only its output (ReLU, ReLU6, sigmoid, …) writes its
///   output over its input when nothing else reads that input and the layer that made it never
///   reads its own output in backward (BatchNormalization, which recomputes x̂ from its input), as
///   PyTorch's `inplace=True`: MobileNet's Conv–BN–ReLU6 blocks then keep two tensors, not three.
/// - **Activations** (inference: `predict`, `evaluate`, validation): a layer's output is dead once
///   every layer reading it has run, so a deep net runs in a few slots.
/// Layers that return their input (Flatten, Reshape, Dropout and the augmentation layers at
/// inference, and a BatchNormalization or ReLU folded into the convolution before it) or pass a
/// gradient through (Add) extend the life of what they alias. Slots are
/// assigned greedily in order of first use, preferring the free slot closest in size.
public struct MemoryPlan {
    /// Floats per sample the planned gradient buffers occupy, and what they would without sharing.
    public let gradientFloatsPerSample: Int
    public let unplannedGradientFloatsPerSample: Int
    /// Floats per sample the planned inference activations occupy, and what they would without sharing.
    public let activationFloatsPerSample: Int
    public let unplannedActivationFloatsPerSample: Int
    /// Floats per sample of every layer's output, which training keeps for backward.
    public let trainingActivationFloatsPerSample: Int

    /// Bytes per batch of `batchSize` a training step holds in activations and planned gradients.
    public func trainingBytes(batchSize: Int) -> Int { (trainingActivationFloatsPerSample + gradientFloatsPerSample) * batchSize * 4 }
    /// The same without the gradient plan (every layer its own gradient buffers).
    public func unplannedTrainingBytes(batchSize: Int) -> Int { (trainingActivationFloatsPerSample + unplannedGradientFloatsPerSample) * batchSize * 4 }
    /// Bytes per batch of planned activations at inference, and without the plan.
    public func inferenceBytes(batchSize: Int) -> Int { activationFloatsPerSample * batchSize * 4 }
    public func unplannedInferenceBytes(batchSize: Int) -> Int { unplannedActivationFloatsPerSample * batchSize * 4 }

    /// The slots of the gradient plan, per layer (merge layers: per input), for the sums per value,
    /// the model's output gradient and the shared dLoss/dPreactivation temporary.
    let inputGradientSlots: [[SharedBuffer?]]
    let sumSlots: [Int: SharedBuffer]
    let outputGradientSlot: SharedBuffer
    let preactivationGradientSlot: SharedBuffer
    /// The inference slot of each layer's output (nil for layers returning their input).
    let outputSlots: [SharedBuffer?]
    /// In training, the memory a layer's output shares with the output of the layer before it (the
    /// in-place activations above, and that layer): nil for every other layer (its own buffer).
    let trainingOutputSlots: [SharedBuffer?]
    /// The BatchNormalization → ReLU/ReLU6 pairs among them whose activation the normalization applies.
    let trainingFusions: [(batchNorm: Int, activation: Int)]

    /// One buffer to place: its floats per sample and the steps [start, end] it is live.
    private struct Request { let floats: Int; let start: Int; let end: Int }

    /// Greedy interval colouring: each request in order of start takes a slot free before it starts
    /// (the one closest in size, larger preferred) or a new one. Returns each request's slot and the
    /// slots' sizes.
    private static func assign(_ requests: [Request]) -> (slot: [Int], floats: [Int]) {
        var slotEnd: [Int] = [], slotFloats: [Int] = [], slot = [Int](repeating: -1, count: requests.count)
        for r in requests.indices.sorted(by: { (requests[$0].start, $0) < (requests[$1].start, $1) }) {
            let q = requests[r]
            var best: Int?
            for s in slotEnd.indices where slotEnd[s] < q.start {
                guard let b = best else { best = s; continue }
                // Prefer a slot already large enough, then the smallest such, else the largest.
                let fits = slotFloats[s] >= q.floats, bestFits = slotFloats[b] >= q.floats
                if fits != bestFits ? fits : (fits ? slotFloats[s] < slotFloats[b] : slotFloats[s] > slotFloats[b]) { best = s }
            }
            if let b = best {
                slot[r] = b
                slotEnd[b] = q.end
                slotFloats[b] = max(slotFloats[b], q.floats)
            } else {
                slot[r] = slotEnd.count
                slotEnd.append(q.end)
                slotFloats.append(q.floats)
            }
        }
        return (slot, slotFloats)
    }

    /// Plans `model`'s buffers from its graph.
    init(_ model: Model) {
        let k = model.inputShapes.count, n = model.layers.count, never = Int.max
        let floats = (0..<(k + n)).map { model.shape(ofValue: $0).reduce(1, *) }
        var consumers = [[Int]](repeating: [], count: k + n)
        for (i, reads) in model.inbound.enumerated() { for v in reads { consumers[v].append(i) } }
        let outputs = Set(model.outputValues)

        // In training, activations written over their input (see the type's comment); a ReLU or
        // ReLU6 after a BatchNormalization is also applied by it (`BatchNormActivationFusion`): the
        // activation's backward passes dy through, and the BatchNormalization masks it and writes
        // dx over it, so neither uses a gradient buffer of its own.
        /// Whether dLoss/dValue may be a tensor something else also holds: the model's output gradient
        /// (the caller's tensor), or a gradient that a layer passing its output gradient on hands to
        /// several inputs (Add gives every input the same tensor), directly or through such layers.
        func mayBeShared(_ v: Int) -> Bool {
            outputs.contains(v) || consumers[v].contains {
                model.layers[$0].backwardMayReturnOutputGradient && (model.inbound[$0].count > 1 || mayBeShared(k + $0))
            }
        }
        var inPlace = [SharedBuffer?](repeating: nil, count: n)
        var inPlaceFloats = 0
        var fusions: [(batchNorm: Int, activation: Int)] = []
        for (i, layer) in model.layers.enumerated()
        where model.runsActivationsInPlace && layer.mayRunInPlaceInTraining && model.inbound[i].count == 1 {
            let v = model.inbound[i][0], p = v - k
            // Not the model's output layer: the loss may yet fuse its activation and read its input.
            guard p >= 0, consumers[v] == [i], !outputs.contains(v), !outputs.contains(k + i), inPlace[p] == nil else { continue }
            let producer = model.layers[p]
            guard !producer.backwardReadsOutput, !producer.forwardMayReturnInput else { continue }
            let shared = SharedBuffer()
            inPlace[p] = shared
            inPlace[i] = shared
            inPlaceFloats += floats[k + i]
            // Fused, the BatchNormalization writes dx over dy, which must then be its alone.
            if producer is BatchNormalization, let a = layer as? ActivationLayer, a.isPlainReLU,
               !mayBeShared(k + i) {
                fusions.append((p, i))
            }
        }
        trainingOutputSlots = inPlace
        trainingFusions = fusions
        let fused = Set(fusions.flatMap { [$0.batchNorm, $0.activation] })

        // Gradients: layer i runs its backward at step n − 1 − i.
        func backwardStep(_ i: Int) -> Int { n - 1 - i }
        // A value's gradient is complete, and held in one buffer, until its producer's backward reads
        // it (longer when that producer passes it on as its own input gradient). A value read by several
        // layers (or also the model's output) gets contributions that are summed into a buffer of its own,
        // each read at the latest when the last one arrives: the backward of its first reader.
        let output = model.outputValues[0]
        let readers = (0..<(k + n)).map { consumers[$0].count + ($0 == output ? 1 : 0) }
        var holdEnd = [Int](repeating: never, count: k + n), readEnd = [Int](repeating: never, count: k + n)
        for v in k..<(k + n) {
            let p = v - k
            let passes = model.layers[p].backwardMayReturnOutputGradient || fused.contains(p)
            holdEnd[v] = model.inbound[p].reduce(backwardStep(p)) { passes ? max($0, readEnd[$1]) : $0 }
            readEnd[v] = readers[v] > 1 ? consumers[v].map(backwardStep).max()! : holdEnd[v]
        }
        var requests: [Request] = [], owners: [(layer: Int, input: Int)] = []
        for (i, reads) in model.inbound.enumerated() where !fused.contains(i) {
            for (j, v) in reads.enumerated() {
                requests.append(Request(floats: floats[v], start: backwardStep(i), end: readEnd[v]))
                owners.append((i, j))
            }
        }
        var sumValues: [Int] = []
        for v in 0..<(k + n) where readers[v] > 1 {
            requests.append(Request(floats: floats[v], start: backwardStep(consumers[v].max()!), end: holdEnd[v]))
            sumValues.append(v)
        }
        requests.append(Request(floats: floats[output], start: -1, end: readEnd[output]))
        let (gradientSlot, gradientFloats) = Self.assign(requests)
        let gradientBuffers = gradientFloats.map { _ in SharedBuffer() }
        var perLayer = model.inbound.map { $0.map { _ -> SharedBuffer? in nil } }
        for (r, owner) in owners.enumerated() { perLayer[owner.layer][owner.input] = gradientBuffers[gradientSlot[r]] }
        inputGradientSlots = perLayer
        var sums: [Int: SharedBuffer] = [:]
        for (s, v) in sumValues.enumerated() { sums[v] = gradientBuffers[gradientSlot[owners.count + s]] }
        sumSlots = sums
        outputGradientSlot = gradientBuffers[gradientSlot[requests.count - 1]]
        preactivationGradientSlot = SharedBuffer()
        let kernelOutputs = model.layers.filter { $0 is KernelLayer }.map { $0.outputShape.reduce(1, *) }
        gradientFloatsPerSample = gradientFloats.reduce(0, +) + (kernelOutputs.max() ?? 0)
        unplannedGradientFloatsPerSample = requests.reduce(0) { $0 + $1.floats } + kernelOutputs.reduce(0, +)

        // Activations at inference: layer i runs forward at step i.
        var activationEnd = [Int](repeating: 0, count: k + n)
        for v in (k..<(k + n)).reversed() {
            if outputs.contains(v) { activationEnd[v] = never; continue }
            activationEnd[v] = consumers[v].reduce(v - k) { end, c in
                max(end, model.layers[c].inferenceMayReturnInput ? max(c, activationEnd[k + c]) : c)
            }
        }
        var activationRequests: [Request] = [], planned: [Int] = []
        for i in 0..<n where !model.layers[i].inferenceMayReturnInput {
            activationRequests.append(Request(floats: floats[k + i], start: i, end: activationEnd[k + i]))
            planned.append(i)
        }
        let (activationSlot, activationFloats) = Self.assign(activationRequests)
        let activationBuffers = activationFloats.map { _ in SharedBuffer() }
        var slots = [SharedBuffer?](repeating: nil, count: n)
        for (r, i) in planned.enumerated() { slots[i] = activationBuffers[activationSlot[r]] }
        outputSlots = slots
        activationFloatsPerSample = activationFloats.reduce(0, +)
        unplannedActivationFloatsPerSample = activationRequests.reduce(0) { $0 + $1.floats }
        trainingActivationFloatsPerSample = floats[k...].reduce(0, +) - inPlaceFloats
    }
}
