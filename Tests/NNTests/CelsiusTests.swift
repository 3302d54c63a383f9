import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The TensorFlow "Celsius to Fahrenheit" tutorial: one Dense unit, MSE, Adam(0.1), 1000 epochs
/// on seven pairs must find F = 1.8·C + 32.
final class CelsiusTests: XCTestCase {
    func testLearnsWeightAndBias() throws {
        let result = try CelsiusExample.train()
        XCTAssertEqual(result.weight, 1.8, accuracy: 0.018, "weight within 1% of 1.8")
        XCTAssertEqual(result.bias, 32, accuracy: 0.32, "bias within 1% of 32")
        XCTAssertTrue(result.loss.isFinite)
        XCTAssertLessThan(result.loss, 1, "final MSE")
    }

    func testSameSeedSameResult() throws {
        let a = try CelsiusExample.train(epochs: 50), b = try CelsiusExample.train(epochs: 50)
        XCTAssertEqual(a.weight.bitPattern, b.weight.bitPattern)
        XCTAssertEqual(a.bias.bitPattern, b.bias.bitPattern)
    }
}
