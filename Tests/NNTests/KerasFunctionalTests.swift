import Foundation
import XCTest
import NN
@testable import NNKeras

/// Keras Functional model files (NNKeras): a residual graph Keras 3.15.1 wrote
/// (Tests/NNTests/Fixtures/keras/residual.*) loads with Keras's weights, predictions, evaluation and
/// optimizer state, and saves again as Keras writes it; the engine's own graphs round-trip through
/// .keras and .h5 bit for bit; hostile graphs (cycles, unknown or shared layers, mismatched merges)
/// are refused by name.
final class KerasFunctionalTests: TemporaryDirectoryTestCase {
    typealias Files = KerasModelFileTests

    // MARK: 1. The residual graph Keras wrote

    /// Layers (in Keras's order), weights, predictions, evaluation and optimizer state of residual.*.
    func checkResidual(_ ext: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = try Files.Expected("residual")
        let read = try KerasModelFile.read(Files.fixture("residual.\(ext)"))
        let model = read.model
        let what = "residual.\(ext)"
        XCTAssertFalse(model is Sequential, what, file: file, line: line)
        XCTAssertEqual(read.name, "residual", what, file: file, line: line)
        XCTAssertEqual(model.name, "residual", what, file: file, line: line)
        XCTAssertEqual(model.inputNames, ["image"], what, file: file, line: line)
        XCTAssertEqual(model.inputShape, e.inputShape, what, file: file, line: line)
        // A Functional model's layers list its InputLayer first; ours are the rest, in Keras's order
        // (the side branch, made first in Python, comes after the Add).
        XCTAssertEqual(e.layers.first?.className, "InputLayer", what, file: file, line: line)
        XCTAssertEqual(model.layers.map(\.name), e.layers.dropFirst().map(\.name), what, file: file, line: line)
        XCTAssertEqual(model.layers.map(\.typeName), e.layers.dropFirst().map(\.className), what, file: file, line: line)
        XCTAssertEqual(model.parameterCount, e.totalParams, what, file: file, line: line)
        XCTAssertEqual(model.trainableParameterCount, e.trainableParams, what, file: file, line: line)
        XCTAssertEqual(model.inbound[model.layers.firstIndex { $0.name == "add" }!].map(model.producerName(ofValue:)), ["conv_b", "relu_a"],
                       what, file: file, line: line)
        XCTAssertEqual(model.inbound[model.layers.firstIndex { $0.name == "concat" }!].map(model.producerName(ofValue:)), ["add", "side_conv"],
                       what, file: file, line: line)

        XCTAssertEqual(model.namedParameters.count, e.weights.count, what, file: file, line: line)
        for w in e.weights {
            let p = try XCTUnwrap(model.layer(named: w.layer)?.parameters.first { $0.name == w.variable }, "\(what) \(w.layer).\(w.variable)",
                                  file: file, line: line)
            XCTAssertEqual(p.value.shape, w.shape, "\(what) \(w.layer).\(w.variable)", file: file, line: line)
            XCTAssertEqual(p.value.elements, w.values, "\(what) \(w.layer).\(w.variable)", file: file, line: line)
        }
        let bn = try XCTUnwrap(model.layer(named: "bn_a") as? BatchNormalization)
        XCTAssertTrue(bn.movingMean.value.elements.contains { $0 != 0 }, "\(what): moving mean still zero", file: file, line: line)

        // Predictions within 1e-5 of Keras's (probabilities, so absolute and relative alike).
        let predictions = try model.predict(e.inputs)
        XCTAssertLessThanOrEqual(Files.maxDifference(predictions, e.predictions), 1e-5, "\(what) predictions", file: file, line: line)
        // Loss within 1e-5 relative, accuracy exactly.
        let evaluation = try model.evaluate(x: e.inputs, y: labelTensor(e.labels), batchSize: 4)
        XCTAssertEqual(Double(evaluation.loss), e.loss, accuracy: 1e-5 * abs(e.loss), "\(what) loss", file: file, line: line)
        XCTAssertEqual(Double(try XCTUnwrap(evaluation.accuracy)), e.accuracy, "\(what) accuracy", file: file, line: line)

        // Adam's state: Keras's variables in Keras's order, which is ours.
        XCTAssertTrue(read.restoredOptimizerState, "\(what): optimizer state not restored", file: file, line: line)
        XCTAssertTrue(read.warnings.isEmpty, "\(what): \(read.warnings)", file: file, line: line)
        let optimizer = try XCTUnwrap(model.optimizer as? Adam, file: file, line: line)
        XCTAssertEqual(optimizer.iterations, try XCTUnwrap(e.iterations), what, file: file, line: line)
        XCTAssertEqual(e.optimizerVariables.count, 2 + 2 * model.trainableParameters.count, what, file: file, line: line)
        for (i, p) in model.trainableParameters.enumerated() {
            for (s, slot) in optimizer.state(for: p).enumerated() where 2 + 2 * i + s < e.optimizerVariables.count {
                let v = e.optimizerVariables[2 + 2 * i + s]
                XCTAssertTrue(v.path.contains("_\(p.name)_"), "\(what): \(v.path) for \(p.name)", file: file, line: line)
                XCTAssertEqual(slot.elements, v.values, "\(what) \(v.path)", file: file, line: line)
            }
        }
    }

