import Foundation

/// Training stopped because a batch's loss was NaN or infinite. That step was not applied, so the
/// model holds the weights of the last good batch; `history` has the completed epochs.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    /// 1-based, as printed.
    public let epoch: Int
    /// 1-based, as printed.
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

// The one data path: every `fit`, `evaluate` and `predict` reads its inputs through a `Batcher`
// over a `SampleSource` (a Float32 tensor, byte images, …); the `Dataset` forms are thin overloads.
extension Model {
    /// Trains for `epochs` passes over `x`/`y` (Keras `fit`). `x` is a Float32 tensor `[N, ...]` or
    /// any other `SampleSource`; `y` holds class labels `[N]`, one-hot rows or regression targets,
    /// matching the loss. `validationSplit` holds out the last fraction of the data before
    /// shuffling, as Keras does; `validationData` takes precedence over it. `initialEpoch`
    /// (0-based, Keras `initial_epoch`) continues a run restored from a checkpoint.
    ///
    /// The returned `History` and, unless `verbose` is `.silent` or `callbacks` holds one, a
    /// `ProgressBar` run as callbacks before `callbacks`, as in Keras.
    @discardableResult
    public func fit(x: any SampleSource, y: Tensor, batchSize: Int = 32, epochs: Int = 1, initialEpoch: Int = 0,
                    validationSplit: Double = 0, validationData: (x: any SampleSource, y: Tensor)? = nil, shuffle: Bool = true,
                    callbacks: [Callback] = [], verbose: Verbosity = .auto) throws -> History {
        try checkFitArguments(batchSize: batchSize, epochs: epochs, initialEpoch: initialEpoch, validationSplit: validationSplit)
        try checkData(x: x, y: y, what: "training")
        var train: (x: any SampleSource, y: Tensor) = (x, y)
        var validation = validationData
        if validation == nil && validationSplit > 0 {
            let splitAt = try validationSplitPoint(count: x.sampleCount, fraction: validationSplit)
            train = (x.samples(0..<splitAt), y.rows(0..<splitAt))
            validation = (x.samples(splitAt..<x.sampleCount), y.rows(splitAt..<y.shape[0]))
        } else if let v = validation {
            try checkData(x: v.x, y: v.y, what: "validation")
        }
        let batcher = try Batcher(x: train.x, y: train.y, batchSize: batchSize)
        let validationBatcher = try validation.map { try Batcher(x: $0.x, y: $0.y, batchSize: batchSize) }
        if let replicas {
            // Each replica trains on and evaluates its share of every global batch.
            batcher.shard = (replicas.rank, replicas.size)
            validationBatcher?.shard = (replicas.rank, replicas.size)
        }
        return try fit(batcher: batcher, validation: validationBatcher, epochs: epochs, initialEpoch: initialEpoch,
                       shuffle: shuffle, callbacks: callbacks, verbose: verbose)
    }

    /// `fit` on a dataset's images and labels. Byte images (a dataset loaded from IDX files) are
    /// scaled to floats batch by batch, so training never holds the Float32 copy of the data set.
    @discardableResult
    public func fit(_ data: Dataset, batchSize: Int = 32, epochs: Int = 1, initialEpoch: Int = 0,
                    validationSplit: Double = 0, validationData: Dataset? = nil, shuffle: Bool = true,
                    callbacks: [Callback] = [], verbose: Verbosity = .auto) throws -> History {
        try fit(x: data.inputs, y: data.labels, batchSize: batchSize, epochs: epochs, initialEpoch: initialEpoch,
                validationSplit: validationSplit, validationData: validationData.map { ($0.inputs, $0.labels) },
                shuffle: shuffle, callbacks: callbacks, verbose: verbose)
    }

    private func checkFitArguments(batchSize: Int, epochs: Int, initialEpoch: Int, validationSplit: Double) throws {
        guard loss != nil else { throw NNError.invalidArgument("call compile(optimizer:loss:metrics:) before fit") }
        guard optimizer != nil else { throw NNError.invalidArgument("fit needs an optimizer: compile(optimizer:loss:metrics:) was given none") }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        guard epochs >= 0 else { throw NNError.invalidArgument("epochs must not be negative, got \(epochs)") }
        guard initialEpoch >= 0 && initialEpoch <= epochs else {
            throw NNError.invalidArgument("initial epoch \(initialEpoch) is outside 0...\(epochs)")
        }
        guard validationSplit >= 0 && validationSplit < 1 else {
            throw NNError.invalidArgument("validation split must be in [0, 1), got \(validationSplit)")
        }
    }

