/// Softmax over the last axis and its gradient. The row maximum is subtracted before exponentiating,
/// so logits like [1000, 1001, 1002] give the same finite result as [0, 1, 2].
extension Ref {
    /// y[r, k] = e^(x[r, k] − m_r) / Σ_j e^(x[r, j] − m_r) with m_r the row maximum.
    @inlinable
    public static func softmax<T: RefScalar>(_ x: RefTensor<T>) -> RefTensor<T> {
        precondition(x.rank >= 1, "softmax needs at least one axis")
        let k = x.shape[x.rank - 1]
        var y = x
        guard k > 0 else { return y }
        for r in 0..<(x.count / k) {
            let row = r * k
            var m = x.data[row]
            for j in 1..<k { m = Swift.max(m, x.data[row + j]) }
            var sum: T = 0
            for j in 0..<k {
                let e = T.refExp(x.data[row + j] - m)
                y.data[row + j] = e
                sum += e
            }
            for j in 0..<k { y.data[row + j] /= sum }
        }
        return y
    }

    /// dX = y ⊙ (dY − Σ_k dY ⊙ y) per row, from the forward output y.
    @inlinable
    public static func softmaxBackward<T: RefScalar>(output y: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(y.shape == dy.shape, "softmax gradient shape \(dy.shape) differs from output \(y.shape)")
        let k = y.shape[y.rank - 1]
        var dx = dy
        guard k > 0 else { return dx }
        for r in 0..<(y.count / k) {
            let row = r * k
            var dot: T = 0
            for j in 0..<k { dot += dy.data[row + j] * y.data[row + j] }
            for j in 0..<k { dx.data[row + j] = y.data[row + j] * (dy.data[row + j] - dot) }
        }
        return dx
    }
}
