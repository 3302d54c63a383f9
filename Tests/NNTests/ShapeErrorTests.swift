import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Wrong shapes are thrown errors, not crashes, and the message names the layer (or loss) and both
/// shapes, so the user can find what to change.
final class ShapeErrorTests: XCTestCase {

    /// Asserts `body` throws and the error's description contains every string in `fragments`.
    func assertThrows<R>(_ what: String, contains fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> R) {
        do {
            _ = try body()
            XCTFail("\(what): no error thrown", file: file, line: line)
        } catch {
            let message = "\(error)"
            for f in fragments {
                XCTAssertTrue(message.contains(f), "\(what): error \"\(message)\" does not mention \"\(f)\"", file: file, line: line)
            }
        }
    }

    func testDenseFedWrongFeatureCount() throws {
        let layer = Dense(units: 10, name: "classifier")
        try layer.build(inputShape: [784], seed: 1)
        assertThrows("Dense 784 fed 100", contains: ["classifier", "Dense", "784", "100"]) {
            try layer.forward(Tensor(shape: [2, 100]))
        }
        // The exact wording, so the message stays readable.
        do {
            _ = try layer.forward(Tensor(shape: [2, 100]))
        } catch let error as NNError {
            XCTAssertEqual(error, .shapeMismatch(layer: "classifier", typeName: "Dense", what: "input", expected: [-1, 784], got: [2, 100]))
            XCTAssertEqual(error.description, "layer 'classifier' (Dense) expected input of shape [N, 784] but got [2, 100]")
        }
        // An unnamed layer is called by its Keras stem.
        let unnamed = Dense(units: 3)
        try unnamed.build(inputShape: [4], seed: 1)
        assertThrows("unnamed Dense", contains: ["dense", "4", "5"]) { try unnamed.forward(Tensor(shape: [1, 5])) }
        // Rank errors and an empty batch are caught the same way.
        assertThrows("Dense fed rank 3", contains: ["classifier", "784", "2, 28, 28"]) { try layer.forward(Tensor(shape: [2, 28, 28])) }
        assertThrows("Dense fed an empty batch", contains: ["classifier", "0, 784"]) { try layer.forward(Tensor(shape: [0, 784])) }
    }

    /// Dense applies to the last axis of images (Keras's rule); a classifier that forgot Flatten is
    /// caught where it goes wrong, at the labels, with the hint.
    func testDenseOnImagesActsOnTheLastAxisAndAClassifierWithoutFlattenSaysSo() throws {
        let layer = Dense(units: 10, name: "head")
        try layer.build(inputShape: [28, 28, 1], seed: 1)
        XCTAssertEqual(layer.outputShape, [28, 28, 10])
        XCTAssertEqual(layer.kernel.value.shape, [1, 10])
        let model = try Sequential(inputShape: [28, 28, 1], layers: [Dense(units: 10, activation: .softmax, name: "head")])
        model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
        assertThrows("classifier without Flatten", contains: ["[28, 28, 10]", "Flatten", "sparse_categorical_crossentropy"]) {
            try model.fit(x: Tensor(shape: [4, 28, 28, 1]), y: Tensor(shape: [4]), verbose: .silent)
        }
    }

    func testConv2DFedWrongChannels() throws {
        let layer = Conv2D(filters: 4, kernelSize: 3, name: "conv_a")
        try layer.build(inputShape: [8, 8, 3], seed: 1)
        assertThrows("Conv2D for 3 channels fed 1", contains: ["conv_a", "Conv2D", "[N, 8, 8, 3]", "[1, 8, 8, 1]"]) {
            try layer.forward(Tensor(shape: [1, 8, 8, 1]))
        }
        assertThrows("Conv2D fed a different image size", contains: ["conv_a", "[N, 8, 8, 3]", "[1, 9, 8, 3]"]) {
            try layer.forward(Tensor(shape: [1, 9, 8, 3]))
        }
        assertThrows("Conv2D built on flat input", contains: ["conv2d_flat", "[784]"]) {
            try Conv2D(filters: 4, kernelSize: 3, name: "conv2d_flat").build(inputShape: [784], seed: 1)
        }
        assertThrows("Conv2D kernel larger than the image", contains: ["small", "[2, 2, 1]"]) {
            try Conv2D(filters: 1, kernelSize: 3, name: "small").build(inputShape: [2, 2, 1], seed: 1)
        }
        assertThrows("MaxPooling2D built on flat input", contains: ["pool", "MaxPooling2D", "[10]"]) {
            try MaxPooling2D(poolSize: 2, name: "pool").build(inputShape: [10], seed: 1)
        }
        // The one geometry check (ConvGeometry.validated) names the layer for every sliding window.
        assertThrows("MaxPooling2D window larger than the image", contains: ["big_pool", "MaxPooling2D", "pool", "does not fit", "[2, 2, 1]"]) {
            try MaxPooling2D(poolSize: 3, name: "big_pool").build(inputShape: [2, 2, 1], seed: 1)
        }
        assertThrows("Conv2D with no filters", contains: ["no_filters", "Conv2D", "filters 0", "must be positive"]) {
            try Conv2D(filters: 0, kernelSize: 3, name: "no_filters").build(inputShape: [8, 8, 1], seed: 1)
        }
        assertThrows("DepthwiseConv2D stride 0", contains: ["dw", "DepthwiseConv2D", "strides (0, 0)"]) {
            try DepthwiseConv2D(kernelSize: 3, strides: 0, name: "dw").build(inputShape: [8, 8, 1], seed: 1)
        }
        assertThrows("Dropout rate 1", contains: ["drop", "rate"]) {
            try Dropout(rate: 1, name: "drop").build(inputShape: [10], seed: 1)
        }
    }

