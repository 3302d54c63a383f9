import ArgumentParser
import Foundation
import NN
import NNData
import NNKeras
import NNReport
import NNZoo

/// `cnn transfer`: the tutorials' transfer-learning experiment on Fashion-MNIST. A base is trained
/// on classes 0–4 and saved; classes 5–9 are then learned from only N labelled images per class
/// by (a) the same network from scratch, (b) the frozen pretrained base with a new head, (c) the
/// whole network fine-tuned after (b), and a closed-form ridge head on the frozen base's features.
struct Transfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transfer learning: pretrain on the first half of the classes (Fashion-MNIST's 0-4), then learn the rest from a few labels (scratch vs frozen base + new head vs fine-tuned, and a ridge head); with a pretrained --model-file or --load-base, learn every class of --data.")

    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Base network: deep-convnet or mobilenet.")
    var base: String = "deep-convnet"
    @Option(help: "MobileNet width multiplier (with --base mobilenet).")
    var alpha: Double = 0.25
    @Option(help: "Labelled training images per new class.")
    var labelsPerClass: Int = 50
    @Option(help: "Pretraining epochs on the source classes.")
    var pretrainEpochs: Int = 2
    @Option(help: "Epochs for (a) the scratch model and (b) the new head.")
    var epochs: Int = 30
    @Option(help: "Epochs for (c) fine-tuning the whole network.")
    var fineTuneEpochs: Int = 10
    @Option(help: "Adam step size for (a) and the head of (b); (c) fine-tunes with a tenth of it.")
    var learningRate: FloatArgument = FloatArgument(argument: "0.001")!
    @Option(help: "Samples per step in the few-label phases.")
    var batchSize: Int = 32
    @Option(help: "Head of (b), which (c) then fine-tunes: sgd (trained with Adam) or ridge (closed form).")
    var head: String = "sgd"
    @Option(help: "Ridge penalty λ on the head's weights.")
    var ridgeLambda: Float = 1
    @Option(help: "Ridge solver: cholesky (normal equations, sposv) or least-squares (sgels).")
    var ridgeSolver: String = "cholesky"
    @Flag(help: "After training a model's BatchNormalization layers (pretraining, scratch), set their moving statistics to the exact statistics of its training images (at most 2000). Default: Keras's moving averages.")
    var recomputeBnStatistics = false
    @Option(help: "Seed for weights, shuffling, dropout and the choice of labelled images.")
    var seed: UInt64 = 0
    @Option(help: "Where to save the pretrained base (default: a file in the temporary directory).")
    var saveBase: String?
    @Option(help: "Load a base saved by an earlier run instead of pretraining (same --base, --alpha).")
    var loadBase: String?
    @Option(help: "A Keras model file (.keras or .h5) as the pretrained base instead of --base: no pretraining; its last --top-layers layers are replaced by the new head.")
    var modelFile: String?
    @Option(help: "With --model-file: how many layers at its end form the classifier to replace (default 1).")
    var topLayersOfFile: Int = 1
    @Option(help: "Write the accuracies and timings as JSON here.")
    var json: String?

    /// The largest `--alpha` accepted.
    static let maxAlpha = 4.0

    /// The classes the base is pretrained on and those learned from a few labels: the two halves
    /// of the data's classes (Fashion-MNIST: 0-4 and 5-9), or, with a pretrained base given
    /// (--model-file, --load-base), none and all.
    func classSplit(_ count: Int) -> (source: [Int], target: [Int]) {
        if modelFile != nil || loadBase != nil { return ([], Array(0..<count)) }
        return (Array(0..<count / 2), Array(count / 2..<count))
    }

    static func describe(_ classes: [Int], _ names: [String]) -> String {
        guard let first = classes.first, let last = classes.last else { return "no classes" }
        let range = classes.count > 1 ? "classes \(first)-\(last)" : "class \(first)"
        let shown = classes.prefix(6).map { $0 < names.count ? names[$0] : "\($0)" }.joined(separator: ", ")
        return "\(range) (\(shown)\(classes.count > 6 ? ", …" : ""))"
    }

    func validate() throws {
        guard ["deep-convnet", "mobilenet"].contains(base) else {
            throw ValidationError("--base must be deep-convnet or mobilenet, got '\(base)'")
        }
        guard ["sgd", "ridge"].contains(head) else { throw ValidationError("--head must be sgd or ridge, got '\(head)'") }
        guard solver != nil else { throw ValidationError("--ridge-solver must be cholesky or least-squares, got '\(ridgeSolver)'") }
        // Keras uses 0.25...1.4; 4 already means 4096-filter layers. Far larger ones overflowed the
        // filter counts (issue 13: `--alpha 1e30` crashed).
        if !(alpha > 0 && alpha <= Self.maxAlpha) { throw ValidationError("--alpha must be in (0, \(Self.maxAlpha)], got \(alpha)") }
        if topLayersOfFile < 1 { throw ValidationError("--top-layers-of-file must be at least 1, got \(topLayersOfFile)") }
        if modelFile != nil && loadBase != nil { throw ValidationError("--model-file and --load-base name two bases; give one") }
        if labelsPerClass < 1 { throw ValidationError("--labels-per-class must be at least 1, got \(labelsPerClass)") }
        if pretrainEpochs < 1 { throw ValidationError("--pretrain-epochs must be at least 1, got \(pretrainEpochs)") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if fineTuneEpochs < 0 { throw ValidationError("--fine-tune-epochs must not be negative, got \(fineTuneEpochs)") }
        try learningRate.validatePositive(flag: "--learning-rate")
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if !(ridgeLambda >= 0 && ridgeLambda.isFinite) { throw ValidationError("--ridge-lambda must be a non-negative number, got \(ridgeLambda)") }
    }

    var solver: RidgeHead.Solver? {
        switch ridgeSolver { case "cholesky": return .cholesky; case "least-squares": return .leastSquares; default: return nil }
    }

    func run() throws {
        try NNCommand.run {
            try OutputPaths.check([.init("--save-base", saveBase), .init("--json", json)])
            dataOptions.apply()
            let started = Date()
            var timings: [String: Double] = [:]
            func timed<T>(_ key: String, _ body: () throws -> T) rethrows -> T {
                let t0 = Date()
                defer { timings[key] = Date().timeIntervalSince(t0) }
                return try body()
            }

            let (train, test) = try dataOptions.load()
            if let modelFile {
                DataOptions.matchPixels(of: [train, test], to: try KerasModelFile.read(modelFile, compile: false, loadWeights: false).model)
            }
            let (sourceClasses, targetClasses) = classSplit(train.classCount)
            guard targetClasses.count >= 2, sourceClasses.isEmpty || sourceClasses.count >= 2 else {
                throw NNError.invalidArgument("--data \(dataOptions.data) has \(train.classCount) classes; transfer needs at least 4 (two halves: pretrain on one, transfer to the other), or 2 with a pretrained --model-file or --load-base")
            }
            let sourceTrain = train.filter(classes: sourceClasses, relabel: true)
            let sourceTest = test.filter(classes: sourceClasses, relabel: true)
            let target = train.filter(classes: targetClasses, relabel: true).take(perClass: labelsPerClass, seed: seed)
            let targetTest = test.filter(classes: targetClasses, relabel: true)
            let classes = targetClasses.count
            let sourceName = Self.describe(sourceClasses, train.classNames), targetName = Self.describe(targetClasses, train.classNames)
            printLine("transfer: base \(baseDescription), "
                      + (sourceClasses.isEmpty ? "" : "pretrain on \(sourceName) (\(sourceTrain.count) images), ")
                      + "learn \(targetName) from \(target.count) images (\(labelsPerClass) per class), test on \(targetTest.count)")

            // Pretrain the base on the source classes and save it.
            let basePath: String
            var pretrainAccuracy: Float?
            if let modelFile {
                basePath = modelFile
                printLine("base: \(modelFile) (no pretraining; its last \(topLayersOfFile) layer(s) replaced by the new head)")
            } else if let loadBase {
                basePath = loadBase
                printLine("base: loading \(loadBase) (no pretraining)")
            } else {
                let pretrained = try makeModel(classes: sourceClasses.count, inputShape: train.sampleShape)
                pretrained.compile(optimizer: Adam(learningRate: 1e-3), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
                printLine("pretraining \(pretrainEpochs) epochs on \(sourceName):")
                try timed("pretrain_seconds") {
                    _ = try pretrained.fit(sourceTrain, batchSize: 64, epochs: pretrainEpochs)
                }
                if recomputeBnStatistics { try pretrained.recomputeBatchNormStatistics(sourceTrain.images(0..<min(2000, sourceTrain.count))) }
                let acc = try accuracy(pretrained, sourceTest)
                pretrainAccuracy = acc
                basePath = saveBase ?? FileManager.default.temporaryDirectory
                    .appendingPathComponent("cnn-transfer-\(base)-seed\(seed).safetensors").path
                try pretrained.saveWeights(to: basePath, metadata: ["model": base, "classes": "\(sourceClasses.first ?? 0)-\(sourceClasses.last ?? 0)"])
                printLine(String(format: "pretrained base: test accuracy %.4f on the source classes; saved to ", acc) + basePath)
            }

            // (a) The same network from scratch on the few labels.
            let scratch = try makeModel(classes: classes, inputShape: train.sampleShape)
            scratch.compile(optimizer: Adam(learningRate: learningRate.value), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            let scratchTraining = try timed("scratch_seconds") { try fewShotFit(scratch, target, epochs: epochs) }
            if recomputeBnStatistics { try scratch.recomputeBatchNormStatistics(target.images) }
            let scratchAccuracy = try accuracy(scratch, targetTest)
            printLine(String(format: "(a) from scratch: %.4f", scratchAccuracy) + trainingNote(scratchTraining))

            // The ridge head on the frozen base's features (always measured, for the comparison).
            let ridgeModel = try transferModel(basePath: basePath, classes: classes, inputShape: train.sampleShape)
            let features = try timed("ridge_features_seconds") { try ridgeModel.features(target.images) }
            let ridgeHead = try timed("ridge_solve_seconds") {
                try RidgeHead.fit(features: features, labels: target.labels, classes: classes, lambda: ridgeLambda,
                                  solver: solver!, name: "new_head")
            }
            try ridgeModel.replaceHead(with: [ridgeHead])
            try ridgeModel.freeze(0..<(ridgeModel.layers.count - 1))
            let ridgeAccuracy = try accuracy(ridgeModel, targetTest)
            printLine("ridge head (\(ridgeSolver), λ \(ridgeLambda), \(features.count / features.shape[0]) features): " + String(format: "%.4f", ridgeAccuracy))

            // (b) Frozen base + new head: trained (sgd) or the ridge head itself.
            let transferred: Model
            var headTraining: Float?
            if head == "ridge" {
                transferred = ridgeModel
                timings["frozen_head_seconds"] = (timings["ridge_features_seconds"] ?? 0) + (timings["ridge_solve_seconds"] ?? 0)
            } else {
                transferred = try transferModel(basePath: basePath, classes: classes, inputShape: train.sampleShape)
                // The frozen base runs in inference mode (Keras's `base(x, training=False)`), so its
                // features are computed once and only the head steps, epoch after epoch.
                headTraining = try timed("frozen_head_seconds") {
                    try transferred.fitHead(x: target.images, y: target.labels, optimizer: Adam(learningRate: learningRate.value),
                                            loss: SparseCategoricalCrossentropy(), batchSize: batchSize, epochs: epochs)["accuracy"].last
                }
            }
            let frozenAccuracy = head == "ridge" ? ridgeAccuracy : try accuracy(transferred, targetTest)
            printLine(String(format: "(b) frozen base + new \(head) head: %.4f, %d of %d parameters trainable", frozenAccuracy,
                             transferred.trainableParameterCount, transferred.parameterCount) + trainingNote(headTraining))

            // (c) Fine-tune everything after (b) with a 10× smaller step; BatchNormalization stays in
            // inference mode (frozen), as Keras's transfer-learning guide advises for small data.
            try transferred.unfreeze()
            for layer in transferred.layers where layer is BatchNormalization { layer.trainable = false }
            transferred.compile(optimizer: Adam(learningRate: learningRate.value / 10), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            let fineTuneTraining = try timed("fine_tune_seconds") { try fewShotFit(transferred, target, epochs: fineTuneEpochs) }
            let fineTunedAccuracy = try accuracy(transferred, targetTest)
            printLine(String(format: "(c) fine-tuned after (b): %.4f", fineTunedAccuracy) + trainingNote(fineTuneTraining))
            timings["total_seconds"] = Date().timeIntervalSince(started)

            printLine("")
            printLine("test accuracy on \(targetName), \(labelsPerClass) labels per class (\(baseDescription)):")
            func padded(_ s: String) -> String { s + String(repeating: " ", count: max(0, 34 - s.count)) }
            printLine("  " + padded("") + "  accuracy   train time")
            func row(_ name: String, _ acc: Float, _ seconds: Double?) {
                printLine("  " + padded(name) + String(format: " %9.4f %10.2f s", acc, seconds ?? 0))
            }
            row("(a) from scratch", scratchAccuracy, timings["scratch_seconds"])
            row("(b) frozen base + new \(head) head", frozenAccuracy, timings["frozen_head_seconds"])
            row("(c) fine-tuned after (b)", fineTunedAccuracy, timings["fine_tune_seconds"])
            row("ridge head (\(ridgeSolver))", ridgeAccuracy,
                (timings["ridge_features_seconds"] ?? 0) + (timings["ridge_solve_seconds"] ?? 0))
            printLine(String(format: "  (b) − (a): %+.1f percentage points; total %.0f s", 100 * (frozenAccuracy - scratchAccuracy),
                             timings["total_seconds"] ?? 0))
            if !recomputeBnStatistics, let fit = scratchTraining, fit - scratchAccuracy > 0.3 {
                printLine(String(format: "  note: (a) fits its training images (%.2f) far better than the test set: after %d steps its", fit,
                                 epochs.multipliedReportingOverflow(by: target.count == 0 ? 0 : (target.count - 1) / batchSize + 1).partialValue)
                          + " BatchNormalization moving averages (momentum 0.99, as in Keras) still lag its weights; --recompute-bn-statistics measures (a) with exact ones")
            }

            if let json {
                let object: [String: Any] = [
                    "labels_per_class": labelsPerClass,
                    "scratch": Double(scratchAccuracy),
                    "frozen": Double(frozenAccuracy),
                    "fine_tuned": Double(fineTunedAccuracy),
                    "ridge": Double(ridgeAccuracy),
                    "head": head,
                    "base": base,
                    "seed": seed,
                    "epochs": ["pretrain": loadBase == nil && modelFile == nil ? pretrainEpochs : 0, "few_label": epochs, "fine_tune": fineTuneEpochs],
                    "ridge_lambda": Double(ridgeLambda),
                    "ridge_solver": ridgeSolver,
                    "bn_statistics": recomputeBnStatistics ? "recomputed" : "moving_average",
                    "pretrain_test_accuracy": pretrainAccuracy.map { Double($0) } ?? NSNull(),
                    "timings": timings,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                try AtomicFile.write(data, to: json)
            }
        }
    }

    private var baseDescription: String { modelFile ?? (base == "mobilenet" ? "mobilenet (alpha \(alpha))" : base) }

    /// The model file's architecture (its weights when `weights`), checked against the data, with
    /// its last `--top-layers-of-file` layers replaced by a `classes`-way softmax head.
    private func fileModel(_ path: String, classes: Int, inputShape shape: [Int], weights: Bool, headName: String) throws -> Model {
        let model = try KerasModelFile.read(path, compile: false, seed: seed, loadWeights: weights).model
        guard model.inputShape == shape else {
            throw NNError.invalidArgument("--model-file \(path) takes inputs of \(model.inputShape) but the data's images are \(shape)")
        }
        guard topLayersOfFile < model.layers.count else {
            throw NNError.invalidArgument("--top-layers-of-file \(topLayersOfFile) would leave nothing of \(path)'s \(model.layers.count) layers")
        }
        try model.replaceHead(dropping: topLayersOfFile, with: [Dense(units: classes, activation: .softmax, name: headName)])
        return model
    }

    /// The base network with a `classes`-way softmax head as its last layer.
    private func makeModel(classes: Int, inputShape shape: [Int]) throws -> Model {
        if let modelFile { return try fileModel(modelFile, classes: classes, inputShape: shape, weights: false, headName: "predictions") }
        switch base {
        case "mobilenet":
            // Keras's transfer recipe: MobileNet without its top, average-pooled, then a Dense head.
            let layers = MobileNet.layers(inputShape: shape, alpha: alpha, includeTop: false, pooling: .average)
                + [Dense(units: classes, activation: .softmax, name: "predictions")]
            return try Sequential(inputShape: shape, layers: layers, seed: seed)
        default:
            return try ModelZoo.build(base, inputShape: shape, classes: classes, seed: seed)
        }
    }

    /// How many layers on top of the convolutional base make up the classifier that transfer
    /// replaces (Keras's `include_top`): deep-convnet's Dense(256) → BatchNormalization → Dropout →
    /// Dense, MobileNet's Dense after the pooling. The base's output is its conv features (3136
    /// flattened for deep-convnet, 256·alpha/0.25 pooled for MobileNet), which transfer better
    /// than the old classifier's hidden layer, trained for the pretraining classes.
    private var topLayers: Int { base == "mobilenet" ? 1 : 4 }

    /// The base loaded from `basePath` under a new, untrained head, with the base frozen.
    private func transferModel(basePath: String, classes: Int, inputShape: [Int]) throws -> Model {
        let model: Model
        if let modelFile {
            model = try fileModel(modelFile, classes: classes, inputShape: inputShape, weights: true, headName: "new_head")
        } else {
            model = try makeModel(classes: classes, inputShape: inputShape)
            try model.replaceHead(dropping: topLayers, with: [Dense(units: classes, activation: .softmax, name: "new_head")])
            // A Keras weights file (keras.applications' MobileNet, say) loads by layer name.
            let kept: [String]
            if KerasModelFile.isKerasFile(basePath) {
                kept = try model.loadKerasWeights(from: basePath).kept.flatMap { name in
                    model.layer(named: name)!.parameters.map { "\(name).\($0.name)" }
                }
            } else {
                kept = try model.loadBaseWeights(from: basePath).kept
            }
            guard Set(kept) == ["new_head.kernel", "new_head.bias"] else {
                throw NNError.invalidArgument("\(basePath) is not a \(baseDescription) base: it lacks \(kept.filter { !$0.hasPrefix("new_head.") })")
            }
        }
        try model.freeze(0..<(model.layers.count - 1))
        model.compile(optimizer: Adam(learningRate: learningRate.value), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return model
    }

    /// Trains silently; returns the last epoch's training accuracy (nil for no epochs).
    @discardableResult
    private func fewShotFit(_ model: Model, _ data: Dataset, epochs: Int) throws -> Float? {
        guard epochs > 0 else { return nil }
        return try model.fit(data, batchSize: batchSize, epochs: epochs, verbose: .silent)["accuracy"].last
    }

    private func trainingNote(_ accuracy: Float?) -> String {
        accuracy.map { String(format: " (last epoch's training accuracy %.4f)", $0) } ?? ""
    }

    private func accuracy(_ model: Model, _ data: Dataset) throws -> Float {
        if model.loss == nil { model.compile(loss: SparseCategoricalCrossentropy(), metrics: [.accuracy]) }
        return try model.evaluate(data, batchSize: 256).accuracy ?? 0
    }
}
