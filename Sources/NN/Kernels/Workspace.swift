/// The engine's one grow-only scratch memory: a buffer sized by the largest request so far and
/// never shrunk, so once every layer has seen its largest batch a training step allocates nothing.
/// Layers keep one per output or gradient (seen as a batch `Tensor`), pooling keeps its argmax
/// indices in one, BatchNormalization its per-channel statistics, and a model's `Workspace` (the
/// im2col columns all layers share, darknet's single workspace) is one. Memory is a `TensorStorage`,
/// 64-byte aligned; growing replaces it, and tensors still viewing the old storage keep it alive.
package struct ScratchBuffer {
    private var storage: TensorStorage?
    /// The last batch view handed out, returned again while the batch size stays the same.
    private var view: Tensor?
    /// Memory this buffer shares with others, set by a model's `MemoryPlan`; while set, the buffer
    /// hands out views of it (its own storage, if any, is kept for when the binding is lifted).
    package var shared: SharedBuffer?
    private var sharedView: Tensor?

    package init() {}

    /// At least `count` floats. Contents persist until the buffer grows; then they are zero.
    package mutating func floats(_ count: Int) -> UnsafeMutablePointer<Float> { reserve(count).pointer }

    /// `[batch] + sampleShape` over this buffer. Steady-state calls return the same view.
    package mutating func tensor(batch: Int, sampleShape: [Int]) -> Tensor {
        if let shared {
            // Another user of the shared memory may have grown it: the view must be of its storage now.
            let s = shared.reserve(batch * sampleShape.reduce(1, *))
            if let v = sharedView, v.storage === s, Self.matches(v, batch, sampleShape) { return v }
            let v = Tensor(shape: [batch] + sampleShape, storage: s)
            sharedView = v
            return v
        }
        // The whole shape must match: a rebuilt layer or a new head keeps the rank but not the sizes.
        if let v = view, Self.matches(v, batch, sampleShape) { return v }
        let v = Tensor(shape: [batch] + sampleShape, storage: reserve(batch * sampleShape.reduce(1, *)))
        view = v
        return v
    }

    @inline(__always)
    private static func matches(_ v: Tensor, _ batch: Int, _ sampleShape: [Int]) -> Bool {
        v.shape[0] == batch && v.shape.count == sampleShape.count + 1 && v.shape.dropFirst().elementsEqual(sampleShape)
    }

    /// At least `count` Int32 indices (pooling's argmax); the buffer then holds indices only.
    package mutating func indices(_ count: Int) -> UnsafeMutablePointer<Int32> {
        UnsafeMutableRawPointer(reserve(count).pointer).bindMemory(to: Int32.self, capacity: max(count, 1))
    }

    /// Bytes currently held by this buffer itself (shared memory is counted by its `SharedBuffer`).
    package var bytes: Int { (storage?.capacity ?? 0) * MemoryLayout<Float>.stride }

    private mutating func reserve(_ count: Int) -> TensorStorage {
        if let s = storage, s.capacity >= count { return s }
        let s = TensorStorage(capacity: count)
        storage = s
        view = nil
        return s
    }
}

/// Grow-only memory that several `ScratchBuffer`s use in turn (a slot of a `MemoryPlan`): only one
/// of them holds live data at any time, so it is as large as the largest of them, not their sum.
package final class SharedBuffer {
    private(set) var storage: TensorStorage?

    package init() {}

    /// Storage for at least `count` floats; growing replaces it (views of the old one keep it alive).
    func reserve(_ count: Int) -> TensorStorage {
        if let s = storage, s.capacity >= count { return s }
        let s = TensorStorage(capacity: count)
        storage = s
        return s
    }

    /// Bytes currently held.
    package var bytes: Int { (storage?.capacity ?? 0) * MemoryLayout<Float>.stride }
}

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
    private var scratch = ScratchBuffer()

    package init(budget: Int = 512 << 10) {
        self.budget = max(1, budget)
    }

    /// Images per chunk of a batch of `batch` images of `floatsPerImage` floats: as many as fit in
    /// the budget (at least one), evened out over the chunks the batch then needs, so that the last
    /// chunk is not a small remainder whose GEMMs run far below the others' speed (16 images in
    /// chunks of 14 became 8 + 8: a Winograd 14×14×64→64 training pass 0.78–0.94 of its time,
    /// interleaved; the chunk never exceeds what fits, so buffers do not grow).
    package func imagesPerChunk(floatsPerImage: Int, batch: Int) -> Int {
        let fit = max(1, min(batch, budget / max(1, floatsPerImage)))
        let chunks = (max(1, batch) + fit - 1) / fit
        return max(1, (batch + chunks - 1) / chunks)
    }

    /// `count` disjoint buffers of `floats` floats each, back to back (buffer i starts at `i · floats`).
    /// Contents are undefined.
    package func buffers(_ count: Int, floats: Int) -> UnsafeMutablePointer<Float> {
        scratch.floats(count * floats)
    }

    /// Bytes currently held.
    package var bytes: Int { scratch.bytes }
}