    func testResidualKeras() throws { try checkResidual("keras") }
    func testResidualH5() throws { try checkResidual("h5") }

    /// The fixture's config.json, parsed.
    static func configJSON(_ archive: String) throws -> [String: Any] {
        let entries = try ZipArchive.read(Data(contentsOf: URL(fileURLWithPath: archive)), path: archive)
        let data = try XCTUnwrap(entries.first { $0.name == "config.json" }?.data)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `layers/<key>/vars` → the `name` attribute, for every group of an archive's model.weights.h5.
    static func weightGroups(_ archive: String) throws -> [String: String] {
        let entries = try ZipArchive.read(Data(contentsOf: URL(fileURLWithPath: archive)), path: archive)
        let file = try HDF5File.open(image: try XCTUnwrap(entries.first { $0.name == "model.weights.h5" }?.data), name: archive)
        let layers = try file.root.group("layers")
        var groups: [String: String] = [:]
        for key in try layers.childNames() { groups[key] = try layers.group("\(key)/vars").stringAttribute("name") ?? "?" }
        groups["(model)"] = try file.root.group("vars").stringAttribute("name")
        return groups
    }

    /// Saved again, the residual graph is what Keras wrote: a Functional config with the same
    /// layers in the same order, the same inbound nodes and endpoints, and the same weight groups
    /// (the InputLayer's included); the .h5 lists Keras's layer names and variable names.
    func testResidualSavesAsKerasWroteIt() throws {
        let model = try loadModel(from: Files.fixture("residual.keras"))
        let path = dir + "/again.keras"
        try model.save(to: path)
        let ours = try Self.configJSON(path), keras = try Self.configJSON(Files.fixture("residual.keras"))
        XCTAssertEqual(ours["class_name"] as? String, "Functional")
        XCTAssertEqual(ours["module"] as? String, keras["module"] as? String)
        let oc = try XCTUnwrap(ours["config"] as? [String: Any]), kc = try XCTUnwrap(keras["config"] as? [String: Any])
        XCTAssertEqual(oc["name"] as? String, "residual")
        XCTAssertEqual(oc["input_layers"] as? NSArray, kc["input_layers"] as? NSArray)
        XCTAssertEqual(oc["output_layers"] as? NSArray, kc["output_layers"] as? NSArray)
        let ol = try XCTUnwrap(oc["layers"] as? [[String: Any]]), kl = try XCTUnwrap(kc["layers"] as? [[String: Any]])
        XCTAssertEqual(ol.map { $0["name"] as? String }, kl.map { $0["name"] as? String })
        XCTAssertEqual(ol.map { $0["class_name"] as? String }, kl.map { $0["class_name"] as? String })
        for (o, k) in zip(ol, kl) {
            XCTAssertEqual(o["inbound_nodes"] as? NSArray, k["inbound_nodes"] as? NSArray, "\(k["name"] ?? "?")")
            if k["class_name"] as? String != "ReLU" && k["class_name"] as? String != "GlobalAveragePooling2D" {
                XCTAssertEqual((o["build_config"] as? NSDictionary), (k["build_config"] as? NSDictionary), "\(k["name"] ?? "?")")
            }
        }
        XCTAssertEqual(try Self.weightGroups(path), try Self.weightGroups(Files.fixture("residual.keras")))

        // Legacy .h5: layer_names (InputLayer included) and each layer's weight_names as Keras's.
        let h5Path = dir + "/again.h5"
        try model.save(to: h5Path)
        let ourH5 = try HDF5File.open(image: Data(contentsOf: URL(fileURLWithPath: h5Path)), name: h5Path)
        let kerasH5 = try HDF5File.open(image: Data(contentsOf: URL(fileURLWithPath: Files.fixture("residual.h5"))), name: "residual.h5")
        let names = try XCTUnwrap(try kerasH5.root.group("model_weights").stringArrayAttribute("layer_names"))
        XCTAssertEqual(try ourH5.root.group("model_weights").stringArrayAttribute("layer_names"), names)
        for name in names {
            // Keras writes an empty list as a float64 array, which is no string list.
            let k = ((try? kerasH5.root.group("model_weights/\(name)").stringArrayAttribute("weight_names")) ?? nil) ?? []
            let o = ((try? ourH5.root.group("model_weights/\(name)").stringArrayAttribute("weight_names")) ?? nil) ?? []
            XCTAssertEqual(o, k, name)
        }
        XCTAssertEqual(try ourH5.root.group("optimizer_weights").stringArrayAttribute("weight_names")?.dropFirst(2).map { $0.split(separator: "/").last! },
                       try kerasH5.root.group("optimizer_weights").stringArrayAttribute("weight_names")?.dropFirst(2).map { $0.split(separator: "/").last! })
    }

    /// A Keras 3 weights file matched to a graph built in code in another order: Keras numbers the
    /// weight groups in its own order, so the keys follow it, not the order of creation.
    func testLoadKerasWeightsIntoGraphBuiltInCode() throws {
        let image = Input(shape: [8, 8, 3], name: "image")
        let side = Conv2D(filters: 2, kernelSize: 1, name: "side_conv")(image)
        var h = Conv2D(filters: 4, kernelSize: 3, padding: .same, name: "conv_a")(image)
        h = ReLU(name: "relu_a")(BatchNormalization(name: "bn_a")(h))
        let r = Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .relu, name: "conv_b")(h)
        let c = Concatenate(name: "concat")([Add(name: "add")([r, h]), side])
        let y = Dense(units: 3, activation: .softmax, name: "predictions")(GlobalAveragePooling2D(name: "gap")(c))
        let model = try Model(inputs: image, outputs: y, name: "residual", seed: 3)
        XCTAssertEqual(model.layers.first?.name, "side_conv")
        let (loaded, _) = try model.loadKerasWeights(from: Files.fixture("residual.keras"))
        XCTAssertEqual(Set(loaded), ["side_conv", "conv_a", "bn_a", "conv_b", "predictions"])
        let e = try Files.Expected("residual")
        XCTAssertLessThanOrEqual(Files.maxDifference(try model.predict(e.inputs), e.predictions), 1e-5)
    }