    /// The epoch loop: shuffled batches from `batcher`, an evaluation of `validation` after each
    /// epoch, and every report (history, progress bar, the user's callbacks) through callbacks.
    /// With `replicas`, every replica draws the same order, trains on its share of each global
    /// batch, and logs the global batch's loss and accuracy; replica 0's stop decisions are
    /// broadcast, so all replicas stop together.
    private func fit(batcher: Batcher, validation: Batcher?, epochs: Int, initialEpoch: Int,
                     shuffle: Bool, callbacks userCallbacks: [Callback], verbose: Verbosity) throws -> History {
        let history = userCallbacks.lazy.compactMap { $0 as? History }.first ?? History()
        var callbacks: [Callback] = userCallbacks.contains { $0 === history } ? [] : [history]
        if verbose != .silent && !userCallbacks.contains(where: { $0 is ProgressBar }) {
            callbacks.append(ProgressBar(verbosity: verbose))
        }
        callbacks += userCallbacks
        let steps = batcher.batchCount
        stopTraining = false
        for c in callbacks { c.setParams(FitParams(epochs: epochs, initialEpoch: initialEpoch, steps: steps)) }
        for c in callbacks { try c.onTrainBegin(model: self) }
        defer { if replicas != nil { setBatchWindow(nil) } }
        for epoch in initialEpoch..<epochs {
            for c in callbacks { try c.onEpochBegin(epoch, model: self) }
            if shuffle { batcher.shuffle(using: &rng) }
            let start = DispatchTime.now().uptimeNanoseconds
            func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            var lossSum: Double = 0, seen = 0
            epochMetrics.reset()
            var logs = Logs()
            for step in 0..<steps {
                let window = batcher.window(step)
                // A last batch smaller than the replica count would leave a replica without
                // samples: every replica skips it (at most size − 1 samples an epoch).
                if let replicas, window.total < replicas.size { continue }
                for c in callbacks { try c.onBatchBegin(step, model: self) }
                let (xb, yb) = batcher.batch(step)
                try batcher.x.checkHealth()
                let result = try trainStep(x: xb, y: yb, window: window)
                if !result.loss.isFinite {
                    let logs = Logs(loss: result.loss, samples: seen, seconds: elapsed())
                    for c in callbacks { try c.onBatchEnd(step, logs: logs, model: self) }
                    throw NonFiniteLossError(epoch: epoch + 1, batch: step + 1, loss: result.loss, history: history)
                }
                let n = window.total
                lossSum += Double(result.loss) * Double(n)
                seen += n
                logs.loss = Float(lossSum / Double(seen))
                logs.samples = seen
                logs.seconds = elapsed()
                for (i, m) in metrics.enumerated() { logs[m.name] = epochMetrics.result(i) }
                for c in callbacks { try c.onBatchEnd(step, logs: logs, model: self) }
                if let replicas { stopTraining = try replicas.broadcast(stopTraining ? 1 : 0) != 0 }
                if stopTraining { break }
            }
            if let replicas { try averageMovingStatistics(replicas) }
            logs.loss = Float(lossSum / Double(max(1, seen)))
            logs.samples = seen
            logs.seconds = elapsed()
            if let validation {
                let e = try evaluate(validation)
                logs["val_loss"] = e.loss
                for (k, m) in e.metrics { logs["val_" + k] = m }
            }
            for c in callbacks { try c.onEpochEnd(epoch, logs: logs, model: self) }
            if let replicas { stopTraining = try replicas.broadcast(stopTraining ? 1 : 0) != 0 }
            if stopTraining { break }
        }
        for c in callbacks { try c.onTrainEnd(model: self, history: history) }
        return history
    }

