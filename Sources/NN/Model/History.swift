import Foundation

/// What `fit` returns (Keras `History`): per epoch, the training and validation loss and metrics
/// and how long the epoch took.
public struct History: Sendable {
    public struct Epoch: Sendable, Equatable {
        /// 1-based, as printed.
        public var epoch: Int
        /// Keys as Keras names them: `loss`, `accuracy`, `val_loss`, `val_accuracy`.
        public var logs: [String: Float]
        public var seconds: Double
        public var samples: Int
    }

    public internal(set) var epochs: [Epoch] = []
    public init() {}

    /// The values of one key over the epochs (Keras `history.history["loss"]`).
    public subscript(key: String) -> [Float] { epochs.compactMap { $0.logs[key] } }

    /// Training samples per second over all epochs.
    public var samplesPerSecond: Double {
        let s = epochs.reduce(0) { $0 + $1.seconds }
        return s > 0 ? Double(epochs.reduce(0) { $0 + $1.samples }) / s : 0
    }

    /// `[{"epoch": 1, "loss": …, "accuracy": …, "val_loss": …, "val_accuracy": …, "seconds": …}, …]`
    public var jsonObject: [[String: Any]] {
        epochs.map { e in
            var d: [String: Any] = ["epoch": e.epoch, "seconds": e.seconds]
            for (k, v) in e.logs { d[k] = v.isFinite ? Double(v) : nil }
            return d
        }
    }
}
