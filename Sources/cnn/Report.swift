import ArgumentParser
import Foundation
import NN
import NNData
import NNReport
import NNZoo

/// `cnn report`: the HTML report of `cnn train --report` for saved weights.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report (index.html plus PNG figures) for saved weights.",
        discussion: "The page is one self-contained file: training images, accuracy and loss curves (with --history-json), the test set's confusion matrix, misclassified test images, filters and feature maps, and the model summary with the run's facts."
    )
    @OptionGroup var saved: SavedModelOptions
    @Option(help: "History written by `cnn train --history-json`, for the curves and the run's facts.")
    var historyJson: String?
    @Option(help: "Directory for index.html and the PNG figures (created if missing).")
    var out: String

    func run() throws {
        try NNCommand.run {
            try OutputPaths.check([.init("--out", out, .directory)])
            do { try TrainingReport.checkDestination(out) } catch { throw NNError.invalidArgument("--out: \(error)") }
            let modelName = saved.modelOptions.name
            let run = try historyJson.map(SavedRun.init(path:))
            if let trained = run?.model, trained != modelName {
                FileHandle.standardError.write("warning: \(historyJson!) was written for model '\(trained)', the report is for '\(modelName)'\n".data(using: .utf8)!)
            }
            let (model, train, test) = try saved.load()
            let result = try model.evaluate(test, batchSize: 256)
            var facts = TrainingReport.Facts(modelName: modelName, dataset: ReportWriter.dataSetName(saved.dataOptions.data),
                                             optimizer: run?.optimizer, batchSize: run?.batchSize,
                                             seed: run?.seed, testLoss: result.loss)
            facts.extra = (saved.weights.map { [("Weights", $0)] } ?? []) + (historyJson.map { [("History", $0)] } ?? [])
            if let sps = run?.samplesPerSecond { facts.extra.append(("Training samples per second", String(format: "%.0f", sps))) }
            try ReportWriter.write(to: out, model: model, history: run?.history, train: train, test: test, facts: facts)
        }
    }
}

/// What `cnn train --history-json` saved about a run.
struct SavedRun {
    var history: History
    var model: String?
    var optimizer: String?
    var batchSize: Int?
    var seed: UInt64?
    var samplesPerSecond: Double?

    init(path: String) throws {
        // A regular file opened without blocking (a FIFO or a directory fails at once), then JSON.
        let object: [String: Any]?
        do { object = try History.readJSON(file: path) as? [String: Any] } catch {
            throw NNError.invalidArgument("--history-json: \(error)")
        }
        guard let object, let epochs = object["epochs"] as? [[String: Any]] else {
            throw NNError.invalidArgument("--history-json \(path) is not a history written by `cnn train --history-json` (no \"epochs\" list)")
        }
        history = try History(jsonObject: epochs)
        model = object["model"] as? String
        optimizer = object["optimizer"] as? String
        // Facts for the page only: a value out of range is left out rather than converted.
        batchSize = (object["batch_size"] as? NSNumber).flatMap { Int($0.stringValue) }
        seed = (object["seed"] as? NSNumber).flatMap { UInt64($0.stringValue) }
        samplesPerSecond = (object["train_samples_per_second"] as? NSNumber)?.doubleValue
    }
}

/// Writes the report for `cnn train --report` and `cnn report`, and says where it is.
enum ReportWriter {
    static func write(to directory: String, model: Model, history: History?, train: Dataset, test: Dataset,
                      facts: TrainingReport.Facts) throws {
        let report = TrainingReport(model: model, history: history, train: train, test: test, facts: facts)
        let contents = try report.write(to: directory)
        let bytes = contents.html.utf8.count + contents.figures.reduce(0) { $0 + $1.png.count }
        printLine(String(format: "wrote report %@/index.html (%.0f KB) and %d PNG figures (%.1f MB in all)",
                         directory, Double(contents.html.utf8.count) / 1024, contents.figures.count, Double(bytes) / 1_048_576))
    }

    /// "Fashion-MNIST (/usr/share/datasets/fashion-mnist)" for the packaged set, else the directory.
    static func dataSetName(_ directory: String) -> String {
        let path = URL(fileURLWithPath: directory).standardizedFileURL.path
        return path == URL(fileURLWithPath: DataSets.fashionMNISTDirectory).standardizedFileURL.path ? "Fashion-MNIST (\(path))" : path
    }

    /// The report after `cnn train`: the run's settings, timing and test result.
    static func afterTraining(to directory: String, model: Model, modelName: String, dataDirectory: String,
                              history: History, train: Dataset, test: Dataset, optimizer: Optimizer, batchSize: Int,
                              plannedEpochs: Int, seed: UInt64, validationSplit: Double, wallSeconds: Double, testLoss: Float) throws {
        let validation = validationSplit > 0
            ? String(format: "the last %g%% of the training images", validationSplit * 100)
            : "the test set (as the TensorFlow tutorials do)"
        let facts = TrainingReport.Facts(modelName: modelName, dataset: dataSetName(dataDirectory), validation: validation,
                                         optimizer: optimizer.name, learningRate: optimizer.learningRate, batchSize: batchSize,
                                         plannedEpochs: plannedEpochs, seed: seed, wallSeconds: wallSeconds, testLoss: testLoss,
                                         extra: [("threads", String(Parallel.threads))])
        try write(to: directory, model: model, history: history, train: train, test: test, facts: facts)
    }
}
