import Foundation
import XCTest
import NN
@testable import NNKeras

/// `cnn` with Keras model files: `--model-file` on summary, train, evaluate and predict, `--save
/// x.keras`, `--reinitialize`, `predict --probabilities-json`, and the errors of mixing models, of
/// weights that do not fit and of a file whose input shape is not the data's.
final class KerasCLITests: CLITestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/keras")

    /// "test loss: 2.1234 - test accuracy: 0.8438" from a train or evaluate output (the last one).
    func testLine(_ output: String) -> String? {
        let regex = try! NSRegularExpression(pattern: #"test loss: [0-9.naif]+ - test accuracy: [0-9.]+"#)
        let matches = regex.matches(in: output, range: NSRange(output.startIndex..., in: output))
        guard let last = matches.last, let range = Range(last.range, in: output) else { return nil }
        return String(output[range])
    }

    /// Trains the zoo's convnet one epoch on the harness data and saves it as a .keras file.
    func trainConvnet(to path: String, data: String) throws -> Run {
        let run = try cnn(["train", "--model", "convnet", "--epochs", "1", "--limit", "200", "--save", path, "--data", data])
        XCTAssertEqual(run.status, 0, run.all)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), run.all)
        XCTAssertTrue(run.stdout.contains("saved the model to \(path)"), run.stdout)
        return run
    }

    func testSummaryOfKerasFile() throws {
        let path = Self.fixtures.appendingPathComponent("seq_all.keras").path
        let run = try cnn(["summary", "--model-file", path])
        XCTAssertEqual(run.status, 0, run.all)
        let names = ["conv2d", "batch_normalization", "max_pooling2d", "depthwise_conv2d", "re_lu", "zero_padding2d",
                     "activation", "dropout", "global_average_pooling2d", "dense"]
        for name in names { XCTAssertTrue(run.stdout.contains("\(name) ("), "summary lacks \(name):\n\(run.stdout)") }
        for text in ["seq_all", "(None, 2, 2, 8)", "Total params: 235", "Trainable params: 227"] {
            XCTAssertTrue(run.stdout.contains(text), "summary lacks \(text):\n\(run.stdout)")
        }
        // The .h5 twin gives the same table.
        let h5 = try cnn(["summary", "--model-file", Self.fixtures.appendingPathComponent("seq_all.h5").path])
        XCTAssertEqual(h5.status, 0, h5.all)
        XCTAssertEqual(h5.stdout, run.stdout)
    }

    /// Train and save as .keras; evaluate of the file prints the train run's final test line; the
    /// file's weights also load into the zoo model by name (`--model convnet --weights x.keras`).
    func testTrainSaveKerasThenEvaluate() throws {
        let data = try makeData()
        let path = work + "/x.keras"
        let train = try trainConvnet(to: path, data: data)
        let trained = try XCTUnwrap(testLine(train.stdout), train.stdout)

        let evaluate = try cnn(["evaluate", "--model-file", path, "--data", data])
        XCTAssertEqual(evaluate.status, 0, evaluate.all)
        XCTAssertEqual(testLine(evaluate.stdout), trained, "evaluate:\n\(evaluate.all)\ntrain:\n\(train.stdout)")

        let byName = try cnn(["evaluate", "--model", "convnet", "--weights", path, "--data", data])
        XCTAssertEqual(byName.status, 0, byName.all)
        XCTAssertEqual(testLine(byName.stdout), trained, byName.all)

        // The file is a Keras model: the library reads it with the trained optimizer's state.
        let file = try KerasModelFile.read(path)
        XCTAssertEqual(file.format, .keras)
        XCTAssertTrue(file.restoredOptimizerState)
        XCTAssertGreaterThan(file.model.optimizer?.iterations ?? 0, 0)
    }

    /// Training from the file continues (its weights and optimizer state); --reinitialize starts
    /// from fresh weights and so ends elsewhere.
    func testTrainFromModelFileContinuesAndReinitializeStartsFresh() throws {
        let data = try makeData()
        let x = work + "/x.keras", continued = work + "/continued.keras", fresh = work + "/fresh.keras"
        let first = try trainConvnet(to: x, data: data)
        let firstLine = try XCTUnwrap(testLine(first.stdout), first.stdout)
        let steps = try XCTUnwrap(KerasModelFile.read(x).model.optimizer?.iterations)

        let more = try cnn(["train", "--model-file", x, "--epochs", "1", "--save", continued, "--data", data])
        XCTAssertEqual(more.status, 0, more.all)
        let moreLine = try XCTUnwrap(testLine(more.stdout), more.all)
        let again = try cnn(["train", "--model-file", x, "--epochs", "1", "--reinitialize", "--save", fresh, "--data", data])
        XCTAssertEqual(again.status, 0, again.all)
        let againLine = try XCTUnwrap(testLine(again.stdout), again.all)

        XCTAssertNotEqual(moreLine, againLine, "continuing and reinitializing gave the same result")
        XCTAssertNotEqual(moreLine, firstLine, "continuing did not train")
        // Fresh weights from the same seed, architecture and optimizer repeat the first run.
        XCTAssertEqual(againLine, firstLine)
        // The continued run's optimizer went on counting from the file's; the fresh one restarted.
        XCTAssertEqual(try KerasModelFile.read(continued).model.optimizer?.iterations, 2 * steps)
        XCTAssertEqual(try KerasModelFile.read(fresh).model.optimizer?.iterations, steps)
        // The continued file's weights differ from the first file's.
        let a = try loadModel(from: x), b = try loadModel(from: continued)
        XCTAssertNotEqual(a.namedParameters.map { $0.parameter.value.elements }, b.namedParameters.map { $0.parameter.value.elements })
    }

    func testPredictProbabilitiesJSON() throws {
        let data = try makeData()
        let x = work + "/x.keras", json = work + "/p.json"
        _ = try trainConvnet(to: x, data: data)
        let run = try cnn(["predict", "--model-file", x, "--index", "0", "1", "--probabilities-json", json, "--data", data])
        XCTAssertEqual(run.status, 0, run.all)
        XCTAssertTrue(run.stdout.contains("image 0: predicted"), run.stdout)
        XCTAssertTrue(run.stdout.contains("image 1: predicted"), run.stdout)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[Double]])
        XCTAssertEqual(rows.count, 2)
        for row in rows {
            XCTAssertEqual(row.count, 10)
            XCTAssertTrue(row.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(row)")
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-4, "\(row)")
        }
        // The rows are the library's predictions for the same images.
        let model = try loadModel(from: x)
        XCTAssertEqual(model.outputShape, [10])
    }

    /// Weights of another architecture: an error naming the layer and both shapes, exit non-zero.
    func testWeightsOfAnotherModelRefused() throws {
        let data = try makeData()
        let x = work + "/x.keras"
        _ = try trainConvnet(to: x, data: data)
        let run = try cnn(["evaluate", "--model", "mlp", "--weights", x, "--data", data])
        XCTAssertNotEqual(run.status, 0, run.all)
        XCTAssertFalse(run.stdout.contains("test loss"), run.all)
        for text in [x, "dense", "in the file", "in the model"] {
            XCTAssertTrue(run.stderr.contains(text), "message lacks \(text): \(run.all)")
        }
    }

    func testModelAndModelFileTogetherRefused() throws {
        let data = try makeData()
        let path = Self.fixtures.appendingPathComponent("seq_all.keras").path
        for command in [["evaluate"], ["train", "--epochs", "1"], ["predict"]] {
            let run = try cnn(command + ["--model", "convnet", "--model-file", path, "--data", data])
            XCTAssertNotEqual(run.status, 0, run.all)
            XCTAssertTrue(run.stderr.contains("--model") && run.stderr.contains("--model-file"), run.all)
        }
        let reinit = try cnn(["train", "--model", "convnet", "--reinitialize", "--epochs", "1", "--data", data])
        XCTAssertNotEqual(reinit.status, 0, reinit.all)
        XCTAssertTrue(reinit.stderr.contains("--reinitialize"), reinit.all)
    }

    /// seq_all takes 6×6×3 images; the harness's are 28×28×1.
    func testInputShapeMismatchNamesBothShapes() throws {
        let data = try makeData()
        let path = Self.fixtures.appendingPathComponent("seq_all.keras").path
        for command in [["evaluate"], ["predict"], ["train", "--epochs", "1"]] {
            let run = try cnn(command + ["--model-file", path, "--data", data])
            XCTAssertNotEqual(run.status, 0, run.all)
            for text in ["6×6×3", "28×28×1", path] {
                XCTAssertTrue(run.stderr.contains(text), "\(command[0]): message lacks \(text): \(run.all)")
            }
        }
    }

    /// Broken model files: a clear error and exit status 1, never a crash.
    func testBrokenModelFiles() throws {
        let data = try makeData()
        let original = try Data(contentsOf: Self.fixtures.appendingPathComponent("seq_all.keras"))
        let cases: [(String, Data)] = [("half.keras", original.prefix(original.count / 2)), ("empty.keras", Data()),
                                       ("text.keras", Data("not a model\n".utf8))]
        for (name, bytes) in cases {
            let path = work + "/" + name
            try bytes.write(to: URL(fileURLWithPath: path))
            for command in [["summary"], ["evaluate", "--data", data]] {
                let run = try cnn(command + ["--model-file", path])
                XCTAssertEqual(run.status, 1, "\(name) \(command[0]): \(run.all)")
                XCTAssertTrue(run.stderr.contains(path), "\(name) \(command[0]): \(run.all)")
            }
        }
    }
}
