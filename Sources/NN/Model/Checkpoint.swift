import Foundation

/// Everything needed to continue a training run exactly where it stopped: the weights (with
/// BatchNormalization statistics), the optimizer's slots and step count, the model's generator
/// (shuffling) and the generator of each layer with randomness of its own (`Layer.randomState`,
/// Dropout's), and the number of finished epochs.
/// Stored as one safetensors file (optimizer slots as tensors `optimizer/<parameter>/<slot>`,
/// the rest in the metadata), written atomically.
public enum Checkpoint {
    /// `run` holds the settings of the run that saved it (`cnn train`'s effective flags), stored as
    /// `run/<key>` metadata so a resume can refuse different ones (`runSettings(at:)`).
    public static func save(model: Model, optimizer: Optimizer, epochsDone: Int, run: [String: String] = [:],
                            to path: String) throws {
        var tensors = model.namedParameters.map { ($0.name, $0.parameter.value) }
        let trainable = Set(model.trainableParameters.map(ObjectIdentifier.init))
        for (name, p) in model.namedParameters where trainable.contains(ObjectIdentifier(p)) {
            for (slot, t) in zip(optimizer.slotNames, optimizer.state(for: p)) {
                tensors.append(("optimizer/\(name)/\(slot)", t))
            }
        }
        var metadata: [String: String] = [
            "format": "nn-checkpoint-1",
            "epochs_done": String(epochsDone),
            "optimizer": optimizer.name,
            "optimizer_iterations": String(optimizer.iterations),
            "learning_rate": String(optimizer.learningRate.bitPattern),
            "rng": encode(model.rng.state),
        ]
        for layer in model.layers {
            if let state = layer.randomState { metadata["rng/\(layer.name)"] = encode(state) }
        }
        for (key, value) in run { metadata["run/\(key)"] = value }
        try SafeTensors.save(tensors, metadata: metadata, to: path)
    }

