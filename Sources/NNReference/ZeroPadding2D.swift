/// Zero padding of NHWC images by (top, bottom) rows and (left, right) columns; the gradient is the
/// interior of dY.
extension Ref {
    @inlinable
    public static func zeroPad2D<T: RefScalar>(_ x: RefTensor<T>, top: Int, bottom: Int, left: Int, right: Int) -> RefTensor<T> {
        precondition(x.rank == 4, "expected an NHWC input, got shape \(x.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h + top + bottom, w + left + right)
        var y = RefTensor<T>(shape: [n, oh, ow, c])
        for i in 0..<n { for r in 0..<h { for q in 0..<w { for j in 0..<c {
            y.data[((i * oh + r + top) * ow + q + left) * c + j] = x.data[((i * h + r) * w + q) * c + j]
        }}}}
        return y
    }

    @inlinable
    public static func zeroPad2DBackward<T: RefScalar>(inputShape: [Int], top: Int, left: Int, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(inputShape.count == 4 && dy.rank == 4, "expected NHWC shapes, got \(inputShape) and \(dy.shape)")
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (dy.shape[1], dy.shape[2])
        var dx = RefTensor<T>(shape: inputShape)
        for i in 0..<n { for r in 0..<h { for q in 0..<w { for j in 0..<c {
            dx.data[((i * h + r) * w + q) * c + j] = dy.data[((i * oh + r + top) * ow + q + left) * c + j]
        }}}}
        return dx
    }
}
