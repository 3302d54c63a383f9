/// Where a model's inputs come from, sample by sample: a Float32 `Tensor`, `ByteImages` scaled to
/// floats batch by batch, or (for a data module) images decoded on demand. One `Batcher` reads any
/// of them, so `fit`, `evaluate` and `predict` have one path whatever the inputs are stored as.
public protocol SampleSource {
    /// Number of samples.
    var sampleCount: Int { get }
    /// The shape of one sample, e.g. `[28, 28, 1]`.
    var sampleShape: [Int] { get }
    /// Writes the samples at `indices`, in that order, as Float32 to `destination`
    /// (`sampleShape.reduce(1, *)` floats each). Called once per batch: must not allocate.
    func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>)
    /// Samples `range` in order: a view where the storage allows one, otherwise a copy.
    func samples(_ range: Range<Int>) -> Self
    /// The samples at `indices` (repeats allowed), in that order, never aliasing this source.
    func subset(_ indices: [Int]) -> Self
    /// All samples as one Float32 tensor `[sampleCount] + sampleShape`.
    var tensor: Tensor { get }
    /// Throws what went wrong while copying samples (an image file that no longer decodes):
    /// `copySamples` cannot throw, so `fit`, `evaluate` and `predict` ask after every batch.
    func checkHealth() throws
    /// Whether copying a batch costs enough (decoding files) that a `Batcher` should copy the next
    /// batch on a thread of its own while the current one trains.
    var prefersPrefetch: Bool { get }
}

extension SampleSource {
    public func checkHealth() throws {}
    public var prefersPrefetch: Bool { false }
}

extension Tensor: SampleSource {
    /// The length of axis 0.
    public var sampleCount: Int { shape.first ?? 0 }
    public var sampleShape: [Int] { Array(shape.dropFirst()) }
    public var tensor: Tensor { self }

    public func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>) {
        let row = count / Swift.max(1, sampleCount)
        var out = destination
        for i in indices {
            out.update(from: pointer + i * row, count: row)
            out += row
        }
    }

    public func samples(_ range: Range<Int>) -> Tensor { rows(range) }

    /// The rows at `indices`, in that order, as a new tensor.
    public func subset(_ indices: [Int]) -> Tensor {
        precondition(rank >= 1, "subset needs a leading sample axis, got \(shape)")
        for i in indices { precondition(i >= 0 && i < sampleCount, "sample index \(i) out of range 0..<\(sampleCount)") }
        var s = shape
        s[0] = indices.count
        let result = Tensor(shape: s)
        copySamples(indices[...], to: result.pointer)
        return result
    }
}

/// Keras's `validation_split` rule, the one place it lives: of `count` samples, the first
/// `floor(count · (1 − fraction))` train and the rest validate (split before any shuffling).
/// Throws when either part would be empty.
package func validationSplitPoint(count: Int, fraction: Double) throws -> Int {
    let splitAt = fraction.isFinite ? Int((Double(count) * (1.0 - fraction)).rounded(.down)) : 0
    guard fraction > 0, fraction < 1, splitAt > 0, splitAt < count else {
        throw NNError.invalidArgument("validation split \(fraction) of \(count) samples leaves the training or validation "
                                      + "set empty; use a fraction strictly between 0 and 1 that keeps both non-empty")
    }
    return splitAt
}
