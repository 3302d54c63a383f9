/// Scratch memory shared by the layers of a model (darknet's single workspace): im2col columns and
/// their gradients live here, so a training step allocates nothing once the largest layer has run.
///
/// Not thread-safe: one model, one workspace, one training loop at a time.
public final class Workspace {
    /// The largest number of floats one im2col buffer may hold; layers split a batch into chunks of
    /// whole images that fit. 4 Mi floats = 16 MB per buffer.
    public var budget: Int
    private var storage: UnsafeMutablePointer<Float>
    private var capacity: Int

    public init(budget: Int = 4 << 20) {
        self.budget = max(1, budget)
        capacity = 0
        storage = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { storage.deallocate() }

    /// How many whole images of `floatsPerImage` floats fit in the budget (at least one).
    public func imagesPerChunk(floatsPerImage: Int, batch: Int) -> Int {
        max(1, min(batch, budget / max(1, floatsPerImage)))
    }

    /// A buffer of at least `count` floats, grown (never shrunk) when too small. Contents are undefined.
    /// `slot` selects one of several disjoint regions (0: columns, 1: column gradients) of `count` floats each.
    public func buffer(_ count: Int, slot: Int = 0, slots: Int = 2) -> UnsafeMutablePointer<Float> {
        let needed = count * slots
        if needed > capacity {
            storage.deallocate()
            storage = UnsafeMutablePointer<Float>.allocate(capacity: needed)
            capacity = needed
        }
        return storage + slot * count
    }

    /// Bytes currently held.
    public var bytes: Int { capacity * MemoryLayout<Float>.stride }
}
