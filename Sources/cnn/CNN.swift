import ArgumentParser
import Foundation
import NN
import NNData
import NNReport
import NNZoo

/// `cnn`: train, evaluate and inspect the tutorial models on Fashion-MNIST (or any MNIST-format data).
@main
struct CNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "A CNN engine in Swift on OpenBLAS: train and use the Keras tutorial models.",
        subcommands: [Train.self, Evaluate.self, Predict.self, Summary.self, Celsius.self, Report.self, Transfer.self],
        defaultSubcommand: Train.self
    )
}

/// Options every command that reads data shares.
struct DataOptions: ParsableArguments {
    @Option(help: "Directory with the four MNIST-named IDX files (gzipped or not).")
    var data: String = DataSets.fashionMNISTDirectory

    @Option(help: "Threads the engine uses (default: the core count, or OPENBLAS_NUM_THREADS when set).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func apply() { if let threads { Parallel.threads = threads } }

    func load() throws -> (train: Dataset, test: Dataset) {
        try DataSets.load(directory: data)
    }
}

/// Options of the commands that use saved weights (evaluate, predict, report): model, data, weights.
struct SavedModelOptions: ParsableArguments {
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Weights saved by `cnn train --save`.")
    var weights: String

    /// Applies --threads, loads the data and builds the model with the saved weights.
    func load() throws -> (train: Dataset, test: Dataset, model: Sequential) {
        dataOptions.apply()
        let (train, test) = try dataOptions.load()
        let model = try ModelZoo.build(modelOptions.model, inputShape: test.sampleShape, classes: test.classCount)
        try model.loadWeights(from: weights)
        return (train, test, model)
    }
}

/// Options naming a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: \(ModelZoo.names.joined(separator: ", ")).")
    var model: String = "convnet"

    func validate() throws {
        guard ModelZoo.names.contains(model) else {
            throw ValidationError("--model must be one of \(ModelZoo.names.joined(separator: ", ")), got '\(model)'")
        }
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
