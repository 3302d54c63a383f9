import NN
import NNZoo

/// Inference: `model.predict` on one batch of random images, as `cnn time-predict` and the
/// inference half of `scripts/compare-peers` time it, at batch 1 (a request at a time) and 32.
enum PredictRows {
    /// Model strings as `TrainStepRows.spec` reads them.
    static let models = ["deep-convnet", "resnet-small", "mobilenet 96x96x3 alpha 1", "mobilenet 96x96x3 alpha 0.5",
                         "mobilenet 128x128x3 alpha 1", "mobilenet 128x128x3 alpha 0.5", "mobilenetv2 96x96x3 alpha 1"]
    /// The batch sizes the goals name; `--batch` replaces them.
    static let batches = [1, 32]

    static func name(_ model: String) -> String { "predict \(model)" }

    static func run(model modelName: String, batch: Int, settings: Settings, sgemm: [String: Double],
                    progress: (String) -> Void) throws -> Row {
        progress("\(name(modelName)) batch \(batch)")
        let spec = try TrainStepRows.spec(modelName)
        let model = try ModelZoo.build(spec.zoo, inputShape: spec.inputShape, seed: 1, alpha: spec.alpha)
        var rng = RandomGenerator(seed: UInt64(7000 + batch))
        let x = LayerRows.random([batch] + spec.inputShape, &rng, 0, 1)
        let timing = try Stopwatch.measure(repetitions: settings.repetitions, target: settings.target) {
            _ = try model.predict(x, batchSize: batch)
        }
        var row = Row(name: name(modelName), kind: .predict, batch: batch, engine: timing)
        row.samplesPerSecond = Double(batch) / timing.median
        row.allocationsPerStep = try TrainStepRows.allocationsPerStep(calls: 10) { _ = try model.predict(x, batchSize: batch) }
        let split = try LayerRows.profile(calls: Stopwatch.calls(perRepetition: 2 * settings.target, firstCall: timing.median)) {
            _ = try model.predict(x, batchSize: batch)
        }
        row.gflops = 2 * Double(split.multiplyAdds) / timing.median / 1e9
        row.efficiencySquare1024 = sgemm["square1024"].map { row.gflops! / $0 }
        row.gemmShare = split.gemm
        row.im2colShare = split.im2col
        row.otherShare = split.other
        return row
    }
}