    func testBackwardWithWronglyShapedGradient() throws {
        let dense = Dense(units: 10, name: "fc")
        try dense.build(inputShape: [784], seed: 1)
        assertThrows("backward before forward", contains: ["fc", "forward"]) { try dense.backward(Tensor(shape: [2, 10])) }
        _ = try dense.forward(Tensor(shape: [2, 784]))
        assertThrows("Dense gradient [2, 9]", contains: ["fc", "[2, 10]", "[2, 9]", "gradient"]) {
            try dense.backward(Tensor(shape: [2, 9]))
        }
        assertThrows("Dense gradient for another batch", contains: ["fc", "[2, 10]", "[3, 10]"]) {
            try dense.backward(Tensor(shape: [3, 10]))
        }

        let conv = Conv2D(filters: 4, kernelSize: 3, padding: .same, name: "conv_b")
        try conv.build(inputShape: [5, 5, 2], seed: 1)
        _ = try conv.forward(Tensor(shape: [1, 5, 5, 2]))
        assertThrows("Conv2D gradient", contains: ["conv_b", "[1, 5, 5, 4]", "[1, 3, 3, 4]"]) {
            try conv.backward(Tensor(shape: [1, 3, 3, 4]))
        }

        let pool = MaxPooling2D(poolSize: 2, name: "pool_b")
        try pool.build(inputShape: [4, 4, 1], seed: 1)
        _ = try pool.forward(Tensor(shape: [1, 4, 4, 1]))
        assertThrows("MaxPooling2D gradient", contains: ["pool_b", "[1, 2, 2, 1]", "[1, 4, 4, 1]"]) {
            try pool.backward(Tensor(shape: [1, 4, 4, 1]))
        }

        let bn = BatchNormalization(name: "bn")
        try bn.build(inputShape: [3], seed: 1)
        _ = try bn.forward(Tensor(shape: [4, 3]), training: true)
        assertThrows("BatchNormalization gradient", contains: ["bn", "[4, 3]", "[4, 2]"]) {
            try bn.backward(Tensor(shape: [4, 2]))
        }
    }

    func testLossWithMismatchedShapes() {
        let p = Tensor(shape: [2, 10]), t = Tensor(shape: [2, 5])
        assertThrows("categorical cross-entropy", contains: ["categorical_crossentropy", "[2, 10]", "[2, 5]"]) {
            try CategoricalCrossentropy().compute(prediction: p, target: t, logits: true, gradient: nil)
        }
        assertThrows("mean squared error", contains: ["mean_squared_error", "[2, 10]", "[2, 5]"]) {
            try MeanSquaredError()(p, t)
        }
        assertThrows("gradient buffer", contains: ["categorical_crossentropy", "[2, 10]", "[2, 9]"]) {
            try CategoricalCrossentropy().compute(prediction: p, target: Tensor(shape: [2, 10]), logits: true,
                                                  gradient: Tensor(shape: [2, 9]))
        }
        assertThrows("sparse label count", contains: ["sparse_categorical_crossentropy", "2", "3"]) {
            try SparseCategoricalCrossentropy().compute(prediction: p, target: Tensor(shape: [3]), logits: true, gradient: nil)
        }
    }

    func testSparseLabelsOutOfRange() {
        let logits = Tensor(shape: [3, 10])
        for (bad, text) in [(Float(10), "10"), (-1, "-1"), (2.5, "2.5"), (.nan, "nan")] {
            let labels = Tensor(shape: [3], elements: [0, bad, 9])
            assertThrows("label \(bad)", contains: ["sparse_categorical_crossentropy", text, "0..<10"]) {
                try SparseCategoricalCrossentropy(fromLogits: true).compute(prediction: logits, target: labels, logits: false,
                                                                             gradient: Tensor(shape: [3, 10]))
            }
        }
        // Labels at both ends of the range are fine.
        XCTAssertNoThrow(try SparseCategoricalCrossentropy()(Tensor(shape: [2, 10], repeating: 0.1),
                                                           Tensor(shape: [2], elements: [0, 9])))
    }
}
