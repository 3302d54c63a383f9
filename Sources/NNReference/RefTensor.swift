/// A shape and a row-major array of elements: the reference's only data type, deliberately a plain
/// value (no shared storage) so a test can copy and perturb it freely.
public struct RefTensor<T: RefScalar>: Equatable, CustomStringConvertible {
    /// The extent of each axis, outermost first (images: batch, height, width, channels).
    public var shape: [Int]
    /// The elements in row-major order; `data.count` is the product of `shape`.
    public var data: [T]

    @inlinable
    public init(shape: [Int], data: [T]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "RefTensor shape \(shape) has a negative axis")
        precondition(shape.reduce(1, *) == data.count,
                     "RefTensor shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of the given shape filled with `value` (zeros by default).
    @inlinable
    public init(shape: [Int], repeating value: T = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "RefTensor shape \(shape) has a negative axis")
        self.shape = shape
        self.data = [T](repeating: value, count: shape.reduce(1, *))
    }

    /// The same values in another scalar type (Float engine vs Double reference, and back).
    @inlinable
    public init<U: RefScalar>(converting other: RefTensor<U>) {
        self.init(shape: other.shape, data: other.data.map { T($0) })
    }

    @inlinable public var count: Int { data.count }
    @inlinable public var rank: Int { shape.count }

    /// The same elements seen with another shape of the same element count.
    @inlinable
    public func reshaped(_ newShape: [Int]) -> RefTensor {
        RefTensor(shape: newShape, data: data)
    }

    /// Applies `transform` to every element, keeping the shape.
    @inlinable
    public func map<U: RefScalar>(_ transform: (T) throws -> U) rethrows -> RefTensor<U> {
        RefTensor<U>(shape: shape, data: try data.map(transform))
    }

    /// The largest elementwise |self − other| (shapes must match): the number an oracle test asserts on.
    @inlinable
    public func maxAbsDifference(_ other: RefTensor) -> T {
        precondition(shape == other.shape, "comparing shapes \(shape) and \(other.shape)")
        var worst: T = 0
        for i in 0..<data.count { worst = Swift.max(worst, abs(data[i] - other.data[i])) }
        return worst
    }

    public var description: String { "RefTensor\(shape)(\(data))" }
}
