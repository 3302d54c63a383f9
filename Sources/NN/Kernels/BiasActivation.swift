/// The bias and activation steps around a layer's GEMM, shared by Dense, Conv2D and DepthwiseConv2D.

/// dLoss/dPreactivation from dLoss/dOutput, shared by the layers with a fused activation.
enum ActivationGradient {
    /// Returns `outputGradient` itself when the activation is linear or fused into the loss (which
    /// then hands over dLoss/dLogits); otherwise a copy in `buffer` with the activation's derivative applied.
    /// `sampleShape` is the layer's output shape (passed in, so no shape array is built per step);
    /// `input` is the preactivation, which the activations with `needsInput` require.
    static func compute(_ activation: Activation, fused: Bool, input: Tensor? = nil, output y: Tensor, outputGradient: Tensor,
                        sampleShape: [Int], buffer: inout ScratchBuffer) -> Tensor {
        if activation == .linear || fused { return outputGradient }
        let dz = buffer.tensor(batch: outputGradient.shape[0], sampleShape: sampleShape)
        dz.assign(outputGradient)
        activation.backward(input: input.map { UnsafePointer($0.pointer) }, output: y.pointer, gradient: dz.pointer,
                            count: dz.count, width: y.shape.last ?? 1)
        return dz
    }
}

/// Bias broadcast and bias gradient over the rows of an `[rows, width]` matrix.
enum BiasAdd {
    /// Writes `bias` into every row of `z` (then a GEMM with β = 1 adds the product), or nothing.
    static func broadcast(_ bias: Tensor?, rows: Int, into z: Tensor) {
        guard let bias else { return }
        let w = bias.count, b = bias.pointer, dst = z.pointer
        for r in 0..<rows { (dst + r * w).update(from: b, count: w) }
    }

    /// db = dzᵀ · 1, an sgemv against a ones vector.
    static func gradient(_ dz: Tensor, rows: Int, width: Int, ones: inout ScratchBuffer, into db: Tensor) {
        let one = ones.tensor(batch: rows, sampleShape: [])
        if one[flat: 0] != 1 || one[flat: rows - 1] != 1 { one.fill(1) }
        BLAS.gemv(trans: true, m: rows, n: width, a: dz.pointer, x: one.pointer, y: db.pointer)
    }
}

/// A BatchNormalization (and the ReLU or ReLU6 after it) applied by the convolution before it, at
/// inference: y = act(s·z + t) per channel with s = γ/√(σ² + ε) and t = β − μ·s, written while the
/// convolution's output is still in cache, instead of two more passes over memory (TensorRT's and
/// oneDNN's conv+BN+ReLU fusion). The moving statistics are read at every pass, so weights loaded
/// or trained since are always used. See `Model.foldBatchNormalization`.
package struct FoldedBatchNorm {
    /// Per-channel scale s and shift t (the channel count each).
    let scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>
    /// Linear, ReLU or ReLU6.
    let activation: Activation

    /// z ← act(s·z + t) over `rows` rows of `width` (= channels).
    @inline(__always)
    func apply(_ z: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let s = scale, t = shift
        for r in 0..<rows {
            let row = z + r * width
            switch activation {
            case .relu: for j in 0..<width { let v = row[j] * s[j] + t[j]; row[j] = v < 0 ? 0 : v }
            case .relu6: for j in 0..<width { row[j] = Swift.min(Swift.max(row[j] * s[j] + t[j], 0), 6) }
            default: for j in 0..<width { row[j] = row[j] * s[j] + t[j] }
            }
        }
    }

    /// The same over every row of `z`, split over the threads.
    func applyInParallel(_ z: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        struct Part: ParallelWork {
            let fold: FoldedBatchNorm, z: UnsafeMutablePointer<Float>, rows: Int, width: Int
            func run(part: Int, of parts: Int) {
                let r = Parallel.range(part, of: parts, count: rows)
                fold.apply(z + r.lowerBound * width, rows: r.count, width: width)
            }
        }
        Parallel.run(Parallel.partCount(rows * width, grain: Parallel.elementGrain), Part(fold: self, z: z, rows: rows, width: width))
    }
}
