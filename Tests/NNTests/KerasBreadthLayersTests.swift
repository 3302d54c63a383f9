import Foundation
import XCTest
import NN
@testable import NNKeras

/// The breadth layers and activations (issue 19) against Keras 3.15 itself: the layer configs Keras
/// wrote decode to engine layers that reproduce Keras's outputs and input gradients (tf.GradientTape)
/// within 1e-5 (Tests/NNTests/Fixtures/keras_breadth/breadth.json, written by
/// scripts/keras/make_breadth_fixtures.py); the engine writes the same config keys and values back;
/// and a model of every new layer round-trips through `.keras` and `.h5` with its options and
/// bit-identical predictions.
final class KerasBreadthLayersTests: TemporaryDirectoryTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keras_breadth/breadth.json")

    /// One fixture case: a Keras layer entry, its input and weights, and what Keras computed.
    struct Case {
        let name: String
        let entry: JSONValue
        let inputShape: [Int], input: [Float], weights: [[Float]]
        let outputShape: [Int], output: [Float], upstream: [Float], inputGradient: [Float]
    }

    static func cases() throws -> [Case] {
        let json = try JSONReader.parse(Array(try Data(contentsOf: fixture)))
        func floats(_ v: JSONValue?) -> [Float] { (v?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
        func ints(_ v: JSONValue?) -> [Int] { (v?.arrayValue ?? []).compactMap(\.intValue) }
        var cases: [Case] = []
        for c in json["cases"]?.arrayValue ?? [] {
            let name = c["name"]?.stringValue ?? "?"
            let entry: JSONValue = c["layer"] ?? .null
            let weights: [[Float]] = (c["weights"]?.arrayValue ?? []).map { floats($0) }
            cases.append(Case(name: name, entry: entry, inputShape: ints(c["input_shape"]), input: floats(c["input"]),
                              weights: weights, outputShape: ints(c["output_shape"]), output: floats(c["output"]),
                              upstream: floats(c["upstream"]), inputGradient: floats(c["input_gradient"])))
        }
        return cases
    }

    /// The engine layer a case's Keras config decodes to, built and holding the case's weights.
    func layer(_ c: Case) throws -> Layer {
        var problems: [String] = []
        let decoded = KerasLayers.decode(c.entry, index: 0, problems: &problems)
        XCTAssertEqual(problems, [], c.name)
        let layer = try XCTUnwrap(decoded?.layer, c.name)
        try layer.build(inputShape: Array(c.inputShape.dropFirst()), seed: 1)
        XCTAssertEqual(layer.parameters.count, c.weights.count, "\(c.name): weights")
        for (p, w) in zip(layer.parameters, c.weights) { p.value.assign(Tensor(shape: p.value.shape, elements: w)) }
        return layer
    }

    func testFixtureCoversEveryLayerAndActivation() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        let classes = Set(cases.compactMap { $0.entry["class_name"]?.stringValue })
        for name in ["AveragePooling2D", "GlobalMaxPooling2D", "UpSampling2D", "Cropping2D", "SpatialDropout2D", "Permute",
                     "LeakyReLU", "PReLU", "ELU", "Activation", "Dense", "Conv2D", "DepthwiseConv2D"] {
            XCTAssertTrue(classes.contains(name), "the fixture has a \(name)")
        }
        let activations = Set(cases.compactMap { $0.entry["config"]?["activation"]?.stringValue })
        for a in ["elu", "selu", "gelu", "silu", "hard_sigmoid", "hard_silu", "softplus", "linear"] {
            XCTAssertTrue(activations.contains(a), "the fixture uses \(a)")
        }
    }

    /// Our forward and input gradient equal Keras's within 1e-5 (relative above 1, as Caffe scales).
    func testOutputsAndGradientsMatchKeras() throws {
        for c in try Self.cases() {
            let layer = try layer(c)
            let x = Tensor(shape: c.inputShape, elements: c.input)
            let y = try layer.forward(x, training: false)
            XCTAssertEqual(y.shape, c.outputShape, "\(c.name): output shape")
            assertClose(y.elements, c.output, rtol: 1e-5, "\(c.name): output")
            let dx = try layer.backward(Tensor(shape: c.outputShape, elements: c.upstream))
            assertClose(dx.elements, c.inputGradient, rtol: 1e-5, "\(c.name): input gradient")
        }
    }

    /// The same JSON value, numbers compared as numbers (Keras writes `1.0`, tuples as lists).
    func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return Float(x) == Float(y) }
        if a.isNull || b.isNull { return a.isNull && b.isNull }
        if let x = a.boolValue { return x == b.boolValue }
        if let x = a.stringValue { return x == b.stringValue }
        if let x = a.arrayValue, let y = b.arrayValue { return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) } }
        return Set(a.objectKeys) == Set(b.objectKeys) && a.objectKeys.allSatisfy { same(a[$0]!, b[$0]!) }
    }

    /// Encoding the decoded layer gives Keras's config: the same keys, and the same values for the
    /// new layers (the initializers of Dense and Conv2D carry Keras's extra null keys, and are
    /// compared elsewhere).
    func testConfigsRoundTripToKerasKeys() throws {
        for c in try Self.cases() {
            let layer = try layer(c)
            let encoded = try KerasLayers.encode(layer)
            let keras = try XCTUnwrap(c.entry["config"], c.name), ours = try XCTUnwrap(encoded["config"], c.name)
            XCTAssertEqual(encoded["class_name"]?.stringValue, c.entry["class_name"]?.stringValue, c.name)
            var expectedKeys = Set(keras.objectKeys), ourKeys = Set(ours.objectKeys)
            // Keras 3's Dense alone writes quantization_config (null).
            expectedKeys.remove("quantization_config")
            ourKeys.remove("quantization_config")
            XCTAssertEqual(ourKeys, expectedKeys, "\(c.name): config keys")
            for key in keras.objectKeys where key != "name" && !key.hasSuffix("_initializer") {
                guard let v = ours[key] else { continue }
                XCTAssertTrue(same(v, keras[key]!), "\(c.name): \(key) is \(v.text), Keras wrote \(keras[key]!.text)")
            }
            if let a = keras["alpha_initializer"] { XCTAssertTrue(same(ours["alpha_initializer"]!, a), "\(c.name): alpha_initializer") }
            // And what we write decodes to the same layer, computing the same outputs.
            var problems: [String] = []
            let again = try XCTUnwrap(KerasLayers.decode(encoded, index: 0, problems: &problems)?.layer, "\(c.name): \(problems)")
            try again.build(inputShape: Array(c.inputShape.dropFirst()), seed: 1)
            for (p, q) in zip(again.parameters, layer.parameters) { p.value.assign(q.value) }
            let x = Tensor(shape: c.inputShape, elements: c.input)
            XCTAssertEqual(try again.forward(x).elements, try layer.forward(x).elements, "\(c.name): re-decoded layer")
        }
    }

    /// Keras 2's spellings and aliases read; options the engine lacks are named.
    func testKerasAliasesAndUnsupportedOptions() throws {
        func decode(_ json: String) -> (Layer?, [String]) {
            var problems: [String] = []
            let entry = try! JSONReader.parse(Array(json.utf8))
            return (KerasLayers.decode(entry, index: 0, problems: &problems)?.layer, problems)
        }
        XCTAssertEqual((decode(#"{"class_name": "LeakyReLU", "config": {"name": "l", "alpha": 0.2}}"#).0 as? LeakyReLU)?.negativeSlope, 0.2)
        XCTAssertEqual((decode(#"{"class_name": "LeakyReLU", "config": {"name": "l"}}"#).0 as? LeakyReLU)?.negativeSlope, 0.3)
        XCTAssertEqual((decode(#"{"class_name": "Activation", "config": {"activation": "swish"}}"#).0 as? ActivationLayer)?.activation, .silu)
        XCTAssertEqual((decode(#"{"class_name": "Dense", "config": {"units": 2, "activation": "hard_swish"}}"#).0 as? Dense)?.activation, .hardSilu)
        XCTAssertEqual((decode(#"{"class_name": "PReLU", "config": {"shared_axes": 2}}"#).0 as? PReLU)?.sharedAxes, [2])
        let crop = decode(#"{"class_name": "Cropping2D", "config": {"cropping": [1, 2]}}"#).0 as? Cropping2D
        XCTAssertEqual(crop.map { [$0.cropping.0.top, $0.cropping.0.bottom, $0.cropping.1.left, $0.cropping.1.right] }, [1, 1, 2, 2])
        let noCrop = decode(#"{"class_name": "Cropping2D", "config": {}}"#).0 as? Cropping2D
        XCTAssertEqual(noCrop.map { [$0.cropping.0.top, $0.cropping.1.right] }, [0, 0])
        XCTAssertEqual((decode(#"{"class_name": "UpSampling2D", "config": {}}"#).0 as? UpSampling2D)?.interpolation, .nearest)

        let bicubic = decode(#"{"class_name": "UpSampling2D", "config": {"name": "up", "interpolation": "bicubic"}}"#)
        XCTAssertNil(bicubic.0)
        XCTAssertTrue(bicubic.1.joined().contains("interpolation 'bicubic' is not supported"), "\(bicubic.1)")
        let prelu = decode(#"{"class_name": "PReLU", "config": {"name": "p", "alpha_regularizer": {"class_name": "L2", "config": {"l2": 0.1}}, "alpha_constraint": {"class_name": "NonNeg", "config": {}}}}"#)
        XCTAssertNil(prelu.0)
        XCTAssertTrue(prelu.1.joined().contains("alpha_regularizer") && prelu.1.joined().contains("alpha_constraint"), "\(prelu.1)")
        let first = decode(#"{"class_name": "AveragePooling2D", "config": {"pool_size": 2, "data_format": "channels_first"}}"#)
        XCTAssertTrue(first.1.joined().contains("channels_last only"), "\(first.1)")
        let noise = decode(#"{"class_name": "SpatialDropout2D", "config": {"rate": 0.2, "noise_shape": [1, 2]}}"#)
        XCTAssertTrue(noise.1.joined().contains("noise_shape"), "\(noise.1)")
        let mish = decode(#"{"class_name": "Activation", "config": {"activation": "mish"}}"#)
        XCTAssertTrue(mish.1.joined().contains("'mish' is not supported"), "\(mish.1)")
    }

    /// Every new layer, with options other than Keras's defaults, in one model saved as `.keras` and
    /// `.h5` and read back: the same layers and options, bit-identical predictions and weights.
    func testModelOfBreadthLayersRoundTrips() throws {
        let model = try Sequential(inputShape: [8, 6, 2], layers: [
            Conv2D(filters: 3, kernelSize: 3, padding: .same, activation: .gelu, name: "conv"),
            PReLU(alphaInitializer: .constant(0.25), sharedAxes: [1, 2], name: "prelu"),
            AveragePooling2D(poolSize: (3, 2), strides: (2, 1), padding: .same, name: "avg"),
            UpSampling2D(size: (1, 2), interpolation: .bilinear, name: "up"),
            Cropping2D(cropping: ((1, 0), (2, 3)), name: "crop"),
            SpatialDropout2D(rate: 0.3, seed: 7, name: "sdrop"),
            LeakyReLU(negativeSlope: 0.1, name: "leaky"),
            Permute(dims: [2, 1, 3], name: "perm"),
            ELU(alpha: 0.5, name: "elu"),
            UpSampling2D(size: 2, name: "up_nearest"),
            DepthwiseConv2D(kernelSize: (2, 2), activation: .hardSigmoid, name: "dw"),
            GlobalMaxPooling2D(keepdims: true, name: "gmp"),
            Flatten(name: "flat"),
            Dense(units: 4, activation: .hardSilu, name: "dense"),
            ActivationLayer(.softplus, name: "softplus"),
            ActivationLayer(.swish, name: "swish"),
            ActivationLayer(.elu, name: "elu_act"),
            Dense(units: 3, activation: .softmax, name: "out"),
        ], seed: 3)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        var data = TestData(seed: 4)
        let x = data.tensor([6, 8, 6, 2])
        let y = labelTensor(data.labels(6, classes: 3))
        try model.fit(x: x, y: y, batchSize: 3, epochs: 1, shuffle: false, verbose: .silent)
        for ext in ["keras", "h5"] {
            let path = dir + "/breadth.\(ext)"
            try model.save(to: path)
            let loaded = try loadModel(from: path)
            XCTAssertEqual(loaded.layers.map(\.typeName), model.layers.map(\.typeName), ext)
            XCTAssertEqual(loaded.layers.map(\.name), model.layers.map(\.name), ext)
            for (a, b) in zip(loaded.layers, model.layers) {
                XCTAssertEqual(a.parameters.map { KerasModelFileTests.bits($0.value) }, b.parameters.map { KerasModelFileTests.bits($0.value) },
                               "\(ext): \(a.name) weights")
            }
            XCTAssertEqual(KerasModelFileTests.bits(try loaded.predict(x)), KerasModelFileTests.bits(try model.predict(x)), "\(ext): predictions")
            let prelu = try XCTUnwrap(loaded.layer(named: "prelu") as? PReLU)
            XCTAssertEqual(prelu.sharedAxes, [1, 2])
            XCTAssertEqual(prelu.alphaInitializer, .constant(0.25))
            XCTAssertEqual(prelu.alpha.value.shape, [1, 1, 3])
            let avg = try XCTUnwrap(loaded.layer(named: "avg") as? AveragePooling2D)
            XCTAssertTrue(avg.poolSize == (3, 2) && avg.strides == (2, 1) && avg.padding == .same, ext)
            let up = try XCTUnwrap(loaded.layer(named: "up") as? UpSampling2D)
            XCTAssertTrue(up.size == (1, 2) && up.interpolation == .bilinear, ext)
            XCTAssertEqual((loaded.layer(named: "up_nearest") as? UpSampling2D)?.interpolation, .nearest)
            let crop = try XCTUnwrap(loaded.layer(named: "crop") as? Cropping2D)
            XCTAssertEqual([crop.cropping.0.top, crop.cropping.0.bottom, crop.cropping.1.left, crop.cropping.1.right], [1, 0, 2, 3])
            let drop = try XCTUnwrap(loaded.layer(named: "sdrop") as? SpatialDropout2D)
            XCTAssertTrue(drop.rate == 0.3 && drop.seed == 7, ext)
            XCTAssertEqual((loaded.layer(named: "leaky") as? LeakyReLU)?.negativeSlope, 0.1)
            XCTAssertEqual((loaded.layer(named: "perm") as? Permute)?.dims, [2, 1, 3])
            XCTAssertEqual((loaded.layer(named: "elu") as? ELU)?.alpha, 0.5)
            XCTAssertEqual((loaded.layer(named: "gmp") as? GlobalMaxPooling2D)?.keepdims, true)
            XCTAssertEqual((loaded.layer(named: "conv") as? Conv2D)?.activation, .gelu)
            XCTAssertEqual((loaded.layer(named: "dw") as? DepthwiseConv2D)?.activation, .hardSigmoid)
            XCTAssertEqual((loaded.layer(named: "dense") as? Dense)?.activation, .hardSilu)
            XCTAssertEqual((loaded.layer(named: "swish") as? ActivationLayer)?.activation, .silu)
            XCTAssertEqual((loaded.layer(named: "softplus") as? ActivationLayer)?.activation, .softplus)
        }
    }
}
