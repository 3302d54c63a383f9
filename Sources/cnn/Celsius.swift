import ArgumentParser
import Foundation
import NN
import NNData
import NNReport
import NNZoo

/// The "Hello world" of the TensorFlow tutorials: one Dense unit learns F = 1.8·C + 32 from seven
/// pairs with mean squared error and Adam(0.1).
struct Celsius: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Learn Fahrenheit from Celsius with one Dense unit.")
    @Option(help: "Passes over the seven examples.")
    var epochs: Int = 1000
    @Option(help: "Adam's learning rate.")
    var learningRate: FloatArgument = FloatArgument(argument: "0.1")!

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        try learningRate.validatePositive(flag: "--learning-rate")
    }

    func run() throws {
        try NNCommand.run {
            let result = try CelsiusExample.train(epochs: epochs, learningRate: learningRate.value)
            printLine(String(format: "weight %.4f (expected 1.8), bias %.4f (expected 32), final loss %.5f", result.weight, result.bias, result.loss))
            printLine(String(format: "100 °C -> %.2f °F", result.weight * 100 + result.bias))
        }
    }
}
