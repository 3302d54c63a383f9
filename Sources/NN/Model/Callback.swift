import Foundation

/// Hooks into `fit` at the begin and end of training, of each epoch and of each batch (Keras
/// callbacks). Set `model.stopTraining` to end after the current epoch. All methods default to
/// nothing. `fit` itself reports through callbacks: its `History` and `ProgressBar` are two of them.
public protocol Callback: AnyObject {
    /// Called once before `onTrainBegin` with the run's epochs and steps (Keras `set_params`).
    func setParams(_ params: FitParams)
    /// Before the first epoch: reset per-run state here (a callback may serve several `fit`s).
    func onTrainBegin(model: Model) throws
    /// After the last epoch, also when a callback stopped training early.
    func onTrainEnd(model: Model, history: History) throws
    /// `epoch` is 0-based, as in Keras.
    func onEpochBegin(_ epoch: Int, model: Model) throws
    /// `logs` holds the epoch's training loss and metrics, the validation ones (`val_loss`, …),
    /// and the epoch's training time and sample count.
    func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws
    /// `batch` is 0-based within the epoch.
    func onBatchBegin(_ batch: Int, model: Model) throws
    /// `logs` holds the running mean loss and metrics of the epoch so far.
    func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws
}

extension Callback {
    public func setParams(_ params: FitParams) {}
    public func onTrainBegin(model: Model) throws {}
    public func onTrainEnd(model: Model, history: History) throws {}
    public func onEpochBegin(_ epoch: Int, model: Model) throws {}
    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {}
    public func onBatchBegin(_ batch: Int, model: Model) throws {}
    public func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws {}
}

/// What a `fit` run is (Keras `callback.params`).
public struct FitParams: Sendable, Equatable {
    /// The epoch count asked for; epochs are numbered 0..<epochs.
    public var epochs: Int
    /// The epoch the run starts at (nonzero when resuming).
    public var initialEpoch: Int
    /// Batches per epoch.
    public var steps: Int
    public init(epochs: Int, initialEpoch: Int = 0, steps: Int) {
        self.epochs = epochs
        self.initialEpoch = initialEpoch
        self.steps = steps
    }
}

/// The values `fit` hands its callbacks (Keras `logs`), read by Keras name: `logs["loss"]`,
/// `logs["accuracy"]`, `logs["val_loss"]`. The loss and accuracy are fields, so the logs of a batch
/// are made without allocating; `samples` and `seconds` count the epoch's training so far.
public struct Logs: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public var loss: Float?
    public var accuracy: Float?
    /// Every other value by name (`val_loss`, `val_accuracy`, …).
    public var others: [String: Float] = [:]
    /// Training samples seen in the epoch so far.
    public var samples: Int = 0
    /// Training time of the epoch so far (validation excluded).
    public var seconds: Double = 0

    /// Empty logs.
    public init() {}

    public init(loss: Float?, accuracy: Float? = nil, samples: Int = 0, seconds: Double = 0) {
        self.loss = loss
        self.accuracy = accuracy
        self.samples = samples
        self.seconds = seconds
    }

    public init(dictionaryLiteral elements: (String, Float)...) {
        for (key, value) in elements { self[key] = value }
    }

    public subscript(key: String) -> Float? {
        get {
            switch key {
            case "loss": loss
            case "accuracy": accuracy
            default: others[key]
            }
        }
        set {
            switch key {
            case "loss": loss = newValue
            case "accuracy": accuracy = newValue
            default: others[key] = newValue
            }
        }
    }

    /// The names with a value, sorted as Keras prints them.
    public var keys: [String] { values.keys.sorted() }

    /// Every value by name.
    public var values: [String: Float] {
        var d = others
        if let loss { d["loss"] = loss }
        if let accuracy { d["accuracy"] = accuracy }
        return d
    }
}

/// Whether larger or smaller values of a monitored quantity are better; `.auto` decides by name
/// as Keras does (accuracy-like names are maximized, everything else minimized).
public enum MonitorMode: String, Sendable {
    case auto, min, max

