import Foundation
import XCTest
import NN
@testable import NNKeras

/// Keras model files (NNKeras): files Keras 3.15.1 wrote (Tests/NNTests/Fixtures/keras) read with
/// Keras's layers, weights, predictions, evaluation and optimizer state; the engine's own models
/// round-tripped through .keras and .h5 bit for bit (training continues identically); unsupported
/// configs refused with every problem at once; hostile files refused by name, never a crash.
final class KerasModelFileTests: TemporaryDirectoryTestCase {

    // MARK: Fixtures

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/keras")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// The parsed `<name>.expected.json` Keras wrote beside its files.
    struct Expected {
        var json: [String: Any]
        var inputShape: [Int]
        var inputs: Tensor
        var labels: [Int]
        var predictions: Tensor
        var loss: Double
        var accuracy: Double
        var layers: [(name: String, className: String)]
        var totalParams: Int
        var trainableParams: Int
        /// Per weight: layer name, variable name, shape, values.
        var weights: [(layer: String, variable: String, shape: [Int], values: [Float])]
        var iterations: Int?
        /// Optimizer variables in Keras's order (iteration, learning_rate, slots).
        var optimizerVariables: [(path: String, shape: [Int], values: [Float])]

        init(_ name: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: KerasModelFileTests.fixture("\(name).expected.json")))
            json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            inputShape = try XCTUnwrap(json["input_shape"] as? [Int])
            let rawInputs = try XCTUnwrap(json["inputs"] as? [Any])
            inputs = Tensor(shape: [rawInputs.count] + inputShape, elements: flatten(rawInputs))
            labels = try XCTUnwrap(json["labels"] as? [Int])
            let rawPredictions = try XCTUnwrap(json["predictions"] as? [[Any]])
            predictions = Tensor(shape: [rawPredictions.count, rawPredictions[0].count], elements: flatten(rawPredictions))
            let evaluate = try XCTUnwrap(json["evaluate"] as? [String: Any])
            loss = try XCTUnwrap(evaluate["loss"] as? Double)
            accuracy = try XCTUnwrap(evaluate["accuracy"] as? Double)
            layers = try XCTUnwrap(json["layers"] as? [[String: Any]]).map { ($0["name"] as! String, $0["class_name"] as! String) }
            let params = try XCTUnwrap(json["params"] as? [String: Any])
            totalParams = try XCTUnwrap(params["total"] as? Int)
            trainableParams = try XCTUnwrap(params["trainable"] as? Int)
            weights = try XCTUnwrap(json["weights"] as? [[String: Any]]).map { w in
                let parts = (w["path"] as! String).split(separator: "/").map(String.init)
                return (parts[parts.count - 2], parts[parts.count - 1], w["shape"] as! [Int], flatten(w["values"]!))
            }
            let optimizer = json["optimizer"] as? [String: Any]
            iterations = optimizer?["iterations"] as? Int
            optimizerVariables = (optimizer?["variables"] as? [[String: Any]] ?? []).map { v in
                (v["path"] as! String, v["shape"] as! [Int], flatten(v["values"]!))
            }
        }
    }

    /// Nested JSON number arrays (or a number) as a flat Float array, row-major.
    static func flattenAny(_ v: Any) -> [Float] {
        if let n = v as? NSNumber { return [n.floatValue] }
        if let a = v as? [Any] { return a.flatMap(flattenAny) }
        return []
    }

    /// The largest |a − b| over two tensors of the same shape (infinity when the shapes differ).
    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[flat: i] - b[flat: i])) }
        return worst
    }

    static func bits(_ t: Tensor) -> [UInt32] { t.elements.map(\.bitPattern) }

    /// The error's text (description of an NN/Keras error).
    static func message(_ error: Error) -> String { "\(error)" }

    /// Runs `body`, which must throw; returns the error's text.
    func errorText(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String {
        do {
            try body()
            XCTFail("\(what): no error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func assertContains(_ text: String, _ parts: [String], _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        for p in parts {
            XCTAssertTrue(text.contains(p), "\(what): message lacks '\(p)':\n\(text)", file: file, line: line)
        }
    }

    // MARK: 1. Files Keras wrote

    /// Layers, weights, predictions, evaluation and compile config of a Keras-written model file.
    func checkKerasWritten(_ name: String, ext: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = try Expected(name)
        let path = Self.fixture("\(name).\(ext)")
        let read = try KerasModelFile.read(path)
        let model = read.model
        let what = "\(name).\(ext)"
        XCTAssertEqual(read.format, ext == "keras" ? .keras : .h5, what, file: file, line: line)
        XCTAssertEqual(read.kerasVersion, "3.15.1", what, file: file, line: line)
        XCTAssertEqual(read.name, name, what, file: file, line: line)
        XCTAssertEqual(model.inputShape, e.inputShape, what, file: file, line: line)
        XCTAssertEqual(model.layers.map(\.name), e.layers.map(\.name), what, file: file, line: line)
        XCTAssertEqual(model.layers.map(\.typeName), e.layers.map(\.className), what, file: file, line: line)
        XCTAssertEqual(model.parameterCount, e.totalParams, what, file: file, line: line)
        XCTAssertEqual(model.trainableParameterCount, e.trainableParams, what, file: file, line: line)

        // Every weight exactly (Keras's float32 printed as a double reads back to the same float).
        XCTAssertEqual(model.namedParameters.count, e.weights.count, what, file: file, line: line)
        for w in e.weights {
            guard let p = model.layer(named: w.layer)?.parameters.first(where: { $0.name == w.variable }) else {
                XCTFail("\(what): no parameter \(w.layer).\(w.variable)", file: file, line: line)
                continue
            }
            XCTAssertEqual(p.value.shape, w.shape, "\(what) \(w.layer).\(w.variable)", file: file, line: line)
            XCTAssertEqual(p.value.elements, w.values, "\(what) \(w.layer).\(w.variable)", file: file, line: line)
        }

        // Predictions within 1e-5 of Keras's.
        let predictions = try model.predict(e.inputs)
        XCTAssertLessThanOrEqual(Self.maxDifference(predictions, e.predictions), 1e-5, "\(what) predictions", file: file, line: line)

        // The file's compile config: Adam, its learning rate, sparse cross-entropy with accuracy.
        let adam = try XCTUnwrap(model.optimizer as? Adam, "\(what): optimizer \(String(describing: model.optimizer))", file: file, line: line)
        XCTAssertEqual(adam.learningRate, 0.001, what, file: file, line: line)
        XCTAssertEqual(adam.beta1, 0.9, what, file: file, line: line)
        XCTAssertEqual(adam.beta2, 0.999, what, file: file, line: line)
        XCTAssertEqual(adam.epsilon, 1e-7, what, file: file, line: line)
        XCTAssertTrue(model.loss is SparseCategoricalCrossentropy, "\(what): loss \(String(describing: model.loss))", file: file, line: line)
        XCTAssertEqual(model.metrics, [.accuracy], what, file: file, line: line)
        XCTAssertTrue(read.warnings.isEmpty, "\(what): \(read.warnings)", file: file, line: line)

        // Evaluation (with the L2 penalty, as Keras reports it).
        let evaluation = try model.evaluate(x: e.inputs, y: labelTensor(e.labels), batchSize: 4)
        XCTAssertEqual(Double(evaluation.loss), e.loss, accuracy: 1e-4, "\(what) loss", file: file, line: line)
        XCTAssertEqual(Double(try XCTUnwrap(evaluation.accuracy)), e.accuracy, "\(what) accuracy", file: file, line: line)
    }

    /// The optimizer state in the file (iterations, learning rate, every Adam moment) is Keras's.
    func checkOptimizerState(_ name: String, ext: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = try Expected(name)
        let read = try KerasModelFile.read(Self.fixture("\(name).\(ext)"))
        let model = read.model
        let what = "\(name).\(ext)"
        XCTAssertTrue(read.restoredOptimizerState, "\(what): optimizer state not restored", file: file, line: line)
        let optimizer = try XCTUnwrap(model.optimizer, file: file, line: line)
        let iterations = try XCTUnwrap(e.iterations, file: file, line: line)
        XCTAssertEqual(optimizer.iterations, iterations, what, file: file, line: line)
        XCTAssertEqual(e.optimizerVariables.count, 2 + 2 * model.trainableParameters.count, what, file: file, line: line)
        guard e.optimizerVariables.count >= 2 else { return }
        XCTAssertEqual(e.optimizerVariables[0].values, [Float(iterations)], what, file: file, line: line)
        XCTAssertEqual(e.optimizerVariables[1].values, [optimizer.learningRate], what, file: file, line: line)
        // Keras's slots: momentum then velocity per trainable variable, in model order.
        for (i, p) in model.trainableParameters.enumerated() {
            let state = optimizer.state(for: p)
            XCTAssertEqual(state.count, 2, what, file: file, line: line)
            for s in 0..<min(2, state.count) {
                let index = 2 + 2 * i + s
                guard index < e.optimizerVariables.count else { continue }
                let v = e.optimizerVariables[index]
                XCTAssertTrue(v.path.hasSuffix(s == 0 ? "_momentum" : "_velocity"), "\(what): \(v.path)", file: file, line: line)
                XCTAssertTrue(v.path.contains("_\(p.name)_"), "\(what): \(v.path) for \(p.name)", file: file, line: line)
                XCTAssertEqual(state[s].shape, v.shape, "\(what) \(v.path)", file: file, line: line)
                XCTAssertEqual(state[s].elements, v.values, "\(what) \(v.path)", file: file, line: line)
            }
        }
    }

    func testSeqAllKeras() throws { try checkKerasWritten("seq_all", ext: "keras") }
    func testSeqAllH5() throws { try checkKerasWritten("seq_all", ext: "h5") }
    func testSeqFlatKeras() throws { try checkKerasWritten("seq_flat", ext: "keras") }
    func testSeqFlatH5() throws { try checkKerasWritten("seq_flat", ext: "h5") }

    func testOptimizerStateSeqAllKeras() throws { try checkOptimizerState("seq_all", ext: "keras") }
    func testOptimizerStateSeqAllH5() throws { try checkOptimizerState("seq_all", ext: "h5") }
    func testOptimizerStateSeqFlatKeras() throws { try checkOptimizerState("seq_flat", ext: "keras") }
    func testOptimizerStateSeqFlatH5() throws { try checkOptimizerState("seq_flat", ext: "h5") }

    func testLoadModelFunctionMatchesRead() throws {
        let model = try loadModel(from: Self.fixture("seq_all.keras"))
        let e = try Expected("seq_all")
        XCTAssertLessThanOrEqual(Self.maxDifference(try model.predict(e.inputs), e.predictions), 1e-5)
        // compile: false leaves the model uncompiled.
        let uncompiled = try loadModel(from: Self.fixture("seq_all.keras"), compile: false)
        XCTAssertNil(uncompiled.loss)
        XCTAssertNil(uncompiled.optimizer)
    }

    /// Keras's seq_all Dropout and BatchNormalization configs are read as written.
    func testSeqAllLayerOptions() throws {
        let model = try loadModel(from: Self.fixture("seq_all.keras"))
        let bn = try XCTUnwrap(model.layer(named: "batch_normalization") as? BatchNormalization)
        XCTAssertEqual(bn.momentum, 0.99)
        XCTAssertEqual(bn.epsilon, 1e-3)
        let dropout = try XCTUnwrap(model.layer(named: "dropout") as? Dropout)
        XCTAssertEqual(dropout.rate, 0.25)
        let conv = try XCTUnwrap(model.layer(named: "conv2d") as? Conv2D)
        XCTAssertEqual(conv.kernelL2, 1e-4)
        XCTAssertEqual(conv.activation, .relu)
        let depthwise = try XCTUnwrap(model.layer(named: "depthwise_conv2d") as? DepthwiseConv2D)
        XCTAssertEqual(depthwise.depthMultiplier, 2)
        XCTAssertEqual(depthwise.strides.0, 2)
        XCTAssertEqual(depthwise.strides.1, 2)
    }

    /// Keras 3 `.weights.h5` into a model built from the .keras without its weights.
    func testWeightsOnlyFile() throws {
        for name in ["seq_all", "seq_flat"] {
            let e = try Expected(name)
            let fresh = try KerasModelFile.read(Self.fixture("\(name).keras"), seed: 7, loadWeights: false)
            XCTAssertFalse(fresh.restoredOptimizerState, name)
            let model = fresh.model
            XCTAssertGreaterThan(Self.maxDifference(try model.predict(e.inputs), e.predictions), 1e-3, "\(name): fresh weights predict like Keras's")
            let (loaded, kept) = try model.loadKerasWeights(from: Self.fixture("\(name).weights.h5"))
            XCTAssertEqual(Set(loaded), Set(model.layers.filter { !$0.parameters.isEmpty }.map(\.name)), name)
            XCTAssertTrue(kept.isEmpty || kept.allSatisfy { model.layer(named: $0)?.parameters.isEmpty ?? false }, "\(name): kept \(kept)")
            XCTAssertLessThanOrEqual(Self.maxDifference(try model.predict(e.inputs), e.predictions), 1e-5, name)
        }
    }

    /// The weights inside a whole-model file load into the same architecture built afresh.
    func testLoadKerasWeightsFromWholeModelFiles() throws {
        let e = try Expected("seq_all")
        for ext in ["keras", "h5"] {
            let model = try KerasModelFile.read(Self.fixture("seq_all.keras"), seed: 3, loadWeights: false).model
            try model.loadKerasWeights(from: Self.fixture("seq_all.\(ext)"))
            XCTAssertLessThanOrEqual(Self.maxDifference(try model.predict(e.inputs), e.predictions), 1e-5, ext)
        }
    }

    // MARK: 2. Round trips: ours → file → ours

    /// Twelve samples of 8×8×3 and their labels of 3 classes: three batches of four.
    static func trainingData(seed: UInt64 = 5) -> (x: Tensor, y: Tensor) {
        var data = TestData(seed: seed)
        let x = data.tensor([12, 8, 8, 3], -1, 1)
        return (x, labelTensor(data.labels(12, classes: 3)))
    }

    /// A model with every layer Keras and the engine share, a frozen layer, L2 on three kernels,
    /// compiled with `optimizer` and trained three steps (one epoch, no shuffle).
    static func allLayersModel(_ optimizer: Optimizer) throws -> Model {
        let frozen = Dense(units: 16, activation: .relu, name: "frozen_dense")
        frozen.trainable = false
        let model = try Sequential(inputShape: [8, 8, 3], layers: [
            Rescaling(scale: 0.5, offset: 0.25, name: "scale"),
            Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .relu, kernelL2: 1e-3, name: "conv"),
            BatchNormalization(momentum: 0.8, epsilon: 0.01, name: "bn"),
            MaxPooling2D(poolSize: 2, name: "pool"),
            ZeroPadding2D(padding: 1, name: "pad"),
            DepthwiseConv2D(kernelSize: (3, 3), strides: (2, 2), depthMultiplier: 2, kernelL2: 2e-3, name: "dw"),
            ReLU(maxValue: 6, name: "relu6"),
            ActivationLayer(.tanh, name: "act"),
            Dropout(rate: 0.3, seed: 42, name: "drop"),
            Flatten(name: "flat"),
            frozen,
            Reshape([2, 2, 4], name: "reshape"),
            GlobalAveragePooling2D(name: "gap"),
            Dense(units: 3, kernelL2: 1e-3, name: "head"),
            Softmax(name: "softmax"),
        ], seed: 9)
        model.compile(optimizer: optimizer, loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let (x, y) = trainingData()
        try model.fit(x: x, y: y, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
        return model
    }

    /// Everything a file must carry over, compared; parameters and optimizer slots bit for bit.
    func assertSameModel(_ a: Model, _ b: Model, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.inputShape, b.inputShape, what, file: file, line: line)
        XCTAssertEqual(a.layers.map(\.name), b.layers.map(\.name), what, file: file, line: line)
        XCTAssertEqual(a.layers.map(\.typeName), b.layers.map(\.typeName), what, file: file, line: line)
        XCTAssertEqual(a.layers.map(\.trainable), b.layers.map(\.trainable), what, file: file, line: line)
        XCTAssertEqual(a.layers.map(\.outputShape), b.layers.map(\.outputShape), what, file: file, line: line)
        XCTAssertEqual(a.namedParameters.map(\.name), b.namedParameters.map(\.name), what, file: file, line: line)
        for ((name, p), (_, q)) in zip(a.namedParameters, b.namedParameters) {
            XCTAssertEqual(p.value.shape, q.value.shape, "\(what) \(name)", file: file, line: line)
            XCTAssertEqual(Self.bits(p.value), Self.bits(q.value), "\(what) \(name)", file: file, line: line)
            XCTAssertEqual(p.l2, q.l2, "\(what) \(name) l2", file: file, line: line)
            XCTAssertEqual(p.trainable, q.trainable, "\(what) \(name) trainable", file: file, line: line)
        }
        for (l, m) in zip(a.layers, b.layers) {
            if let k = l as? KernelLayer, let j = m as? KernelLayer {
                XCTAssertEqual(k.kernelL2, j.kernelL2, "\(what) \(l.name) kernelL2", file: file, line: line)
                XCTAssertEqual(k.activation, j.activation, "\(what) \(l.name) activation", file: file, line: line)
                XCTAssertEqual(k.useBias, j.useBias, "\(what) \(l.name) useBias", file: file, line: line)
            }
            if let k = l as? BatchNormalization, let j = m as? BatchNormalization {
                XCTAssertEqual(k.momentum, j.momentum, "\(what) \(l.name)", file: file, line: line)
                XCTAssertEqual(k.epsilon, j.epsilon, "\(what) \(l.name)", file: file, line: line)
            }
            if let k = l as? Dropout, let j = m as? Dropout {
                XCTAssertEqual(k.rate, j.rate, "\(what) \(l.name)", file: file, line: line)
                XCTAssertEqual(k.seed, j.seed, "\(what) \(l.name)", file: file, line: line)
            }
            if let k = l as? Rescaling, let j = m as? Rescaling {
                XCTAssertEqual(k.scale, j.scale, "\(what) \(l.name)", file: file, line: line)
                XCTAssertEqual(k.offset, j.offset, "\(what) \(l.name)", file: file, line: line)
            }
            if let k = l as? DepthwiseConv2D, let j = m as? DepthwiseConv2D {
                XCTAssertEqual(k.depthMultiplier, j.depthMultiplier, "\(what) \(l.name)", file: file, line: line)
                XCTAssertEqual([k.strides.0, k.strides.1], [j.strides.0, j.strides.1], "\(what) \(l.name)", file: file, line: line)
            }
            if let k = l as? ActivationLayer, let j = m as? ActivationLayer {
                XCTAssertEqual(k.activation, j.activation, "\(what) \(l.name)", file: file, line: line)
            }
        }
        guard let o = a.optimizer, let r = b.optimizer else {
            XCTAssertNil(a.optimizer, what, file: file, line: line)
            XCTAssertNil(b.optimizer, what, file: file, line: line)
            return
        }
        XCTAssertTrue(type(of: o) == type(of: r), "\(what): \(type(of: o)) vs \(type(of: r))", file: file, line: line)
        XCTAssertEqual(o.learningRate.bitPattern, r.learningRate.bitPattern, what, file: file, line: line)
        XCTAssertEqual(o.iterations, r.iterations, what, file: file, line: line)
        XCTAssertEqual(o.slotNames, r.slotNames, what, file: file, line: line)
        XCTAssertEqual(a.trainableParameters.count, b.trainableParameters.count, what, file: file, line: line)
        for (p, q) in zip(a.trainableParameters, b.trainableParameters) {
            let s = o.state(for: p), t = r.state(for: q)
            XCTAssertEqual(s.count, t.count, what, file: file, line: line)
            for (i, (x, y)) in zip(s, t).enumerated() {
                XCTAssertEqual(Self.bits(x), Self.bits(y), "\(what) \(p.name) slot \(o.slotNames[i])", file: file, line: line)
            }
        }
        if let x = o as? Adam, let y = r as? Adam {
            XCTAssertEqual([x.beta1, x.beta2, x.epsilon], [y.beta1, y.beta2, y.epsilon], what, file: file, line: line)
        }
        if let x = o as? SGD, let y = r as? SGD {
            XCTAssertEqual(x.momentum, y.momentum, what, file: file, line: line)
            XCTAssertEqual(x.nesterov, y.nesterov, what, file: file, line: line)
        }
        if let x = o as? RMSProp, let y = r as? RMSProp {
            XCTAssertEqual([x.rho, x.epsilon], [y.rho, y.epsilon], what, file: file, line: line)
        }
        XCTAssertTrue(type(of: a.loss!) == type(of: b.loss!), what, file: file, line: line)
        XCTAssertEqual(a.metrics, b.metrics, what, file: file, line: line)
    }

    /// Saves a trained model as .keras and .h5, reads both back, compares, then trains all three
    /// three more steps: the loaded models must end bit-identical to the original.
    func checkRoundTrip(_ optimizer: Optimizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let original = try Self.allLayersModel(optimizer)
        let bn = try XCTUnwrap(original.layer(named: "bn") as? BatchNormalization)
        XCTAssertTrue(bn.movingMean.value.elements.contains { $0 != 0 }, "moving mean still zero", file: file, line: line)
        XCTAssertTrue(bn.movingVariance.value.elements.contains { $0 != 1 }, "moving variance still one", file: file, line: line)
        XCTAssertEqual(original.optimizer?.iterations, 3, file: file, line: line)
        var loaded: [(String, Model)] = []
        for ext in ["keras", "h5"] {
            let path = dir + "/model.\(ext)"
            try original.save(to: path)
            let read = try KerasModelFile.read(path)
            XCTAssertEqual(read.format, ext == "keras" ? .keras : .h5, file: file, line: line)
            XCTAssertTrue(read.restoredOptimizerState, "\(ext): optimizer state not restored", file: file, line: line)
            XCTAssertTrue(read.warnings.isEmpty, "\(ext): \(read.warnings)", file: file, line: line)
            assertSameModel(original, read.model, "\(optimizer.name) .\(ext)", file: file, line: line)
            loaded.append((ext, read.model))
        }
        // The files carry no generator state (neither do Keras's): the dropout masks continue from
        // the original's generator, so only the file's contents decide the outcome.
        let dropout = try XCTUnwrap(original.layer(named: "drop"))
        for (_, m) in loaded { m.layer(named: "drop")!.randomState = dropout.randomState }
        let (x, y) = Self.trainingData(seed: 77)
        try original.fit(x: x, y: y, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
        for (ext, m) in loaded {
            try m.fit(x: x, y: y, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
            assertSameModel(original, m, "\(optimizer.name) .\(ext) after 3 more steps", file: file, line: line)
        }
        XCTAssertEqual(original.optimizer?.iterations, 6, file: file, line: line)
    }

    func testRoundTripAdam() throws { try checkRoundTrip(Adam(learningRate: 0.01, beta1: 0.85, beta2: 0.995, epsilon: 1e-6)) }
    func testRoundTripSGDMomentum() throws { try checkRoundTrip(SGD(learningRate: 0.05, momentum: 0.9, nesterov: true)) }
    func testRoundTripRMSProp() throws { try checkRoundTrip(RMSProp(learningRate: 0.003, rho: 0.8, epsilon: 1e-6)) }
    func testRoundTripPlainSGD() throws { try checkRoundTrip(SGD(learningRate: 0.1)) }

    /// Options the all-layers model does not use: ReLU caps other than 6, asymmetric padding,
    /// rectangular kernels and strides, same-padded pooling, keepdims, no bias, initializers,
    /// unseeded dropout, and the other losses; predictions bit-identical after the round trip.
    func testRoundTripLayerVariants() throws {
        let losses: [Loss] = [CategoricalCrossentropy(fromLogits: true), SparseCategoricalCrossentropy(fromLogits: true), MeanSquaredError()]
        for (n, loss) in losses.enumerated() {
            let model = try Sequential(inputShape: [9, 7, 2], layers: [
                ZeroPadding2D(padding: ((1, 2), (0, 3)), name: "pad"),
                Conv2D(filters: 3, kernelSize: (3, 2), strides: (2, 1), padding: .valid, activation: .sigmoid, useBias: false,
                       kernelInitializer: .heNormal, name: "conv"),
                ReLU(maxValue: 3, name: "relu3"),
                MaxPooling2D(poolSize: (3, 2), strides: (2, 2), padding: .same, name: "pool"),
                DepthwiseConv2D(kernelSize: (1, 2), strides: (1, 1), padding: .same, depthMultiplier: 1, activation: .relu6,
                                depthwiseInitializer: .randomNormal(mean: 0.1, stddev: 0.2), biasInitializer: .constant(0.5), name: "dw"),
                ReLU(name: "relu"),
                Dropout(rate: 0.5, name: "drop"),
                GlobalAveragePooling2D(keepdims: true, name: "gap"),
                Flatten(name: "flat"),
                Dense(units: 4, kernelInitializer: .orthogonal(gain: 1.5), biasInitializer: .randomUniform(low: -0.1, high: 0.2), name: "logits"),
            ], seed: 21)
            model.compile(optimizer: Adam(learningRate: 0.02), loss: loss, metrics: n == 2 ? [] : [.accuracy])
            var data = TestData(seed: 8)
            let x = data.tensor([8, 9, 7, 2])
            let y = n == 1 ? labelTensor(data.labels(8, classes: 4)) : oneHotRows(data.labels(8, classes: 4), classes: 4)
            try model.fit(x: x, y: y, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
            for ext in ["keras", "h5"] {
                let path = dir + "/variants\(n).\(ext)"
                try model.save(to: path)
                let read = try KerasModelFile.read(path)
                let what = "\(loss.name) .\(ext)"
                XCTAssertTrue(read.restoredOptimizerState, what)
                assertSameModel(model, read.model, what)
                let loaded = read.model
                XCTAssertEqual((loaded.layer(named: "relu3") as? ReLU)?.maxValue, 3, what)
                XCTAssertNil((loaded.layer(named: "relu") as? ReLU)?.maxValue, what)
                XCTAssertEqual((loaded.layer(named: "conv") as? KernelLayer)?.kernelInitializer, .heNormal, what)
                XCTAssertEqual((loaded.layer(named: "dw") as? KernelLayer)?.kernelInitializer, .randomNormal(mean: 0.1, stddev: 0.2), what)
                XCTAssertEqual((loaded.layer(named: "dw") as? KernelLayer)?.biasInitializer, .constant(0.5), what)
                XCTAssertEqual((loaded.layer(named: "logits") as? KernelLayer)?.kernelInitializer, .orthogonal(gain: 1.5), what)
                XCTAssertNil((loaded.layer(named: "drop") as? Dropout)?.seed, what)
                let pad = try XCTUnwrap(loaded.layer(named: "pad") as? ZeroPadding2D)
                XCTAssertEqual([pad.padding.0.top, pad.padding.0.bottom, pad.padding.1.left, pad.padding.1.right], [1, 2, 0, 3], what)
                XCTAssertEqual((loaded.loss as? CrossEntropyLoss)?.fromLogits, (loss as? CrossEntropyLoss)?.fromLogits, what)
                XCTAssertEqual(Self.bits(try loaded.predict(x)), Self.bits(try model.predict(x)), what)
                let e1 = try model.evaluate(x: x, y: y), e2 = try loaded.evaluate(x: x, y: y)
                XCTAssertEqual(e1.loss.bitPattern, e2.loss.bitPattern, what)
            }
        }
    }

    /// An uncompiled model round-trips without a compile config, and loads uncompiled.
    func testRoundTripUncompiled() throws {
        let model = try Sequential(inputShape: [4, 4, 1], layers: [Flatten(), Dense(units: 2, activation: .softmax)], seed: 1)
        for ext in ["keras", "h5"] {
            let path = dir + "/plain.\(ext)"
            try model.save(to: path)
            let read = try KerasModelFile.read(path)
            XCTAssertNil(read.model.loss, ext)
            XCTAssertNil(read.model.optimizer, ext)
            XCTAssertFalse(read.restoredOptimizerState, ext)
            assertSameModel(model, read.model, ext)
        }
    }

    /// A path that is neither .keras nor .h5 is refused, naming both.
    func testSaveNeedsKnownExtension() throws {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 2)])
        let text = errorText("save to .bin") { try model.save(to: dir + "/m.bin") }
        assertContains(text, [".keras", ".h5"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.bin"))
    }

    /// A Dropout seed of 2^63 or more keeps its 64 bits through a file (it was once masked to 63, so
    /// the loaded layer drew other masks than the saved one).
    func testDropoutSeedAbove2To63RoundTrips() throws {
        let seed: UInt64 = 0xF000_0000_0000_0001
        let model = try Sequential(inputShape: [4], layers: [Dropout(rate: 0.5, seed: seed, name: "drop"), Dense(units: 2, name: "d")])
        let path = dir + "/seed.keras"
        try model.save(to: path)
        let loaded = try loadModel(from: path)
        XCTAssertEqual((loaded.layer(named: "drop") as? Dropout)?.seed, seed)
    }

    // MARK: Building files for the tests below

    /// The fixture archive's entries.
    static func entries(_ fixture: String) throws -> [(name: String, data: Data)] {
        try ZipArchive.read(Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture))), path: fixture).map { ($0.name, $0.data) }
    }

    /// A fixture's config.json as mutable JSON.
    static func config(_ fixture: String) throws -> [String: Any] {
        let data = try XCTUnwrap(try entries(fixture).first { $0.name == "config.json" }?.data)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `root` with its layer list edited.
    static func editingLayers(_ root: [String: Any], _ edit: (inout [[String: Any]]) -> Void) -> [String: Any] {
        var root = root
        var config = root["config"] as! [String: Any]
        var layers = config["layers"] as! [[String: Any]]
        edit(&layers)
        config["layers"] = layers
        root["config"] = config
        return root
    }

    /// Sets `key` in the config of the layer named `layer`.
    static func set(_ layers: inout [[String: Any]], _ layer: String, _ key: String, _ value: Any) {
        guard let i = layers.firstIndex(where: { ($0["config"] as? [String: Any])?["name"] as? String == layer }) else {
            XCTFail("no layer \(layer)")
            return
        }
        var c = layers[i]["config"] as! [String: Any]
        c[key] = value
        layers[i]["config"] = c
    }

    /// Writes a .keras archive under `dir` from a fixture's entries with some replaced or removed.
    func writeArchive(_ name: String, from fixture: String, config: [String: Any]? = nil, configText: String? = nil,
                      weights: Data? = nil, removing: String? = nil) throws -> String {
        var entries = try Self.entries(fixture)
        if let config { entries = entries.map { $0.name == "config.json" ? ($0.name, try! JSONSerialization.data(withJSONObject: config)) : $0 } }
        if let configText { entries = entries.map { $0.name == "config.json" ? ($0.name, Data(configText.utf8)) : $0 } }
        if let weights { entries = entries.map { $0.name == "model.weights.h5" ? ($0.name, weights) : $0 } }
        if let removing { entries.removeAll { $0.name == removing } }
        let path = dir + "/" + name
        try ZipArchive.write(entries).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// What to write for one variable of a weights file.
    enum Variable { case floats(Tensor), integer(Int64), absent }

    /// A Keras 3 `model.weights.h5` holding `model`'s weights under Keras's keys and, when the model
    /// is compiled, its optimizer variables; `change` (layer, index, value) rewrites any variable and
    /// `changeOptimizer` (index, value) any optimizer variable (index 0 is the iteration count).
    static func weightsImage(_ model: Model, _ change: (String, Int, Tensor) -> Variable = { .floats($2) },
                             changeOptimizer: (Int, Tensor) -> Variable = { .floats($1) }) throws -> Data {
        let h5 = try HDF5Writer()
        let keys = KerasWeightSource.keras3Keys(model.layers)
        func write(_ path: String, _ v: Variable) throws {
            switch v {
            case let .floats(t): try h5.writeFloats(path, t)
            case let .integer(n): try h5.writeInteger(path, n)
            case .absent: break
            }
        }
        for layer in model.layers {
            let group = "layers/\(keys[layer.name]!)/vars"
            try h5.createGroup(group)
            for (i, p) in layer.parameters.enumerated() { try write("\(group)/\(i)", change(layer.name, i, p.value.copy())) }
        }
        if let o = model.optimizer {
            try h5.createGroup("optimizer/vars")
            let (iterations, lr, slots) = KerasOptimizerState.variables(o, model: model)
            switch changeOptimizer(0, Tensor(shape: [], elements: [Float(iterations)])) {
            case .floats: try h5.writeInteger("optimizer/vars/0", iterations)
            case let other: try write("optimizer/vars/0", other)
            }
            try write("optimizer/vars/1", changeOptimizer(1, lr))
            for (i, s) in slots.enumerated() { try write("optimizer/vars/\(i + 2)", changeOptimizer(i + 2, s.tensor)) }
        }
        return try h5.fileImage()
    }

    /// Reads `path`, which must fail; returns the message (and checks it took under a second).
    func readError(_ path: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let start = Date()
        let text = errorText(what, file: file, line: line) { _ = try KerasModelFile.read(path) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, "\(what): took \(Date().timeIntervalSince(start)) s", file: file, line: line)
        return text
    }

    // MARK: 3. Unsupported configs

    /// One error lists every unsupported layer and option, each by layer name and key.
    func testUnsupportedConfigListsEveryProblem() throws {
        let config = Self.editingLayers(try Self.config("seq_all.keras")) { layers in
            Self.set(&layers, "conv2d", "dilation_rate", [2, 2])
            Self.set(&layers, "conv2d", "kernel_regularizer",
                     ["module": "keras.regularizers", "class_name": "L1", "config": ["l1": 0.01], "registered_name": NSNull()] as [String: Any])
            Self.set(&layers, "max_pooling2d", "data_format", "channels_first")
            Self.set(&layers, "dense", "activation", "mish")
            layers.insert(["module": "keras.layers", "class_name": "LSTM",
                           "config": ["name": "lstm", "units": 4, "trainable": true] as [String: Any]], at: 5)
        }
        let path = try writeArchive("unsupported.keras", from: "seq_all.keras", config: config)
        do {
            _ = try KerasModelFile.read(path)
            XCTFail("an LSTM, dilation, channels_first, mish and L1 were accepted")
        } catch let error as KerasFileError {
            guard case let .unsupported(errorPath, problems) = error else { return }
            XCTAssertEqual(errorPath, path)
            XCTAssertGreaterThanOrEqual(problems.count, 5, "\(problems)")
            func problem(_ parts: [String]) {
                XCTAssertTrue(problems.contains { p in parts.allSatisfy { p.contains($0) } }, "no problem mentions \(parts): \(problems)")
            }
            problem(["lstm", "LSTM"])
            problem(["conv2d", "dilation_rate"])
            problem(["conv2d", "kernel_regularizer", "L1"])
            problem(["max_pooling2d", "data_format", "channels_first"])
            problem(["dense", "activation", "mish"])
            let text = "\(error)"
            assertContains(text, ["lstm", "dilation_rate", "channels_first", "mish", "L1", path])
        }
    }

    /// A minimal Keras 3 Functional config: an input of 4 values, then `layers` (name, class,
    /// extra config, the names of the layers feeding it), the output the last layer.
    static func functionalConfig(_ layers: [(name: String, className: String, config: [String: Any], inputs: [String])]) -> [String: Any] {
        func tensor(_ from: String) -> [String: Any] {
            ["class_name": "__keras_tensor__", "config": ["shape": [NSNull(), 4], "dtype": "float32", "keras_history": [from, 0, 0]] as [String: Any]]
        }
        var entries: [[String: Any]] = [[
            "module": "keras.layers", "class_name": "InputLayer", "name": "input_layer", "inbound_nodes": [] as [Any],
            "config": ["batch_shape": [NSNull(), 4], "dtype": "float32", "name": "input_layer"] as [String: Any],
        ]]
        for l in layers {
            var c = l.config
            c["name"] = l.name
            let args: Any = l.inputs.count == 1 ? [tensor(l.inputs[0])] : [l.inputs.map(tensor)]
            entries.append(["module": "keras.layers", "class_name": l.className, "name": l.name, "config": c,
                            "inbound_nodes": [["args": args, "kwargs": [String: Any]()] as [String: Any]]])
        }
        return ["module": "keras", "class_name": "Functional",
                "config": ["name": "functional", "trainable": true, "layers": entries,
                           "input_layers": [["input_layer", 0, 0]], "output_layers": [[layers.last!.name, 0, 0]]] as [String: Any]]
    }

    /// A graph with a skip connection loads (KerasFunctionalTests covers graphs in depth); a layer
    /// that leads to no output is refused by name.
    func testFunctionalSkipConnectionLoads() throws {
        let reference = try Sequential(inputShape: [4], layers: [Dense(units: 4, name: "d1"), Dense(units: 4, name: "d2")], seed: 2)
        let config = Self.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["d1"]),
            ("skip_add", "Add", [:], ["d2", "d1"]),
        ])
        let path = try writeArchive("skip.keras", from: "seq_flat.keras", config: config, weights: try Self.weightsImage(reference))
        let model = try KerasModelFile.read(path).model
        XCTAssertEqual(model.layers.map(\.name), ["d1", "d2", "skip_add"])
        // d3 reads d1 but the output is d2... listed last, d3 leads nowhere.
        let jump = Self.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d3", "Dense", ["units": 4], ["d1"]),
            ("d2", "Dense", ["units": 4], ["d1"]),
        ])
        let text2 = readError(try writeArchive("jump.keras", from: "seq_flat.keras", config: jump), "jump")
        assertContains(text2, ["'d3'", "does not lead to any output"], "jump")
    }

    /// A Functional config that is one chain loads (as a graph Model) with the file's weights.
    func testFunctionalChainLoads() throws {
        let reference = try Sequential(inputShape: [4], layers: [Dense(units: 4, activation: .relu, name: "d1"),
                                                                 Dense(units: 3, activation: .softmax, name: "d2")], seed: 4)
        let config = Self.functionalConfig([
            ("d1", "Dense", ["units": 4, "activation": "relu"], ["input_layer"]),
            ("d2", "Dense", ["units": 3, "activation": "softmax"], ["d1"]),
        ])
        let path = try writeArchive("chain.keras", from: "seq_flat.keras", config: config, weights: try Self.weightsImage(reference))
        let read = try KerasModelFile.read(path)
        XCTAssertEqual(read.name, "functional")
        assertSameModel(reference, read.model, "functional chain")
    }

    // MARK: 4. Hostile files

    func testConfigThatIsNotJSON() throws {
        let path = try writeArchive("notjson.keras", from: "seq_flat.keras", configText: "{\"class_name\": \"Sequential\", ")
        assertContains(readError(path, "truncated JSON"), ["config.json", "JSON"])
        let path2 = try writeArchive("binary.keras", from: "seq_flat.keras", configText: "\u{1}\u{2}garbage")
        assertContains(readError(path2, "garbage JSON"), ["config.json"])
        // JSON, but not a model: an array.
        let path3 = try writeArchive("array.keras", from: "seq_flat.keras", configText: "[1, 2, 3]")
        _ = readError(path3, "array config")
    }

    func testMissingEntries() throws {
        for entry in ["config.json", "model.weights.h5"] {
            let path = try writeArchive("no-\(entry).keras", from: "seq_flat.keras", removing: entry)
            assertContains(readError(path, "without \(entry)"), [entry, path], entry)
        }
    }

    /// Sizes a config declares are refused before anything that large is allocated.
    func testHugeDenseRefusedFast() throws {
        for units in [1 << 40, 1 << 30, 1 << 22] {
            let config = Self.editingLayers(try Self.config("seq_flat.keras")) { Self.set(&$0, "dense_2", "units", units) }
            let path = try writeArchive("huge-\(units).keras", from: "seq_flat.keras", config: config)
            assertContains(readError(path, "units \(units)"), ["dense_2"], "units \(units)")
        }
    }

    func testHugeInputShapeRefusedFast() throws {
        let config = Self.editingLayers(try Self.config("seq_flat.keras")) { layers in
            var c = layers[0]["config"] as! [String: Any]
            c["batch_shape"] = [NSNull(), 100_000, 100_000, 3]
            layers[0]["config"] = c
        }
        let path = try writeArchive("huge-input.keras", from: "seq_flat.keras", config: config)
        let text = readError(path, "input 100000×100000×3")
        XCTAssertTrue(text.contains("100000") || text.contains("100,000"), text)
    }

    /// The seq_flat model as Keras wrote it (for weights files with one thing changed).
    func seqFlat() throws -> Model { try loadModel(from: Self.fixture("seq_flat.keras")) }

    func testWrongWeightShapeNamesLayerAndShapes() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in
            layer == "dense_1" && i == 0 ? .floats(Tensor(shape: [32, 9])) : .floats(t)
        }
        let path = try writeArchive("shape.keras", from: "seq_flat.keras", weights: weights)
        let text = readError(path, "wrong shape")
        assertContains(text, ["dense_1", "[32, 9]", "[32, 8]"], "wrong shape")
    }

    /// A weight smaller than the model's (here [32, 7] for a [32, 8] kernel) is named with both shapes,
    /// not reported as the parameter budget (which once fired while building, before the shapes
    /// were compared; small layers now always build).
    func testSmallerWeightShapeNamesBothShapes() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in
            layer == "dense_1" && i == 0 ? .floats(Tensor(shape: [32, 7])) : .floats(t)
        }
        let path = try writeArchive("smaller.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "smaller shape"), ["dense_1", "[32, 7]", "[32, 8]"], "smaller shape")
    }

    /// An int64 dataset where a float bias belongs is reported as what it is, naming the layer.
    func testIntegerWeightSaysInteger() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in layer == "dense_2" && i == 1 ? .integer(3) : .floats(t) }
        let path = try writeArchive("int2.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "integer bias"), ["dense_2", "integer"], "integer bias")
    }

    /// A layer missing one of its variables says so ("has 1 variables in the file but 2").
    func testMissingVariableSaysSo() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in layer == "dense_1" && i == 1 ? .absent : .floats(t) }
        let path = try writeArchive("missing-var2.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "missing bias"), ["dense_1", "1 variables in the file but 2"], "missing bias")
    }

    func testIntegerWhereKernelExpected() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in layer == "dense_2" && i == 1 ? .integer(3) : .floats(t) }
        let path = try writeArchive("int.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "integer kernel"), ["dense_2"], "integer kernel")
        // The optimizer's learning rate as an integer.
        let weights2 = try Self.weightsImage(model, changeOptimizer: { i, t in i == 1 ? .integer(1) : .floats(t) })
        let path2 = try writeArchive("int-lr.keras", from: "seq_flat.keras", weights: weights2)
        let text = readError(path2, "integer learning rate")
        assertContains(text, ["optimizer"], "integer learning rate")
    }

    func testMissingVariableRefused() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in layer == "dense_1" && i == 1 ? .absent : .floats(t) }
        let path = try writeArchive("missing-var.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "missing bias"), ["dense_1"], "missing bias")
    }

    func testNaNWeightRefusedNamingTensor() throws {
        let model = try seqFlat()
        let weights = try Self.weightsImage(model) { layer, i, t in
            if layer == "dense_1" && i == 0 { t[flat: 17] = .nan }
            return .floats(t)
        }
        let path = try writeArchive("nan.keras", from: "seq_flat.keras", weights: weights)
        assertContains(readError(path, "NaN kernel"), ["dense_1.kernel", "nan"], "NaN kernel")
        // NaN in an Adam moment.
        let weights2 = try Self.weightsImage(model, changeOptimizer: { i, t in
            if i == 3 { t[flat: 0] = .infinity }
            return .floats(t)
        })
        let path2 = try writeArchive("inf-moment.keras", from: "seq_flat.keras", weights: weights2)
        assertContains(readError(path2, "infinite moment"), ["optimizer", "inf"], "infinite moment")
    }

    func testNotAModelFile() throws {
        var rng = RandomGenerator(seed: 3)
        let cases: [(String, Data)] = [
            ("random.keras", Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) })),
            ("empty.keras", Data()),
            ("text.h5", Data("hello, world\n".utf8)),
        ]
        for (name, data) in cases {
            let path = dir + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            let text = readError(path, name)
            assertContains(text, [path], name)
        }
        XCTAssertThrowsError(try loadModel(from: dir + "/does-not-exist.keras")) { error in
            XCTAssertTrue("\(error)".contains("does-not-exist.keras"), "\(error)")
        }
    }

    func testSafetensorsPassedToLoadModel() throws {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 2)])
        let path = dir + "/w.safetensors"
        try model.saveWeights(to: path)
        assertContains(readError(path, "safetensors"), ["safetensors", path])
    }

    func testKerasFilePassedToSafetensorsLoader() throws {
        let model = try seqFlat()
        let text = errorText("loadWeights(.keras)") { try model.loadWeights(from: Self.fixture("seq_flat.keras")) }
        assertContains(text, ["zip", "Keras", "loadModel", "--model-file"], "loadWeights(.keras)")
        let text2 = errorText("loadWeights(.h5)") { try model.loadWeights(from: Self.fixture("seq_flat.h5")) }
        assertContains(text2, ["HDF5"], "loadWeights(.h5)")
    }

    func testTruncatedKerasFile() throws {
        for fixture in ["seq_all.keras", "seq_all.h5"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture)))
            for cut in [data.count / 2, data.count - 10, 30] {
                let path = dir + "/cut-\(cut)-" + fixture
                try data.prefix(cut).write(to: URL(fileURLWithPath: path))
                assertContains(readError(path, "\(fixture) cut at \(cut)"), [path], "\(fixture) cut at \(cut)")
            }
        }
    }

    /// A weights-only .h5 given to loadModel says to use loadKerasWeights.
    func testWeightsOnlyFileGivenToLoadModel() throws {
        let text = readError(Self.fixture("seq_all.weights.h5"), "weights-only")
        XCTAssertTrue(text.contains("weights") && text.contains("architecture"), text)
    }

    /// loadKerasWeights with shapes that do not fit: an error and no change, or with skipMismatch the
    /// layer kept and listed.
    func testLoadKerasWeightsMismatch() throws {
        let model = try Sequential(inputShape: [6, 6, 3], layers: [Conv2D(filters: 4, kernelSize: 3, padding: .same, name: "conv2d"),
                                                                  Flatten(), Dense(units: 3, name: "dense")], seed: 2)
        let before = model.namedParameters.map { Self.bits($0.parameter.value) }
        let text = errorText("mismatch") { try model.loadKerasWeights(from: Self.fixture("seq_all.h5")) }
        assertContains(text, ["dense"], "mismatch")
        XCTAssertEqual(model.namedParameters.map { Self.bits($0.parameter.value) }, before, "a failed load changed weights")
        let (loaded, kept) = try model.loadKerasWeights(from: Self.fixture("seq_all.h5"), skipMismatch: true)
        XCTAssertEqual(loaded, ["conv2d"])
        XCTAssertTrue(kept.contains("dense"), "\(kept)")
    }
}

private func flatten(_ v: Any) -> [Float] { KerasModelFileTests.flattenAny(v) }
