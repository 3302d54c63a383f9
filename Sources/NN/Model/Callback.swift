import Foundation

/// Hooks into `fit` at the begin and end of training, of each epoch and of each batch (Keras
/// callbacks). Set `model.stopTraining` to end after the current epoch. All methods default to nothing.
public protocol Callback: AnyObject {
    func onTrainBegin(model: Sequential) throws
    func onTrainEnd(model: Sequential, history: History) throws
    /// `epoch` is 0-based, as in Keras.
    func onEpochBegin(_ epoch: Int, model: Sequential) throws
    func onEpochEnd(_ epoch: Int, logs: [String: Float], model: Sequential) throws
    func onBatchBegin(_ batch: Int, model: Sequential) throws
    func onBatchEnd(_ batch: Int, logs: [String: Float], model: Sequential) throws
}

extension Callback {
    public func onTrainBegin(model: Sequential) throws {}
    public func onTrainEnd(model: Sequential, history: History) throws {}
    public func onEpochBegin(_ epoch: Int, model: Sequential) throws {}
    public func onEpochEnd(_ epoch: Int, logs: [String: Float], model: Sequential) throws {}
    public func onBatchBegin(_ batch: Int, model: Sequential) throws {}
    public func onBatchEnd(_ batch: Int, logs: [String: Float], model: Sequential) throws {}
}

/// Whether larger or smaller values of a monitored quantity are better; `.auto` decides by name
/// as Keras does (accuracy-like names are maximized, everything else minimized).
public enum MonitorMode: String, Sendable {
    case auto, min, max

    func resolved(for monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        return monitor.hasSuffix("acc") || monitor.hasSuffix("accuracy") || monitor.hasPrefix("fmeasure") ? .max : .min
    }
}

/// Stops training when a monitored quantity has stopped improving (Keras `EarlyStopping`, same
/// rules): an epoch improves when it beats the best by more than `minDelta`; after `patience`
/// epochs without improvement training stops and, if asked, the best epoch's weights come back.
public final class EarlyStopping: Callback {
    public let monitor: String
    public let minDelta: Float
    public let patience: Int
    public let mode: MonitorMode
    public let baseline: Float?
    public let restoreBestWeights: Bool
    public let startFromEpoch: Int
    /// 0-based epoch at which training was stopped, or nil.
    public private(set) var stoppedEpoch: Int?
    public private(set) var bestEpoch: Int?
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

    public func onTrainBegin(model: Sequential) throws {
        wait = 0
        stoppedEpoch = nil
        bestEpoch = nil
        best = mode == .min ? .infinity : -.infinity
        bestWeights = nil
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Float], model: Sequential) throws {
        guard let current = logs[monitor] else {
            throw NNError.invalidArgument("EarlyStopping monitors '\(monitor)', which is not among the logged values \(logs.keys.sorted())")
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
    public let monitor: String
    public let threshold: Float
    public let mode: MonitorMode
    public private(set) var stoppedEpoch: Int?

    public init(monitor: String = "accuracy", threshold: Float, mode: MonitorMode = .auto) {
        self.monitor = monitor
        self.threshold = threshold
        self.mode = mode.resolved(for: monitor)
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Float], model: Sequential) throws {
        guard let v = logs[monitor] else {
            throw NNError.invalidArgument("ThresholdStopping monitors '\(monitor)', which is not among the logged values \(logs.keys.sorted())")
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
    public let path: String
    public let monitor: String
    public let saveBestOnly: Bool
    public let mode: MonitorMode
    public private(set) var best: Float?
    public private(set) var savedPaths: [String] = []

    public init(path: String, monitor: String = "val_loss", saveBestOnly: Bool = false, mode: MonitorMode = .auto) {
        self.path = path
        self.monitor = monitor
        self.saveBestOnly = saveBestOnly
        self.mode = mode.resolved(for: monitor)
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Float], model: Sequential) throws {
        if saveBestOnly {
            guard let v = logs[monitor] else {
                throw NNError.invalidArgument("ModelCheckpoint monitors '\(monitor)', which is not among the logged values \(logs.keys.sorted())")
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
    public func onEpochBegin(_ epoch: Int, model: Sequential) throws { self.epoch = epoch }
    public func onBatchEnd(_ batch: Int, logs: [String: Float], model: Sequential) throws {
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

    public func onEpochBegin(_ epoch: Int, model: Sequential) throws {
        guard let optimizer = model.optimizer else { return }
        let lr = schedule(epoch, optimizer.learningRate)
        guard lr > 0 && lr.isFinite else {
            throw NNError.invalidArgument("LearningRateScheduler gave learning rate \(lr) for epoch \(epoch + 1); it must be a positive number")
        }
        optimizer.learningRate = lr
    }
}

@inline(__always) func _powf(_ a: Float, _ b: Float) -> Float { Foundation.powf(a, b) }
