import Foundation

/// Everything needed to continue a training run exactly where it stopped: the weights (with
/// BatchNormalization statistics), the optimizer's slots and step count, the model's generator
/// (shuffling) and the generator of each layer with randomness of its own (`Layer.randomState`,
/// Dropout's), and the number of finished epochs.
/// Stored as one safetensors file (optimizer slots as tensors `optimizer/<parameter>/<slot>`,
/// the rest in the metadata), written atomically.
public enum Checkpoint {
    public static func save(model: Sequential, optimizer: Optimizer, epochsDone: Int, to path: String) throws {
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
        try SafeTensors.save(tensors, metadata: metadata, to: path)
    }

    /// Restores a checkpoint into a model built the same way and a fresh optimizer of the same kind.
    /// Returns the number of finished epochs (pass it to `fit` as `initialEpoch`).
    /// Nothing is changed unless the whole file fits.
    @discardableResult
    public static func restore(model: Sequential, optimizer: Optimizer, from path: String) throws -> Int {
        let file = try SafeTensors.load(path)
        func bad(_ reason: String) -> IOError { .mismatch(path: path, reason: reason) }
        let m = file.metadata
        guard m["format"] == "nn-checkpoint-1" else { throw bad("it is not a training checkpoint (no nn-checkpoint-1 metadata)") }
        guard m["optimizer"] == optimizer.name else {
            throw bad("it was saved with optimizer '\(m["optimizer"] ?? "?")' but this run uses '\(optimizer.name)'")
        }
        guard let epochs = m["epochs_done"].flatMap(Int.init), epochs >= 0,
              let iterations = m["optimizer_iterations"].flatMap(Int.init), iterations >= 0,
              let lrBits = m["learning_rate"].flatMap(UInt32.init),
              let rng = m["rng"].flatMap(decode) else {
            throw bad("its metadata is incomplete or malformed")
        }
        // Check everything before changing anything.
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
            guard let s = m["rng/\(layer.name)"].flatMap(decode) else { throw bad("the generator state of layer '\(layer.name)' is missing") }
            layerStates.append((layer, s))
        }
        for (dst, src) in updates { dst.assign(src) }
        optimizer.iterations = iterations
        optimizer.learningRate = Float(bitPattern: lrBits)
        model.rng.state = rng
        for (layer, s) in layerStates { layer.randomState = s }
        return epochs
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
    public init(path: String, optimizer: Optimizer) {
        self.path = path
        self.optimizer = optimizer
    }
    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Sequential) throws {
        try Checkpoint.save(model: model, optimizer: optimizer, epochsDone: epoch + 1, to: path)
    }
}
