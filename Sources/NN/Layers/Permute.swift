/// Reorders the per-sample axes (Keras `Permute`): `dims` lists, 1-based as Keras counts them (the
/// batch axis is 0 and never moves), which input axis becomes each output axis, so
/// `Permute(dims: [2, 1, 3])` swaps height and width. Backward applies the inverse permutation.
public final class Permute: Layer {
    /// Keras's 1-based axis numbers, one per per-sample axis.
    public let dims: [Int]
    /// For each output axis, the stride of its input axis (in elements), and the output's sizes.
    private var inputStrides: [Int] = []
    private var outputSizes: [Int] = []

    public init(dims: [Int], name: String? = nil) {
        self.dims = dims
        super.init(name: name)
    }

    public override var typeName: String { "Permute" }
    public override var defaultNameStem: String { "permute" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard dims.sorted() == Array(1...max(dims.count, 1)), dims.count == inputShape.count else {
            throw NNError.invalidArgument("layer '\(displayName)' (Permute): dims \(dims) must order the axes 1…\(inputShape.count) of the per-sample shape \(inputShape), each once")
        }
        var strides = [Int](repeating: 1, count: inputShape.count)
        for a in stride(from: inputShape.count - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * inputShape[a + 1] }
        inputStrides = dims.map { strides[$0 - 1] }
        outputSizes = dims.map { inputShape[$0 - 1] }
        return outputSizes
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        permute(input.pointer, out.pointer, images: input.shape[0], inverse: false)
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        permute(dx.pointer, outputGradient.pointer, images: outputGradient.shape[0], inverse: true)
        return dx
    }

    /// Walks the output in order, row by row of its last axis: `out[o] = in[i]` forward, or
    /// `in[i] = out[o]` (`inverse`, the transpose) backward.
    private func permute(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, images: Int, inverse: Bool) {
        let sampleSize = outputSizes.reduce(1, *), rank = outputSizes.count
        let width = outputSizes[rank - 1], innerStride = inputStrides[rank - 1]
        let rows = sampleSize / width
        inputStrides.withUnsafeBufferPointer { strides in
        outputSizes.withUnsafeBufferPointer { sizes in
            for image in 0..<images {
                let xi = x + image * sampleSize
                var yo = y + image * sampleSize
                for row in 0..<rows {
                    // The input offset of the row's first element, from its output coordinates.
                    var rest = row, offset = 0
                    for a in stride(from: rank - 2, through: 0, by: -1) {
                        offset += (rest % sizes[a]) * strides[a]
                        rest /= sizes[a]
                    }
                    let xr = xi + offset
                    if inverse {
                        for j in 0..<width { xr[j * innerStride] = yo[j] }
                    } else {
                        for j in 0..<width { yo[j] = xr[j * innerStride] }
                    }
                    yo += width
                }
            }
        }}
    }
}