    func resolved(for monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        // Keras's metric directions: accuracies, AUC, precision and recall go up; losses and errors down.
        let name = monitor.hasPrefix("val_") ? String(monitor.dropFirst(4)) : monitor
        let up = name.hasSuffix("acc") || name.hasSuffix("accuracy") || name.hasPrefix("fmeasure") || ["auc", "precision", "recall"].contains(name)
        return up ? .max : .min
    }
}

/// Stops training when a monitored quantity has stopped improving (Keras `EarlyStopping`, same
/// rules): an epoch improves when it beats the best by more than `minDelta`; after `patience`
/// epochs without improvement training stops and, if asked, the best epoch's weights come back.
public final class EarlyStopping: Callback {
    /// The logged value watched (Keras `monitor`), e.g. `val_loss` or `val_accuracy`.
    public let monitor: String
    /// The least change that counts as an improvement (Keras `min_delta`).
    public let minDelta: Float
    /// Epochs without improvement after which training stops.
    public let patience: Int
    /// Whether larger or smaller is better (`.auto` decides by the monitored name).
    public let mode: MonitorMode
    /// A value the monitored quantity must beat; until it does, no epoch counts as an improvement.
    public let baseline: Float?
    /// Whether the best epoch's weights are put back when training stops.
    public let restoreBestWeights: Bool
    /// Epochs (0-based) before which no improvement is sought (Keras `start_from_epoch`, a warm-up).
    public let startFromEpoch: Int
    /// 0-based epoch at which training was stopped, or nil.
    public private(set) var stoppedEpoch: Int?
    /// 0-based epoch of the best monitored value so far, or nil.
    public private(set) var bestEpoch: Int?
    /// The best monitored value so far.
    public private(set) var best: Float = .infinity
    private var wait = 0
    private var bestWeights: [Tensor]?

    public init(monitor: String = "val_loss", minDelta: Float = 0, patience: Int = 0, mode: MonitorMode = .auto,
                baseline: Float? = nil, restoreBestWeights: Bool = false, startFromEpoch: Int = 0) {
        self.monitor = monitor
        self.minDelta = abs(minDelta)
        self.patience = patience
        self.mode = mode.resolved(for: monitor)
        self.baseline = baseline
        self.restoreBestWeights = restoreBestWeights
        self.startFromEpoch = startFromEpoch
    }

    public func onTrainBegin(model: Model) throws {
        wait = 0
        stoppedEpoch = nil
        bestEpoch = nil
        best = mode == .min ? .infinity : -.infinity
        bestWeights = nil
    }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        guard let current = logs[monitor] else {
            throw NNError.invalidArgument("EarlyStopping monitors '\(monitor)', which is not among the logged values \(logs.keys)")
        }
        // Keras: until some epoch improves, the current weights count as the best.
        if restoreBestWeights && bestWeights == nil { bestWeights = model.namedParameters.map { $0.parameter.value.copy() } }
        guard epoch >= startFromEpoch else { return }
        wait += 1
        if isImprovement(current, best) {
            best = current
            bestEpoch = epoch
            if restoreBestWeights { bestWeights = model.namedParameters.map { $0.parameter.value.copy() } }
            if baseline == nil || isImprovement(current, baseline!) { wait = 0 }
            return
        }
        if wait >= patience && epoch > 0 {
            stoppedEpoch = epoch
            model.stopTraining = true
            if restoreBestWeights, let bestWeights {
                for (p, w) in zip(model.namedParameters, bestWeights) { p.parameter.value.assign(w) }
            }
        }
    }

    private func isImprovement(_ value: Float, _ reference: Float) -> Bool {
        mode == .max ? value - minDelta > reference : value + minDelta < reference
    }
}

/// Stops training at the end of the first epoch whose metric reaches a threshold (the tutorials'
/// "stop once accuracy reaches 95%"): at or above it for accuracy-like metrics, at or below for losses.
public final class ThresholdStopping: Callback {
    /// The logged value watched, e.g. `accuracy` or `val_accuracy`.
    public let monitor: String
    /// The value at which training stops.
    public let threshold: Float
    /// Whether reaching means at or above (`.max`) or at or below (`.min`).
    public let mode: MonitorMode
    /// 0-based epoch at which training was stopped, or nil.
    public private(set) var stoppedEpoch: Int?