    /// Restores a checkpoint into a model built the same way and a fresh optimizer of the same kind.
    /// Returns the number of finished epochs (pass it to `fit` as `initialEpoch`).
    /// Nothing is changed unless the whole file fits.
    @discardableResult
    public static func restore(model: Model, optimizer: Optimizer, from path: String) throws -> Int {
        let file = try SafeTensors.load(path)
        func bad(_ reason: String) -> IOError { .mismatch(path: path, reason: reason) }
        let m = file.metadata
        guard m["format"] == "nn-checkpoint-1" else { throw bad("it is not a training checkpoint (no nn-checkpoint-1 metadata)") }
        guard m["optimizer"] == optimizer.name else {
            throw bad("it was saved with optimizer '\(m["optimizer"] ?? "?")' but this run uses '\(optimizer.name)'")
        }
        // Every field is parsed with its range checked (Int.init/UInt32.init return nil rather than
        // overflow), so a tampered file is refused by name instead of trapping later.
        guard let epochs = m["epochs_done"].flatMap(Int.init) else { throw bad("field 'epochs_done' is missing or not an integer") }
        guard epochs >= 0, epochs <= Int(Int32.max) else { throw bad("field 'epochs_done' is \(epochs), outside 0...\(Int32.max)") }
        if let planned = m["run/epochs"].flatMap(Int.init), epochs > planned {
            throw bad("field 'epochs_done' is \(epochs), more than the run's \(planned) epochs")
        }
        guard let iterations = m["optimizer_iterations"].flatMap(Int.init) else {
            throw bad("field 'optimizer_iterations' is missing or not an integer")
        }
        // Beyond 2^53 the step count is no longer exact as a Double (Adam's bias correction).
        guard iterations >= 0, iterations <= maxIterations else {
            throw bad("field 'optimizer_iterations' is \(iterations), outside 0...\(maxIterations)")
        }
        guard let lrBits = m["learning_rate"].flatMap(UInt32.init) else { throw bad("field 'learning_rate' is missing or malformed") }
        let learningRate = Float(bitPattern: lrBits)
        guard learningRate.isFinite, learningRate > 0 else { throw bad("field 'learning_rate' is \(learningRate), not a positive finite number") }
        guard let rng = m["rng"].flatMap(decode) else { throw bad("field 'rng' is missing or malformed") }
        guard rng.contains(where: { $0 != 0 }) else { throw bad("field 'rng' is all zero, which is not a valid generator state") }
        // Check everything before changing anything: finite weights and optimizer slots too (NaN
        // moments would turn every weight into NaN at the first step).
        try SafeTensors.requireFinite(file.tensors, path: path)
        var updates: [(Tensor, Tensor)] = []
        var expected = Set<String>()
        for (name, p) in model.namedParameters {
            expected.insert(name)
            guard let t = file[name] else { throw bad("tensor '\(name)' is missing") }
            guard t.shape == p.value.shape else { throw bad("tensor '\(name)' has shape \(t.shape), the model \(p.value.shape)") }
            updates.append((p.value, t))
        }
        let trainable = Set(model.trainableParameters.map(ObjectIdentifier.init))
        for (name, p) in model.namedParameters where trainable.contains(ObjectIdentifier(p)) {
            for (slot, t) in zip(optimizer.slotNames, optimizer.state(for: p)) {
                let key = "optimizer/\(name)/\(slot)"
                expected.insert(key)
                guard let saved = file[key], saved.shape == t.shape else { throw bad("optimizer state '\(key)' is missing or mis-shaped") }
                updates.append((t, saved))
            }
        }
        if let extra = file.tensors.map(\.name).first(where: { !expected.contains($0) }) {
            throw bad("it has tensor '\(extra)', which this model and optimizer do not have")
        }
        var layerStates: [(Layer, [UInt64])] = []
        for layer in model.layers where layer.randomState != nil {
            guard let s = m["rng/\(layer.name)"].flatMap(decode) else { throw bad("field 'rng/\(layer.name)' (the generator state of layer '\(layer.name)') is missing or malformed") }
            guard s.contains(where: { $0 != 0 }) else { throw bad("field 'rng/\(layer.name)' is all zero, which is not a valid generator state") }
            layerStates.append((layer, s))
        }
        for (dst, src) in updates { dst.assign(src) }
        try optimizer.restoreIterations(iterations)  // checked above: cannot throw here
        optimizer.learningRate = learningRate
        model.rng.state = rng
        for (layer, s) in layerStates { layer.randomState = s }
        return epochs
    }

    /// The largest optimizer step count a checkpoint may hold (2^53: exact as a Double).
    package static let maxIterations = 1 << 53

    /// The `run/<key>` settings a checkpoint was saved with (keys without the prefix), or nil for a
    /// checkpoint written before they were recorded. Throws if the file is not a checkpoint.
    package static func runSettings(at path: String) throws -> (settings: [String: String]?, epochsDone: Int?) {
        let m = try SafeTensors.load(path).metadata
        guard m["format"] == "nn-checkpoint-1" else {
            throw IOError.mismatch(path: path, reason: "it is not a training checkpoint (no nn-checkpoint-1 metadata)")
        }
        var run: [String: String] = [:]
        for (key, value) in m where key.hasPrefix("run/") { run[String(key.dropFirst(4))] = value }
        return (run.isEmpty ? nil : run, m["epochs_done"].flatMap(Int.init))
    }

    private static func encode(_ s: [UInt64]) -> String { s.map { String($0) }.joined(separator: ",") }
    private static func decode(_ s: String) -> [UInt64]? {
        let parts = s.split(separator: ",").compactMap { UInt64($0) }
        return parts.count == 4 ? parts : nil
    }
}

/// Saves a `Checkpoint` after every epoch (`cnn train --checkpoint PATH`).
public final class CheckpointCallback: Callback {
    public let path: String
    public let optimizer: Optimizer
    /// The run's settings, saved with every checkpoint (see `Checkpoint.save`).
    public let run: [String: String]
    public init(path: String, optimizer: Optimizer, run: [String: String] = [:]) {
        self.path = path
        self.optimizer = optimizer
        self.run = run
    }
    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        try Checkpoint.save(model: model, optimizer: optimizer, epochsDone: epoch + 1, run: run, to: path)
    }
}
