/// Flatten: [N, ...] → [N, product of the rest]; the data is untouched (row-major order already
/// is Keras's channels-last flattening order).
extension Ref {
    @inlinable
    public static func flatten<T: RefScalar>(_ x: RefTensor<T>) -> RefTensor<T> {
        precondition(x.rank >= 1, "flatten needs a batch axis")
        return x.reshaped([x.shape[0], x.shape.dropFirst().reduce(1, *)])
    }

    /// The gradient is dY reshaped back to the input shape.
    @inlinable
    public static func flattenBackward<T: RefScalar>(_ dy: RefTensor<T>, inputShape: [Int]) -> RefTensor<T> {
        dy.reshaped(inputShape)
    }
}
