import XCTest
@testable import NN
import NNReference

/// The graph model (Keras Functional API): merge layers against the reference and numeric
/// gradients, a graph with fan-out and a residual add gradient-checked end to end, a Sequential and
/// the same chain as a graph training bit-identically, and bad graphs as clear errors.
final class GraphModelTests: XCTestCase {
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)

    // MARK: Merge layers

    private func mergeLayers() -> [(MergeLayer, Ref.Merge?, Int)] {
        [(Add(), .add, 3), (Subtract(), .subtract, 2), (Multiply(), .multiply, 3), (Average(), .average, 3),
         (Maximum(), .maximum, 3), (Minimum(), .minimum, 3), (Concatenate(), nil, 3), (Concatenate(axis: 2), nil, 2)]
    }

    /// Forward and every input's gradient equal the reference's loops (within Float rounding).
    func testMergeLayersMatchReference() throws {
        var data = TestData(seed: 3)
        for (layer, kind, count) in mergeLayers() {
            let shapes: [[Int]] = (0..<count).map { i in kind == nil ? (layer as! Concatenate).axis == 2 ? [2, 3 + i, 4] : [2, 3, 2 + i] : [2, 3, 4] }
            let xs = shapes.map { data.distinct([5] + $0) }
            let y = try layer.forward(xs, training: true).copy()
            let dy = data.tensor(y.shape)
            let dxs = (try layer.backward(dy) as [Tensor]).map { $0.copy() }
            let refs = xs.map { toRef($0) }
            let (ry, rdx): (RefTensor<Double>, [RefTensor<Double>])
            if let kind {
                ry = Ref.merge(refs, kind)
                rdx = Ref.mergeBackward(refs, kind, outputGradient: toRef(dy))
            } else {
                let axis = (layer as! Concatenate).axis == 2 ? 2 : 3
                ry = Ref.concatenate(refs, axis: axis)
                rdx = Ref.concatenateBackward(refs, axis: axis, outputGradient: toRef(dy))
            }
            assertClose(y, ry, rtol: 1e-5, "\(layer.typeName) forward")
            for (d, r) in zip(dxs, rdx) { assertClose(d, r, rtol: 1e-5, "\(layer.typeName) input gradient") }
        }
    }

    /// Central differences on every input of every merge layer (Caffe's float settings). Inputs are
    /// spread apart so Maximum and Minimum never change their winner inside a step.
    func testGradientCheckMergeLayers() throws {
        var data = TestData(seed: 5)
        for (layer, kind, count) in mergeLayers() {
            let shapes: [[Int]] = (0..<count).map { i in kind == nil ? (layer as! Concatenate).axis == 2 ? [2, 1 + i, 3] : [2, 2, 1 + i] : [2, 2, 3] }
            let xs = shapes.enumerated().map { data.distinct([2] + $1, spacing: 0.07).adding(Float($0) * 0.013) }
            var rng = RandomGenerator(seed: 9)
            let y0 = try layer.forward(xs, training: true)
            let r = data.tensor(y0.shape)
            let dxs = (try layer.backward(r) as [Tensor]).map { $0.copy() }
            func objective() throws -> (Double, [Bool]) {
                let y = try layer.forward(xs, training: true)
                return ((0..<y.count).reduce(0.0) { $0 + Double(y[flat: $1]) * Double(r[flat: $1]) }, [])
            }
            for (i, x) in xs.enumerated() {
                try checker.checkTensor("\(layer.typeName): input \(i)", x, analytic: dxs[i], rng: &rng, kinks: false,
                                        file: #filePath, line: #line, objective)
            }
        }
    }

    func testMergeShapeErrorsNameBothLayers() throws {
        let x = Input(shape: [8, 8, 3])
        let a = Conv2D(filters: 4, kernelSize: 3, padding: .same, name: "left")(x)
        let b = Conv2D(filters: 5, kernelSize: 3, padding: .same, name: "right")(x)
        XCTAssertThrowsError(try Model(inputs: x, outputs: Add(name: "join")([a, b]))) { error in
            let m = "\(error)"
            for part in ["join", "Add", "left", "[8, 8, 4]", "right", "[8, 8, 5]"] { XCTAssertTrue(m.contains(part), m) }
        }
        let c = Conv2D(filters: 5, kernelSize: 3, strides: 2, padding: .same, name: "small")(x)
        XCTAssertThrowsError(try Model(inputs: x, outputs: Concatenate()([a, c]))) { error in
            let m = "\(error)"
            for part in ["concatenate", "left", "[8, 8, 4]", "small", "[4, 4, 5]"] { XCTAssertTrue(m.contains(part), m) }
        }
        XCTAssertThrowsError(try Model(inputs: x, outputs: Concatenate(axis: 0)([a, a]))) { XCTAssertTrue("\($0)".contains("batch axis"), "\($0)") }
        XCTAssertThrowsError(try Model(inputs: x, outputs: Subtract()([a, a, a]))) { XCTAssertTrue("\($0)".contains("exactly 2"), "\($0)") }
        XCTAssertThrowsError(try Model(inputs: x, outputs: Add()([a]))) { XCTAssertTrue("\($0)".contains("at least 2"), "\($0)") }
        XCTAssertThrowsError(try Model(inputs: x, outputs: Dense(units: 2, name: "d")([a, b]))) {
            XCTAssertTrue("\($0)".contains("'d' (Dense) takes one input but was applied to 2"), "\($0)")
        }
        // A merge layer used as a single-input layer is an error, not a crash.
        XCTAssertThrowsError(try Sequential(inputShape: [4], layers: [Add()])) { XCTAssertTrue("\($0)".contains("'add' (Add) takes at least 2 inputs, got 1"), "\($0)") }
        XCTAssertThrowsError(try Add().forward(Tensor(shape: [1, 4]))) { XCTAssertTrue("\($0)".contains("merges several inputs"), "\($0)") }
    }

    func testBadGraphsAreClearErrors() throws {
        let x = Input(shape: [4], name: "x")
        let other = Input(shape: [4], name: "other")
        let h = Dense(units: 3, name: "h")(x)
        // An input used but not declared (so the output is not reachable from the declared inputs).
        XCTAssertThrowsError(try Model(inputs: x, outputs: Add()([h, Dense(units: 3, name: "g")(other)]))) { error in
            XCTAssertTrue("\(error)".contains("input 'other' is used by layer 'g' but is not one of the model's inputs"), "\(error)")
        }
        // An input declared but not connected.
        XCTAssertThrowsError(try Model(inputs: [x, other], outputs: [h])) { XCTAssertTrue("\($0)".contains("'other') is not connected to any output"), "\($0)") }
        // A layer applied twice (shared layers, or a recurrence through one layer).
        let shared = Dense(units: 4, name: "shared")
        XCTAssertThrowsError(try Model(inputs: x, outputs: shared(shared(x)))) { XCTAssertTrue("\($0)".contains("'shared' is applied more than once"), "\($0)") }
        // An output given as a model input.
        XCTAssertThrowsError(try Model(inputs: [h], outputs: [h])) { XCTAssertTrue("\($0)".contains("not an Input"), "\($0)") }
        XCTAssertThrowsError(try Model(inputs: [x, x], outputs: [h])) { XCTAssertTrue("\($0)".contains("listed twice"), "\($0)") }
        XCTAssertThrowsError(try Model(inputs: Input(shape: [0, 3]), outputs: h)) { XCTAssertTrue("\($0)".contains("empty axis"), "\($0)") }
        // Two layers with one name.
        let y = Dense(units: 2, name: "h")(h)
        XCTAssertThrowsError(try Model(inputs: x, outputs: y)) { XCTAssertTrue("\($0)".contains("named 'h' is already in the model"), "\($0)") }
        // Wrong inputs at run time name the layer reading the input.
        let m = try Model(inputs: x, outputs: Dense(units: 2, name: "out")(Dense(units: 3, name: "first")(x)))
        XCTAssertThrowsError(try m.forward(Tensor(shape: [2, 5]))) { XCTAssertTrue("\($0)".contains("layer 'first' (Dense) expected input of shape [N, 4]"), "\($0)") }
        XCTAssertThrowsError(try m.forward([Tensor(shape: [2, 4]), Tensor(shape: [2, 4])])) { XCTAssertTrue("\($0)".contains("takes 1 inputs"), "\($0)") }
    }

    // MARK: A graph, end to end

    /// x → c1 (tanh) ─┬─ c2 ─ Add ─┬─ Concatenate ─ BN ─ GAP ─┬─ Dense(tanh) ─ Multiply ─ Dense
    ///                ├────────────┘                           └─ Dense(sigmoid) ┘
    ///                └──────────────────────┘ (c1 feeds three layers; GAP two)
    private func residualGraph(seed: UInt64) throws -> Model {
        let x = Input(shape: [6, 6, 2])
        let c1 = Conv2D(filters: 3, kernelSize: 3, padding: .same, activation: .tanh)(x)
        let c2 = Conv2D(filters: 3, kernelSize: 3, padding: .same)(c1)
        let sum = Add()([c1, c2])
        let joined = Concatenate()([sum, c1])
        let pooled = GlobalAveragePooling2D()(BatchNormalization()(joined))
        let gated = Multiply()([Dense(units: 4, activation: .tanh)(pooled), Dense(units: 4, activation: .sigmoid)(pooled)])
        return try Model(inputs: x, outputs: Dense(units: 3)(gated), seed: seed)
    }

    /// dLoss/dInput and every parameter's gradient of the whole graph against central differences.
    func testGradientCheckGraphWithFanOutAndResidualAdd() throws {
        let model = try residualGraph(seed: 2)
        model.computesInputGradient = true
        var data = TestData(seed: 11)
        let x = data.tensor([3, 6, 6, 2])
        var rng = RandomGenerator(seed: 4)
        let y0 = try model.forward(x, training: true)
        let r = data.tensor(y0.shape)
        let dx = try model.backward(r).copy()
        XCTAssertEqual(dx.shape, x.shape)
        let trainable = model.trainableParameters
        let analytic = trainable.map { $0.gradient.copy() }
        func objective() throws -> (Double, [Bool]) {
            let y = try model.forward(x, training: true)
            return ((0..<y.count).reduce(0.0) { $0 + Double(y[flat: $1]) * Double(r[flat: $1]) }, [])
        }
        try checker.checkTensor("graph: input", x, analytic: dx, rng: &rng, kinks: false, file: #filePath, line: #line, objective)
        XCTAssertEqual(trainable.count, 12)
        for (p, a) in zip(trainable, analytic) {
            try checker.checkTensor("graph: parameter '\(p.name)'", p.value, analytic: a, rng: &rng, kinks: false, file: #filePath, line: #line, objective)
        }
        // Summed fan-out gradients are deterministic: a second backward gives the same bits.
        _ = try model.forward(x, training: true)
        XCTAssertEqual(try model.backward(r).elements.map(\.bitPattern), dx.elements.map(\.bitPattern))
    }

    /// The same layers as a Sequential and as a chain built with Input/Model: identical weights,
    /// dropout masks, losses and final bits after training (one executor, one code path).
    func testSequentialAndSameChainAsGraphTrainBitIdentically() throws {
        func layers() -> [Layer] {
            [Conv2D(filters: 4, kernelSize: 3, activation: .relu), BatchNormalization(), MaxPooling2D(),
             Dropout(rate: 0.3), Flatten(), Dense(units: 3, activation: .softmax)]
        }
        let sequential = try Sequential(inputShape: [8, 8, 1], layers: layers(), seed: 21)
        let x = Input(shape: [8, 8, 1])
        var h: SymbolicTensor = x
        for layer in layers() { h = layer(h) }
        let graph = try Model(inputs: x, outputs: h, seed: 21)
        XCTAssertTrue(graph.isChain)
        XCTAssertEqual(graph.layers.map(\.name), sequential.layers.map(\.name))
        var data = TestData(seed: 8)
        let images = data.tensor([40, 8, 8, 1]), labels = labelTensor(data.labels(40, classes: 3))
        var histories: [[Float]] = []
        for model in [sequential, graph] {
            model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            let history = try model.fit(x: images, y: labels, batchSize: 8, epochs: 3, verbose: .silent)
            histories.append(history["loss"])
        }
        XCTAssertEqual(histories[0], histories[1])
        XCTAssertLessThan(histories[0].last!, histories[0].first!)
        for (a, b) in zip(sequential.namedParameters, graph.namedParameters) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.parameter.value.elements.map(\.bitPattern), b.parameter.value.elements.map(\.bitPattern), a.name)
        }
    }

    /// A residual graph learns, and everything a Sequential offers works on it: evaluate, predict,
    /// weights files, freezing, head replacement, pop/add on its output, the summary's connections.
    func testGraphTrainsSavesFreezesAndReplacesItsHead() throws {
        let model = try residualGraph(seed: 3)
        try model.add(Dense(units: 3, activation: .softmax, name: "probabilities"))
        var data = TestData(seed: 12)
        let images = data.tensor([48, 6, 6, 2])
        // Labels a graph can learn: the sign pattern of two pixel sums.
        let labels = labelTensor((0..<48).map { n in
            let p = images.pointer + n * 72
            return (p[0] + p[5] > 0 ? 1 : 0) + (p[40] > 0 ? 1 : 0)
        })
        model.compile(optimizer: Adam(learningRate: 0.02), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        XCTAssertTrue(model.activationFusedWithLoss)
        let history = try model.fit(x: images, y: labels, batchSize: 8, epochs: 8, verbose: .silent)
        XCTAssertLessThan(history["loss"].last!, history["loss"].first! * 0.8, "\(history["loss"])")
        let evaluation = try model.evaluate(x: images, y: labels)
        let predictions = try model.predict(images)
        XCTAssertEqual(predictions.shape, [48, 3])
        XCTAssertEqual(Double((0..<3).reduce(Float(0)) { $0 + predictions[flat: $1] }), 1, accuracy: 1e-5)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graph-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try model.saveWeights(to: dir + "/w.safetensors")
        let copy = try residualGraph(seed: 99)
        try copy.add(Dense(units: 3, activation: .softmax, name: "probabilities"))
        try copy.loadWeights(from: dir + "/w.safetensors")
        copy.compile(loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        XCTAssertEqual(try copy.predict(images).elements, predictions.elements)
        XCTAssertEqual(try copy.evaluate(x: images, y: labels).loss, evaluation.loss)

        // Freeze the graph's base and give it a new head: only the head changes.
        try copy.freeze(0..<(copy.layers.count - 1))
        try copy.replaceHead(with: [Dense(units: 2, activation: .softmax, name: "new_head")])
        let before = copy.namedParameters.filter { !$0.name.hasPrefix("new_head") }.map { $0.parameter.value.elements }
        copy.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy())
        let binary = labelTensor((0..<48).map { Int(labels[flat: $0]) % 2 })
        try copy.fit(x: images, y: binary, batchSize: 8, epochs: 1, verbose: .silent)
        XCTAssertEqual(copy.namedParameters.filter { !$0.name.hasPrefix("new_head") }.map { $0.parameter.value.elements }, before)

        let summary = model.summary()
        for text in ["Model: \"functional\"", "Connected to", "input_layer (InputLayer)", "add (Add)", "conv2d[0][0]",
                     "concatenate (Concatenate)", "multiply (Multiply)"] {
            XCTAssertTrue(summary.contains(text), "summary lacks \(text):\n\(summary)")
        }
    }

    /// Layers put in front of a graph (the CLI's --augment, a Keras user's preprocessing) keep the
    /// graph and its weights: the new model on x equals the old one on the front's output.
    func testPrependingLayersToAGraph() throws {
        let model = try residualGraph(seed: 6)
        var data = TestData(seed: 2)
        let x = data.tensor([2, 6, 6, 2])
        let expected = try model.forward(x.adding(0).scaled(0.5)).copy()
        let front = try model.prepending([Rescaling(scale: 0.5, name: "halve")], seed: 6)
        XCTAssertFalse(front is Sequential)
        XCTAssertEqual(front.layers.first?.name, "halve")
        XCTAssertEqual(front.parameterCount, model.parameterCount)
        XCTAssertEqual(try front.forward(x).elements, expected.elements)
        let chain = try Sequential(inputShape: [3], layers: [Dense(units: 2)]).prepending([Rescaling(scale: 2)], seed: 1)
        XCTAssertTrue(chain is Sequential)
        XCTAssertEqual(chain.layers.map(\.name), ["rescaling", "dense"])
    }

    /// Several inputs and outputs run forward; fit refuses them clearly.
    func testSeveralInputsAndOutputs() throws {
        let a = Input(shape: [3], name: "a"), b = Input(shape: [3], name: "b")
        let sum = Add()([Dense(units: 2)(a), Dense(units: 2)(b)])
        let model = try Model(inputs: [a, b], outputs: [sum, Dense(units: 1)(sum)], seed: 1)
        XCTAssertEqual(model.inputNames, ["a", "b"])
        XCTAssertEqual(model.outputShapes, [[2], [1]])
        let out = try model.forward([Tensor(shape: [2, 3], repeating: 1), Tensor(shape: [2, 3], repeating: 2)])
        XCTAssertEqual(out.map(\.shape), [[2, 2], [2, 1]])
        model.compile(optimizer: SGD(), loss: MeanSquaredError())
        XCTAssertThrowsError(try model.fit(x: Tensor(shape: [2, 3]), y: Tensor(shape: [2, 2]), verbose: .silent)) {
            XCTAssertTrue("\($0)".contains("one input and one output"), "\($0)")
        }
    }
}

private extension Tensor {
    /// A copy with `v` added to every element.
    func adding(_ v: Float) -> Tensor { Tensor(shape: shape, elements: elements.map { $0 + v }) }
    /// A copy with every element multiplied by `s`.
    func scaled(_ s: Float) -> Tensor { Tensor(shape: shape, elements: elements.map { $0 * s }) }
}

/// The memory plan: buffers shared by liveness, results unchanged.
final class MemoryPlanTests: XCTestCase {
    /// A deep chain needs a few gradient slots however deep it is; at inference two activation
    /// slots (ping-pong) plus the output's own.
    func testDeepChainSharesGradientAndActivationBuffers() throws {
        let model = try Sequential(inputShape: [32], layers: (0..<12).map { _ in Dense(units: 32, activation: .tanh) } + [Dense(units: 4)])
        let plan = model.memoryPlan
        XCTAssertEqual(plan.unplannedGradientFloatsPerSample, 13 * 32 + 4 + (12 * 32 + 4), "every dX, the output gradient and every dZ")
        XCTAssertLessThanOrEqual(plan.gradientFloatsPerSample, 3 * 32 + 32 + 4, "two dX slots, the output gradient and one dZ")
        XCTAssertEqual(plan.unplannedActivationFloatsPerSample, 12 * 32 + 4)
        XCTAssertEqual(plan.activationFloatsPerSample, 2 * 32, "two slots; the output takes one that is free again")
        XCTAssertLessThan(plan.trainingBytes(batchSize: 32), plan.unplannedTrainingBytes(batchSize: 32))
    }

    /// In training an activation after a BatchNormalization writes over the normalization's output
    /// (BatchNormalization's backward reads only its input), and applies a ReLU or ReLU6 itself: one
    /// buffer for the pair, fewer bytes, and outputs and gradients bit for bit those of every layer
    /// keeping its own output and running its own pass.
    func testActivationsAfterBatchNormRunInPlaceInTraining() throws {
        func build() throws -> (Model, pairs: [(Layer, Layer)]) {
            let x = Input(shape: [5, 5, 2])
            // Two pairs the normalization also applies (ReLU, ReLU6), one only in place (tanh).
            let bn1 = BatchNormalization(), act1 = ReLU(), bn2 = BatchNormalization(), act2 = ReLU(maxValue: 6)
            let bn3 = BatchNormalization(), act3 = ActivationLayer(.tanh)
            var h = act1(bn1(Conv2D(filters: 3, kernelSize: 3, padding: .same)(x)))
            h = act2(bn2(DepthwiseConv2D(kernelSize: 3, padding: .same)(h)))
            h = act3(bn3(Conv2D(filters: 3, kernelSize: 1)(h)))
            // Not in place: an activation after a layer whose backward reads its output (Conv2D
            // with ReLU), one whose derivative needs its input (gelu), a BatchNormalization read
            // twice, and the output layer's activation (the loss may fuse it).
            let fused = ActivationLayer(.sigmoid)(Conv2D(filters: 2, kernelSize: 1, activation: .relu)(h))
            let shared = BatchNormalization()(Conv2D(filters: 2, kernelSize: 1)(h))
            let merged = Add()([fused, ActivationLayer(.sigmoid)(shared), ActivationLayer(.gelu)(shared)])
            let out = ActivationLayer(.sigmoid)(BatchNormalization()(Dense(units: 3)(Flatten()(merged))))
            let model = try Model(inputs: x, outputs: out, seed: 5)
            model.computesInputGradient = true
            return (model, [(bn1, act1), (bn2, act2), (bn3, act3)])
        }
        let (model, pairs) = try build()
        let plan = model.memoryPlan
        let index = { (layer: Layer) in model.layers.firstIndex { $0 === layer }! }
        for (bn, act) in pairs {
            XCTAssertNotNil(plan.trainingOutputSlots[index(bn)], bn.name)
            XCTAssertTrue(plan.trainingOutputSlots[index(bn)] === plan.trainingOutputSlots[index(act)], act.name)
        }
        let inPlace = model.layers.indices.filter { plan.trainingOutputSlots[$0] != nil }.map { model.layers[$0].name }
        XCTAssertEqual(inPlace.count, 6, "only the three pairs: \(inPlace)")
        XCTAssertEqual(plan.trainingFusions.map { [$0.batchNorm, $0.activation] },
                       pairs.prefix(2).map { [index($0.0), index($0.1)] }, "ReLU and ReLU6 fused, tanh not")
        let everyOutput = model.layers.reduce(0) { $0 + $1.outputShape.reduce(1, *) }
        XCTAssertEqual(plan.trainingActivationFloatsPerSample, everyOutput - 3 * 5 * 5 * 3)

        let (separate, _) = try build()
        separate.runsActivationsInPlace = false
        XCTAssertEqual(separate.memoryPlan.trainingActivationFloatsPerSample, everyOutput)
        XCTAssertTrue(separate.memoryPlan.trainingOutputSlots.allSatisfy { $0 == nil })
        XCTAssertTrue(separate.memoryPlan.trainingFusions.isEmpty)
        var data = TestData(seed: 22)
        for step in 0..<2 {
            let input = data.tensor([3, 5, 5, 2])
            let y = try model.forward(input, training: true).copy()
            XCTAssertEqual(y.elements, try separate.forward(input, training: true).elements, "step \(step): output")
            let r = data.tensor(y.shape)
            XCTAssertEqual(try model.backward(r).elements, try separate.backward(r).elements, "step \(step): input gradient")
            for (a, b) in zip(model.layers, separate.layers) {
                for (p, q) in zip(a.parameters, b.parameters) where p.trainable {
                    XCTAssertEqual(p.gradient.elements, q.gradient.elements, "step \(step): \(a.name).\(p.name)")
                }
            }
            // Inference after training-mode passes (the buffers switch back and forth).
            XCTAssertEqual(try model.forward(input).elements, try separate.forward(input).elements, "step \(step): inference")
        }
    }

    /// A fused BatchNormalization writes dx over the gradient it receives: never when another value
    /// holds the same tensor — Add hands its output gradient to every input (an identity shortcut
    /// around Conv–BN–ReLU, two such branches) — and gradients stay those of the unfused layers.
    func testFusedBatchNormNeverWritesOverAGradientAddShares() throws {
        func build(twoBranches: Bool) throws -> Model {
            let x = Input(shape: [4, 4, 3])
            let h0 = Conv2D(filters: 3, kernelSize: 1)(x)
            func branch() -> SymbolicTensor { ReLU()(BatchNormalization()(Conv2D(filters: 3, kernelSize: 3, padding: .same)(h0))) }
            let sum = Add()([twoBranches ? branch() : h0, branch()])
            let model = try Model(inputs: x, outputs: Dense(units: 2)(Flatten()(sum)), seed: 6)
            model.computesInputGradient = true
            return model
        }
        for twoBranches in [false, true] {
            let model = try build(twoBranches: twoBranches), separate = try build(twoBranches: twoBranches)
            separate.runsActivationsInPlace = false
            XCTAssertTrue(model.memoryPlan.trainingFusions.isEmpty, "the Add's gradient is shared")
            XCTAssertFalse(model.memoryPlan.trainingOutputSlots.allSatisfy { $0 == nil }, "still in place")
            var data = TestData(seed: 10)
            let input = data.tensor([2, 4, 4, 3])
            let y = try model.forward(input, training: true).copy()
            XCTAssertEqual(y.elements, try separate.forward(input, training: true).elements)
            let r = data.tensor(y.shape)
            XCTAssertEqual(try model.backward(r).elements, try separate.backward(r).elements, "input gradient")
            for (a, b) in zip(model.layers, separate.layers) {
                for (p, q) in zip(a.parameters, b.parameters) where p.trainable {
                    XCTAssertEqual(p.gradient.elements, q.gradient.elements, "\(a.name).\(p.name)")
                }
            }
        }
    }

    /// A fused BatchNormalization writes dx over the gradient it receives: never when that may be the
    /// caller's own output gradient (here handed back through a Dropout, the output layer).
    func testFusedBatchNormNeverWritesOverTheCallersGradient() throws {
        for endsInDropout in [true, false] {
            let x = Input(shape: [5, 5, 2])
            let h = ReLU()(BatchNormalization()(Conv2D(filters: 3, kernelSize: 3)(x)))
            let out = endsInDropout ? Dropout(rate: 0)(h) : Dense(units: 2)(Flatten()(h))
            let model = try Model(inputs: x, outputs: out, seed: 3)
            XCTAssertEqual(model.memoryPlan.trainingFusions.count, endsInDropout ? 0 : 1)
            XCTAssertNotNil(model.memoryPlan.trainingOutputSlots[1], "in place either way")
            var data = TestData(seed: 9)
            let y = try model.forward(data.tensor([2, 5, 5, 2]), training: true)
            let r = data.tensor(y.shape), kept = r.copy()
            _ = try model.backward(r)
            XCTAssertEqual(r.elements, kept.elements, "the output gradient passed in is unchanged")
        }
    }

    /// A deep residual net with Flatten/Dropout aliases: the gradients through all blocks match central
    /// differences with buffers shared, and inference gives the same outputs as training-mode buffers.
    func testDeepResidualNetWithSharedBuffersIsCorrect() throws {
        let x = Input(shape: [4, 4, 2])
        var h = Conv2D(filters: 3, kernelSize: 1, activation: .tanh)(x)
        for _ in 0..<6 {
            let branch = Conv2D(filters: 3, kernelSize: 3, padding: .same)(Conv2D(filters: 3, kernelSize: 3, padding: .same, activation: .tanh)(h))
            h = Add()([h, Dropout(rate: 0)(branch)])
        }
        let out = Dense(units: 2)(Flatten()(Reshape([16, 3])(h)))
        let model = try Model(inputs: x, outputs: out, seed: 4)
        model.computesInputGradient = true
        let plan = model.memoryPlan
        XCTAssertLessThan(plan.gradientFloatsPerSample * 3, plan.unplannedGradientFloatsPerSample)
        XCTAssertLessThan(plan.activationFloatsPerSample * 3, plan.unplannedActivationFloatsPerSample)

        var data = TestData(seed: 21)
        let input = data.tensor([2, 4, 4, 2])
        let trainingOutput = try model.forward(input, training: true).copy()
        XCTAssertEqual(try model.forward(input, training: false).elements, trainingOutput.elements, "inference with shared slots")
        let r = data.tensor(trainingOutput.shape)
        _ = try model.forward(input, training: true)
        let dx = try model.backward(r).copy()
        var rng = RandomGenerator(seed: 1)
        let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 16)
        let first = model.layers[0] as! Conv2D
        let firstKernel = first.kernel.gradient.copy()
        func objective() throws -> (Double, [Bool]) {
            let y = try model.forward(input, training: true)
            return ((0..<y.count).reduce(0.0) { $0 + Double(y[flat: $1]) * Double(r[flat: $1]) }, [])
        }
        try checker.checkTensor("deep residual: input", input, analytic: dx, rng: &rng, kinks: false, file: #filePath, line: #line, objective)
        try checker.checkTensor("deep residual: first kernel", first.kernel.value, analytic: firstKernel, rng: &rng, kinks: false, file: #filePath, line: #line, objective)
    }
}
