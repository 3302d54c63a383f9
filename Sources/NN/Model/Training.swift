import Foundation

/// How much `fit` prints, as Keras's `verbose`: a progress bar updated in place (1), one line per
/// epoch (2), or nothing (0). `.auto` picks the bar on a terminal and lines otherwise.
public enum Verbosity: Sendable {
    case silent, progressBar, epochLines, auto

    var resolved: Verbosity {
        guard self == .auto else { return self }
        return isatty(STDOUT_FILENO) != 0 ? .progressBar : .epochLines
    }
}

/// Training stopped because a batch's loss was NaN or infinite. That step was not applied, so the
/// model holds the weights of the last good batch; `history` has the completed epochs.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    /// 1-based, as printed.
    public let epoch: Int
    public let batch: Int
    public let loss: Float
    public let history: History
    public var description: String {
        "loss became \(loss) at epoch \(epoch), batch \(batch); training stopped and the weights of the last good batch were kept (try a lower learning rate)"
    }
}

/// Test loss and metrics (Keras `evaluate`).
public struct Evaluation: Sendable {
    public let loss: Float
    public let metrics: [String: Float]
    public var accuracy: Float? { metrics["accuracy"] }
}

extension Sequential {
    /// Trains for `epochs` passes over `x`/`y` (Keras `fit`). `y` holds class labels `[N]`, one-hot
    /// rows or regression targets, matching the loss. `validationSplit` holds out the last fraction
    /// of the data before shuffling, as Keras does; `validationData` takes precedence over it.
    /// `initialEpoch` (0-based, Keras `initial_epoch`) continues a run restored from a checkpoint.
    @discardableResult
    public func fit(x: Tensor, y: Tensor, batchSize: Int = 32, epochs: Int = 1, initialEpoch: Int = 0,
                    validationSplit: Double = 0, validationData: (x: Tensor, y: Tensor)? = nil, shuffle: Bool = true,
                    callbacks: [Callback] = [], verbose: Verbosity = .auto) throws -> History {
        try checkFitArguments(batchSize: batchSize, epochs: epochs, initialEpoch: initialEpoch, validationSplit: validationSplit)
        try checkData(x: x, y: y, what: "training")
        var trainCount = x.shape[0]
        var validation = validationData
        if validation == nil && validationSplit > 0 {
            // Keras: split_at = floor(n · (1 − split)); the training part is rounded down.
            let held = x.shape[0] - Int((Double(x.shape[0]) * (1 - validationSplit)).rounded(.down))
            guard held > 0 && held < trainCount else {
                throw NNError.invalidArgument("validation split \(validationSplit) of \(trainCount) samples leaves an empty training or validation set")
            }
            trainCount -= held
            validation = (x.rows(trainCount..<x.shape[0]), y.rows(trainCount..<y.shape[0]))
        }
        if let v = validation { try checkData(x: v.x, y: v.y, what: "validation") }
        let batcher = Batcher(x: trainCount < x.shape[0] ? x.rows(0..<trainCount) : x,
                              y: trainCount < y.shape[0] ? y.rows(0..<trainCount) : y, batchSize: batchSize)
        return try fit(batcher: batcher, validate: validation.map { v in { try self.evaluate(x: v.x, y: v.y, batchSize: batchSize) } },
                       epochs: epochs, initialEpoch: initialEpoch, shuffle: shuffle, callbacks: callbacks, verbose: verbose)
    }