    public init(monitor: String = "accuracy", threshold: Float, mode: MonitorMode = .auto) {
        self.monitor = monitor
        self.threshold = threshold
        self.mode = mode.resolved(for: monitor)
    }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        guard let v = logs[monitor] else {
            throw NNError.invalidArgument("ThresholdStopping monitors '\(monitor)', which is not among the logged values \(logs.keys)")
        }
        if mode == .max ? v >= threshold : v <= threshold {
            stoppedEpoch = epoch
            model.stopTraining = true
        }
    }
}

/// Saves the model's weights after each epoch, or only when the monitored quantity improves
/// (Keras `ModelCheckpoint` with `save_weights_only`). `{epoch}` in the path is replaced by the
/// 1-based epoch number. Files are written atomically.
public final class ModelCheckpoint: Callback {
    /// Where the weights go; `{epoch}` becomes the 1-based epoch.
    public let path: String
    /// The logged value that decides "best" when `saveBestOnly`.
    public let monitor: String
    /// Save only epochs that improve on the best so far.
    public let saveBestOnly: Bool
    /// Whether larger or smaller is better (`.auto` decides by the monitored name).
    public let mode: MonitorMode
    /// The best monitored value saved so far.
    public private(set) var best: Float?
    /// Every file written, in order.
    public private(set) var savedPaths: [String] = []

    public init(path: String, monitor: String = "val_loss", saveBestOnly: Bool = false, mode: MonitorMode = .auto) {
        self.path = path
        self.monitor = monitor
        self.saveBestOnly = saveBestOnly
        self.mode = mode.resolved(for: monitor)
    }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        if saveBestOnly {
            guard let v = logs[monitor] else {
                throw NNError.invalidArgument("ModelCheckpoint monitors '\(monitor)', which is not among the logged values \(logs.keys)")
            }
            if let best, !(mode == .max ? v > best : v < best) { return }
            best = v
        }
        let file = path.replacingOccurrences(of: "{epoch}", with: String(epoch + 1))
        try model.saveWeights(to: file)
        savedPaths.append(file)
    }
}

/// Stops training as soon as a batch's loss is NaN or infinite (Keras `TerminateOnNaN`).
/// `fit` itself already refuses to apply such a step, so the weights stay those of the last good batch.
public final class TerminateOnNaN: Callback {
    public private(set) var terminatedAt: (epoch: Int, batch: Int)?
    private var epoch = 0
    public init() {}
    public func onEpochBegin(_ epoch: Int, model: Model) throws { self.epoch = epoch }
    public func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws {
        if let l = logs["loss"], !l.isFinite {
            terminatedAt = (epoch, batch)
            model.stopTraining = true
        }
    }
}

/// Sets the optimizer's learning rate at the start of each epoch from `schedule(epoch, current)`
/// (Keras `LearningRateScheduler`; `epoch` is 0-based).
public final class LearningRateScheduler: Callback {
    public let schedule: (Int, Float) -> Float
    public init(_ schedule: @escaping (Int, Float) -> Float) { self.schedule = schedule }

    /// lr = initial · factorᵉᵖᵒᶜʰ, the exponential decay the deep-convnet recipe uses.
    public static func exponential(initial: Float, factor: Float) -> LearningRateScheduler {
        LearningRateScheduler { epoch, _ in initial * _powf(factor, Float(epoch)) }
    }

    public func onEpochBegin(_ epoch: Int, model: Model) throws {
        guard let optimizer = model.optimizer else { return }
        let lr = schedule(epoch, optimizer.learningRate)
        guard lr > 0 && lr.isFinite else {
            throw NNError.invalidArgument("LearningRateScheduler gave learning rate \(lr) for epoch \(epoch + 1); it must be a positive number")
        }
        optimizer.learningRate = lr
    }
}

@inline(__always) func _powf(_ a: Float, _ b: Float) -> Float { Foundation.powf(a, b) }
