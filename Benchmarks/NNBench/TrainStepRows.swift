import MallocCounter
import NN
import NNZoo
import NNReference

/// End to end: one `model.trainStep` of each zoo model on synthetic data, and beside `convnet` the
/// same network written with the reference's plain loops, so the speedup covers everything a step
/// does (activations, pooling, dropout, loss, update), not only the GEMM layers.
enum TrainStepRows {
    /// The tutorial models the issue names (the zoo may hold more; list them here to time them too).
    /// A row is the zoo's name, optionally followed by its input shape and MobileNet width
    /// multiplier ("mobilenetv2 96x96x3 alpha 1"); without them, [28, 28, 1] and alpha 1.
    static let models = ["mlp", "convnet", "deep-convnet", "resnet-small", "mobilenet 96x96x3 alpha 1", "mobilenet 96x96x3 alpha 0.5",
                         "mobilenet 128x128x3 alpha 1", "mobilenet 128x128x3 alpha 0.5", "mobilenetv2 96x96x3 alpha 1"]

    /// Rows too slow for `--quick` (a step takes most of a second): run only when `--filter` names them.
    /// MobileNet α0.5 at 96×96×3 (~50 ms a step) stays in, so the quick run covers a MobileNet's layers.
    static func isHeavy(_ model: String) -> Bool { model.hasPrefix("mobilenet") && model != "mobilenet 96x96x3 alpha 0.5" }

    static func name(_ model: String) -> String { "train_step \(model)" }

    /// The zoo name, input shape and alpha a row's model string describes.
    static func spec(_ model: String) throws -> (zoo: String, inputShape: [Int], alpha: Double) {
        let words = model.split(separator: " ").map(String.init)
        var shape = [28, 28, 1], alpha = 1.0
        if words.count > 1 {
            let dims = words[1].split(separator: "x").compactMap { Int($0) }
            guard dims.count == 3 else { throw NNError.invalidArgument("nn-bench: bad input shape in '\(model)'") }
            shape = dims
        }
        if words.count > 3, words[2] == "alpha", let a = Double(words[3]) { alpha = a }
        return (words[0], shape, alpha)
    }

    static func run(model modelName: String, batch: Int, settings: Settings, sgemm: [String: Double],
                    progress: (String) -> Void) throws -> Row {
        progress("\(name(modelName)) batch \(batch)")
        let spec = try spec(modelName)
        let model = try ModelZoo.build(spec.zoo, inputShape: spec.inputShape, seed: 1, alpha: spec.alpha)
        let optimizer = Adam()
        let loss = SparseCategoricalCrossentropy()
        model.compile(optimizer: optimizer, loss: loss)
        var rng = RandomGenerator(seed: UInt64(6000 + batch))
        let x = LayerRows.random([batch] + spec.inputShape, &rng, 0, 1)
        let labels = (0..<batch).map { _ in Int(rng.next() % 10) }
        let y = Tensor(shape: [batch], elements: labels.map(Float.init))

        // The reference copies the weights before the engine's first step changes them.
        let reference = modelName == "convnet" ? try ReferenceConvnet(copying: model) : nil
        let firstLoss = try model.trainStep(x: x, y: y).loss
        var row = Row(name: name(modelName), kind: .trainStep, batch: batch, engine: Timing(samples: []))
        var referenceFirstLoss: Float?
        if let reference {
            // Replay the engine's dropout mask so both first steps see the same network.
            reference.mask = try ReferenceConvnet.dropoutMask(of: model)
            referenceFirstLoss = reference.step(x: LayerRows.ref(x), labels: labels)  // also its warm-up
        }

        let timing = try Stopwatch.measure(repetitions: settings.repetitions, target: settings.target) {
            _ = try model.trainStep(x: x, y: y)
        }
        let allocations = try allocationsPerStep(calls: isHeavy(modelName) ? 4 : 20) { _ = try model.trainStep(x: x, y: y) }
        let split = try LayerRows.profile(calls: Stopwatch.calls(perRepetition: 2 * settings.target, firstCall: timing.median)) {
            _ = try model.trainStep(x: x, y: y)
        }
        row.engine = timing
        row.samplesPerSecond = Double(batch) / timing.median
        row.allocationsPerStep = allocations
        let plan = model.memoryPlan
        row.memory = (plan.trainingBytes(batchSize: batch), plan.unplannedTrainingBytes(batchSize: batch),
                      plan.inferenceBytes(batchSize: batch), plan.unplannedInferenceBytes(batchSize: batch))
        row.gflops = 2 * Double(split.multiplyAdds) / timing.median / 1e9
        row.efficiencySquare1024 = sgemm["square1024"].map { row.gflops! / $0 }
        row.gemmShare = split.gemm
        row.im2colShare = split.im2col
        row.otherShare = split.other

        if let reference, let referenceFirstLoss {
            let rx = LayerRows.ref(x)
            let t = Stopwatch.measure(repetitions: settings.referenceRepetitions, target: 0, warmUp: false) {
                _ = reference.step(x: rx, labels: labels)
            }
            row.reference = t
            row.referenceSamplesPerSecond = Double(batch) / t.median
            let error = LayerRows.maxRelativeError([[firstLoss]], [[referenceFirstLoss]])
            row.maxRelativeError = error
            row.agrees = error <= Report.tolerance
            row.note = "first-step loss: engine \(firstLoss), reference \(referenceFirstLoss); reference updates with plain SGD"
        }
        return row
    }
}

