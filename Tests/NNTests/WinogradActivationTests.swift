import XCTest
@testable import NN

/// Winograd with every activation family: those whose derivative needs the preactivation (gelu,
/// silu, hard_silu) keep it on the Winograd path as on im2col; gradients match central differences.
/// Both tilings, forced (a batch this small would run as im2col under `auto`).
final class WinogradActivationTests: XCTestCase {
    func testWinogradWithActivationsThatNeedTheirInput() throws {
        for activation in [Activation.gelu, .silu, .hardSilu, .elu, .relu, .softmax] {
            for algorithm in [ConvAlgorithm.winograd, .winograd4x4] {
                var data = TestData(seed: 5)
                let layer = Conv2D(filters: 16, kernelSize: 3, padding: .same, activation: activation)
                try layer.build(inputShape: [5, 5, 16], seed: 2)
                layer.bias!.value.assign(data.tensor([16], -0.2, 0.2))
                layer.algorithmOverride = algorithm
                let x = data.tensor([2, 5, 5, 16], -0.5, 0.5)
                let y = try layer.forward(x, training: true).copy()
                XCTAssertEqual(layer.lastAlgorithm, algorithm, "\(activation)")
                let checker = GradientChecker(step: activation == .relu ? 1e-3 : 1e-2, threshold: 1e-2, probes: 12)
                try checker.check(layer, input: x, kinks: activation == .relu, "\(algorithm) 3×3 + \(activation)")
                layer.algorithmOverride = .im2col
                let reference = try layer.forward(x, training: true)
                for i in 0..<y.count {
                    XCTAssertEqual(y[flat: i], reference[flat: i], accuracy: 2e-5, "\(activation) \(algorithm)")
                }
            }
        }
    }
}
