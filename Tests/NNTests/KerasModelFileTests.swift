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
    static func allLayersModel(_ optimizer: Optimizer) throws -> Sequential {
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
    func assertSameModel(_ a: Sequential, _ b: Sequential, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
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
        var loaded: [(String, Sequential)] = []
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
}

private func flatten(_ v: Any) -> [Float] { KerasModelFileTests.flattenAny(v) }