    /// One optimization step on one batch with the compiled optimizer and loss: forward, loss,
    /// backward, L2, update. Returns the batch's loss (including L2 penalties) and its number of
    /// correct predictions (by Keras's `"accuracy"` rule when the model has that metric, else 0); the
    /// batch also goes into the epoch's metric states. A non-finite loss is returned without
    /// touching the weights.
    public func trainStep(x: Tensor, y: Tensor) throws -> (loss: Float, correct: Int) {
        try trainStep(x: x, y: y, window: nil)
    }

    /// `trainStep` on this replica's `window` of a global batch. With `replicas`, the gradients
    /// (and the loss and correct count) are reduced over the replicas after backward, so every
    /// replica applies the same update and returns the global batch's loss and correct count.
    func trainStep(x: Tensor, y: Tensor, window: BatchWindow?) throws -> (loss: Float, correct: Int) {
        try usingPool {
            guard let optimizer, let head else { throw NNError.invalidArgument("trainStep needs compile(optimizer:loss:metrics:) with an optimizer and a loss") }
            let replicas = self.replicas
            if replicas != nil { setBatchWindow(window ?? BatchWindow(whole: x.shape[0])) }
            let output = try forward(x, training: true)
            let gradient = outputGradientBuffer.tensor(batch: x.shape[0], sampleShape: outputShape)
            var value = try head.loss(output: output, target: y, gradient: gradient)
            var metricsReduced = false
            if let replicas {
                // Every replica takes part in the reduction, even with a non-finite loss: the
                // summed loss is then non-finite on all of them and none updates.
                if value.isFinite { try backward(gradient) }
                // This replica's share of the global batch; a direct `trainStep` call (no window)
                // gives every replica a whole batch of its own, averaged.
                let w = window.map { Float($0.count) / Float($0.total) } ?? 1 / Float(replicas.size)
                // The batch's metric sums travel with the loss, so every replica logs the global batch's.
                stepMetrics.reset()
                if value.isFinite { stepMetrics.update(output: output, target: y) }
                let count = 1 + stepMetrics.sums.count
                value = try withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { totals in
                    totals[0] = value * w
                    stepMetrics.withSums { for (i, v) in $0.enumerated() { totals[1 + i] = Float(v) } }
                    try replicas.reduceGradients(gatherTrainableParameters(), weight: w, totals: totals.baseAddress!, totalCount: count)
                    stepMetrics.withSums { for i in $0.indices { $0[i] = Double(totals[1 + i]) } }
                    return totals[0]
                }
                metricsReduced = true
            }
            value += regularizationLoss
            guard value.isFinite else { return (value, 0) }
            if replicas == nil { try backward(gradient) }
            let parameters = gatherTrainableParameters()
            for p in parameters where p.l2 > 0 {
                BLAS.axpy(count: p.value.count, alpha: 2 * p.l2, x: p.value.pointer, y: p.gradient.pointer)
            }
            optimizer.update(parameters)
            let before = accuracyIndex.map { epochMetrics.correct($0) } ?? 0
            if metricsReduced { epochMetrics.add(stepMetrics) } else { epochMetrics.update(output: output, target: y) }
            return (value, accuracyIndex.map { epochMetrics.correct($0) - before } ?? 0)
        }
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
    public func evaluate(x: any SampleSource, y: Tensor, batchSize: Int = 32) throws -> Evaluation {
        guard loss != nil else { throw NNError.invalidArgument("call compile(optimizer:loss:metrics:) before evaluate") }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        try checkData(x: x, y: y, what: "evaluation")
        let batcher = try Batcher(x: x, y: y, batchSize: batchSize)
        if let replicas { batcher.shard = (replicas.rank, replicas.size) }
        return try evaluate(batcher)
    }

    /// `evaluate` on a dataset's images and labels; byte images are scaled batch by batch.
    public func evaluate(_ data: Dataset, batchSize: Int = 32) throws -> Evaluation {
        try evaluate(x: data.inputs, y: data.labels, batchSize: batchSize)
    }

    /// Mean loss and metrics over the batches of a checked batcher, in order. A sharded batcher
    /// evaluates this replica's share of each batch and sums the loss and counts over the replicas.
    private func evaluate(_ batcher: Batcher) throws -> Evaluation {
        let head = head!
        var lossSum: Double = 0
        var states = MetricStates(metrics)
        for b in 0..<batcher.batchCount {
            if batcher.shard != nil && batcher.window(b).count == 0 { continue }
            let (xb, yb) = batcher.batch(b)
            try batcher.x.checkHealth()
            let output = try forward(xb, training: false)
            lossSum += Double(try head.loss(output: output, target: yb, gradient: nil)) * Double(xb.shape[0])
            states.update(output: output, target: yb)
        }
        if let replicas, batcher.shard != nil {
            // The replicas' loss sums and metric states add up to the whole data's.
            var sums = [lossSum] + states.sums
            try replicas.sum(&sums, count: sums.count)
            lossSum = sums[0]
            states.withSums { for i in $0.indices { $0[i] = sums[1 + i] } }
        }
        let n = batcher.count
        var m: [String: Float] = [:]
        for (i, metric) in metrics.enumerated() { m[metric.name] = states.result(i) }
        return Evaluation(loss: Float(lossSum / Double(max(1, n))) + regularizationLoss, metrics: m)
    }

    /// The model's outputs (probabilities for a softmax head) for every sample of `x` (a Float32
    /// tensor `[N, ...]` or any other `SampleSource`), as a new tensor `[N] + outputShape`.
    public func predict(_ x: any SampleSource, batchSize: Int = 32) throws -> Tensor {
        try requireOneInputAndOutput()
        guard x.sampleShape == inputShape, (x as? Tensor)?.rank ?? 1 >= 1 else {
            throw inputShapeError(what: "prediction input", got: (x as? Tensor)?.shape ?? [x.sampleCount] + x.sampleShape)
        }
        let batcher = try Batcher(x: x, batchSize: batchSize)
        let result = Tensor(shape: [x.sampleCount] + outputShape)
        let width = outputShape.reduce(1, *)
        for b in 0..<batcher.batchCount {
            let images = batcher.batch(b).images
            try batcher.x.checkHealth()
            let out = try forward(images, training: false)
            (result.pointer + b * batchSize * width).update(from: out.pointer, count: out.count)
        }
        return result
    }

    /// `predict` on a dataset's images; byte images are scaled batch by batch.
    public func predict(_ data: Dataset, batchSize: Int = 32) throws -> Tensor {
        try predict(data.inputs, batchSize: batchSize)
    }

    /// The most probable class of every sample.
    public func predictClasses(_ x: any SampleSource, batchSize: Int = 32) throws -> [Int] {
        let p = try predict(x, batchSize: batchSize)
        let width = outputShape.reduce(1, *)
        return (0..<p.shape[0]).map { Metric.argmax(p.pointer + $0 * width, width) }
    }

    /// The most probable class of every sample of a dataset.
    public func predictClasses(_ data: Dataset, batchSize: Int = 32) throws -> [Int] {
        try predictClasses(data.inputs, batchSize: batchSize)
    }

    /// `fit`, `evaluate` and `predict` feed one input and score one output.
    private func requireOneInputAndOutput() throws {
        guard inputShapes.count == 1, outputValues.count == 1 else {
            throw NNError.invalidArgument("fit, evaluate and predict take models with one input and one output; this one has \(inputShapes.count) inputs and \(outputValues.count) outputs (run it batch by batch with forward(_ inputs: [Tensor]))")
        }
    }

    /// Checks inputs and targets once, before any batch, so errors name the sample (not a row of
    /// a shuffled batch) and say which data (`training`, `validation`, `evaluation`) is wrong.
    private func checkData(x: any SampleSource, y: Tensor, what: String) throws {
        try requireOneInputAndOutput()
        guard x.sampleShape == inputShape, (x as? Tensor)?.rank ?? 1 >= 1 else {
            throw inputShapeError(what: "\(what) input", got: (x as? Tensor)?.shape ?? [x.sampleCount] + x.sampleShape)
        }
        let count = x.sampleCount
        guard count > 0 else { throw NNError.invalidArgument("the \(what) data is empty") }
        guard y.rank >= 1, y.shape[0] == count else {
            throw NNError.invalidArgument("\(what) data has \(count) inputs but \(y.shape.first ?? 0) targets (targets of shape \(y.shape))")
        }
        do {
            try loss?.checkTargets(y, outputShape: outputShape)
        } catch let NNError.invalidArgument(message) {
            throw NNError.invalidArgument("\(what) \(message)")
        }
    }
}
