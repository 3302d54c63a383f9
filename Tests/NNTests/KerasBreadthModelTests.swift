import XCTest
import NN
@testable import NNData
import NNKeras

/// Issue 19's acceptance: a model Keras 3 wrote with LeakyReLU, SeparableConv2D, AveragePooling2D,
/// Conv2DTranspose, UpSampling2D (bilinear), GlobalMaxPooling2D and elu/swish activations
/// (Fixtures/keras/breadth.*, from scripts/keras/make_breadth_model_fixture.py) evaluates to Keras's
/// own figures, through the library and through `cnn evaluate --model-file`.
final class KerasBreadthModelTests: CLITestCase {
    private struct Expected {
        let pixels: [UInt8], shape: [Int], labels: [Int], predictions: [Float], loss: Double, accuracy: Double
        init() throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: KerasModelFileTests.fixture("breadth.expected.json")))
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            pixels = try XCTUnwrap(json["pixels"] as? [Int]).map(UInt8.init)
            shape = try XCTUnwrap(json["shape"] as? [Int])
            labels = try XCTUnwrap(json["labels"] as? [Int])
            predictions = try XCTUnwrap(json["predictions"] as? [[Double]]).flatMap { $0.map(Float.init) }
            let evaluate = try XCTUnwrap(json["evaluate"] as? [String: Double])
            loss = try XCTUnwrap(evaluate["loss"])
            accuracy = try XCTUnwrap(evaluate["accuracy"])
        }
        var inputs: Tensor { Tensor(shape: shape, elements: pixels.map { Float($0) / 255 }) }
    }

    func testKerasWrittenBreadthModelEvaluatesToKerasFigures() throws {
        let e = try Expected()
        for ext in ["keras", "h5"] {
            let read = try KerasModelFile.read(KerasModelFileTests.fixture("breadth.\(ext)"))
            let model = read.model
            XCTAssertTrue(read.warnings.isEmpty, "\(ext): \(read.warnings)")
            for type in ["LeakyReLU", "SeparableConv2D", "AveragePooling2D", "Conv2DTranspose", "UpSampling2D", "GlobalMaxPooling2D"] {
                XCTAssertTrue(model.layers.contains { $0.typeName == type }, "\(ext) lacks \(type)")
            }
            let predictions = try model.predict(e.inputs, batchSize: 8)
            for (a, b) in zip(predictions.elements, e.predictions) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(ext) predictions") }
            let evaluation = try model.evaluate(x: e.inputs, y: labelTensor(e.labels), batchSize: 8)
            XCTAssertEqual(Double(evaluation.loss), e.loss, accuracy: 1e-5 * abs(e.loss), "\(ext) loss")
            XCTAssertEqual(Double(try XCTUnwrap(evaluation.accuracy)), e.accuracy, "\(ext) accuracy")
        }
    }

    /// The same figures from the command line, on the images written as IDX files.
    func testCnnEvaluateModelFileGivesKerasFigures() throws {
        let e = try Expected()
        let dir = work + "/breadth-data"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let labels = e.labels.map(UInt8.init)
        try IDXFile.write(e.pixels, dimensions: e.shape, to: dir + "/" + DataSets.trainImagesFile)
        try IDXFile.write(labels, dimensions: [labels.count], to: dir + "/" + DataSets.trainLabelsFile)
        try IDXFile.write(e.pixels, dimensions: e.shape, to: dir + "/" + DataSets.testImagesFile)
        try IDXFile.write(labels, dimensions: [labels.count], to: dir + "/" + DataSets.testLabelsFile)
        for ext in ["keras", "h5"] {
            let run = try cnn(["evaluate", "--model-file", KerasModelFileTests.fixture("breadth.\(ext)"), "--data", dir])
            XCTAssertEqual(run.status, 0, run.all)
            let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.contains("test loss:") }, run.all)
            let numbers = line.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
            XCTAssertEqual(numbers.count, 2, String(line))
            XCTAssertEqual(numbers[0], e.loss, accuracy: 6e-5, "\(ext): \(line)")
            XCTAssertEqual(numbers[1], e.accuracy, accuracy: 6e-5, "\(ext): \(line)")
        }
    }
}