    /// `fit` on a dataset. Byte images (a dataset loaded from IDX files) are scaled to floats batch
    /// by batch, so training never holds the Float32 copy of the data set.
    @discardableResult
    public func fit(_ data: Dataset, batchSize: Int = 32, epochs: Int = 1, initialEpoch: Int = 0,
                    validationSplit: Double = 0, validationData: Dataset? = nil, shuffle: Bool = true,
                    callbacks: [Callback] = [], verbose: Verbosity = .auto) throws -> History {
        guard data.pixels != nil else {
            return try fit(x: data.images, y: data.labels, batchSize: batchSize, epochs: epochs, initialEpoch: initialEpoch,
                           validationSplit: validationSplit, validationData: validationData.map { ($0.images, $0.labels) },
                           shuffle: shuffle, callbacks: callbacks, verbose: verbose)
        }
        try checkFitArguments(batchSize: batchSize, epochs: epochs, initialEpoch: initialEpoch, validationSplit: validationSplit)
        try checkData(sampleShape: data.sampleShape, count: data.count, y: data.labels, what: "training")
        var train = data
        var validation = validationData
        if validation == nil && validationSplit > 0 {
            (train, validation) = try data.split(validationFraction: validationSplit)  // Keras's rounding, as fit(x:y:)
        }
        if let v = validation { try checkData(sampleShape: v.sampleShape, count: v.count, y: v.labels, what: "validation") }
        return try fit(batcher: Batcher(dataset: train, batchSize: batchSize),
                       validate: validation.map { v in { try self.evaluate(v, batchSize: batchSize) } },
                       epochs: epochs, initialEpoch: initialEpoch, shuffle: shuffle, callbacks: callbacks, verbose: verbose)
    }

    private func checkFitArguments(batchSize: Int, epochs: Int, initialEpoch: Int, validationSplit: Double) throws {
        guard optimizer != nil, loss != nil else {
            throw NNError.invalidArgument("call compile(optimizer:loss:metrics:) before fit")
        }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        guard epochs >= 0 else { throw NNError.invalidArgument("epochs must not be negative, got \(epochs)") }
        guard initialEpoch >= 0 && initialEpoch <= epochs else {
            throw NNError.invalidArgument("initial epoch \(initialEpoch) is outside 0...\(epochs)")
        }
        guard validationSplit >= 0 && validationSplit < 1 else {
            throw NNError.invalidArgument("validation split must be in [0, 1), got \(validationSplit)")
        }
    }

