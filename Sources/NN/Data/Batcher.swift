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

    private let yRow: Int
    /// The view of the last short batch, kept so repeated epochs do not rebuild it.
    private var shortBatch: (images: Tensor, labels: Tensor)?

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
    }

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
        for i in order.indices { order[i] = i }
        rng.shuffle(&order)
    }

    /// Copies batch `index` of the current order into the buffers and returns the filled part.
    public func batch(_ index: Int) -> (images: Tensor, labels: Tensor) {
        precondition(index >= 0 && index < batchCount, "batch \(index) out of range 0..<\(batchCount)")
        let start = index * batchSize
        let n = min(batchSize, count - start)
        let indices = order[start..<(start + n)]
        x.copySamples(indices, to: images.pointer)
        if let y { y.copySamples(indices, to: labels.pointer) }
        if n == images.shape[0] { return (images, labels) }
        if let s = shortBatch, s.labels.shape[0] == n { return s }
        shortBatch = (images.prefix(batch: n), labels.prefix(batch: n))
        return shortBatch!
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
