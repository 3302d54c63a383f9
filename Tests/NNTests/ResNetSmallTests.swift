import XCTest
@testable import NN
import NNZoo

/// The zoo's resnet-small: its graph (skip connections, the strided stage's projection shortcut)
/// and a few training steps on tiny synthetic data.
final class ResNetSmallTests: XCTestCase {
    func testStructure() throws {
        let model = try ModelZoo.build("resnet-small", inputShape: [28, 28, 1], classes: 10, seed: 1)
        XCTAssertEqual(model.outputShape, [10])
        let names = model.layers.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertEqual(names.first, "conv1_conv")
        XCTAssertEqual(names.last, "dense")
        func layer(_ name: String) -> Layer { model.layers.first { $0.name == name }! }
        func index(_ name: String) -> Int { model.layers.firstIndex { $0.name == name }! }
        XCTAssertEqual(model.layers.filter { $0 is Add }.count, 4)
        // The first stage widens the 32-channel stem to 48 with a 1×1 projection (as Keras's ResNet's
        // conv2_block1 does), and its second block adds its input back unchanged.
        XCTAssertEqual(layer("conv2_block1_add").outputShape, [14, 14, 48])
        let offset = model.inputShapes.count
        XCTAssertEqual(model.inbound[index("conv2_block1_add")].map { model.layers[$0 - offset].name },
                       ["conv2_block1_0_bn", "conv2_block1_2_bn"])
        XCTAssertEqual(layer("conv2_block1_0_conv").parameterCount, 32 * 48)
        XCTAssertEqual(model.inbound[index("conv2_block2_add")].map { model.layers[$0 - offset].name },
                       ["conv2_block1_out", "conv2_block2_2_bn"])
        // The strided stage halves the size; its shortcut is a 1×1 stride-2 projection with BN.
        XCTAssertEqual(layer("conv3_block1_0_conv").outputShape, [7, 7, 96])
        XCTAssertEqual(layer("conv3_block1_0_conv").parameterCount, 48 * 96)
        XCTAssertEqual(model.inbound[index("conv3_block1_add")].map { model.layers[$0 - offset].name },
                       ["conv3_block1_0_bn", "conv3_block1_2_bn"])
        XCTAssertEqual(layer("flatten").outputShape, [7 * 7 * 96])
        XCTAssertEqual(model.parameterCount, 422_826)
        let pooled = try ResNetSmall.build(top: .averagePooling, dropout: 0.2)
        XCTAssertEqual(pooled.layers.first { $0.name == "avg_pool" }?.outputShape, [96])
        XCTAssertEqual(pooled.parameterCount, 376_746)
        // Wide-ResNet dropout: one Dropout between each block's convolutions, no new parameters.
        // The zoo's net has it (rate 0.2); blockDropout 0 builds the earlier net.
        let dropped = try ResNetSmall.build(blockDropout: 0.3)
        XCTAssertEqual(dropped.parameterCount, 422_826)
        XCTAssertEqual(names.filter { $0.hasSuffix("_1_dropout") }.count, 4)
        XCTAssertEqual((layer("conv2_block1_1_dropout") as? Dropout)?.rate, 0.2)
        XCTAssertFalse(try ResNetSmall.build(blockDropout: 0).layers.contains { $0.name.hasSuffix("_1_dropout") })
        let second = dropped.layers.firstIndex { $0.name == "conv3_block2_2_conv" }!
        XCTAssertEqual(dropped.inbound[second].map { dropped.layers[$0 - dropped.inputShapes.count].name },
                       ["conv3_block2_1_dropout"])
        XCTAssertTrue(ModelZoo.names.contains("resnet-small"))
        let recipe = ModelZoo.recipe("resnet-small")
        XCTAssertEqual([recipe.optimizer, "\(recipe.epochs)", "\(recipe.decay)"], ["adamw", "24", "0.87"])
    }

    /// Twenty Adam steps on 32 synthetic images of two classes (a bright square top-left or
    /// bottom-right, plus noise) lower the loss well below its start.
    func testTrainingStepsLowerTheLoss() throws {
        let side = 12, n = 32
        var rng = RandomGenerator(seed: 7)
        var pixels = [Float](repeating: 0, count: n * side * side)
        var labels = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let label = i % 2
            labels[i] = Float(label)
            for r in 0..<side {
                for c in 0..<side {
                    let inSquare = label == 0 ? (r < 5 && c < 5) : (r >= 7 && c >= 7)
                    pixels[(i * side + r) * side + c] = (inSquare ? 0.8 : 0) + rng.uniform(0, 0.2)
                }
            }
        }
        let x = Tensor(shape: [n, side, side, 1], elements: pixels)
        let y = Tensor(shape: [n], elements: labels)
        let model = try ModelZoo.build("resnet-small", inputShape: [side, side, 1], classes: 2, seed: 1)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let first = try model.trainStep(x: x, y: y)
        var last = first
        for _ in 0..<19 { last = try model.trainStep(x: x, y: y) }
        XCTAssertTrue(first.loss.isFinite && last.loss.isFinite)
        XCTAssertLessThan(last.loss, first.loss * 0.5, "loss \(first.loss) → \(last.loss)")
        XCTAssertEqual(last.correct, n)
    }
}