    /// The epoch loop both `fit`s share: shuffled batches from `batcher`, `validate` after each epoch.
    private func fit(batcher: Batcher, validate: (() throws -> Evaluation)?, epochs: Int, initialEpoch: Int,
                     shuffle: Bool, callbacks: [Callback], verbose: Verbosity) throws -> History {
        let optimizer = optimizer!, loss = loss!
        let verbosity = verbose.resolved
        var history = History()
        let steps = batcher.batchCount
        stopTraining = false
        for c in callbacks { try c.onTrainBegin(model: self) }
        for epoch in initialEpoch..<epochs {
            for c in callbacks { try c.onEpochBegin(epoch, model: self) }
            if shuffle { batcher.shuffle(using: &rng) }
            let progress = ProgressBar(epoch: epoch + 1, epochs: epochs, steps: steps, verbosity: verbosity)
            let start = DispatchTime.now().uptimeNanoseconds
            var lossSum: Double = 0, correct = 0, seen = 0
            for step in 0..<steps {
                for c in callbacks { try c.onBatchBegin(step, model: self) }
                let (xb, yb) = batcher.batch(step)
                let result = try trainStep(x: xb, y: yb, optimizer: optimizer, loss: loss)
                if !result.loss.isFinite {
                    var logs: [String: Float] = ["loss": result.loss]
                    for c in callbacks { try c.onBatchEnd(step, logs: logs, model: self) }
                    logs = [:]
                    progress.finish(logs: logs, seconds: 0)
                    throw NonFiniteLossError(epoch: epoch + 1, batch: step + 1, loss: result.loss, history: history)
                }
                let n = yb.shape[0]
                lossSum += Double(result.loss) * Double(n)
                correct += result.correct
                seen += n
                var logs: [String: Float] = ["loss": Float(lossSum / Double(seen))]
                if metrics.contains(.accuracy) { logs["accuracy"] = Float(correct) / Float(seen) }
                for c in callbacks { try c.onBatchEnd(step, logs: logs, model: self) }
                progress.update(step: step + 1, logs: logs)
                if stopTraining { break }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var logs: [String: Float] = ["loss": Float(lossSum / Double(max(1, seen)))]
            if metrics.contains(.accuracy) { logs["accuracy"] = Float(correct) / Float(max(1, seen)) }
            if let validate {
                let e = try validate()
                logs["val_loss"] = e.loss
                for (k, m) in e.metrics { logs["val_" + k] = m }
            }
            history.epochs.append(.init(epoch: epoch + 1, logs: logs, seconds: seconds, samples: seen))
            progress.finish(logs: logs, seconds: seconds)
            for c in callbacks { try c.onEpochEnd(epoch, logs: logs, model: self) }
            if stopTraining { break }
        }
        for c in callbacks { try c.onTrainEnd(model: self, history: history) }
        return history
    }

    /// One optimization step on one batch: forward, loss, backward, L2, update.
    /// Returns the batch's loss (including L2 penalties) and its number of correct predictions.
    /// A non-finite loss is returned without touching the weights.
    public func trainStep(x: Tensor, y: Tensor, optimizer: Optimizer, loss: Loss) throws -> (loss: Float, correct: Int) {
        let output = try forward(x, training: true)
        let prediction = softmaxFusedWithLoss ? layers.last!.softmaxLogits! : output
        let gradient = outputGradientBuffer.tensor(batch: x.shape[0], sampleShape: outputShape)
        var value = try loss.compute(prediction: prediction, target: y, logits: softmaxFusedWithLoss, gradient: gradient)
        value += regularizationLoss
        guard value.isFinite else { return (value, 0) }
        try backward(gradient)
        let parameters = gatherTrainableParameters()
        for p in parameters where p.l2 > 0 {
            BLAS.axpy(count: p.value.count, alpha: 2 * p.l2, x: p.value.pointer, y: p.gradient.pointer)
        }
        optimizer.update(parameters)
        let correct = metrics.contains(.accuracy) ? Metric.correctCount(output: output, target: y) : 0
        return (value, correct)
    }

    /// Σ l2 · ‖w‖² over the regularized parameters (Keras adds it to the reported loss).
    public var regularizationLoss: Float {
        var total: Float = 0
        for layer in layers {
            for p in layer.parameters where p.l2 > 0 {
                total += p.l2 * BLAS.dot(count: p.value.count, x: p.value.pointer, y: p.value.pointer)
            }
        }
        return total
    }

    /// Mean loss and metrics over `x`/`y` in inference mode (Keras `evaluate`). The loss excludes
    /// regularization penalties when the model has none; with L2 it includes them, as Keras reports.
    public func evaluate(x: Tensor, y: Tensor, batchSize: Int = 32) throws -> Evaluation {
        guard loss != nil else { throw NNError.invalidArgument("call compile(optimizer:loss:metrics:) before evaluate") }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        try checkData(x: x, y: y, what: "evaluation")
        let n = x.shape[0]
        return try evaluate(count: n, batches: (n + batchSize - 1) / batchSize) { b in
            let lo = b * batchSize, hi = min(lo + batchSize, n)
            return (x.rows(lo..<hi), y.rows(lo..<hi))
        }
    }

    /// `evaluate` on a dataset; byte images are scaled batch by batch.
    public func evaluate(_ data: Dataset, batchSize: Int = 32) throws -> Evaluation {
        guard let pixels = data.pixels else { return try evaluate(x: data.images, y: data.labels, batchSize: batchSize) }
        guard loss != nil else { throw NNError.invalidArgument("call compile(optimizer:loss:metrics:) before evaluate") }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        try checkData(sampleShape: data.sampleShape, count: data.count, y: data.labels, what: "evaluation")
        let batcher = Batcher(pixels: pixels, y: data.labels, batchSize: batchSize)
        return try evaluate(count: data.count, batches: batcher.batchCount) { batcher.batch($0) }
    }

    /// Mean loss and metrics over `batches` batches of `count` samples in all.
    private func evaluate(count n: Int, batches: Int, batch: (Int) -> (images: Tensor, labels: Tensor)) throws -> Evaluation {
        let loss = loss!
        var lossSum: Double = 0, correct = 0
        for b in 0..<batches {
            let (xb, yb) = batch(b)
            let output = try forward(xb, training: false)
            let prediction = softmaxFusedWithLoss ? layers.last!.softmaxLogits! : output
            lossSum += Double(try loss.compute(prediction: prediction, target: yb, logits: softmaxFusedWithLoss, gradient: nil)) * Double(xb.shape[0])
            if metrics.contains(.accuracy) { correct += Metric.correctCount(output: output, target: yb) }
        }
        var m: [String: Float] = [:]
        if metrics.contains(.accuracy) { m["accuracy"] = Float(correct) / Float(max(1, n)) }
        return Evaluation(loss: Float(lossSum / Double(max(1, n))) + regularizationLoss, metrics: m)
    }

    /// The model's outputs (probabilities for a softmax head) for every sample, as a new tensor.
    public func predict(_ x: Tensor, batchSize: Int = 32) throws -> Tensor {
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        let n = x.shape.first ?? 0
        let result = Tensor(shape: [n] + outputShape)
        let width = outputShape.reduce(1, *)
        for lo in stride(from: 0, to: n, by: batchSize) {
            let hi = min(lo + batchSize, n)
            let out = try forward(x.rows(lo..<hi), training: false)
            (result.pointer + lo * width).update(from: out.pointer, count: (hi - lo) * width)
        }
        return result
    }

    /// `predict` on a dataset's images; byte images are scaled batch by batch.
    public func predict(_ data: Dataset, batchSize: Int = 32) throws -> Tensor {
        guard let pixels = data.pixels else { return try predict(data.images, batchSize: batchSize) }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        let batcher = Batcher(pixels: pixels, y: data.labels, batchSize: batchSize)
        let result = Tensor(shape: [data.count] + outputShape)
        let width = outputShape.reduce(1, *)
        for b in 0..<batcher.batchCount {
            let out = try forward(batcher.batch(b).images, training: false)
            (result.pointer + b * batchSize * width).update(from: out.pointer, count: out.count)
        }
        return result
    }

    /// The most probable class of every sample of a dataset.
    public func predictClasses(_ data: Dataset, batchSize: Int = 32) throws -> [Int] {
        classes(of: try predict(data, batchSize: batchSize))
    }

    /// The most probable class of every sample.
    public func predictClasses(_ x: Tensor, batchSize: Int = 32) throws -> [Int] {
        classes(of: try predict(x, batchSize: batchSize))
    }

    private func classes(of p: Tensor) -> [Int] {
        let width = outputShape.reduce(1, *)
        return (0..<p.shape[0]).map { Metric.argmax(p.pointer + $0 * width, width) }
    }

    private func checkData(x: Tensor, y: Tensor, what: String) throws {
        guard x.rank >= 1 else {
            throw NNError.shapeMismatch(layer: layers.first?.name ?? "input", typeName: "Sequential", what: "\(what) input",
                                        expected: [-1] + inputShape, got: x.shape)
        }
        try checkData(sampleShape: Array(x.shape.dropFirst()), count: x.shape[0], y: y, what: what)
    }

    private func checkData(sampleShape: [Int], count: Int, y: Tensor, what: String) throws {
        guard sampleShape == inputShape else {
            throw NNError.shapeMismatch(layer: layers.first?.name ?? "input", typeName: "Sequential", what: "\(what) input",
                                        expected: [-1] + inputShape, got: [count] + sampleShape)
        }
        guard count > 0 else { throw NNError.invalidArgument("the \(what) data is empty") }
        guard y.rank >= 1, y.shape[0] == count else {
            throw NNError.invalidArgument("\(what) data has \(count) inputs but \(y.shape.first ?? 0) targets (targets of shape \(y.shape))")
        }
        // Checked here, before any step, so the error names the sample rather than a row of a shuffled batch.
        if loss is SparseCategoricalCrossentropy, y.count == count, let classes = outputShape.last,
           let bad = SparseCategoricalCrossentropy.firstInvalidLabel(y, classes: classes) {
            let label = bad.label == bad.label.rounded() && abs(bad.label) < 1e9 ? String(Int(bad.label)) : "\(bad.label)"
            throw NNError.invalidArgument("\(what) label \(label) of sample \(bad.index) is not a class in 0..<\(classes) "
                                          + "(the model has \(classes) outputs; loss '\(loss!.name)')")
        }
    }
}

extension Tensor {
    /// Rows `range` along axis 0, sharing storage (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of 0..<\(shape[0])")
        let per = count / Swift.max(1, shape[0])
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, storage: storage, offset: offset + range.lowerBound * per)
    }
}
