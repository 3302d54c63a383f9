/// A layer with a random generator of its own (Dropout's masks, the augmentation layers'
/// transforms), seeded by the user's `seed` or else by one draw of the model's generator, so one
/// model seed fixes a whole run; the generator's state is what checkpoints save (`randomState`),
/// so a resumed run repeats bit for bit. A user's seed is kept, but the model's draw is taken all
/// the same, so seeding one layer changes no other layer's weights or seeds.
public class SeededLayer: Layer {
    /// The seed the user gave, kept over the model's (nil: the model seeds the layer).
    public let seed: UInt64?
    /// The layer's generator; part of a checkpoint's state.
    public var rng: RandomGenerator
    /// In a data-parallel step, which samples of the global batch this replica's batch is (nil:
    /// all of it). The layer draws for the whole global batch and uses this window, so a replica
    /// gets the masks and transforms one process would give those samples.
    var window: BatchWindow?

    /// `salt` keeps layers of different kinds with the same user seed from drawing the same numbers.
    init(seed: UInt64?, salt: UInt64, name: String?) {
        self.seed = seed
        rng = RandomGenerator(seed: (seed ?? 0) ^ salt)
        super.init(name: name)
    }

    public override func seedRandomState(_ rng: inout RandomGenerator) {
        let drawn = rng.next()
        if seed == nil { self.rng = RandomGenerator(seed: drawn) }
    }

    public override var randomState: [UInt64]? {
        get { rng.state }
        set { if let newValue { rng.state = newValue } }
    }
}
