/// Global average pooling: y[n, c] = mean over (h, w) of x[n, h, w, c]; the gradient spreads
/// dY[n, c] / (H·W) over every pixel of channel c.
extension Ref {
    /// x [N, H, W, C] → [N, C], or [N, 1, 1, C] with `keepdims`.
    @inlinable
    public static func globalAveragePool2D<T: RefScalar>(_ x: RefTensor<T>, keepdims: Bool = false) -> RefTensor<T> {
        precondition(x.rank == 4, "expected an NHWC input, got shape \(x.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = RefTensor<T>(shape: keepdims ? [n, 1, 1, c] : [n, c])
        for i in 0..<n {
            for p in 0..<(h * w) { for j in 0..<c { y.data[i * c + j] += x.data[(i * h * w + p) * c + j] } }
            for j in 0..<c { y.data[i * c + j] /= T(h * w) }
        }
        return y
    }

    /// dX [N, H, W, C] from dY ([N, C] or [N, 1, 1, C]).
    @inlinable
    public static func globalAveragePool2DBackward<T: RefScalar>(inputShape: [Int], outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(inputShape.count == 4, "expected an NHWC input shape, got \(inputShape)")
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        precondition(dy.count == n * c, "output gradient \(dy.shape) does not match [\(n), \(c)]")
        var dx = RefTensor<T>(shape: inputShape)
        for i in 0..<n { for p in 0..<(h * w) { for j in 0..<c {
            dx.data[(i * h * w + p) * c + j] = dy.data[i * c + j] / T(h * w)
        }}}
        return dx
    }
}
