import XCTest
@testable import NN
import NNZoo

/// Whole-model inference passes fold each BatchNormalization (and the ReLU/ReLU6 after it) into
/// the convolution before it (Model/BatchNormFolding.swift): the same predictions as running every
/// layer, and nothing else changes (partial passes, layers on their own, training).
final class BatchNormFoldingTests: XCTestCase {
    /// Moving statistics, γ and β away from their initial values, so the fold has something to do.
    private func perturbBatchNorms(_ model: Model, seed: UInt64 = 3) {
        var rng = RandomGenerator(seed: seed)
        for case let bn as BatchNormalization in model.layers {
            for (p, range) in [(bn.movingMean!, -1...1), (bn.movingVariance!, 0.25...3), (bn.gamma!, -1.5...1.5), (bn.beta!, -1...1)] {
                let v = p.value.pointer
                for j in 0..<p.value.count { v[j] = rng.uniform(Float(range.lowerBound), Float(range.upperBound)) }
            }
        }
    }

    private func folds(_ model: Model) -> (convolutions: Int, activations: Int) {
        let convs = model.layers.compactMap { ($0 as? ConvolutionLayer)?.foldedBatchNorm }
        return (convs.count, convs.filter { $0.activation != .linear }.count)
    }

    private func input(_ model: Model, batch: Int, seed: UInt64 = 8) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let shape = [batch] + model.inputShape
        return Tensor(shape: shape, elements: (0..<shape.reduce(1, *)).map { _ in rng.uniform(0, 1) })
    }

    private func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.elements, b.elements).map { abs($0 - $1) / max(abs($0), abs($1), 1e-3) }.max() ?? .infinity
    }

    /// MobileNet (Sequential: Conv2D and DepthwiseConv2D → BN → ReLU6), MobileNetV2 (a graph whose
    /// projection BNs have no activation and feed Add) and resnet-small (Conv2D → BN → ReLU, and
    /// → BN → Add) predict what they predict with every layer run, at batch 1 and 5.
    func testFoldedPredictionsMatchLayerByLayer() throws {
        let cases: [(String, Model, (Int, Int))] = [
            ("mobilenet", try MobileNet.build(inputShape: [32, 32, 3], alpha: 0.25, classes: 7, seed: 1), (27, 27)),
            ("mobilenetv2", try MobileNetV2.build(inputShape: [32, 32, 3], alpha: 0.35, classes: 7, seed: 1), (52, 35)),
            ("resnet-small", try ResNetSmall.build(seed: 1), (11, 5)),
        ]
        for (name, model, expected) in cases {
            perturbBatchNorms(model)
            let counted = folds(model)
            XCTAssertEqual(counted.convolutions, expected.0, "\(name): folded convolutions")
            XCTAssertEqual(counted.activations, expected.1, "\(name): folded activations")
            for batch in [1, 5] {
                let x = input(model, batch: batch)
                let folded = try model.predict(x, batchSize: batch)
                model.foldsBatchNormalization = false
                XCTAssertEqual(folds(model).convolutions, 0)
                let asWritten = try model.predict(x, batchSize: batch)
                model.foldsBatchNormalization = true
                XCTAssertLessThan(maxRelativeError(folded, asWritten), 2e-5, "\(name), batch \(batch)")
                // Same pass twice: the folded pass is deterministic.
                XCTAssertEqual(try model.predict(x, batchSize: batch).elements, folded.elements, "\(name), batch \(batch)")
            }
        }
    }

    /// A pass that stops at a convolution returns its own output, and layers called on their own
    /// after a folded predict run as written (the marks only last for the pass).
    func testPartialPassesAndLoneLayersDoNotFold() throws {
        let model = try MobileNet.build(inputShape: [32, 32, 3], alpha: 0.25, classes: 5, seed: 2)
        perturbBatchNorms(model)
        let x = input(model, batch: 2)
        let conv = try XCTUnwrap(model.layers.firstIndex { $0 is Conv2D })
        _ = try model.predict(x, batchSize: 2)
        let partial = try model.forward([x], through: conv, training: false).copy()
        let bn = try XCTUnwrap(model.layers[conv + 1] as? BatchNormalization)
        let normalized = try bn.forward(partial, training: false).copy()
        XCTAssertGreaterThan(maxRelativeError(partial, normalized), 1e-3, "the BN must act on its own")
        model.foldsBatchNormalization = false
        XCTAssertEqual(try model.forward([x], through: conv, training: false).elements, partial.elements)
        XCTAssertEqual(try bn.forward(partial, training: false).elements, normalized.elements)
    }

    /// Training never folds: steps with folding on and off give the same bits.
    func testTrainingIsUnchanged() throws {
        func train(folding: Bool) throws -> [[Float]] {
            let model = try ResNetSmall.build(seed: 4)
            model.foldsBatchNormalization = folding
            model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            let x = input(model, batch: 6)
            let y = Tensor(shape: [6], elements: [0, 1, 2, 3, 4, 5])
            var losses: [Float] = []
            for _ in 0..<2 {
                losses.append(try model.trainStep(x: x, y: y).loss)
                _ = try model.predict(x, batchSize: 3)  // a folded pass between steps
            }
            return [losses] + model.layers.flatMap(\.parameters).map(\.value.elements)
        }
        XCTAssertEqual(try train(folding: true), try train(folding: false))
    }
}
