/// Serves samples in mini-batches through two buffers allocated once, so a training loop does no
/// allocation per batch: every batch is copied into `images` `[batchSize, ...]` and `labels`
/// `[batchSize, ...]`, and a smaller last batch is a `prefix(batch:)` view of the same buffers.
/// `fit` uses one for its shuffled batches; a user can drive their own loop with one.
///
/// With a shuffle seed, each epoch visits the samples in a fresh order drawn from the batcher's
/// own `RandomGenerator`, so a run is reproducible and a checkpoint can restore `generator`.
public final class Batcher {
    /// The inputs `[N, ...]` (nil when they are byte images) and targets `[N, ...]` (labels `[N]`,
    /// one-hot rows, values) served.
    public let x: Tensor?
    /// Byte images served as scaled floats, when the inputs are those (a dataset loaded from IDX).
    public let pixels: ByteImages?
    public let y: Tensor
    public let batchSize: Int
    /// The shuffling generator, or nil to serve the samples in order (evaluate, predict).
    public var generator: RandomGenerator?
    /// The reused buffers; a batch's tensors are these or views of them.
    public let images: Tensor
    public let labels: Tensor
    /// The sample order of the current epoch.
    public private(set) var order: [Int]

    private let xRow: Int
    private let yRow: Int
    /// The view of the last short batch, kept so repeated epochs do not rebuild it.
    private var shortBatch: (images: Tensor, labels: Tensor)?

    /// Batches of `x` and `y`, which must have the same number of samples.
    public convenience init(x: Tensor, y: Tensor, batchSize: Int, shuffleSeed: UInt64? = nil) {
        precondition(x.rank >= 1, "Batcher: inputs need a leading sample axis, got \(x.shape)")
        self.init(x: x, pixels: nil, count: x.shape[0], sampleShape: Array(x.shape.dropFirst()), y: y,
                  batchSize: batchSize, shuffleSeed: shuffleSeed)
    }

    /// Batches of byte images (scaled to floats as each batch is copied) and their targets.
    public convenience init(pixels: ByteImages, y: Tensor, batchSize: Int, shuffleSeed: UInt64? = nil) {
        self.init(x: nil, pixels: pixels, count: pixels.count, sampleShape: pixels.sampleShape, y: y,
                  batchSize: batchSize, shuffleSeed: shuffleSeed)
    }

    private init(x: Tensor?, pixels: ByteImages?, count: Int, sampleShape: [Int], y: Tensor, batchSize: Int, shuffleSeed: UInt64?) {
        precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
        precondition(y.rank >= 1 && y.shape[0] == count, "Batcher: \(count) inputs but \(y.shape.first ?? 0) targets")
        self.x = x
        self.pixels = pixels
        self.y = y
        self.batchSize = batchSize
        self.generator = shuffleSeed.map { RandomGenerator(seed: $0) }
        images = Tensor(shape: [batchSize] + sampleShape)
        labels = Tensor(shape: [batchSize] + y.shape.dropFirst())
        order = Array(0..<count)
        xRow = sampleShape.reduce(1, *)
        yRow = y.count / max(1, y.shape[0])
    }

    /// Batches of a dataset's images (kept as bytes when loaded as bytes) and labels.
    public convenience init(dataset: Dataset, batchSize: Int, shuffleSeed: UInt64? = nil) {
        if let pixels = dataset.pixels {
            self.init(pixels: pixels, y: dataset.labels, batchSize: batchSize, shuffleSeed: shuffleSeed)
        } else {
            self.init(x: dataset.images, y: dataset.labels, batchSize: batchSize, shuffleSeed: shuffleSeed)
        }
    }

    public var count: Int { order.count }

    /// Batches per epoch; the last may be smaller than `batchSize`.
    public var batchCount: Int { (count + batchSize - 1) / batchSize }

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
        let srcLabels = y.pointer
        for row in 0..<n {
            let i = order[start + row]
            if let x {
                (images.pointer + row * xRow).update(from: x.pointer + i * xRow, count: xRow)
            } else {
                pixels!.copySample(i, to: images.pointer + row * xRow)
            }
            (labels.pointer + row * yRow).update(from: srcLabels + i * yRow, count: yRow)
        }
        if n == batchSize { return (images, labels) }
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
