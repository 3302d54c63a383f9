/// Freezing, as Keras's `layer.trainable = False`: a frozen layer's parameters are left out of
/// `trainableParameters`, so no optimizer step and no L2 term touches them; a frozen
/// BatchNormalization normalizes with its moving statistics and does not update them; `summary()`
/// counts its parameters as non-trainable. Changes take effect at the next training step (no
/// recompiling needed). Dropout in a frozen range still drops in training, as in Keras.
extension Model {
    /// Sets `trainable` on the layers at `range` (indices into `layers`).
    public func setTrainable(_ trainable: Bool, layers range: Range<Int>) throws {
        guard range.lowerBound >= 0, range.upperBound <= layers.count else {
            throw NNError.invalidArgument("layer range \(range) is outside the model's \(layers.count) layers")
        }
        for layer in layers[range] { layer.trainable = trainable }
    }

    /// Freezes the layers at `range` (all of them by default).
    public func freeze(_ range: Range<Int>? = nil) throws {
        try setTrainable(false, layers: range ?? 0..<layers.count)
    }

    /// Unfreezes the layers at `range` (all of them by default): fine-tuning.
    public func unfreeze(_ range: Range<Int>? = nil) throws {
        try setTrainable(true, layers: range ?? 0..<layers.count)
    }

    /// Freezes every layer from the first up to and including the one named `name` (the base below
    /// a head). Throws when no layer has that name.
    public func freeze(through name: String) throws {
        guard let index = layers.firstIndex(where: { $0.name == name }) else {
            throw NNError.invalidArgument("no layer named '\(name)' to freeze through; layers are \(layers.map(\.name).joined(separator: ", "))")
        }
        try freeze(0..<(index + 1))
    }

    /// Sets `trainable` on every layer whose name starts with `prefix` (`conv_dw_` for all of
    /// MobileNet's depthwise layers) and returns how many there were; throws when there were none.
    @discardableResult
    public func setTrainable(_ trainable: Bool, namePrefix prefix: String) throws -> Int {
        let matching = layers.filter { $0.name.hasPrefix(prefix) }
        guard !matching.isEmpty else {
            throw NNError.invalidArgument("no layer name starts with '\(prefix)'")
        }
        for layer in matching { layer.trainable = trainable }
        return matching.count
    }

    /// Names of the layers that are frozen and own parameters (layers without any are not listed).
    public var frozenLayerNames: [String] {
        layers.filter { !$0.trainable && !$0.parameters.isEmpty }.map(\.name)
    }
}
