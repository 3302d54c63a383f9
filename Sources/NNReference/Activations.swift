/// Elementwise activations (relu, sigmoid, tanh) and their gradients. Each backward takes what its
/// derivative is cheapest in: relu the input, sigmoid and tanh the forward output.
extension Ref {
    /// max(x, 0).
    @inlinable
    public static func relu<T: RefScalar>(_ x: RefTensor<T>) -> RefTensor<T> {
        x.map { $0 > 0 ? $0 : 0 }
    }

    /// dX = dY where x > 0, else 0 (the derivative at 0 is taken as 0, like TensorFlow).
    @inlinable
    public static func reluBackward<T: RefScalar>(input x: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(x.shape == dy.shape, "relu gradient shape \(dy.shape) differs from input \(x.shape)")
        var dx = dy
        for i in 0..<dx.count where !(x.data[i] > 0) { dx.data[i] = 0 }
        return dx
    }

    /// 1 / (1 + e^−x), evaluated so neither branch overflows.
    @inlinable
    public static func sigmoid<T: RefScalar>(_ x: RefTensor<T>) -> RefTensor<T> {
        x.map { v in
            if v >= 0 { return 1 / (1 + T.refExp(-v)) }
            let e = T.refExp(v)
            return e / (1 + e)
        }
    }

    /// dX = dY · y · (1 − y), from the forward output y.
    @inlinable
    public static func sigmoidBackward<T: RefScalar>(output y: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(y.shape == dy.shape, "sigmoid gradient shape \(dy.shape) differs from output \(y.shape)")
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= y.data[i] * (1 - y.data[i]) }
        return dx
    }

    /// Hyperbolic tangent.
    @inlinable
    public static func tanh<T: RefScalar>(_ x: RefTensor<T>) -> RefTensor<T> {
        x.map { T.refTanh($0) }
    }

    /// dX = dY · (1 − y²), from the forward output y.
    @inlinable
    public static func tanhBackward<T: RefScalar>(output y: RefTensor<T>, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        precondition(y.shape == dy.shape, "tanh gradient shape \(dy.shape) differs from output \(y.shape)")
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= 1 - y.data[i] * y.data[i] }
        return dx
    }
}
