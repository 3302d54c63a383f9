import XCTest
import NN
@testable import NNReport
@testable import NNZoo

/// The zoo's U-Net (NNZoo/UNet.swift): its graph (encoder, Conv2DTranspose upsampling, Concatenate
/// skips, a sigmoid 1×1 output of the input's shape), a few Adam steps on tiny synthetic denoising
/// data lowering the loss, the noise and MSE helpers, and `cnn denoise`'s figure.
final class UNetTests: XCTestCase {
    func testGraphShapesAndLayers() throws {
        let model = try ModelZoo.build("unet", inputShape: [28, 28, 1], seed: 1)
        XCTAssertFalse(model is Sequential)
        XCTAssertEqual(model.inputShape, [28, 28, 1])
        XCTAssertEqual(model.outputShape, [28, 28, 1])
        let types = model.layers.map(\.typeName)
        XCTAssertEqual(types.filter { $0 == "Conv2DTranspose" }.count, 2)
        XCTAssertEqual(types.filter { $0 == "Concatenate" }.count, 2)
        XCTAssertEqual(types.filter { $0 == "MaxPooling2D" }.count, 2)
        XCTAssertEqual(model.layer(named: "up1_transpose")?.outputShape, [28, 28, 16])
        XCTAssertEqual(model.layer(named: "up1_concat")?.outputShape, [28, 28, 32])
        XCTAssertEqual(model.layer(named: "bottleneck_conv2")?.outputShape, [7, 7, 64])
        XCTAssertEqual((model.layer(named: "output") as? Conv2D)?.activation, .sigmoid)
        XCTAssertTrue(model.summary().contains("up2_transpose (Conv2DTranspose)"))
        // Other sizes and depths; an input the pooling cannot halve is refused by name.
        XCTAssertEqual(try UNet.build(inputShape: [16, 8, 3], filters: 4, depth: 3).outputShape, [16, 8, 3])
        XCTAssertEqual(try UNet.build(inputShape: [8, 8, 3], filters: 4, depth: 1, outputChannels: 1).outputShape, [8, 8, 1])
        XCTAssertThrowsError(try UNet.build(inputShape: [28, 28, 1], depth: 3)) {
            XCTAssertTrue("\($0)".contains("divisible by 8"), "\($0)")
        }
        XCTAssertEqual(ModelZoo.recipe("unet").optimizer, "adam")
        XCTAssertFalse(ModelZoo.names.contains("unet"), "the classifier list of cnn train stays classifiers")
    }

    /// Noisy squares and bars → clean ones: Adam steps lower the loss clearly, with either loss.
    func testTrainingOnSyntheticDataLowersTheLoss() throws {
        let n = 16, side = 8
        let clean = Tensor(shape: [n, side, side, 1])
        var rng = RandomGenerator(seed: 4)
        for i in 0..<n {
            let top = Int(rng.next() % 4), left = Int(rng.next() % 4), size = 2 + Int(rng.next() % 3)
            for y in top..<min(side, top + size) { for x in left..<min(side, left + size) { clean[flat: (i * side + y) * side + x] = 1 } }
        }
        let noisy = UNet.addNoise(clean, stddev: 0.3, seed: 5)
        for loss in [MeanSquaredError(), BinaryCrossentropy()] as [Loss] {
            let model = try UNet.build(inputShape: [side, side, 1], filters: 4, depth: 2, seed: 2)
            model.compile(optimizer: Adam(learningRate: 0.01), loss: loss)
            let before = UNet.meanSquaredError(try model.predict(noisy), clean)
            var first: Float = 0, last: Float = 0
            for step in 0..<40 {
                let l = try model.trainStep(x: noisy, y: clean).loss
                if step == 0 { first = l }
                last = l
                XCTAssertTrue(l.isFinite)
            }
            let after = UNet.meanSquaredError(try model.predict(noisy), clean)
            XCTAssertLessThan(last, first * 0.7, "\(loss): loss \(first) → \(last)")
            XCTAssertLessThan(after, before * 0.7, "\(loss): MSE \(before) → \(after)")
            XCTAssertEqual(try model.predict(noisy).shape, noisy.shape)
        }
    }

    func testNoiseAndMeanSquaredError() {
        let clean = Tensor(shape: [2, 4, 4, 1], repeating: 0.5)
        let a = UNet.addNoise(clean, stddev: 0.2, seed: 7), b = UNet.addNoise(clean, stddev: 0.2, seed: 7)
        XCTAssertEqual(a.elements, b.elements, "the same seed gives the same noise")
        XCTAssertNotEqual(a.elements, UNet.addNoise(clean, stddev: 0.2, seed: 8).elements)
        XCTAssertTrue(a.elements.allSatisfy { $0 >= 0 && $0 <= 1 })
        let mse = UNet.meanSquaredError(a, clean)
        XCTAssertGreaterThan(mse, 0.01)
        XCTAssertLessThan(mse, 0.08)
        XCTAssertEqual(UNet.meanSquaredError(clean, clean), 0)
    }
}
