import ArgumentParser
import Foundation
import NN
import NNData
import NNDistributed
import NNKeras
import NNReport
import NNZoo

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model, then print its test loss and accuracy.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Passes over the training data (default: the model's recipe; 0 trains nothing: evaluate and --save, e.g. to convert a --model-file).")
    var epochs: Int?
    @Option(help: "Samples per step (default: the model's recipe).")
    var batchSize: Int?
    @Option(help: "sgd, rmsprop, adam, adamw or adagrad (default: the model's recipe).")
    var optimizer: String?
    @Option(help: "Step size (default: the optimizer's Keras default).")
    var learningRate: FloatArgument?
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
    @Option(help: "Save the trained model here: the whole model as Keras does when PATH ends in .keras (or .h5, legacy), otherwise the weights alone (safetensors).")
    var save: String?
    @Option(help: "Write the history and test result as JSON here.")
    var historyJson: String?
    @Option(help: "After every epoch, save weights, optimizer state, random state, epoch and the run's flags here (atomically). Locked for the run (PATH.lock); an existing checkpoint is only replaced with --resume PATH or --overwrite.")
    var checkpoint: String?
    @Option(help: "Continue the run saved in this checkpoint (same flags and seed give the same result as an uninterrupted run). Refused if --model, --optimizer, --learning-rate, --lr-decay, --batch-size, --seed, --limit or --validation-split differ from the checkpoint's; --epochs may change but not below the epochs done.")
    var resume: String?
    @Option(help: "Write an HTML report of the run (index.html plus PNG figures) to this directory.")
    var report: String?
    @Flag(help: "Let a fresh run (no --resume) replace an existing --checkpoint file.")
    var overwrite = false
    @Flag(help: "With --resume: continue with the given --learning-rate instead of the checkpoint's (the decay schedule restarts from it).")
    var overrideLearningRate = false
    @Flag(help: "With --model-file: start from freshly initialized weights (from --seed) instead of the file's.")
    var reinitialize = false
    @Flag(help: "Under mpirun: after every epoch, check that every rank holds identical weights (a checksum compared across ranks); a difference is an error.")
    var checkReplicas = false
    @Flag(help: "Under mpirun: BatchNormalization uses the statistics of the whole global batch (summed over the ranks) instead of each rank's share.")
    var syncBatchnorm = false
    @Flag(help: "Under mpirun: print the gradient allreduce's time per step and its share of the step.")
    var profileAllreduce = false
    @Option(help: "Augmentation layers in front of the model, as Keras's: flip[=horizontal|vertical|both],rotation=F,zoom=F,translation=F,contrast=F,brightness=F (a factor F or a range low:high); they act in training only.")
    var augment: String?

    func validate() throws {
        if let epochs, epochs < 0 { throw ValidationError("--epochs must not be negative, got \(epochs)") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let learningRate { try learningRate.validatePositive(flag: "--learning-rate") }
        if overrideLearningRate && (resume == nil || learningRate == nil) {
            throw ValidationError("--override-learning-rate needs --resume and --learning-rate")
        }
        if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
            throw ValidationError("--validation-split must be in (0, 1), got \(validationSplit)")
        }
        if let optimizer, !["sgd", "rmsprop", "adam", "adamw", "adagrad"].contains(optimizer.lowercased()) {
            throw ValidationError("--optimizer must be sgd, rmsprop, adam, adamw or adagrad, got '\(optimizer)'")
        }
        if let lrDecay, !(lrDecay > 0 && lrDecay <= 1) { throw ValidationError("--lr-decay must be in (0, 1], got \(lrDecay)") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2, got \(limit)") }
        if let patience, patience < 0 { throw ValidationError("--patience must not be negative, got \(patience)") }
        if let stopAtAccuracy, !(stopAtAccuracy > 0 && stopAtAccuracy <= 1) {
            throw ValidationError("--stop-at-accuracy must be in (0, 1], got \(stopAtAccuracy)")
        }
        if reinitialize && modelOptions.modelFile == nil { throw ValidationError("--reinitialize needs --model-file") }
        if let augment { _ = try Augment.layers(augment, valueRange: 0...1) }
    }

    /// The effective settings a checkpoint records and a resume must match, by key, with the flag
    /// that sets each (for messages). Epochs are not compared: a resumed run may plan more (or
    /// fewer) epochs, as long as not fewer than the checkpoint has done. Stopping flags
    /// (--patience, --stop-at-accuracy) and --threads may change freely.
    static let comparedSettings: [(key: String, flag: String)] = [
        ("model", "--model"), ("optimizer", "--optimizer"), ("learning_rate", "--learning-rate"), ("lr_decay", "--lr-decay"),
        ("batch_size", "--batch-size"), ("seed", "--seed"), ("limit", "--limit"), ("validation_split", "--validation-split"),
        ("augment", "--augment"), ("alpha", "--alpha"),
    ]

    /// What a checkpoint from before a flag existed trained with.
    static let settingsBeforeTheirFlags = ["augment": "none", "alpha": "1.0"]

    /// This run's effective settings (flags after the recipe's defaults), as saved in checkpoints.
    func runSettings(recipe: ModelZoo.Recipe, optimizer opt: Optimizer, plannedEpochs: Int) -> [String: String] {
        [
            "model": modelOptions.name,
            "optimizer": opt.name,
            "learning_rate": String(describing: opt.learningRate),
            "lr_decay": String(describing: lrDecay ?? recipe.decay),
            "batch_size": String(batchSize ?? recipe.batchSize),
            "seed": String(seed),
            "limit": limit.map(String.init) ?? "none",
            "validation_split": String(describing: validationSplit ?? (patience != nil ? 0.1 : 0)),
            "augment": augment ?? "none",
            "alpha": String(describing: modelOptions.alpha ?? 1),
            "epochs": String(plannedEpochs),
        ]
    }

    /// Refuses a resume whose flags differ from the checkpoint's, listing every difference.
    func checkResume(_ resume: String, settings: [String: String], plannedEpochs: Int) throws {
        let (saved, epochsDone) = try Checkpoint.runSettings(at: resume)
        if let epochsDone, plannedEpochs < epochsDone {
            throw NNError.invalidArgument("--resume \(resume) has \(epochsDone) epochs done, more than --epochs \(plannedEpochs)")
        }
        guard let saved else {
            FileHandle.standardError.write("warning: --resume \(resume) predates recorded flags; they cannot be compared\n".data(using: .utf8)!)
            return
        }
        var differences: [String] = []
        for (key, flag) in Self.comparedSettings {
            if key == "learning_rate" && overrideLearningRate { continue }
            let given = settings[key] ?? "?", stored = saved[key] ?? Self.settingsBeforeTheirFlags[key] ?? "(not recorded)"
            if given != stored { differences.append("\(flag): checkpoint \(stored), given \(given)") }
        }
        if !differences.isEmpty {
            let hint = differences.contains { $0.hasPrefix("--learning-rate") } ? " (add --override-learning-rate to change the learning rate)" : ""
            throw NNError.invalidArgument("--resume \(resume) was saved with other flags: \(differences.joined(separator: "; "))\(hint)")
        }
    }

    /// Every output path, checked before any data is read: see `OutputPaths`. Takes the
    /// checkpoint's lock and refuses to replace an existing checkpoint without --overwrite.
    func preflight() throws -> CheckpointLock? {
        try OutputPaths.check([.init("--checkpoint", checkpoint), .init("--save", save), .init("--history-json", historyJson),
                               .init("--report", report, .directory)])
        // Nothing is written into an image folder: a report's PNGs there would become training images.
        if dataOptions.isImageFolder {
            for folder in [dataOptions.data] + (dataOptions.testData.map { [$0] } ?? []) {
                for (flag, path) in [("--checkpoint", checkpoint), ("--save", save), ("--history-json", historyJson), ("--report", report)] {
                    if let path, AtomicFile.isInside(path, directory: folder) || OutputPaths.sameTarget(path, folder) {
                        throw NNError.invalidArgument("\(flag) \(path) is inside the image folder \(folder); write outputs elsewhere (they would be read as images)")
                    }
                }
            }
        }
        // No output may replace an input data file, and the report directory (replaced whole) may not hold one.
        let names: [String] = [DataSets.trainImagesFile, DataSets.trainLabelsFile, DataSets.testImagesFile, DataSets.testLabelsFile]
        var dataFiles: [String] = []
        for name in names {
            let base: String = dataOptions.data + "/" + name
            for candidate in [base, base + ".gz"] where OutputPaths.exists(candidate) { dataFiles.append(candidate) }
        }
        for input in dataFiles {
            for (flag, path) in [("--checkpoint", checkpoint), ("--save", save), ("--history-json", historyJson)] {
                if let path, OutputPaths.sameTarget(path, input) {
                    throw NNError.invalidArgument("\(flag) \(path) is the input data file \(input); choose another output path")
                }
            }
            if let report, AtomicFile.isInside(input, directory: report) {
                throw NNError.invalidArgument("--report \(report) holds the input data file \(input); the report replaces its directory whole")
            }
        }
        // The report replaces its directory whole: refuse one it would not replace, and outputs inside it.
        if let report {
            do { try TrainingReport.checkDestination(report) } catch { throw NNError.invalidArgument("--report: \(error)") }
            for (flag, path) in [("--checkpoint", checkpoint), ("--save", save), ("--history-json", historyJson)] {
                if let path, AtomicFile.isInside(path, directory: report) {
                    throw NNError.invalidArgument("\(flag) \(path) is inside --report \(report), which the report replaces whole")
                }
            }
        }
        // --save and --history-json do not replace a training checkpoint unless asked to.
        for (flag, path) in [("--save", save), ("--history-json", historyJson)] {
            if let path, !overwrite, OutputPaths.isCheckpoint(path) {
                throw NNError.invalidArgument("\(flag) \(path) is a training checkpoint; replace it with --overwrite or choose another path")
            }
        }
        if let resume {
            for (flag, path) in [("--save", save), ("--history-json", historyJson), ("--report", report)] {
                if let path, OutputPaths.sameTarget(path, resume) {
                    throw NNError.invalidArgument("\(flag) \(path) and --resume \(resume) name the same file; the checkpoint would be overwritten")
                }
            }
        }
        guard let checkpoint else { return nil }
        let lock = try CheckpointLock(checkpoint: checkpoint)
        let resumesIt = resume.map { OutputPaths.sameTarget($0, checkpoint) } ?? false
        if OutputPaths.exists(checkpoint) && !resumesIt && !overwrite {
            throw NNError.invalidArgument("--checkpoint \(checkpoint) already exists; continue it with --resume \(checkpoint) or replace it with --overwrite")
        }
        return lock
    }

    /// Whether `--save PATH` writes the whole model (Keras's formats) rather than weights alone.
    static func savesWholeModel(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".keras") || lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5")
    }

    /// `--save`: the whole model in Keras's format for `.keras`/`.h5`, else safetensors weights.
    func saveModel(_ model: Model, to path: String, classNames: [String]) throws {
        if Self.savesWholeModel(path) {
            try model.save(to: path, classNames: classNames)
        } else {
            var metadata = ["model": modelOptions.name]
            // An image folder's classes are its own; IDX data's come back with --data.
            if dataOptions.isImageFolder {
                metadata["class_names"] = String(decoding: try JSONSerialization.data(withJSONObject: classNames), as: UTF8.self)
            }
            try model.saveWeights(to: path, metadata: metadata)
        }
    }

    func run() throws {
        try NNCommand.run {
            // Under mpirun: one rank of a data-parallel run (README "Data-parallel training on MPI").
            // Without it, MPI is never initialized and this is the one-process run.
            let mpi = MPIReplicas.launchedByMPIRun ? try MPIReplicas() : nil
            let replicas = mpi.flatMap { $0.size > 1 ? $0 : nil }
            if let replicas, replicas.rank > 0 {
                // Rank 0 alone reports: the others' standard output goes nowhere (errors still show).
                _ = freopen("/dev/null", "w", stdout)
            }
            do {
                try train(replicas: replicas)
            } catch {
                // Ends every rank at once (mpirun kills the rest), naming the rank that failed.
                if let replicas { replicas.abort("\(error)") }
                throw error
            }
            mpi?.finalize()
        }
    }

    /// The training run; with `replicas`, this process's part of a data-parallel one.
    func train(replicas: MPIReplicas?) throws {
        let isRoot = (replicas?.rank ?? 0) == 0
        if let replicas, (batchSize ?? 1) < replicas.size {
            throw NNError.invalidArgument("--batch-size \(batchSize ?? 0) is smaller than the \(replicas.size) ranks: every rank needs a share of each global batch")
        }
        let lock = isRoot ? try preflight() : nil
        defer { withExtendedLifetime(lock) {} }
        let interrupts = InterruptReporter.install(checkpoint: checkpoint)
        dataOptions.apply()
        let recipe = ModelZoo.recipe(modelOptions.model ?? "convnet")
        var (train, test, testSource) = try dataOptions.loadDescribed()
        if let limit, limit < train.count { train = train.prefix(limit) }
        if dataOptions.isImageFolder {
            printLine("data: \(train.count) images of \(train.classCount) classes (\(train.classNames.prefix(10).joined(separator: ", "))\(train.classCount > 10 ? ", …" : "")) from \(dataOptions.data); test set: \(test.count) images, \(testSource)")
        }
        var model = try modelOptions.build(for: train, seed: seed, compile: true, reinitialize: reinitialize)
        DataOptions.matchPixels(of: [train, test], to: model)
        if let augment {
            // In front of the model, as Keras's tutorials place them; contrast and brightness
            // work in the pixels' own range.
            let rescales = model.layers.first is Rescaling
            let front = try Augment.layers(augment, valueRange: rescales ? 0...255 : 0...1)
            let (optimizer, loss) = (model.optimizer, model.loss)
            model = try model.prepending(front, seed: seed)
            if let loss { model.compile(optimizer: optimizer, loss: loss, metrics: [.accuracy]) }
        }
        // A model file's own optimizer (with its state) continues unless --optimizer names another.
        let opt: Optimizer
        if optimizer == nil, let fileOptimizer = model.optimizer {
            opt = fileOptimizer
            if let learningRate { opt.learningRate = learningRate.value }
        } else {
            opt = try ModelZoo.optimizer(optimizer ?? recipe.optimizer,
                                         learningRate: learningRate?.value ?? (optimizer == nil ? recipe.learningRate : nil))
        }
        let plannedEpochs = epochs ?? recipe.epochs
        let settings = runSettings(recipe: recipe, optimizer: opt, plannedEpochs: plannedEpochs)
        if let resume { try checkResume(resume, settings: settings, plannedEpochs: plannedEpochs) }
        let fromLogits = (model.loss as? CrossEntropyLoss)?.fromLogits ?? false
        model.compile(optimizer: opt, loss: SparseCategoricalCrossentropy(fromLogits: fromLogits), metrics: [.accuracy])
        if let replicas {
            model.replicas = replicas
            replicas.separatesWaiting = profileAllreduce
            if syncBatchnorm {
                for case let bn as BatchNormalization in model.layers { bn.replicas = replicas }
            }
            printLine("data-parallel: \(replicas.size) ranks, global batch \(batchSize ?? recipe.batchSize) (about \((batchSize ?? recipe.batchSize) / replicas.size) samples per rank), BatchNormalization \(syncBatchnorm ? "synchronized" : "per rank")")
        }
        printLine(model.summary())
        let lastFinite = LastFiniteWeights()
        var callbacks: [Callback] = isRoot ? [ProgressBar(output: stdioSink), lastFinite] : [lastFinite]
        if let replicas {
            callbacks.append(AllreduceProfilePause(replicas))
            if checkReplicas { callbacks.append(ReplicaCheck(replicas: replicas, report: printLine)) }
        }
        if let stopAtAccuracy { callbacks.append(ThresholdStopping(monitor: "accuracy", threshold: stopAtAccuracy)) }
        // Early stopping selects weights by val_loss, so it must not look at the test set.
        let split = validationSplit ?? (patience != nil ? 0.1 : 0)
        if let patience { callbacks.append(EarlyStopping(monitor: "val_loss", patience: patience, restoreBestWeights: true)) }
        let decay = lrDecay ?? recipe.decay
        if decay != 1 { callbacks.append(LearningRateScheduler.exponential(initial: opt.learningRate, factor: decay)) }
        if let checkpoint, isRoot {
            callbacks.append(CheckpointCallback(path: checkpoint, optimizer: opt, run: settings))
            callbacks.append(interrupts)
        }
        var initialEpoch = 0
        if let resume {
            let given = opt.learningRate
            initialEpoch = try Checkpoint.restore(model: model, optimizer: opt, from: resume)
            if overrideLearningRate { opt.learningRate = given }
            lastFinite.keep(model, epoch: initialEpoch)
            printLine("resumed from \(resume) after epoch \(initialEpoch)")
        }
        let batch = batchSize ?? recipe.batchSize
        let started = Date()
        let history: History
        do {
            history = try model.fit(train, batchSize: batch, epochs: max(plannedEpochs, initialEpoch),
                                    initialEpoch: initialEpoch, validationSplit: split,
                                    validationData: split > 0 ? nil : test,
                                    callbacks: callbacks, verbose: isRoot ? .auto : .silent)
        } catch let error as NonFiniteLossError {
            // Keep the weights of the last epoch end whose loss (and weights) were finite; the
            // last good batch's weights can be finite but already huge.
            if let save, isRoot {
                if let epoch = lastFinite.restore(into: model) {
                    try saveModel(model, to: save, classNames: train.classNames)
                    printLine("saved the weights of epoch \(epoch), the last epoch end with a finite loss, to \(save)")
                } else {
                    printLine("no epoch ended with a finite loss; nothing saved to \(save)")
                }
            }
            throw error
        }
        let trainProfile = replicas?.profile
        let result = try model.evaluate(test, batchSize: 256)
        let sps = history.samplesPerSecond
        printLine(String(format: "test loss: %.4f - test accuracy: %.4f - %.0f training samples/s", result.loss, result.accuracy ?? 0, sps))
        if let replicas, let p = trainProfile, profileAllreduce, p.steps > 0 {
            let reduce = p.reduceSeconds / Double(p.steps), wait = p.waitSeconds / Double(p.steps)
            let step = p.periods > 0 ? p.periodSeconds / Double(p.periods) : 0
            printLine(String(format: "allreduce: %d ranks, %d steps, %d floats (%.2f MB) per step: %.3f ms per step, %.1f%% of a %.3f ms step; before it, %.3f ms waiting for the slowest rank (rank 0)",
                             replicas.size, p.steps, p.floatsPerStep, Double(p.floatsPerStep * 4) / 1e6, reduce * 1e3,
                             step > 0 ? 100 * reduce / step : 0, step * 1e3, wait * 1e3))
        }
        if let dir = ProcessInfo.processInfo.environment["NN_DISTRIBUTED_WEIGHTS_DIR"] {
            // For the tests: every rank's weights, to compare across ranks.
            try model.saveWeights(to: dir + "/rank-\(replicas?.rank ?? 0).safetensors")
        }
        guard isRoot else { return }
        if let save {
            try saveModel(model, to: save, classNames: train.classNames)
            printLine(Self.savesWholeModel(save) ? "saved the model to \(save)" : "saved weights to \(save)")
        }
        if let historyJson {
            let object: [String: Any] = [
                "model": modelOptions.name,
                "epochs": history.jsonObject,
                "test": ["loss": Double(result.loss), "accuracy": Double(result.accuracy ?? 0)],
                "train_samples_per_second": sps,
                "batch_size": batch,
                "optimizer": opt.name,
                "seed": seed,
                "threads": Parallel.threads,
                "ranks": replicas?.size ?? 1,
                "blas_kernel": BLAS.coreName,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: historyJson)
        }
        if let report {
            try ReportWriter.afterTraining(to: report, model: model, modelName: modelOptions.name, dataDirectory: dataOptions.data,
                                           history: history, train: train, test: test, optimizer: opt, batchSize: batch,
                                           plannedEpochs: plannedEpochs, seed: seed, validationSplit: split,
                                           wallSeconds: Date().timeIntervalSince(started), testLoss: result.loss)
        }
    }
}
