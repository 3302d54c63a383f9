/// How a layer's weights start, named as in Keras (`kernel_initializer`).
public enum Initializer: Equatable, Sendable {
    /// Uniform in ±sqrt(6 / (fanIn + fanOut)): Keras's default for Dense and Conv2D kernels.
    case glorotUniform
    /// Truncated normal with stddev sqrt(2 / fanIn): for ReLU networks.
    case heNormal
    /// Uniform in ±sqrt(6 / fanIn).
    case heUniform
    case zeros
    case ones
    case constant(Float)
    /// A (semi-)orthogonal matrix from the QR factorization of a normal matrix, computed with LAPACK.
    case orthogonal(gain: Float = 1)
    case randomNormal(mean: Float = 0, stddev: Float = 0.05)
    case randomUniform(low: Float = -0.05, high: Float = 0.05)

    /// Fills `tensor` (a kernel `[..., in, out]` or a vector) with this initializer's values.
    /// Fan-in and fan-out follow Keras: for a kernel of shape `[kh, kw, in, out]` the receptive field
    /// kh·kw multiplies both.
    public func fill(_ tensor: Tensor, using rng: inout RandomGenerator) {
        let (fanIn, fanOut) = Initializer.fans(tensor.shape)
        tensor.withUnsafeMutableBufferPointer { p in
            switch self {
            case .glorotUniform:
                let limit = (6 / Float(max(1, fanIn + fanOut))).squareRoot()
                for i in p.indices { p[i] = rng.uniform(-limit, limit) }
            case .heNormal:
                // Keras divides by 0.8796 so the truncated normal keeps the intended variance.
                let stddev = (2 / Float(max(1, fanIn))).squareRoot() / 0.879_625_7
                for i in p.indices { p[i] = rng.truncatedNormal(stddev: stddev) }
            case .heUniform:
                let limit = (6 / Float(max(1, fanIn))).squareRoot()
                for i in p.indices { p[i] = rng.uniform(-limit, limit) }
            case .zeros:
                p.update(repeating: 0)
            case .ones:
                p.update(repeating: 1)
            case .constant(let v):
                p.update(repeating: v)
            case .randomNormal(let mean, let stddev):
                for i in p.indices { p[i] = mean + stddev * rng.nextNormal() }
            case .randomUniform(let low, let high):
                for i in p.indices { p[i] = rng.uniform(low, high) }
            case .orthogonal(let gain):
                Initializer.fillOrthogonal(p, shape: tensor.shape, gain: gain, rng: &rng)
            }
        }
    }

    /// Keras's `compute_fans`.
    static func fans(_ shape: [Int]) -> (Int, Int) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (shape[0], shape[0])
        case 2: return (shape[0], shape[1])
        default:
            let receptive = shape.dropLast(2).reduce(1, *)
            return (shape[shape.count - 2] * receptive, shape[shape.count - 1] * receptive)
        }
    }

    /// Rows = all axes but the last, columns = the last axis (Keras flattens the same way). QR of the
    /// taller orientation gives orthonormal columns; signs of R's diagonal are folded in so the result
    /// is uniformly distributed over orthogonal matrices.
    private static func fillOrthogonal(_ p: UnsafeMutableBufferPointer<Float>, shape: [Int], gain: Float,
                                       rng: inout RandomGenerator) {
        let cols = shape.last ?? 1
        let rows = max(1, p.count / max(1, cols))
        let (m, n) = rows >= cols ? (rows, cols) : (cols, rows)
        var a = [Float](repeating: 0, count: m * n)
        for i in a.indices { a[i] = rng.nextNormal() }
        let diagonal: [Float]
        do {
            diagonal = try a.withUnsafeMutableBufferPointer { try LAPACK.orthonormalColumns($0.baseAddress!, m: m, n: n) }
        } catch {
            // sgeqrf/sorgqr only fail on invalid arguments, which the shapes above rule out.
            preconditionFailure("orthogonal initializer: \(error)")
        }
        for r in 0..<m { for c in 0..<n { a[r * n + c] *= (diagonal[c] < 0 ? -gain : gain) } }
        if rows >= cols {
            for i in 0..<(rows * cols) { p[i] = a[i] }
        } else {  // transpose the cols×rows result into rows×cols
            for r in 0..<rows { for c in 0..<cols { p[r * cols + c] = a[c * rows + r] } }
        }
    }
}
