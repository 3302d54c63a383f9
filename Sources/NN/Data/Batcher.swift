/// Serves a dataset in mini-batches through two buffers allocated once, so a training loop does
/// no allocation per batch: every batch is copied into `images` `[batchSize, ...]` and `labels`
/// `[batchSize]`, and a smaller last batch is a `prefix(batch:)` view of the same buffers.
///
/// With a shuffle seed, each epoch visits the samples in a fresh order drawn from the batcher's
/// own `RandomGenerator`, so a run is reproducible and a checkpoint can restore `generator`.
public final class Batcher {
    public let dataset: Dataset
    public let batchSize: Int
    /// The shuffling generator, or nil to serve the samples in dataset order (evaluate, predict).
    public var generator: RandomGenerator?
    /// The reused buffers; a batch's tensors are these or views of them.
    public let images: Tensor
    public let labels: Tensor
    /// The sample order of the current epoch.
    public private(set) var order: [Int]

    private let rowSize: Int

    public init(dataset: Dataset, batchSize: Int, shuffleSeed: UInt64? = nil) {
        precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.generator = shuffleSeed.map { RandomGenerator(seed: $0) }
        images = Tensor(shape: [batchSize] + dataset.sampleShape)
        labels = Tensor(shape: [batchSize])
        order = Array(0..<dataset.count)
        rowSize = dataset.sampleShape.reduce(1, *)
    }

    /// Batches per epoch; the last may be smaller than `batchSize`.
    public var batchCount: Int { (dataset.count + batchSize - 1) / batchSize }

    /// Starts an epoch, drawing a new order if shuffling, and returns its batches.
    public func epoch() -> Epoch {
        if generator != nil {
            for i in order.indices { order[i] = i }
            generator!.shuffle(&order)
        }
        return Epoch(batcher: self)
    }

    /// Copies batch `index` of the current order into the buffers and returns the filled part.
    public func batch(_ index: Int) -> (images: Tensor, labels: Tensor) {
        precondition(index >= 0 && index < batchCount, "batch \(index) out of range 0..<\(batchCount)")
        let start = index * batchSize
        let n = min(batchSize, dataset.count - start)
        let source = dataset.images.pointer
        let sourceLabels = dataset.labels.pointer
        for row in 0..<n {
            let i = order[start + row]
            (images.pointer + row * rowSize).update(from: source + i * rowSize, count: rowSize)
            labels.pointer[row] = sourceLabels[i]
        }
        if n == batchSize { return (images, labels) }
        return (images.prefix(batch: n), labels.prefix(batch: n))
    }

    /// One pass over the dataset; each element overwrites the previous batch's buffers.
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
