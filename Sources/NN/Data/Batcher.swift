import Foundation

/// Serves samples in mini-batches through two buffers allocated once, so a training loop does no
/// allocation per batch: every batch is copied into `images` and `labels` (`min(batchSize, count)`
/// samples long), and a smaller last batch is a `prefix(batch:)` view of the same buffers.
/// `fit` uses one for its shuffled batches (drawn from the model's generator, which checkpoints
/// save); a user can drive their own loop with one.
///
/// With a shuffle seed, `epoch()` visits the samples in a fresh order drawn from the batcher's
/// own `RandomGenerator`, so a user's loop is reproducible (save and restore `generator` to resume it).
public final class Batcher {
    /// The inputs served: a tensor, byte images or any other `SampleSource`.
    public let x: any SampleSource
    /// The targets `[N, ...]` (labels `[N]`, one-hot rows, values), or nil (`predict`).
    public let y: Tensor?
    public let batchSize: Int
    /// The shuffling generator, or nil to serve the samples in order (evaluate, predict).
    public var generator: RandomGenerator?
    /// The reused buffers, `min(batchSize, count)` samples long; a batch's tensors are these or
    /// views of them. Without targets, `labels` has no columns.
    public let images: Tensor
    public let labels: Tensor
    /// The sample order of the current epoch.
    public private(set) var order: [Int]
    /// Data-parallel sharding (`Model.replicas`): batch `index` is then replica `rank`'s contiguous
    /// share of global batch `index` (`batchSize` samples of the order; shares differ by at most
    /// one sample). `batchCount` and the order stay global, so every replica steps together.
    public var shard: (rank: Int, size: Int)?

    private let yRow: Int
    /// The view of the last short batch, kept so repeated epochs do not rebuild it.
    private var shortBatch: (images: Tensor, labels: Tensor)?
    /// For a source that `prefersPrefetch`: a second pair of buffers that the next batch is copied
    /// into on a thread of its own while the current one trains (nil otherwise).
    private var prefetcher: Prefetcher?

    /// Batches of `x` and, when given, `y`, which must have as many samples.
    public init(x: any SampleSource, y: Tensor? = nil, batchSize: Int, shuffleSeed: UInt64? = nil) throws {
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        if let y, y.rank < 1 || y.shape[0] != x.sampleCount {
            throw NNError.invalidArgument("\(x.sampleCount) inputs but \(y.shape.first ?? 0) targets (targets of shape \(y.shape))")
        }
        self.x = x
        self.y = y
        self.batchSize = batchSize
        self.generator = shuffleSeed.map { RandomGenerator(seed: $0) }
        // Never larger than the data: a huge batch size over a few samples allocates only those.
        let capacity = max(1, min(batchSize, x.sampleCount))
        images = Tensor(shape: [capacity] + x.sampleShape)
        labels = Tensor(shape: [capacity] + (y.map { Array($0.shape.dropFirst()) } ?? [0]))
        order = Array(0..<x.sampleCount)
        yRow = y.map { $0.count / max(1, $0.shape[0]) } ?? 0
        if x.prefersPrefetch && x.sampleCount > capacity {
            prefetcher = Prefetcher(x: x, y: y, images: images, labels: labels, capacity: capacity)
        }
    }

    deinit { prefetcher?.stop() }

    /// Batches of a dataset's images (kept as bytes when loaded as bytes) and labels.
    public convenience init(dataset: Dataset, batchSize: Int, shuffleSeed: UInt64? = nil) throws {
        try self.init(x: dataset.inputs, y: dataset.labels, batchSize: batchSize, shuffleSeed: shuffleSeed)
    }

    public var count: Int { order.count }

    /// Batches per epoch; the last may be smaller than `batchSize`.
    public var batchCount: Int { count == 0 ? 0 : (count - 1) / batchSize + 1 }  // no overflow at Int.max

    /// Starts an epoch, drawing a new order if shuffling, and returns its batches.
    public func epoch() -> Epoch {
        if generator != nil { shuffle(using: &generator!) }
        return Epoch(batcher: self)
    }

    /// Draws this epoch's order from `rng` (a model's generator, so its state fixes the order).
    /// Each order depends only on the generator's state, so a resumed run repeats it.
    public func shuffle(using rng: inout RandomGenerator) {
        prefetcher?.cancel()
        for i in order.indices { order[i] = i }
        rng.shuffle(&order)
    }

