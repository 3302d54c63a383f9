import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The `cnn` executable run as a subprocess on a tiny MNIST-format directory: train, evaluate,
/// summary, flag validation and a missing data directory.
final class CLITests: CLITestCase {
    // MARK: Tests

    func testTrainThenEvaluate() throws {
        let data = try makeData()
        let weights = work + "/mlp.safetensors", historyPath = work + "/history.json"
        let train = try cnn(["train", "--model", "mlp", "--data", data, "--epochs", "1", "--history-json", historyPath, "--save", weights])
        XCTAssertEqual(train.status, 0, train.all)
        XCTAssertTrue(train.stdout.contains("test accuracy"), train.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: weights))
        let trained = try XCTUnwrap(parseTestAccuracy(in: train.stdout), train.stdout)

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: historyPath))) as? [String: Any])
        for key in ["model", "epochs", "test", "train_samples_per_second"] { XCTAssertNotNil(json[key], "history lacks \(key): \(json)") }
        XCTAssertEqual(json["model"] as? String, "mlp")
        let epochs = try XCTUnwrap(json["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.count, 1)
        XCTAssertEqual(Set(epochs[0].keys), ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "samples"])
        XCTAssertEqual(epochs[0]["epoch"] as? Int, 1)
        let test = try XCTUnwrap(json["test"] as? [String: Any])
        XCTAssertEqual(Set(test.keys), ["loss", "accuracy"])
        let accuracy = try XCTUnwrap(test["accuracy"] as? Double)
        XCTAssertEqual(String(format: "%.4f", accuracy), trained)
        XCTAssertGreaterThan(try XCTUnwrap(json["train_samples_per_second"] as? Double), 0)

        let evaluate = try cnn(["evaluate", "--model", "mlp", "--weights", weights, "--data", data])
        XCTAssertEqual(evaluate.status, 0, evaluate.all)
        XCTAssertEqual(parseTestAccuracy(in: evaluate.stdout), trained, "evaluate: \(evaluate.stdout)\ntrain: \(train.stdout)")

        // Weights of the wrong model are refused with a message naming the file.
        let wrong = try cnn(["evaluate", "--model", "convnet", "--weights", weights, "--data", data])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains(weights), wrong.all)
    }

    func testSummaryPrintsTable() throws {
        let run = try cnn(["summary", "--model", "convnet"])
        XCTAssertEqual(run.status, 0, run.all)
        for text in ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320", "54,090", "Total params: 54,410"] {
            XCTAssertTrue(run.stdout.contains(text), "summary lacks \(text):\n\(run.stdout)")
        }
    }

    /// --alpha reaches the zoo: MobileNet at alpha 0.5 has Keras's 1,342,536 parameters on 224×224×3
    /// with 1,000 classes (keras.applications.MobileNet(alpha=0.5, weights=None).count_params()).
    func testAlphaScalesMobileNetAndIsRefusedElsewhere() throws {
        let half = try cnn(["summary", "--model", "mobilenet", "--alpha", "0.5", "--input-shape", "224x224x3", "--classes", "1000"])
        XCTAssertEqual(half.status, 0, half.all)
        XCTAssertTrue(half.stdout.contains("Total params: 1,342,536"), half.stdout)
        let wrong = try cnn(["summary", "--model", "convnet", "--alpha", "0.5"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("--alpha"), wrong.all)
        let zero = try cnn(["summary", "--model", "mobilenet", "--alpha", "0"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.stderr.contains("--alpha"), zero.all)
    }

    /// time-predict times predict on random images and writes its figures; bad flags name themselves.
    func testTimePredictWritesItsFigures() throws {
        let json = work + "/predict.json"
        let run = try cnn(["time-predict", "--model", "convnet", "--batch-size", "3", "--seconds", "0.05", "--json", json])
        XCTAssertEqual(run.status, 0, run.all)
        XCTAssertTrue(run.stdout.contains("predict convnet, batch 3:"), run.stdout)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        XCTAssertEqual(object["batch_size"] as? Int, 3)
        XCTAssertEqual(object["input_shape"] as? [Int], [28, 28, 1])
        XCTAssertGreaterThanOrEqual(object["calls"] as? Int ?? 0, 5)
        XCTAssertGreaterThan(object["samples_per_second"] as? Double ?? 0, 0)
        for (flags, named) in [(["--batch-size", "0"], "--batch-size"), (["--seconds", "nan"], "--seconds"),
                               (["--input-shape", "0x28x1"], "--input-shape"), (["--threads", "0"], "--threads")] {
            let bad = try cnn(["time-predict", "--model", "convnet"] + flags)
            XCTAssertNotEqual(bad.status, 0, flags.joined(separator: " "))
            XCTAssertTrue(bad.stderr.contains(named), bad.all)
        }
    }

    func testBadFlagsExitNonZeroNamingTheFlag() throws {
        let cases: [([String], String)] = [
            (["--epochs", "-1"], "--epochs"),
            (["--epochs=-1"], "--epochs"),
            (["--epochs", "-5"], "--epochs"),
            (["--batch-size", "0"], "--batch-size"),
            (["--learning-rate", "abc"], "--learning-rate"),
            (["--learning-rate", "-0.1"], "--learning-rate"),
            (["--validation-split", "1.5"], "--validation-split"),
            (["--model", "nope"], "--model"),
            (["--optimizer", "lamb"], "--optimizer"),
        ]
        for (flags, name) in cases {
            let run = try cnn(["train"] + flags + ["--data", work])
            XCTAssertNotEqual(run.status, 0, "\(flags) exited 0")
            XCTAssertTrue(run.all.contains(name), "\(flags): message does not name \(name): \(run.all)")
            XCTAssertFalse(run.all.contains("Fatal error"), "\(flags) crashed: \(run.all)")
        }
    }

    func testMissingDataDirectoryIsAnError() throws {
        let missing = work + "/no-such-data"
        let run = try cnn(["train", "--model", "mlp", "--data", missing, "--epochs", "1"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(missing), run.all)
        XCTAssertFalse(run.all.contains("Fatal error"), run.all)
        // An existing directory without the files names the missing file.
        let empty = try cnn(["evaluate", "--model", "mlp", "--weights", work + "/w", "--data", work])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains(DataSets.trainImagesFile), empty.all)
    }
}
