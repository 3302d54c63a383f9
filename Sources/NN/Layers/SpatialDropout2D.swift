/// Dropout of whole channels (Keras `SpatialDropout2D`): in training each channel of each image is
/// kept with probability 1 − rate, scaled by 1 / (1 − rate), or zeroed across all its pixels
/// (Keras's noise shape `(N, 1, 1, C)`); inference is the identity. Neighbouring pixels of a
/// feature map are correlated, so dropping them one by one (Dropout) regularizes little. The mask
/// comes from the layer's own generator like Dropout's, seeded by `seed` or else by the model; its
/// shape is `[N, C]`, one value per image and channel (see `DropoutLayer`).
public final class SpatialDropout2D: DropoutLayer {
    public init(rate: Float, seed: UInt64? = nil, name: String? = nil) {
        super.init(rate: rate, seed: seed, salt: 0x5FA7_D809, name: name)
    }

    public override var typeName: String { "SpatialDropout2D" }
    public override var defaultNameStem: String { "spatial_dropout2d" }

    override var maskShape: [Int] { [inputShape[2]] }
    /// Numbered from the replica's own first image, as this layer always has, unlike Dropout: the
    /// replicas of a data-parallel step draw the same channel masks. Following the window would
    /// change data-parallel runs' results, so it is left to a change of its own.
    override var maskFollowsBatchWindow: Bool { false }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        return try super.makeOutputShape(inputShape: inputShape)
    }
}
