import ArgumentParser
import Foundation
import NN
import NNData
import NNReport
import NNZoo

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model, then print its test loss and accuracy.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Passes over the training data (default: the model's recipe).")
    var epochs: Int?
    @Option(help: "Samples per step (default: the model's recipe).")
    var batchSize: Int?
    @Option(help: "sgd, rmsprop or adam (default: the model's recipe).")
    var optimizer: String?
    @Option(help: "Step size (default: the optimizer's Keras default).")
    var learningRate: Float?
    @Option(help: "Hold out this fraction (0, 1) of the training data for validation. Without it, all training data is used and val_* are measured on the test set, as the TensorFlow tutorials do.")
    var validationSplit: Double?
    @Option(help: "Multiply the learning rate by this factor after every epoch (default: the model's recipe; 1 = constant).")
    var lrDecay: Float?
    @Option(help: "Seed for weights, shuffling and dropout.")
    var seed: UInt64 = 0
    @Option(help: "Train on the first N training images only.")
    var limit: Int?
    @Option(help: "Stop once training accuracy reaches this value.")
    var stopAtAccuracy: Float?
    @Option(help: "Early stopping on val_loss with this patience (restores the best weights).")
    var patience: Int?
    @Option(help: "Save the trained weights (safetensors) here.")
    var save: String?
    @Option(help: "Write the history and test result as JSON here.")
    var historyJson: String?
    @Option(help: "After every epoch, save weights, optimizer state, random state and epoch here (atomically).")
    var checkpoint: String?
    @Option(help: "Continue the run saved in this checkpoint (same flags and seed give the same result as an uninterrupted run).")
    var resume: String?
    @Option(help: "Write an HTML report of the run (index.html plus PNG figures) to this directory.")
    var report: String?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
            throw ValidationError("--learning-rate must be a positive number, got \(learningRate)")
        }
        if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
            throw ValidationError("--validation-split must be in (0, 1), got \(validationSplit)")
        }
        if let optimizer, !["sgd", "rmsprop", "adam"].contains(optimizer.lowercased()) {
            throw ValidationError("--optimizer must be sgd, rmsprop or adam, got '\(optimizer)'")
        }
        if let lrDecay, !(lrDecay > 0 && lrDecay <= 1) { throw ValidationError("--lr-decay must be in (0, 1], got \(lrDecay)") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2, got \(limit)") }
        if let patience, patience < 0 { throw ValidationError("--patience must not be negative, got \(patience)") }
        if let stopAtAccuracy, !(stopAtAccuracy > 0 && stopAtAccuracy <= 1) {
            throw ValidationError("--stop-at-accuracy must be in (0, 1], got \(stopAtAccuracy)")
        }
    }

    func run() throws {
        try NNCommand.run {
            dataOptions.apply()
            let recipe = ModelZoo.recipe(modelOptions.model)
            var (train, test) = try dataOptions.load()
            if let limit, limit < train.count { train = train.prefix(limit) }
            let model = try ModelZoo.build(modelOptions.model, inputShape: train.sampleShape, classes: train.classCount, seed: seed)
            let opt = try ModelZoo.optimizer(optimizer ?? recipe.optimizer, learningRate: learningRate ?? (optimizer == nil ? recipe.learningRate : nil))
            model.compile(optimizer: opt, loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            printLine(model.summary())
            var callbacks: [Callback] = []
            if let stopAtAccuracy { callbacks.append(ThresholdStopping(monitor: "accuracy", threshold: stopAtAccuracy)) }
            // Early stopping selects weights by val_loss, so it must not look at the test set.
            let split = validationSplit ?? (patience != nil ? 0.1 : 0)
            if let patience { callbacks.append(EarlyStopping(monitor: "val_loss", patience: patience, restoreBestWeights: true)) }
            let decay = lrDecay ?? recipe.decay
            if decay != 1 { callbacks.append(LearningRateScheduler.exponential(initial: opt.learningRate, factor: decay)) }
            if let checkpoint { callbacks.append(CheckpointCallback(path: checkpoint, optimizer: opt)) }
            var initialEpoch = 0
            if let resume {
                initialEpoch = try Checkpoint.restore(model: model, optimizer: opt, from: resume)
                printLine("resumed from \(resume) after epoch \(initialEpoch)")
            }
            let batch = batchSize ?? recipe.batchSize
            let started = Date()
            let history: History
            do {
                history = try model.fit(train, batchSize: batch, epochs: max(epochs ?? recipe.epochs, initialEpoch),
                                        initialEpoch: initialEpoch, validationSplit: split,
                                        validationData: split > 0 ? nil : test,
                                        callbacks: callbacks)
            } catch let error as NonFiniteLossError {
                // The model still holds the last good batch's weights: keep them if asked to save.
                if let save {
                    try model.saveWeights(to: save, metadata: ["model": modelOptions.model])
                    printLine("saved the last good weights to \(save)")
                }
                throw error
            }
            let result = try model.evaluate(test, batchSize: 256)
            let sps = history.samplesPerSecond
            printLine(String(format: "test loss: %.4f - test accuracy: %.4f - %.0f training samples/s", result.loss, result.accuracy ?? 0, sps))
            if let save {
                try model.saveWeights(to: save, metadata: ["model": modelOptions.model])
                printLine("saved weights to \(save)")
            }
            if let historyJson {
                let object: [String: Any] = [
                    "model": modelOptions.model,
                    "epochs": history.jsonObject,
                    "test": ["loss": Double(result.loss), "accuracy": Double(result.accuracy ?? 0)],
                    "train_samples_per_second": sps,
                    "batch_size": batch,
                    "optimizer": opt.name,
                    "seed": seed,
                    "threads": Parallel.threads,
                    "blas_kernel": BLAS.coreName,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                try AtomicFile.write(data, to: historyJson)
            }
            if let report {
                try ReportWriter.afterTraining(to: report, model: model, modelName: modelOptions.model, dataDirectory: dataOptions.data,
                                               history: history, train: train, test: test, optimizer: opt, batchSize: batch,
                                               plannedEpochs: epochs ?? recipe.epochs, seed: seed, validationSplit: split,
                                               wallSeconds: Date().timeIntervalSince(started), testLoss: result.loss)
            }
        }
    }
}
