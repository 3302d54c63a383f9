/// Inverted dropout with a mask supplied by the caller, so the oracle can replay exactly the mask
/// the engine drew: y = x · mask / (1 − rate), mask ∈ {0, 1}.
extension Ref {
    /// Training-mode dropout; at inference dropout is the identity and is not called.
    @inlinable
    public static func dropout<T: RefScalar>(_ x: RefTensor<T>, mask: [T], rate: T) -> RefTensor<T> {
        dropoutScale(x, mask: mask, rate: rate)
    }

    /// dX = dY · mask / (1 − rate): the same scaling as the forward.
    @inlinable
    public static func dropoutBackward<T: RefScalar>(mask: [T], rate: T, outputGradient dy: RefTensor<T>) -> RefTensor<T> {
        dropoutScale(dy, mask: mask, rate: rate)
    }

    @inlinable
    static func dropoutScale<T: RefScalar>(_ x: RefTensor<T>, mask: [T], rate: T) -> RefTensor<T> {
        precondition(rate >= 0 && rate < 1, "dropout rate \(rate) must be in [0, 1)")
        precondition(mask.count == x.count, "dropout mask has \(mask.count) elements, tensor has \(x.count)")
        let scale = 1 / (1 - rate)
        var y = x
        for i in 0..<y.count { y.data[i] = x.data[i] * mask[i] * scale }
        return y
    }
}
