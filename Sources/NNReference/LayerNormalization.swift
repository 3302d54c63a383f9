/// Layer normalization over the last axis (Keras `LayerNormalization(axis=-1)`): every position's
/// features normalized by their own mean and biased variance.
extension Ref {
    /// y = gamma · (x − mean) / sqrt(var + eps) + beta per row of the last axis; nil gamma is 1
    /// (Keras `scale=False`), nil beta is 0 (`center=False`).
    @inlinable
    public static func layerNorm<T: RefScalar>(_ x: RefTensor<T>, gamma: [T]?, beta: [T]?, epsilon: T = 1e-3) -> RefTensor<T> {
        let c = x.shape[x.rank - 1]
        var y = x
        for r in 0..<(x.count / c) {
            let row = Array(x.data[(r * c)..<((r + 1) * c)])
            let mean = row.reduce(0, +) / T(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / T(c)
            let s = 1 / (variance + epsilon).squareRoot()
            for j in 0..<c { y.data[r * c + j] = (gamma?[j] ?? 1) * (row[j] - mean) * s + (beta?[j] ?? 0) }
        }
        return y
    }

    /// Gradients of `layerNorm` given dY: dX, and dGamma = Σ dY·x̂, dBeta = Σ dY over all rows.
    /// With g = dY·gamma per row: dX = (g − mean(g) − x̂·mean(g·x̂)) / sqrt(var + eps).
    @inlinable
    public static func layerNormBackward<T: RefScalar>(_ x: RefTensor<T>, gamma: [T]?, epsilon: T = 1e-3,
                                                       outputGradient dy: RefTensor<T>) -> (input: RefTensor<T>, gamma: [T], beta: [T]) {
        let c = x.shape[x.rank - 1]
        var dx = x
        var dGamma = [T](repeating: 0, count: c), dBeta = [T](repeating: 0, count: c)
        for r in 0..<(x.count / c) {
            let row = Array(x.data[(r * c)..<((r + 1) * c)])
            let mean = row.reduce(0, +) / T(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / T(c)
            let s = 1 / (variance + epsilon).squareRoot()
            let xhat = row.map { ($0 - mean) * s }
            let d = Array(dy.data[(r * c)..<((r + 1) * c)])
            let g = (0..<c).map { d[$0] * (gamma?[$0] ?? 1) }
            let meanG = g.reduce(0, +) / T(c)
            let meanGX = zip(g, xhat).map { $0 * $1 }.reduce(0, +) / T(c)
            for j in 0..<c {
                dGamma[j] += d[j] * xhat[j]
                dBeta[j] += d[j]
                dx.data[r * c + j] = s * (g[j] - meanG - xhat[j] * meanGX)
            }
        }
        return (dx, dGamma, dBeta)
    }
}