extension TrainStepRows {
    /// Heap allocations per call of `step`, counted over `calls` calls (20) after the warm-up steps above.
    /// Heap allocations per batch of the whole `fit` loop — batching byte images, the step, the
    /// logs and the callbacks (History, a progress bar writing epoch lines to a silent sink) — from
    /// the third batch to the last, so the warm-up's buffers do not count. Nil without the counter.
    static func fitAllocationsPerStep(model modelName: String, batch: Int) throws -> Double? {
        guard nn_malloc_counter_available() != 0 else { return nil }
        final class Probe: Callback {
            let first = 2
            var last = 0, enabled = false
            var count = 0
            func setParams(_ params: FitParams) { last = params.steps - 1 }
            func onBatchBegin(_ batch: Int, model: Model) throws {
                if batch == first { nn_malloc_counter_reset(); nn_malloc_counter_set_enabled(1); enabled = true }
            }
            func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws {
                if batch == last && enabled { nn_malloc_counter_set_enabled(0); count = Int(nn_malloc_counter_count()); enabled = false }
            }
        }
        let model = try ModelZoo.build(modelName, seed: 1)
        model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        var rng = RandomGenerator(seed: 7)
        let n = batch * 12
        let sample = model.inputShape.reduce(1, *)
        let pixels = ByteImages(shape: [n] + model.inputShape, bytes: (0..<n * sample).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let labels = Tensor(shape: [n], elements: (0..<n).map { _ in Float(rng.next() % 10) })
        let probe = Probe()
        try model.fit(x: pixels, y: labels, batchSize: batch, epochs: 1,
                      callbacks: [ProgressBar(verbosity: .epochLines, output: .silent), probe])
        return Double(probe.count) / Double(probe.last - probe.first + 1)
    }

    static func allocationsPerStep(calls: Int = 20, _ step: () throws -> Void) rethrows -> Double? {
        guard nn_malloc_counter_available() != 0 else { return nil }
        nn_malloc_counter_reset()
        nn_malloc_counter_set_enabled(1)
        defer { nn_malloc_counter_set_enabled(0) }
        for _ in 0..<calls { try step() }
        return Double(nn_malloc_counter_count()) / Double(calls)
    }
}

/// The zoo's `convnet` (Conv2D 32 3×3 relu → MaxPooling2D 2 → Flatten → Dropout 0.5 → Dense 10
/// softmax) as reference calls: direct convolution, plain loops, a fixed dropout mask, SGD.
final class ReferenceConvnet {
    var kernel: RefTensor<Float>
    var bias: [Float]
    var denseKernel: RefTensor<Float>
    var denseBias: [Float]
    let rate: Float
    /// 1 = kept, 0 = dropped, one per flattened feature of the batch.
    var mask: [Float] = []
    let learningRate: Float = 0.01

    init(copying model: Model) throws {
        guard let conv = model.layers.first(where: { $0 is Conv2D }) as? Conv2D,
              let dense = model.layers.first(where: { $0 is Dense }) as? Dense,
              let dropout = model.layers.first(where: { $0 is Dropout }) as? Dropout,
              let convBias = conv.bias, let denseBias = dense.bias else {
            throw NNError.invalidArgument("nn-bench: the zoo's convnet no longer has the Conv2D/Dropout/Dense layers the reference mirrors")
        }
        kernel = LayerRows.ref(conv.kernel.value)
        bias = convBias.value.elements
        denseKernel = LayerRows.ref(dense.kernel.value)
        self.denseBias = denseBias.value.elements
        rate = dropout.rate
    }

    /// The mask the engine's Dropout drew on its last training step, as 0/1.
    static func dropoutMask(of model: Model) throws -> [Float] {
        guard let dropout = model.layers.first(where: { $0 is Dropout }) as? Dropout, let mask = dropout.mask else {
            throw NNError.invalidArgument("nn-bench: the convnet's Dropout kept no mask after a training step")
        }
        return mask.elements.map { $0 > 0 ? 1 : 0 }
    }

    /// Forward, loss, backward and an SGD update; returns the loss before the update.
    func step(x: RefTensor<Float>, labels: [Int]) -> Float {
        let z = Ref.conv2D(x, kernel: kernel, bias: bias)
        let a = Ref.relu(z)
        let p = Ref.maxPool2D(a)
        let f = Ref.flatten(p)
        let d = Ref.dropout(f, mask: mask, rate: rate)
        let logits = Ref.dense(d, kernel: denseKernel, bias: denseBias)
        let (loss, dLogits) = Ref.sparseCategoricalCrossentropyFromLogits(logits, labels: labels)

        let denseGradients = Ref.denseBackward(d, kernel: denseKernel, hasBias: true, outputGradient: dLogits)
        let dd = Ref.dropoutBackward(mask: mask, rate: rate, outputGradient: denseGradients.input)
        let dp = Ref.flattenBackward(dd, inputShape: p.shape)
        let da = Ref.maxPool2DBackward(a, outputGradient: dp)
        let dz = Ref.reluBackward(input: z, outputGradient: da)
        let convGradients = Ref.conv2DBackward(x, kernel: kernel, hasBias: true, outputGradient: dz)

        sgd(&kernel.data, convGradients.kernel.data)
        sgd(&bias, convGradients.bias!)
        sgd(&denseKernel.data, denseGradients.kernel.data)
        sgd(&denseBias, denseGradients.bias!)
        return loss
    }

    private func sgd(_ w: inout [Float], _ g: [Float]) {
        for i in w.indices { w[i] -= learningRate * g[i] }
    }
}
