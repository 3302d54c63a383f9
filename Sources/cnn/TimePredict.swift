import ArgumentParser
import Foundation
import NN
import NNZoo

/// `cnn time-predict`: how fast `predict` runs on random images at one batch size — the inference
/// half of `scripts/compare-peers`, which times Keras's `predict_on_batch` and PyTorch's `model(x)`
/// under `inference_mode` the same way (median of repeated calls on one batch, after a warm-up).
struct TimePredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time-predict",
        abstract: "Time predict on random images at one batch size: samples/s and milliseconds per batch.")
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Input image shape HxWxC for a zoo model, e.g. 96x96x3 (a --model-file has its own).")
    var inputShape: String = "28x28x1"
    @Option(help: "Number of classes of a zoo model.")
    var classes: Int = 10
    @Option(help: "Images per predict call.")
    var batchSize: Int = 32
    @Option(help: "Seconds to keep calling predict after the warm-up (at least 5 calls are timed).")
    var seconds: Double = 5
    @Option(help: "BLAS and engine threads (default: the cores).")
    var threads: Int?
    @Option(help: "Also write the figures as JSON here.")
    var json: String?

    /// The largest batch timed: 4,096 images of 128×128×3 are 805 MB of Float32 input already.
    static let maxBatchSize = 4096

    func validate() throws {
        guard let shape = Summary.parseShape(inputShape), shape.reduce(1, *) <= Summary.maxInputValues else {
            throw ValidationError("--input-shape must be HxWxC with positive sizes and at most \(Summary.maxInputValues) values, e.g. 96x96x3; got '\(inputShape)'")
        }
        if !(1...Summary.maxClasses).contains(classes) { throw ValidationError("--classes must be in 1...\(Summary.maxClasses), got \(classes)") }
        if !(1...Self.maxBatchSize).contains(batchSize) { throw ValidationError("--batch-size must be in 1...\(Self.maxBatchSize), got \(batchSize)") }
        if !(seconds > 0 && seconds <= 3600) { throw ValidationError("--seconds must be in (0, 3600], got \(seconds)") }
        if let threads, !(1...DataOptions.maxThreads).contains(threads) {
            throw ValidationError("--threads must be in 1...\(DataOptions.maxThreads), got \(threads)")
        }
    }

    func run() throws {
        try NNCommand.run {
            try OutputPaths.check([.init("--json", json)])
            if let threads { Parallel.threads = threads }
            let model: Model
            if let file = try modelOptions.loadFile(compile: false) {
                model = file.model
            } else {
                model = try ModelZoo.build(modelOptions.model ?? "convnet", inputShape: Summary.parseShape(inputShape)!,
                                           classes: classes, seed: 1, alpha: modelOptions.alpha ?? 1)
            }
            var rng = RandomGenerator(seed: 7)
            let x = Tensor(shape: [batchSize] + model.inputShape)
            x.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = rng.uniform(0, 1) } }
            // The first calls size the buffers and warm the caches; they are not timed.
            for _ in 0..<2 { _ = try model.predict(x, batchSize: batchSize) }
            var times: [Double] = []
            let clock = ContinuousClock(), start = clock.now
            while times.count < 5 || (clock.now - start) < .seconds(seconds) {
                let t = clock.now
                _ = try model.predict(x, batchSize: batchSize)
                let d = clock.now - t
                times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
            }
            times.sort()
            let median = times[times.count / 2]
            let sps = Double(batchSize) / median
            printLine(String(format: "predict %@, batch %d: %.1f samples/s (median %.2f ms per call over %d calls; %d threads, OpenBLAS %@)",
                             modelOptions.name, batchSize, sps, median * 1000, times.count, Parallel.threads, BLAS.coreName))
            if let json {
                let object: [String: Any] = [
                    "model": modelOptions.name, "input_shape": model.inputShape, "batch_size": batchSize,
                    "samples_per_second": sps, "median_seconds": median, "calls": times.count,
                    "threads": Parallel.threads, "blas_kernel": BLAS.coreName,
                ]
                try AtomicFile.write(JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: json)
            }
        }
    }
}
