/// Scratch memory shared by the layers of a model (darknet's single workspace): im2col columns and
/// their gradients live here, so a training step allocates nothing once the largest layer has run.
///
/// Not thread-safe: one model, one workspace, one training loop at a time.
package final class Workspace {
    /// The largest number of floats one im2col buffer may hold; layers split a batch into chunks of
    /// whole images that fit. The default, 512 Ki floats = 2 MB per buffer, is chosen for the cache,
    /// not for memory: a chunk's columns are written by im2col and read straight back by two GEMMs, and
    /// while columns plus column gradients stay in L3 those GEMMs run near square-sgemm speed; 16 MB
    /// chunks spilled to DRAM and cost Conv2D about a third of its speed (nn-bench, 2-core EPYC).
    package var budget: Int
    private var storage: UnsafeMutablePointer<Float>
    private var capacity: Int

    package init(budget: Int = 512 << 10) {
        self.budget = max(1, budget)
        capacity = 0
        storage = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { storage.deallocate() }

    /// How many whole images of `floatsPerImage` floats fit in the budget (at least one).
    package func imagesPerChunk(floatsPerImage: Int, batch: Int) -> Int {
        max(1, min(batch, budget / max(1, floatsPerImage)))
    }

    /// A buffer of at least `count` floats, grown (never shrunk) when too small. Contents are undefined.
    /// `slot` selects one of several disjoint regions (0: columns, 1: column gradients) of `count` floats each.
    package func buffer(_ count: Int, slot: Int = 0, slots: Int = 2) -> UnsafeMutablePointer<Float> {
        let needed = count * slots
        if needed > capacity {
            storage.deallocate()
            storage = UnsafeMutablePointer<Float>.allocate(capacity: needed)
            capacity = needed
        }
        return storage + slot * count
    }

    /// Bytes currently held.
    package var bytes: Int { capacity * MemoryLayout<Float>.stride }
}
