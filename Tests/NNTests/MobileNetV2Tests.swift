import Foundation
import XCTest
@testable import NN
import NNZoo

/// MobileNetV2 against Keras 3's `keras.applications.MobileNetV2(weights=None)`: every layer's name,
/// class, output shape, parameter count and inputs, for the configurations in
/// Fixtures/mobilenetv2/structure.json (written by scripts/keras/make_mobilenetv2_fixture.py).
final class MobileNetV2Tests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/mobilenetv2/structure.json")

    struct KerasLayer: Decodable {
        let name: String, type: String
        let output_shape: [Int]
        let params: Int
        let inbound: [String]
    }
    struct Config: Decodable {
        let input_shape: [Int]
        let alpha: Double
        let include_top: Bool
        let pooling: String?
        let classes: Int
    }
    struct KerasModel: Decodable {
        let config: Config
        let name: String
        let total_params: Int, trainable_params: Int
        let layers: [KerasLayer]
    }

    func testStructureMatchesKeras() throws {
        let models = try JSONDecoder().decode([KerasModel].self, from: Data(contentsOf: Self.fixture))
        XCTAssertEqual(models.count, 3)
        for keras in models {
            let c = keras.config
            let model = try MobileNetV2.build(inputShape: c.input_shape, alpha: c.alpha, includeTop: c.include_top,
                                              pooling: c.pooling == "avg" ? .average : .none, classes: c.classes)
            let what = keras.name
            XCTAssertEqual(model.name, keras.name)
            XCTAssertEqual(model.layers.map(\.name), keras.layers.map(\.name), what)
            XCTAssertEqual(model.layers.count, keras.layers.count, what)
            for (i, (ours, theirs)) in zip(model.layers, keras.layers).enumerated() {
                XCTAssertEqual(ours.typeName, theirs.type, "\(what) \(theirs.name)")
                XCTAssertEqual(ours.outputShape, theirs.output_shape, "\(what) \(theirs.name)")
                XCTAssertEqual(ours.parameterCount, theirs.params, "\(what) \(theirs.name)")
                let inputs = model.inbound[i].map { v in
                    v < model.inputShapes.count ? model.inputNames[v] : model.layers[v - model.inputShapes.count].name
                }
                XCTAssertEqual(inputs, theirs.inbound, "\(what) \(theirs.name)")
            }
            XCTAssertEqual(model.parameterCount, keras.total_params, what)
            XCTAssertEqual(model.trainableParameterCount, keras.trainable_params, what)
        }
    }

    /// `cnn summary --model mobilenetv2 --input-shape 224x224x3 --classes 1000` prints Keras's totals.
    func testZooModelHasKerasTotals() throws {
        let model = try ModelZoo.build("mobilenetv2", inputShape: [224, 224, 3], classes: 1000)
        XCTAssertEqual(model.parameterCount, 3_538_984)
        XCTAssertEqual(model.trainableParameterCount, 3_504_872)
        let summary = model.summary()
        XCTAssertTrue(summary.contains("3,538,984"), summary)
        XCTAssertTrue(summary.contains("3,504,872"), summary)
        // alpha passes through the zoo as for mobilenet.
        let narrow = try ModelZoo.build("mobilenetv2", inputShape: [96, 96, 3], classes: 10, alpha: 0.35)
        XCTAssertEqual(narrow.parameterCount, 423_018)
    }

    func testMakeDivisibleAndCorrectPadAsKeras() {
        // _make_divisible(32 * alpha, 8) for Keras's published alphas, and the rounding-up rule.
        XCTAssertEqual([0.35, 0.5, 0.75, 1.0, 1.3, 1.4].map { MobileNetV2.makeDivisible(32 * $0) }, [16, 16, 24, 32, 40, 48])
        XCTAssertEqual(MobileNetV2.makeDivisible(1280 * 1.4), 1792)
        XCTAssertEqual(MobileNetV2.makeDivisible(3), 8)
        XCTAssertEqual(MobileNetV2.makeDivisible(11), 16)  // 8 < 0.9 · 11: one multiple up
        let pad = MobileNetV2.correctPad(height: 112, width: 111)
        XCTAssertEqual([pad.0.0, pad.0.1, pad.1.0, pad.1.1], [0, 1, 1, 1])
    }

    /// A forward pass on a batch of small images gives one probability distribution per image;
    /// under 32×32 (which Keras refuses) every size stays positive.
    func testForwardGivesProbabilities() throws {
        for shape in [[32, 32, 3], [28, 28, 1]] {
            let model = try MobileNetV2.build(inputShape: shape, alpha: 0.35, classes: 10, seed: 3)
            XCTAssertEqual(model.outputShape, [10])
            var rng = RandomGenerator(seed: 5)
            let batch = 3
            let x = Tensor(shape: [batch] + shape, elements: (0..<(batch * shape.reduce(1, *))).map { _ in rng.uniform(0, 1) })
            let p = try model.predict(x, batchSize: batch)
            XCTAssertEqual(p.shape, [batch, 10])
            for r in 0..<batch {
                let row = Array(p.elements[(r * 10)..<(r * 10 + 10)])
                XCTAssertTrue(row.allSatisfy { $0.isFinite && $0 >= 0 }, "\(shape) row \(r): \(row)")
                XCTAssertEqual(Double(row.reduce(0, +)), 1, accuracy: 1e-5, "\(shape) row \(r)")
            }
        }
    }

    func testBadArgumentsAreRefused() {
        XCTAssertThrowsError(try MobileNetV2.build(inputShape: [32, 32], classes: 10))
        XCTAssertThrowsError(try MobileNetV2.build(inputShape: [32, 32, 3], alpha: 0, classes: 10))
        XCTAssertThrowsError(try MobileNetV2.build(inputShape: [32, 32, 3], alpha: .nan, classes: 10))
        XCTAssertThrowsError(try MobileNetV2.build(inputShape: [32, 32, 3], classes: 0))
    }
}