    // MARK: 2. Our graphs through files

    /// A graph with fan-out (the stem feeds three branches), Add, Concatenate, Multiply, Subtract,
    /// Average, Maximum, Minimum and several layer types, its side branch made before the main
    /// path (so Keras's order differs from the order of creation), trained three Adam steps.
    static func graphModel() throws -> Model {
        let x = Input(shape: [8, 8, 3], name: "pixels")
        let side = Conv2D(filters: 3, kernelSize: 1, name: "side")(x)
        let stem = BatchNormalization(momentum: 0.8, name: "stem_bn")(Conv2D(filters: 3, kernelSize: 3, padding: .same, activation: .relu, kernelL2: 1e-3, name: "stem")(x))
        let a = DepthwiseConv2D(kernelSize: (3, 3), padding: .same, name: "dw")(stem)
        let b = ReLU(maxValue: 6, name: "relu6")(stem)
        let sum = Add(name: "add")([a, b, stem])
        let gated = Multiply(name: "gate")([sum, ActivationLayer(.sigmoid, name: "sig")(side)])
        let diff = Subtract(name: "sub")([gated, side])
        let mixed = Average(name: "avg")([Maximum(name: "max")([diff, b]), Minimum(name: "min")([diff, a])])
        let joined = Concatenate(axis: 3, name: "cat")([mixed, Dropout(rate: 0.2, seed: 7, name: "drop")(side)])
        let pooled = MaxPooling2D(poolSize: 2, name: "pool")(joined)
        let y = Dense(units: 3, activation: .softmax, name: "head")(Flatten(name: "flat")(pooled))
        let model = try Model(inputs: x, outputs: y, name: "graph", seed: 11)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let (tx, ty) = Files.trainingData()
        try model.fit(x: tx, y: ty, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
        return model
    }

    /// Parameters (with their optimizer slots) by dotted name, as bit patterns.
    static func state(_ m: Model) -> [String: [UInt32]] {
        var out: [String: [UInt32]] = [:]
        for (name, p) in m.namedParameters {
            out[name] = Files.bits(p.value)
            if let o = m.optimizer, p.trainable, m.layers.first(where: { $0.parameters.contains { $0 === p } })?.trainable == true {
                for (i, s) in o.state(for: p).enumerated() { out["\(name)#\(o.slotNames[i])"] = Files.bits(s) }
            }
        }
        return out
    }

    func testGraphRoundTripsBitForBit() throws {
        let model = try Self.graphModel()
        let (x, y) = Files.trainingData(seed: 31)
        let expected = Files.bits(try model.predict(x))
        let evaluation = try model.evaluate(x: x, y: y, batchSize: 4)
        for ext in ["keras", "h5"] {
            let path = dir + "/graph.\(ext)"
            try model.save(to: path)
            let read = try KerasModelFile.read(path)
            let loaded = read.model
            XCTAssertFalse(loaded is Sequential, ext)
            XCTAssertEqual(read.name, "graph", ext)
            XCTAssertTrue(read.restoredOptimizerState, ext)
            XCTAssertTrue(read.warnings.isEmpty, "\(ext): \(read.warnings)")
            XCTAssertEqual(loaded.inputNames, ["pixels"], ext)
            XCTAssertEqual(Set(loaded.layers.map(\.name)), Set(model.layers.map(\.name)), ext)
            // Loaded in Keras's order, which is not the order of creation.
            XCTAssertEqual(loaded.layers.map(\.name), KerasFileWriter.kerasLayers(model).map(\.name), ext)
            XCTAssertNotEqual(loaded.layers.map(\.name), model.layers.map(\.name), ext)
            for layer in model.layers {
                let other = try XCTUnwrap(loaded.layer(named: layer.name), "\(ext) \(layer.name)")
                let j = loaded.layers.firstIndex { $0 === other }!, i = model.layers.firstIndex { $0 === layer }!
                XCTAssertEqual(loaded.inbound[j].map(loaded.producerName(ofValue:)), model.inbound[i].map(model.producerName(ofValue:)), "\(ext) \(layer.name)")
                XCTAssertEqual(other.typeName, layer.typeName, ext)
                XCTAssertEqual(other.outputShape, layer.outputShape, ext)
            }
            XCTAssertEqual((loaded.layer(named: "cat") as? Concatenate)?.axis, 3, ext)
            XCTAssertEqual((loaded.layer(named: "drop") as? Dropout)?.seed, 7, ext)
            XCTAssertEqual((loaded.layer(named: "stem") as? KernelLayer)?.kernelL2, 1e-3, ext)
            XCTAssertEqual(Self.state(loaded), Self.state(model), ext)
            XCTAssertEqual(loaded.optimizer?.iterations, 3, ext)
            XCTAssertEqual(Files.bits(try loaded.predict(x)), expected, "\(ext) predictions")
            let again = try loaded.evaluate(x: x, y: y, batchSize: 4)
            XCTAssertEqual(again.loss.bitPattern, evaluation.loss.bitPattern, ext)
            XCTAssertEqual(again.accuracy, evaluation.accuracy, ext)
            // Saving what was loaded writes the same config.
            if ext == "keras" {
                let resaved = dir + "/graph2.keras"
                try loaded.save(to: resaved)
                XCTAssertEqual(try Self.configJSON(resaved) as NSDictionary, try Self.configJSON(path) as NSDictionary)
                XCTAssertEqual(try Self.weightGroups(resaved), try Self.weightGroups(path))
            }
        }
    }

    /// Two inputs and two outputs build (fit needs one of each, but predict-style forward works).
    func testSeveralInputsAndOutputsRoundTrip() throws {
        let a = Input(shape: [4], name: "a"), b = Input(shape: [4], name: "b")
        let d = Dense(units: 4, name: "d")(a)
        let s = Add(name: "s")([d, b])
        let model = try Model(inputs: [a, b], outputs: [Dense(units: 2, name: "o1")(s), Dense(units: 3, name: "o2")(d)], name: "two", seed: 2)
        var data = TestData(seed: 4)
        let xa = data.tensor([3, 4]), xb = data.tensor([3, 4])
        let want = try model.forward([xa, xb]).map { Files.bits($0) }
        for ext in ["keras", "h5"] {
            let path = dir + "/two.\(ext)"
            try model.save(to: path)
            let loaded = try loadModel(from: path)
            XCTAssertEqual(loaded.inputNames, ["a", "b"], ext)
            XCTAssertEqual(loaded.outputShapes, [[2], [3]], ext)
            XCTAssertEqual(try loaded.forward([xa, xb]).map { Files.bits($0) }, want, ext)
        }
        let config = try XCTUnwrap(try Self.configJSON(dir + "/two.keras")["config"] as? [String: Any])
        XCTAssertEqual(config["input_layers"] as? NSArray, [["a", 0, 0], ["b", 0, 0]] as NSArray)
        XCTAssertEqual(config["output_layers"] as? NSArray, [["o1", 0, 0], ["o2", 0, 0]] as NSArray)
    }

    /// A Functional chain (keras.applications' MobileNet is one) loads as a graph Model, not a
    /// Sequential, so saving it keeps its class; a Sequential stays a Sequential.
    func testFunctionalChainStaysFunctional() throws {
        let reference = try Sequential(inputShape: [4], layers: [Dense(units: 4, activation: .relu, name: "d1"),
                                                                 Dense(units: 3, activation: .softmax, name: "d2")], seed: 4)
        let path = try archive("chain.keras", Files.functionalConfig([
            ("d1", "Dense", ["units": 4, "activation": "relu"], ["input_layer"]),
            ("d2", "Dense", ["units": 3, "activation": "softmax"], ["d1"]),
        ]), weights: try Files.weightsImage(reference))
        let model = try loadModel(from: path)
        XCTAssertFalse(model is Sequential)
        XCTAssertTrue(model.isChain)
        try model.save(to: dir + "/chain2.keras")
        XCTAssertEqual(try Self.configJSON(dir + "/chain2.keras")["class_name"] as? String, "Functional")
        XCTAssertTrue(try loadModel(from: Files.fixture("seq_flat.keras")) is Sequential)
    }

    /// Keras 2's inbound nodes (`[[["name", 0, 0, {}], …]]`) and a merge layer load.
    func testKeras2InboundNodes() throws {
        var root = Files.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["d1"]),
            ("sum", "Add", [:], ["d2", "d1"]),
        ])
        var config = root["config"] as! [String: Any]
        config["layers"] = (config["layers"] as! [[String: Any]]).map { entry -> [String: Any] in
            var entry = entry
            let nodes = entry["inbound_nodes"] as! [[String: Any]]
            entry["inbound_nodes"] = nodes.map { node -> [[Any]] in
                let args = node["args"] as! [Any]
                let tensors = (args[0] as? [[String: Any]]) ?? [args[0] as! [String: Any]]
                return tensors.map { t in ((t["config"] as! [String: Any])["keras_history"] as! [Any]) + [[String: Any]()] }
            }
            return entry
        }
        root["config"] = config
        let reference = try Sequential(inputShape: [4], layers: [Dense(units: 4, name: "d1"), Dense(units: 4, name: "d2")], seed: 1)
        let model = try loadModel(from: try archive("keras2.keras", root, weights: try Files.weightsImage(reference)))
        XCTAssertEqual(model.layers.map(\.name), ["d1", "d2", "sum"])
        XCTAssertEqual(model.inbound[2], [2, 1])
    }

    // MARK: 3. Hostile graphs

    /// A .keras archive under `dir` with `config` and (default) seq_flat's weights.
    func archive(_ name: String, _ config: [String: Any], weights: Data? = nil) throws -> String {
        var entries = try Files.entries("seq_flat.keras")
        entries = entries.map { $0.name == "config.json" ? ($0.name, try! JSONSerialization.data(withJSONObject: config)) : $0 }
        if let weights { entries = entries.map { $0.name == "model.weights.h5" ? ($0.name, weights) : $0 } }
        let path = dir + "/" + name
        try ZipArchive.write(entries).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Reading `config` must fail fast with a KerasFileError whose text holds every part.
    func assertRefused(_ config: [String: Any], _ parts: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try archive("\(what.replacingOccurrences(of: " ", with: "_")).keras", config)
        let start = Date()
        do {
            _ = try KerasModelFile.read(path)
            XCTFail("\(what): accepted", file: file, line: line)
        } catch let error as KerasFileError {
            let text = "\(error)"
            for p in parts { XCTAssertTrue(text.contains(p), "\(what): message lacks '\(p)':\n\(text)", file: file, line: line) }
        } catch {
            XCTFail("\(what): not a KerasFileError: \(error)", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, what, file: file, line: line)
    }

    /// Edits the layer entry named `name` of a Functional config.
    static func editing(_ root: [String: Any], _ name: String, _ edit: (inout [String: Any]) -> Void) -> [String: Any] {
        Files.editingLayers(root) { layers in
            let i = layers.firstIndex { $0["name"] as? String == name }!
            edit(&layers[i])
        }
    }

    func testCycleRefusedNamingTheLayers() throws {
        // d2 reads d3 and d3 reads d2: neither ever resolves.
        let config = Files.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["d3"]),
            ("d3", "Dense", ["units": 4], ["d2"]),
            ("out", "Add", [:], ["d1", "d3"]),
        ])
        try assertRefused(config, ["'d2'", "'d3'", "cycle"], "cycle")
        // A layer reading itself.
        try assertRefused(Files.functionalConfig([("self", "Dense", ["units": 4], ["self"])]), ["'self'", "cycle"], "self loop")
    }

    func testUnknownInboundLayerRefused() throws {
        let config = Files.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["ghost"]),
        ])
        try assertRefused(config, ["'d2'", "'ghost'", "not a layer of the model"], "unknown inbound")
        var unknownOutput = config
        var c = unknownOutput["config"] as! [String: Any]
        c["output_layers"] = [["nowhere", 0, 0]]
        unknownOutput["config"] = c
        try assertRefused(unknownOutput, ["output_layers", "'nowhere'"], "unknown output")
    }

    func testSharedLayerRefused() throws {
        let base = Files.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["d1"]),
        ])
        // d1 called twice: two inbound nodes.
        let twice = Self.editing(base, "d1") { entry in
            let node = (entry["inbound_nodes"] as! [Any])[0]
            entry["inbound_nodes"] = [node, node]
        }
        try assertRefused(twice, ["'d1'", "shared layers are not supported"], "shared layer")
        // d2 reads d1's second call (node index 1).
        let second = Self.editing(base, "d2") { entry in
            entry["inbound_nodes"] = [["args": [["class_name": "__keras_tensor__",
                                                "config": ["shape": [NSNull(), 4], "dtype": "float32", "keras_history": ["d1", 1, 0]] as [String: Any]]],
                                       "kwargs": [String: Any]()] as [String: Any]]
        }
        try assertRefused(second, ["'d2'", "node 1", "shared layers are not supported"], "node index")
        let otherTensor = Self.editing(base, "d2") { entry in entry["inbound_nodes"] = [[["d1", 0, 2, [String: Any]()]]] }
        try assertRefused(otherTensor, ["'d2'", "output 2"], "tensor index")
    }

    func testMergeShapeMismatchNamesBothLayers() throws {
        let config = Files.functionalConfig([
            ("wide", "Dense", ["units": 4], ["input_layer"]),
            ("narrow", "Dense", ["units": 3], ["input_layer"]),
            ("sum", "Add", [:], ["wide", "narrow"]),
        ])
        try assertRefused(config, ["'sum'", "'wide'", "[4]", "'narrow'", "[3]"], "merge mismatch")
        let cat = Files.functionalConfig([
            ("a", "Dense", ["units": 4], ["input_layer"]),
            ("b", "Dense", ["units": 3], ["input_layer"]),
            ("cat", "Concatenate", ["axis": 0], ["a", "b"]),
        ])
        try assertRefused(cat, ["'cat'", "axis 0"], "concatenate batch axis")
    }

    func testUnreachableAndUnwiredLayersRefused() throws {
        // 'stray' reads the input but leads to no output; 'island' reads nothing.
        var config = Files.functionalConfig([
            ("d1", "Dense", ["units": 4], ["input_layer"]),
            ("stray", "Dense", ["units": 4], ["input_layer"]),
            ("d2", "Dense", ["units": 4], ["d1"]),
        ])
        try assertRefused(config, ["'stray'", "does not lead to any output"], "stray layer")
        config = Files.editingLayers(config) { layers in
            layers.append(["module": "keras.layers", "class_name": "Dense", "name": "island",
                           "config": ["name": "island", "units": 2] as [String: Any], "inbound_nodes": [Any]()])
        }
        try assertRefused(config, ["'island'", "no inbound node"], "island layer")
    }

    /// Every problem at once: unsupported layers, options and wiring in one error.
    func testGraphProblemsListedTogether() throws {
        let config = Files.functionalConfig([
            ("d1", "Dense", ["units": 4, "activation": "mish"], ["input_layer"]),
            ("lstm", "LSTM", ["units": 4], ["d1"]),
            ("d2", "Dense", ["units": 4], ["ghost"]),
        ])
        try assertRefused(config, ["mish", "LSTM", "'ghost'"], "several problems")
    }

    /// Garbage where the graph should be: a clear error, never a crash.
    func testMalformedGraphFieldsRefused() throws {
        let base = Files.functionalConfig([("d1", "Dense", ["units": 4], ["input_layer"])])
        try assertRefused(Self.editing(base, "d1") { $0["inbound_nodes"] = "input_layer" }, ["'d1'", "inbound_nodes"], "inbound string")
        try assertRefused(Self.editing(base, "d1") { $0["inbound_nodes"] = [["args": [42], "kwargs": [String: Any]()] as [String: Any]] },
                          ["'d1'", "keras tensor"], "inbound number")
        try assertRefused(Self.editing(base, "d1") { $0["inbound_nodes"] = [[[[["input_layer", 0, 0]]]]] }, ["'d1'"], "inbound nesting")
        try assertRefused(Self.editing(base, "d1") { entry in
            var node = (entry["inbound_nodes"] as! [[String: Any]])[0]
            node["kwargs"] = ["training": true]
            entry["inbound_nodes"] = [node]
        }, ["'d1'", "training"], "call argument")
        var noInputs = base
        var c = noInputs["config"] as! [String: Any]
        c["input_layers"] = 7
        noInputs["config"] = c
        try assertRefused(noInputs, ["input_layers"], "input_layers")
        var twoNames = base
        c = twoNames["config"] as! [String: Any]
        var layers = c["layers"] as! [[String: Any]]
        layers.append(layers[1])
        c["layers"] = layers
        twoNames["config"] = c
        try assertRefused(twoNames, ["'d1'", "unique"], "duplicate names")
    }

    /// A long chain listed in reverse (every layer's source after it) resolves, by the worklist. Not
    /// timed: timings belong to nn-bench (this ran in 2 s under AddressSanitizer on a busy machine).
    func testLongReversedGraphResolves() throws {
        var layers: [(name: String, className: String, config: [String: Any], inputs: [String])] = []
        var previous = "input_layer"
        for i in 0..<3000 {
            layers.append(("r\(i)", "ReLU", [:], [previous]))
            previous = "r\(i)"
        }
        // Listed in reverse: every layer's source comes after it in the config.
        var config = Files.functionalConfig(layers)
        config = Files.editingLayers(config) { entries in entries = [entries[0]] + entries.dropFirst().reversed() }
        let architecture = try KerasModelConfig.architecture(try JSONReader.parse(Array(JSONSerialization.data(withJSONObject: config))), path: "long")
        XCTAssertEqual(architecture.layers.first?.layer.name, "r0")
        XCTAssertEqual(architecture.layers.last?.layer.name, "r2999")
        XCTAssertEqual(architecture.layers.count, 3000)
    }

    // MARK: 4. Interop hook

    /// With NN_KERAS_INTEROP_DIR set (scripts/check-keras-interop), writes the trained graph as
    /// graph.keras and graph.h5 with twelve inputs, labels and our predictions and evaluation, for
    /// Keras to load and compare. Without it, nothing to do.
    func testWriteInteropFiles() throws {
        guard let out = ProcessInfo.processInfo.environment["NN_KERAS_INTEROP_DIR"], !out.isEmpty else { return }
        let model = try Self.graphModel()
        let (x, y) = Files.trainingData(seed: 31)
        try model.save(to: out + "/graph.keras")
        try model.save(to: out + "/graph.h5")
        let predictions = try model.predict(x)
        let evaluation = try model.evaluate(x: x, y: y, batchSize: 4)
        func nested(_ t: Tensor) -> [Any] {
            let rows = t.shape[0], width = t.count / rows
            return (0..<rows).map { r in (0..<width).map { Double(t[flat: r * width + $0]) } }
        }
        let json: [String: Any] = ["input_shape": model.inputShape, "inputs": nested(x), "labels": y.elements.map { Int($0) },
                                   "predictions": nested(predictions),
                                   "evaluate": ["loss": Double(evaluation.loss), "accuracy": Double(evaluation.accuracy ?? -1)]]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: out + "/graph.ours.json"))
    }
}
