import Foundation

/// What `fit` returns (Keras `History`): per epoch, the training and validation loss and metrics,
/// how long the epoch's training took and how many samples it saw. Like Keras's, it is a callback
/// that `fit` runs first; pass one in `callbacks` to have `fit` record into it.
public final class History: Callback {
    /// One epoch's record.
    public struct Epoch: Sendable, Equatable {
        /// 1-based, as printed.
        public var epoch: Int
        /// Keys as Keras names them: `loss`, `accuracy`, `val_loss`, `val_accuracy`.
        public var logs: [String: Float]
        /// Training time of the epoch (validation excluded).
        public var seconds: Double
        /// Training samples the epoch saw.
        public var samples: Int

        public init(epoch: Int, logs: [String: Float], seconds: Double, samples: Int) {
            self.epoch = epoch
            self.logs = logs
            self.seconds = seconds
            self.samples = samples
        }
    }

    public private(set) var epochs: [Epoch] = []

    /// An empty history, or one holding `epochs` (e.g. read back from a file).
    public init(epochs: [Epoch] = []) { self.epochs = epochs }

    public func onTrainBegin(model: Model) throws { epochs = [] }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        epochs.append(Epoch(epoch: epoch + 1, logs: logs.values, seconds: logs.seconds, samples: logs.samples))
    }

    /// The values of one key over the epochs (Keras `history.history["loss"]`).
    public subscript(key: String) -> [Float] { epochs.compactMap { $0.logs[key] } }

    /// Training samples per second over all epochs.
    public var samplesPerSecond: Double {
        let s = epochs.reduce(0) { $0 + $1.seconds }
        return s > 0 ? Double(epochs.reduce(0) { $0 + $1.samples }) / s : 0
    }

    /// `[{"epoch": 1, "loss": …, "accuracy": …, "val_loss": …, "val_accuracy": …, "seconds": …, "samples": …}, …]`
    public var jsonObject: [[String: Any]] {
        epochs.map { e in
            var d: [String: Any] = ["epoch": e.epoch, "seconds": e.seconds, "samples": e.samples]
            for (k, v) in e.logs { d[k] = v.isFinite ? Double(v) : nil }
            return d
        }
    }
}
