import Foundation
import XCTest
import NN
@testable import NNKeras

/// Conv2DTranspose, SeparableConv2D and LayerNormalization against Keras 3 itself
/// (Tests/NNTests/Fixtures/keras_breadth_b/cases.json, written by
/// scripts/keras/make_breadth_b_fixtures.py): each layer built from Keras's own config, given
/// Keras's weights, must give Keras's outputs and gradients; our configs must have Keras's keys
/// and values; unsupported options are refused by name; and models with these layers round-trip
/// through `.keras` and `.h5` bit for bit.
final class KerasBreadthLayerTests: TemporaryDirectoryTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/keras_breadth_b/cases.json")

    static func cases() throws -> [JSONValue] {
        let bytes = try [UInt8](Data(contentsOf: fixture))
        return try XCTUnwrap(JSONReader.parse(bytes)["cases"]?.arrayValue)
    }

    static func floats(_ v: JSONValue?) throws -> [Float] {
        try XCTUnwrap(v?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
    }

    static func ints(_ v: JSONValue?) throws -> [Int] { try XCTUnwrap(v?.arrayValue).map { try XCTUnwrap($0.intValue) } }

    /// The layer Keras's config describes, decoded as a `.keras` file's would be.
    static func decode(_ entry: JSONValue) throws -> Layer {
        var problems: [String] = []
        let decoded = KerasLayers.decode(entry, index: 0, problems: &problems)
        XCTAssertEqual(problems, [])
        return try XCTUnwrap(decoded?.layer)
    }

    /// The worst |a − b| / max(|a|, |b|, 1).
    static func worst(_ a: [Float], _ b: [Float]) -> Double {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { relativeError(Double($0), Double($1)) }.max() ?? 0
    }

    func testOutputsAndGradientsMatchKeras() throws {
        let cases = try Self.cases()
        XCTAssertEqual(cases.count, 16)
        var withGradients = 0
        for c in cases {
            let name = try XCTUnwrap(c["name"]?.stringValue)
            let layer = try Self.decode(c)
            try layer.build(inputShape: try Self.ints(c["input_shape"]), seed: 1)
            XCTAssertEqual(layer.typeName, c["class_name"]?.stringValue, name)
            let weights = try XCTUnwrap(c["weights"]?.arrayValue)
            XCTAssertEqual(layer.parameters.map(\.name), weights.map { $0["name"]?.stringValue ?? "" }, name)
            for (p, w) in zip(layer.parameters, weights) {
                XCTAssertEqual(p.value.shape, try Self.ints(w["shape"]), "\(name) \(p.name)")
                p.value.assign(Tensor(shape: p.value.shape, elements: try Self.floats(w["values"])))
            }
            let x = Tensor(shape: try Self.ints(c["x_shape"]), elements: try Self.floats(c["x"]))
            let y = try layer.forward(x, training: true)
            XCTAssertEqual(y.shape, try Self.ints(c["y_shape"]), name)
            XCTAssertLessThanOrEqual(Self.worst(y.elements, try Self.floats(c["y"])), 2e-6, "\(name): output")
            guard c["r"] != nil else { continue }
            withGradients += 1
            let dx = try layer.backward(Tensor(shape: y.shape, elements: try Self.floats(c["r"])))
            XCTAssertLessThanOrEqual(Self.worst(dx.elements, try Self.floats(c["dx"])), 1e-5, "\(name): input gradient")
            let dw = try XCTUnwrap(c["dweights"]?.arrayValue)
            XCTAssertEqual(dw.count, layer.parameters.count, name)
            for (p, g) in zip(layer.parameters, dw) {
                XCTAssertLessThanOrEqual(Self.worst(p.gradient.elements, try Self.floats(g)), 1e-5, "\(name): \(p.name) gradient")
            }
        }
        XCTAssertEqual(withGradients, 7)
    }

    /// Our config of the layer decoded from Keras's (and built, as a saved model's layers are) has
    /// Keras's keys in Keras's order and the same values (initializers by class name: Keras 3.15
    /// adds keys of its own to theirs).
    func testConfigsAreKeras() throws {
        for c in try Self.cases() {
            let name = try XCTUnwrap(c["name"]?.stringValue)
            let keras = try XCTUnwrap(c["config"])
            let layer = try Self.decode(c)
            try layer.build(inputShape: try Self.ints(c["input_shape"]))
            let ours = try XCTUnwrap(try KerasLayers.encode(layer)["config"])
            XCTAssertEqual(ours.objectKeys, keras.objectKeys, name)
            for key in keras.objectKeys {
                let a = try XCTUnwrap(ours[key]), b = try XCTUnwrap(keras[key])
                if let cls = b["class_name"]?.stringValue {
                    XCTAssertEqual(a["class_name"]?.stringValue, cls, "\(name) \(key)")
                } else if let x = b.doubleValue, !(b.intValue != nil) {
                    XCTAssertEqual(a.doubleValue.map(Float.init), Float(x), "\(name) \(key)")
                } else {
                    XCTAssertEqual(a.text, b.text, "\(name) \(key)")
                }
            }
        }
    }

    func testUnsupportedOptionsAreNamed() throws {
        func problems(_ className: String, _ config: String) throws -> [String] {
            let entry = try JSONReader.parse(Array("{\"class_name\": \"\(className)\", \"config\": {\"name\": \"l\", \(config)}}".utf8))
            var problems: [String] = []
            _ = KerasLayers.decode(entry, index: 0, problems: &problems)
            return problems
        }
        XCTAssertEqual(try problems("Conv2DTranspose", "\"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": [2, 2]"),
                       ["layer 'l' (Conv2DTranspose): dilation_rate [2, 2] is not supported (1 only)"])
        XCTAssertEqual(try problems("Conv2DTranspose", "\"filters\": 2, \"kernel_size\": 3, \"output_padding\": [1, -1]"),
                       ["layer 'l' (Conv2DTranspose): output_padding must be null, a size or two sizes, got [1, -1]"])
        XCTAssertEqual(try problems("SeparableConv2D", "\"filters\": 2, \"kernel_size\": 3, \"data_format\": \"channels_first\""),
                       ["layer 'l' (SeparableConv2D): data_format \"channels_first\" is not supported (channels_last only: the engine is NHWC)"])
        XCTAssertEqual(try problems("LayerNormalization", "\"rms_scaling\": true, \"axis\": [1, 2]").count, 2)
        // Output padding of 1 with stride 1: Keras's own rule, when the model is built.
        let layer = try Self.decode(try JSONReader.parse(Array("{\"class_name\": \"Conv2DTranspose\", \"config\": {\"name\": \"up\", \"filters\": 2, \"kernel_size\": 3, \"output_padding\": 1}}".utf8)))
        XCTAssertThrowsError(try layer.build(inputShape: [4, 4, 1])) { XCTAssertTrue("\($0)".contains("less than the strides"), "\($0)") }
    }

    /// A small encoder/decoder graph with all three layers, trained a few Adam steps, saved as
    /// `.keras` and `.h5` and read back: same layers, options, weights, optimizer state, predictions.
    func testModelsRoundTripThroughKerasFiles() throws {
        let (model, tx) = try Self.tinyUNet()
        let expected = try model.predict(tx).elements.map(\.bitPattern)
        for ext in ["keras", "h5"] {
            let path = dir + "/tiny.\(ext)"
            try model.save(to: path)
            let read = try KerasModelFile.read(path)
            XCTAssertTrue(read.warnings.isEmpty, "\(ext): \(read.warnings)")
            XCTAssertTrue(read.restoredOptimizerState, ext)
            let loaded = read.model
            XCTAssertEqual(loaded.predictionBits(tx), expected, ext)
            let sep = try XCTUnwrap(loaded.layer(named: "sep") as? SeparableConv2D, ext)
            XCTAssertEqual(sep.depthMultiplier, 2, ext)
            XCTAssertEqual(sep.pointwiseL2, 1e-3, ext)
            XCTAssertEqual(sep.parameters.map(\.name), ["depthwise_kernel", "pointwise_kernel", "bias"], ext)
            let ln = try XCTUnwrap(loaded.layer(named: "ln") as? LayerNormalization, ext)
            XCTAssertEqual(ln.epsilon, 1e-5, ext)
            XCTAssertFalse(ln.center, ext)
            let up = try XCTUnwrap(loaded.layer(named: "up") as? Conv2DTranspose, ext)
            XCTAssertEqual(up.outputPadding.map { [$0.0, $0.1] }, [1, 1], ext)
            XCTAssertEqual(up.strides.0, 2, ext)
            XCTAssertEqual(loaded.summary(), model.summary(), ext)
            for (a, b) in zip(loaded.namedParameters, model.namedParameters) {
                XCTAssertEqual(a.0, b.0, ext)
                XCTAssertEqual(a.1.value.elements, b.1.value.elements, "\(ext) \(a.0)")
            }
        }
        // The summary lists the new layers with Keras's parameter counts:
        // sep 3·3·2·2 + 4·4 + 4 = 56, ln 4 (gamma only), up 3·3·3·4 + 3 = 111.
        let summary = model.summary()
        for row in ["sep (SeparableConv2D)", "ln (LayerNormalization)", "up (Conv2DTranspose)"] { XCTAssertTrue(summary.contains(row), row) }
        XCTAssertEqual(model.layer(named: "sep")?.parameterCount, 56)
        XCTAssertEqual(model.layer(named: "ln")?.parameterCount, 4)
        XCTAssertEqual(model.layer(named: "up")?.parameterCount, 111)
    }

    /// With NN_KERAS_INTEROP_DIR set, writes tiny_unet.keras and tiny_unet.h5 with its inputs and
    /// our predictions (tiny_unet.ours.json) for Keras to load and compare. Without it, nothing to do.
    func testWriteInteropFiles() throws {
        guard let out = ProcessInfo.processInfo.environment["NN_KERAS_INTEROP_DIR"], !out.isEmpty else { return }
        let (model, x) = try Self.tinyUNet()
        try model.save(to: out + "/tiny_unet.keras")
        try model.save(to: out + "/tiny_unet.h5")
        let json: [String: Any] = ["x_shape": x.shape, "x": x.elements.map(Double.init),
                                   "predictions": try model.predict(x).elements.map(Double.init)]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: out + "/tiny_unet.ours.json"))
    }

    /// An encoder/decoder graph with all three layers, trained one epoch of Adam, and its inputs.
    static func tinyUNet() throws -> (Model, Tensor) {
        let x = Input(shape: [8, 8, 2], name: "image")
        let e = SeparableConv2D(filters: 4, kernelSize: (3, 3), padding: .same, depthMultiplier: 2, activation: .relu,
                                pointwiseL2: 1e-3, name: "sep")(x)
        let down = MaxPooling2D(poolSize: 2, name: "pool")(e)
        let norm = LayerNormalization(epsilon: 1e-5, center: false, name: "ln")(down)
        let up = Conv2DTranspose(filters: 3, kernelSize: (3, 3), strides: (2, 2), padding: .same, outputPadding: (1, 1),
                                 activation: .relu, name: "up")(norm)
        let skip = Concatenate(name: "skip")([up, e])
        let y = Conv2D(filters: 1, kernelSize: 1, activation: .sigmoid, name: "out")(skip)
        let model = try Model(inputs: x, outputs: y, name: "tiny_unet", seed: 3)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: BinaryCrossentropy())
        var data = TestData(seed: 9)
        let tx = data.tensor([6, 8, 8, 2], 0, 1), ty = data.tensor([6, 8, 8, 1], 0, 1)
        try model.fit(x: tx, y: ty, batchSize: 3, epochs: 1, shuffle: false, verbose: .silent)
        return (model, tx)
    }
}

private extension Model {
    func predictionBits(_ x: Tensor) -> [UInt32] { ((try? predict(x)) ?? Tensor(shape: [0])).elements.map(\.bitPattern) }
}
