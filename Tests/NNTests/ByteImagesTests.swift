import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Datasets loaded from IDX keep their images as bytes; training and evaluating on them must give
/// exactly what the same images as Float32 give.
final class ByteImagesTests: XCTestCase {
    /// 40 random 6×5 one-channel images in 4 classes, as bytes and as the Float32 tensor of b / 255.
    func makePair(seed: UInt64) -> (bytes: Dataset, floats: Dataset) {
        var rng = RandomGenerator(seed: seed)
        let n = 40, size = 6 * 5
        let raw = (0..<(n * size)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let labels = Tensor(shape: [n], elements: (0..<n).map { _ in Float(rng.next() % 4) })
        let names = ["a", "b", "c", "d"]
        let bytes = Dataset(pixels: ByteImages(shape: [n, 6, 5, 1], bytes: raw), labels: labels, classNames: names)
        let floats = Dataset(images: Tensor(shape: [n, 6, 5, 1], elements: raw.map { Float($0) / 255 }), labels: labels, classNames: names)
        return (bytes, floats)
    }

    func model() throws -> Model {
        let m = try Sequential(inputShape: [6, 5, 1], layers: [
            Conv2D(filters: 3, kernelSize: 3, activation: .relu), Flatten(), Dropout(rate: 0.2), Dense(units: 4, activation: .softmax),
        ], seed: 7)
        m.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return m
    }

    func testBytesMatchFloatsEverywhere() throws {
        let (bytes, floats) = makePair(seed: 1)
        XCTAssertNotNil(bytes.pixels)
        XCTAssertNil(floats.pixels)
        XCTAssertEqual(bytes.images.elements, floats.images.elements, "materialized images")
        XCTAssertEqual(bytes.images(3..<7).elements, floats.images.rows(3..<7).elements, "a range of images")
        let picked = [5, 0, 5, 39]
        XCTAssertNotNil(bytes.subset(picked).pixels, "a subset of byte images stays bytes")
        XCTAssertEqual(bytes.subset(picked).images.elements, floats.subset(picked).images.elements)
        XCTAssertEqual(bytes.filter(classes: [2, 0], relabel: true).images.elements,
                       floats.filter(classes: [2, 0], relabel: true).images.elements)

        let byteBatches = try Batcher(dataset: bytes, batchSize: 16, shuffleSeed: 3)
        let floatBatches = try Batcher(dataset: floats, batchSize: 16, shuffleSeed: 3)
        XCTAssertTrue(byteBatches.x is ByteImages, "the batcher reads the bytes, not a Float32 copy")
        for (b, f) in zip(byteBatches.epoch(), floatBatches.epoch()) {
            XCTAssertEqual(b.images.elements, f.images.elements)
            XCTAssertEqual(b.labels.elements, f.labels.elements)
        }
    }

    func testFitEvaluatePredictOnBytesEqualFloats() throws {
        let (bytes, floats) = makePair(seed: 2)
        let (testBytes, testFloats) = makePair(seed: 3)
        let a = try model(), b = try model()
        let ha = try a.fit(bytes, batchSize: 8, epochs: 3, validationData: testBytes, verbose: .silent)
        let hb = try b.fit(x: floats.images, y: floats.labels, batchSize: 8, epochs: 3,
                           validationData: (testFloats.images, testFloats.labels), verbose: .silent)
        XCTAssertEqual(ha["loss"], hb["loss"])
        XCTAssertEqual(ha["val_accuracy"], hb["val_accuracy"])
        XCTAssertEqual(try a.evaluate(testBytes, batchSize: 7).loss, try b.evaluate(x: testFloats.images, y: testFloats.labels, batchSize: 7).loss)
        XCTAssertEqual(try a.predict(testBytes, batchSize: 9).elements, try b.predict(testFloats.images, batchSize: 9).elements)
        XCTAssertEqual(try a.predictClasses(testBytes), try b.predictClasses(testFloats.images))

        // validationSplit holds out the same last samples both ways.
        let c = try model(), d = try model()
        let hc = try c.fit(bytes, batchSize: 8, epochs: 2, validationSplit: 0.25, verbose: .silent)
        let hd = try d.fit(x: floats.images, y: floats.labels, batchSize: 8, epochs: 2, validationSplit: 0.25, verbose: .silent)
        XCTAssertEqual(hc["val_loss"], hd["val_loss"])
        XCTAssertEqual(hc.epochs.last?.samples, 30)
    }

    func testWrongShapeOrEmptySplitIsAnError() throws {
        let (bytes, _) = makePair(seed: 4)
        let wrong = try Sequential(inputShape: [5, 6, 1], layers: [Flatten(), Dense(units: 4, activation: .softmax)])
        wrong.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        XCTAssertThrowsError(try wrong.fit(bytes, verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("[N, 5, 6, 1]") && "\(error)".contains("[40, 6, 5, 1]"), "\(error)")
        }
        let m = try model()
        XCTAssertThrowsError(try m.fit(bytes.prefix(1), validationSplit: 0.5, verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains("validation split"), "\(error)")
        }
    }
}
