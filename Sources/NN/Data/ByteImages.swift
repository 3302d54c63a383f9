/// Images kept as the bytes they were loaded from (`[N, H, W, C]` UInt8), converted to Float32 only
/// batch by batch, as `tf.data` does for uint8 arrays. Fashion-MNIST's training set is 47 MB this
/// way instead of 188 MB as Float32, which is most of a training run's memory.
///
/// Immutable once made, so datasets and batchers share one instance (the Float32 copy `tensor`
/// makes on first use is not guarded: make it before sharing across threads).
public final class ByteImages: SampleSource {
    /// `[N, H, W, C]`.
    public let shape: [Int]
    /// Row-major bytes, `shape.reduce(1, *)` of them.
    public let bytes: [UInt8]
    /// Each byte b is the value b / divisor (255: pixels in [0, 1], exactly as Keras's `x / 255`).
    public let divisor: Float
    /// Floats per sample.
    public let sampleSize: Int
    private var floats: Tensor?

    public init(shape: [Int], bytes: [UInt8], divisor: Float = 255) {
        precondition(shape.count >= 2 && shape.allSatisfy { $0 >= 0 }, "ByteImages need [N, ...], got \(shape)")
        precondition(shape.reduce(1, *) == bytes.count, "ByteImages: \(bytes.count) bytes do not fill \(shape)")
        self.shape = shape
        self.bytes = bytes
        self.divisor = divisor
        sampleSize = shape.dropFirst().reduce(1, *)
    }

    public var count: Int { shape[0] }
    public var sampleCount: Int { shape[0] }
    public var sampleShape: [Int] { Array(shape.dropFirst()) }

    /// Writes the samples at `indices` as scaled floats to `destination` (`sampleSize` each).
    public func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>) {
        let divisor = divisor, size = sampleSize
        bytes.withUnsafeBufferPointer { b in
            var out = destination
            for i in indices {
                let src = b.baseAddress! + i * size
                for j in 0..<size { out[j] = Float(src[j]) / divisor }
                out += size
            }
        }
    }

    /// Samples `range` as new byte images (bytes are copied; they are a quarter of the floats).
    public func samples(_ range: Range<Int>) -> ByteImages { subset(Array(range)) }

    /// All samples as a Float32 tensor, made on first use and kept (188 MB for Fashion-MNIST's
    /// training set: batch through a `Batcher` instead where memory matters).
    public var tensor: Tensor {
        if let floats { return floats }
        let t = Tensor(shape: shape)
        copySamples(Array(0..<count)[...], to: t.pointer)
        floats = t
        return t
    }

    /// The samples at `indices`, in that order, as new byte images.
    public func subset(_ indices: [Int]) -> ByteImages {
        var out = [UInt8](repeating: 0, count: indices.count * sampleSize)
        out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { b in
                for (row, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "sample index \(i) out of range 0..<\(count)")
                    (o.baseAddress! + row * sampleSize).update(from: b.baseAddress! + i * sampleSize, count: sampleSize)
                }
            }
        }
        return ByteImages(shape: [indices.count] + sampleShape, bytes: out, divisor: divisor)
    }
}
