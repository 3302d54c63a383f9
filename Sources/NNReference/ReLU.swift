/// Keras's `ReLU(max_value)`: min(max(x, 0), maxValue) (ReLU6 for maxValue 6); the gradient passes
/// where 0 < x < maxValue (TensorFlow's rule at the two kinks).
extension Ref {
    @inlinable
    public static func relu<T: RefScalar>(_ x: RefTensor<T>, maxValue: T) -> RefTensor<T> {
        x.map { Swift.min(Swift.max($0, 0), maxValue) }
    }

    @inlinable
    public static func reluBackward<T: RefScalar>(input x: RefTensor<T>, maxValue: T, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(x.shape == dy.shape, "relu gradient shape \(dy.shape) differs from input \(x.shape)")
        var dx = dy
        for i in 0..<dx.count where !(x.data[i] > 0 && x.data[i] < maxValue) { dx.data[i] = 0 }
        return dx
    }
}
