import Dispatch
import Foundation
import NN

/// A copy of the weights at the last epoch end whose loss and weights were all finite, so that
/// after divergence `--save` writes weights that still evaluate (the last good *batch*'s weights
/// can be finite but already huge). Copies are allocated once, at the first epoch end, and
/// overwritten in place after that: nothing is allocated per batch.
final class LastFiniteWeights: Callback {
    private var copies: [Tensor] = []
    /// Epochs done when the copy was taken (1-based), nil before the first.
    private(set) var epoch: Int?

    func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        if let loss = logs.loss, !loss.isFinite { return }
        keep(model, epoch: epoch + 1)
    }

    /// Copies the model's weights if every one is finite.
    func keep(_ model: Model, epoch: Int) {
        let values = model.namedParameters.map(\.parameter.value)
        guard values.allSatisfy({ t in UnsafeBufferPointer(start: t.pointer, count: t.count).allSatisfy(\.isFinite) }) else { return }
        if copies.count != values.count { copies = values.map { $0.copy() } } else { for (c, v) in zip(copies, values) { c.assign(v) } }
        self.epoch = epoch
    }

    /// Puts the kept weights back into `model`; returns their epoch, or nil when none were kept.
    func restore(into model: Model) -> Int? {
        guard let epoch else { return nil }
        for (v, c) in zip(model.namedParameters.map(\.parameter.value), copies) { v.assign(c) }
        return epoch
    }
}

/// On SIGINT/SIGTERM during `cnn train`: prints one line saying where the last complete checkpoint
/// is (or that there is none) and exits 130/143. The handler runs on a dispatch queue, not in
/// signal context, and only reads a message rebuilt under a lock after each checkpoint; it exits
/// with `_exit` so no atexit work races the training thread. A save cut short leaves the previous
/// checkpoint intact (saves are atomic).
final class InterruptReporter: Callback, @unchecked Sendable {
    private let checkpoint: String?
    private let lock = NSLock()
    private var lastEpoch: Int?
    private var sources: [DispatchSourceSignal] = []

    private init(checkpoint: String?) { self.checkpoint = checkpoint }

    /// Installs the handlers for the rest of the process and returns the reporter (add it after
    /// the CheckpointCallback so it learns of each checkpoint written).
    static func install(checkpoint: String?) -> InterruptReporter {
        let reporter = InterruptReporter(checkpoint: checkpoint)
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [reporter] in reporter.interrupted(name: name, status: 128 + sig) }
            source.resume()
            reporter.sources.append(source)
        }
        return reporter
    }

    func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        lock.lock()
        lastEpoch = epoch + 1
        lock.unlock()
    }

    func onTrainBegin(model: Model) throws {
        // A resumed run's checkpoint is already complete before the first new epoch.
        guard let checkpoint, OutputPaths.exists(checkpoint) else { return }
        lock.lock()
        if lastEpoch == nil { lastEpoch = 0 }
        lock.unlock()
    }

    func message(name: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let checkpoint, let lastEpoch {
            let after = lastEpoch > 0 ? " (after epoch \(lastEpoch))" : ""
            return "\ninterrupted by \(name); the last checkpoint is \(checkpoint)\(after): continue with --resume \(checkpoint)\n"
        }
        if let checkpoint { return "\ninterrupted by \(name); no checkpoint was written yet to \(checkpoint)\n" }
        return "\ninterrupted by \(name); there is no checkpoint (train with --checkpoint PATH to be able to resume)\n"
    }

    private func interrupted(name: String, status: Int32) {
        let text = message(name: name)
        fflush(stdout)
        _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        _exit(status)
    }
}
