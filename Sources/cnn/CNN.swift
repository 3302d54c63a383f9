import ArgumentParser
import Foundation
import NN
import NNData
import NNKeras
import NNReport
import NNZoo

/// `cnn`: train, evaluate and inspect the tutorial models on Fashion-MNIST (or any MNIST-format data).
@main
struct CNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "A CNN engine in Swift on OpenBLAS: train and use the Keras tutorial models.",
        subcommands: [Train.self, Evaluate.self, Predict.self, TimePredict.self, Summary.self, Celsius.self, Report.self, Transfer.self, MakeImageFolder.self,
                      Denoise.self],
        defaultSubcommand: Train.self
    )
}

/// Options naming a model: one of the zoo's, or a Keras model file.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: \(ModelZoo.names.joined(separator: ", ")) (default: convnet).")
    var model: String?
    @Option(help: "A Keras model file (.keras, or a legacy .h5) instead of --model: its architecture and weights.")
    var modelFile: String?
    @Option(help: "MobileNet's width multiplier (Keras alpha) for mobilenet and mobilenetv2, e.g. 0.5 (default: 1).")
    var alpha: Double?

    /// The model's name for summaries, reports and checkpoints: the zoo name, or the file's path.
    var name: String { modelFile ?? model ?? "convnet" }

    func validate() throws {
        if let model, !ModelZoo.names.contains(model) {
            throw ValidationError("--model must be one of \(ModelZoo.names.joined(separator: ", ")), got '\(model)'")
        }
        if model != nil && modelFile != nil {
            throw ValidationError("--model and --model-file name two models; give one")
        }
        if let alpha {
            guard let model, model.hasPrefix("mobilenet") else {
                throw ValidationError("--alpha is MobileNet's width multiplier: it needs --model mobilenet or mobilenetv2")
            }
            do { try MobileNet.checkAlpha(alpha) } catch { throw ValidationError("--alpha \(alpha) must be in (0, \(MobileNet.maxAlpha)]") }
        }
    }

    /// The file's model, or nil for a zoo model. `seed` draws the initial weights (overwritten by
    /// the file's unless `reinitialize`) and then the run's shuffles and dropout masks.
    func loadFile(compile: Bool, seed: UInt64 = 0, reinitialize: Bool = false) throws -> KerasModelFile? {
        guard let modelFile else { return nil }
        let file = try KerasModelFile.read(modelFile, compile: compile, seed: seed, loadWeights: !reinitialize)
        for warning in file.warnings {
            FileHandle.standardError.write("warning: \(modelFile): \(warning)\n".data(using: .utf8)!)
        }
        return file
    }

    /// A zoo model built for the data, or the file's model checked against the data: the input
    /// shape must be the images' and the output must have a probability per class.
    func build(for data: Dataset, seed: UInt64 = 0, compile: Bool = false, reinitialize: Bool = false,
               preprocessing: [Layer] = []) throws -> Model {
        guard let file = try loadFile(compile: compile, seed: seed, reinitialize: reinitialize) else {
            return try ModelZoo.build(model ?? "convnet", inputShape: data.sampleShape, classes: data.classCount, seed: seed,
                                      alpha: alpha ?? 1, preprocessing: preprocessing)
        }
        let model = file.model
        func dims(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }
        guard model.inputShape == data.sampleShape else {
            throw NNError.invalidArgument("--model-file \(modelFile!) takes inputs of \(dims(model.inputShape)) but the data's images are \(dims(data.sampleShape))")
        }
        // IDX files name no classes (they get Fashion-MNIST's or digits' ten names): the labels in use
        // decide, so a 3-class model evaluates on IDX files whose labels are 0, 1 and 2.
        let used = (data.classCounts.lastIndex { $0 > 0 } ?? 0) + 1
        guard model.outputShape.count == 1, model.outputShape[0] >= used else {
            throw NNError.invalidArgument("--model-file \(modelFile!) outputs \(dims(model.outputShape)) values per image, but the data's labels go up to class \(used - 1)")
        }
        return model
    }
}

/// Loads weights by what the file is: a Keras `.h5`/`.keras` file by layer name, else safetensors.
func loadWeights(into model: Model, from path: String) throws {
    if KerasModelFile.isKerasFile(path) {
        try model.loadKerasWeights(from: path)
    } else {
        try model.loadWeights(from: path)
    }
}

/// Saved weights with the model and data they belong to (`evaluate`, `predict`, `report`).
struct SavedModelOptions: ParsableArguments {
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Weights saved by `cnn train --save` (safetensors), or a Keras weights file (.h5); optional with --model-file.")
    var weights: String?

    func validate() throws {
        if weights == nil && modelOptions.modelFile == nil {
            throw ValidationError("give --weights (with --model) or --model-file")
        }
    }

    /// Loads the data, builds the model for it and loads the weights, compiled for evaluation
    /// (a loss and accuracy, no optimizer).
    func load() throws -> (model: Model, train: Dataset, test: Dataset) {
        dataOptions.apply()
        let (train, test) = try dataOptions.load()
        let model = try modelOptions.build(for: test, compile: true)
        DataOptions.matchPixels(of: [train, test], to: model)
        if let weights { try loadWeights(into: model, from: weights) }
        // The data's labels are class indices: the file's cross-entropy, made sparse, keeps its from_logits.
        let fromLogits = (model.loss as? CrossEntropyLoss)?.fromLogits ?? false
        model.compile(loss: SparseCategoricalCrossentropy(fromLogits: fromLogits), metrics: [.accuracy])
        return (model, train, test)
    }
}

enum NNCommand {
    /// Prints a library error as one clear line and exits 1 (not a stack trace).
    static func run(_ body: () throws -> Void) throws {
        do { try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
    }
}

func printLine(_ s: String) { print(s); fflush(stdout) }

/// A Float flag that keeps the text the user typed, so "1e-50" (which rounds to 0 in Float32) is
/// reported as given rather than as "0.0".
struct FloatArgument: ExpressibleByArgument, CustomStringConvertible {
    let text: String
    let value: Float
    init?(argument: String) {
        guard let v = Float(argument) else { return nil }
        text = argument
        value = v
    }
    var description: String { text }

    /// Refuses zero, negatives, NaN, and values that over- or underflow Float32, naming the text.
    func validatePositive(flag: String) throws {
        let exact = Double(text) ?? Double(value)
        if exact > 0 && exact.isFinite && (value == 0 || value < Float.leastNormalMagnitude) {
            throw ValidationError("\(flag) \(text) is too small for Float32 (must be ≥ 1.2e-38)")
        }
        if exact > 0 && value.isInfinite { throw ValidationError("\(flag) \(text) is too large for Float32 (must be ≤ 3.4e38)") }
        guard value > 0 && value.isFinite else { throw ValidationError("\(flag) must be a positive number, got \(text)") }
    }
}

/// The stdout sink for the engine's progress bar: through stdio's buffer (flushed per write), so
/// progress lines and `printLine` output keep their order when stdout is a pipe or file.
let stdioSink = OutputSink(isTerminal: isatty(STDOUT_FILENO) != 0) { text in
    fputs(text, stdout)
    fflush(stdout)
}