    /// Copies batch `index` of the current order into the buffers and returns the filled part.
    /// For a source that prefers prefetching, batch `index + 1` is then copied into the other pair
    /// of buffers while the caller trains on this one; the returned tensors stay valid until the
    /// next call, as without prefetching.
    public func batch(_ index: Int) -> (images: Tensor, labels: Tensor) {
        precondition(index >= 0 && index < batchCount, "batch \(index) out of range 0..<\(batchCount)")
        let w = window(index)
        precondition(w.count > 0, "batch \(index) has no samples for replica \(shard?.rank ?? 0)")
        let start = index * batchSize + w.offset
        let n = w.count
        var (xs, ys) = (images, labels)
        if let p = prefetcher {
            // The batch the thread copied, if it is this one; else copy it here. Either way the
            // buffers that now hold it are the pair the thread does not write next.
            (xs, ys) = p.current
            if !p.take(index) {
                copy(order[start..<(start + n)], images: xs, labels: ys)
            }
            (xs, ys) = p.current
            if index + 1 < batchCount, case let next = window(index + 1), next.count > 0 {
                let nextStart = (index + 1) * batchSize + next.offset
                p.start(index + 1, order[nextStart..<(nextStart + next.count)])
            }
        } else {
            let indices = order[start..<(start + n)]
            x.copySamples(indices, to: xs.pointer)
            if let y { y.copySamples(indices, to: ys.pointer) }
        }
        if n == xs.shape[0] { return (xs, ys) }
        if let s = shortBatch, s.labels.shape[0] == n, s.images.isSameView(as: xs.prefix(batch: n)) { return s }
        shortBatch = (xs.prefix(batch: n), ys.prefix(batch: n))
        return shortBatch!
    }

    /// Which samples of global batch `index` this batcher serves (all of them unless sharded).
    func window(_ index: Int) -> BatchWindow {
        let total = min(batchSize, count - index * batchSize)
        guard let shard else { return BatchWindow(whole: total) }
        return BatchWindow(total: total, rank: shard.rank, size: shard.size)
    }

    /// Copies `indices` of the source into a pair of buffers.
    fileprivate func copy(_ indices: ArraySlice<Int>, images: Tensor, labels: Tensor) {
        x.copySamples(indices, to: images.pointer)
        if let y { y.copySamples(indices, to: labels.pointer) }
    }

    /// One pass over the samples; each element overwrites the previous batch's buffers.
    public struct Epoch: Sequence, IteratorProtocol {
        let batcher: Batcher
        var index = 0

        public mutating func next() -> (images: Tensor, labels: Tensor)? {
            guard index < batcher.batchCount else { return nil }
            defer { index += 1 }
            return batcher.batch(index)
        }
    }
}

/// The next batch copied on a thread of its own (one per `Batcher`, started once) into one of two
/// pairs of buffers, so decoding image files hides behind the training step. The thread runs the
/// source's `copySamples` under a one-thread pool of its own: a kernel it dispatches runs inline
/// rather than competing with the training step for the engine's workers. Nothing is allocated
/// per batch: the indices go through an array of `capacity` written in place.
private final class Prefetcher: @unchecked Sendable {
    /// The source and targets themselves, not the batcher: the thread must never hold the last
    /// reference to the batcher, whose deinit waits for the thread.
    private let x: any SampleSource
    private let y: Tensor?
    private let pairs: [(images: Tensor, labels: Tensor)]
    private var indices: [Int]
    private var indexCount = 0
    /// Which pair the caller holds now; the thread writes the other.
    private var held = 0
    /// The batch the thread is copying or has copied into the other pair, or nil.
    private var pending: Int?
    private let go = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var stopping = false
    private let pool = WorkerPool(threads: 1)

    init(x: any SampleSource, y: Tensor?, images: Tensor, labels: Tensor, capacity: Int) {
        self.x = x
        self.y = y
        pairs = [(images, labels), (Tensor(shape: images.shape), Tensor(shape: labels.shape))]
        indices = Array(repeating: 0, count: capacity)
        // The thread holds the prefetcher until `stop` ends its loop.
        let thread = Thread { self.loop() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var current: (images: Tensor, labels: Tensor) { pairs[held] }

    /// Waits for an in-flight copy; true (and the copied pair now held) when it was batch `index`.
    func take(_ index: Int) -> Bool {
        guard let p = pending else { return false }
        done.wait()
        pending = nil
        guard p == index else { return false }
        held = 1 - held
        return true
    }

    /// Forgets an in-flight copy (a new order is coming), after it finishes.
    func cancel() {
        if pending != nil { done.wait(); pending = nil }
    }

    /// Starts copying batch `index` (`slice` of the order) into the pair the caller does not hold.
    func start(_ index: Int, _ slice: ArraySlice<Int>) {
        indexCount = slice.count
        for (k, i) in zip(0..., slice) { indices[k] = i }
        pending = index
        go.signal()
    }

    func stop() {
        cancel()
        stopping = true
        go.signal()
    }

    private func loop() {
        // The lowest scheduling class (Linux's SCHED_IDLE, 5): on a machine whose cores the step
        // keeps busy, decoding takes the time the step leaves (its waits) instead of preempting a
        // worker mid-kernel, which would hold every other part at the kernel's end.
        var parameters = sched_param()
        _ = pthread_setschedparam(pthread_self(), 5, &parameters)
        pool.installed {
            while true {
                go.wait()
                if stopping { break }
                let other = pairs[1 - held], slice = indices[0..<indexCount]
                x.copySamples(slice, to: other.images.pointer)
                if let y { y.copySamples(slice, to: other.labels.pointer) }
                done.signal()
            }
        }
        pool.retire()
    }
}
