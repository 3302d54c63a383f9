/// An n-dimensional array of Float32 in row-major (NHWC) order.
///
/// Like a NumPy array or a PyTorch tensor, a `Tensor` refers to its elements: copies of a tensor
/// and the views `reshaped(_:)` makes share them, so a layer can hand its output buffer to the next
/// layer without copying. `copy()` makes an independent tensor.
public struct Tensor: CustomStringConvertible {
    /// The extent of each axis, outermost first (for images: batch, height, width, channels).
    public let shape: [Int]
    /// The number of elements, the product of `shape`.
    public let count: Int
    @usableFromInline let storage: TensorStorage
    /// Where this tensor's first element sits in `storage` (row views of a batch share storage).
    @usableFromInline let offset: Int

    /// A tensor of the given shape with every element `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative axis")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = TensorStorage(capacity: count)
        self.offset = 0
        if value != 0 { storage.pointer.update(repeating: value, count: count) }
    }

    /// A tensor holding `elements` (row-major) in the given shape.
    public init(shape: [Int], elements: [Float]) {
        precondition(shape.reduce(1, *) == elements.count,
                     "Tensor shape \(shape) needs \(shape.reduce(1, *)) elements, got \(elements.count)")
        self.init(shape: shape)
        elements.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    init(shape: [Int], storage: TensorStorage, offset: Int = 0) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        precondition(offset >= 0 && offset + count <= storage.capacity)
        self.storage = storage
        self.offset = offset
    }

    /// A new tensor of `shape` filled with 0 (NumPy `zeros`).
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape) }
    /// A new tensor of `shape` filled with 1 (NumPy `ones`).
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    /// A new tensor of `shape` with every element `value` (NumPy `full`).
    public static func filled(_ shape: [Int], with value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }

    /// The number of axes (NumPy `ndim`).
    public var rank: Int { shape.count }

    /// The same elements seen with another shape of the same element count (no copy).
    /// One axis may be -1 and is then inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[unknown] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        return Tensor(shape: resolved, storage: storage, offset: offset)
    }

    /// The first `n` items along axis 0, sharing storage (a smaller last batch uses its layer's buffer).
    public func prefix(batch n: Int) -> Tensor {
        precondition(rank >= 1 && n <= shape[0], "cannot take \(n) items of \(shape)")
        var s = shape
        s[0] = n
        return Tensor(shape: s, storage: storage, offset: offset)
    }

    /// Rows `range` along axis 0, sharing storage (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of 0..<\(shape[0])")
        let per = count / Swift.max(1, shape[0])
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, storage: storage, offset: offset + range.lowerBound * per)
    }

    /// An independent copy of the elements.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// Copies the elements of `other` (same element count) into this tensor.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "cannot assign \(other.shape) to \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    /// All elements in row-major order.
    public var elements: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Element by flat row-major index.
    @inlinable public subscript(flat i: Int) -> Float {
        get { precondition(i >= 0 && i < count, "index \(i) out of range for \(shape)"); return pointer[i] }
        nonmutating set { precondition(i >= 0 && i < count, "index \(i) out of range for \(shape)"); pointer[i] = newValue }
    }

    /// Element by multi-index, one index per axis.
    public subscript(_ index: Int...) -> Float {
        get { pointer[flatIndex(index)] }
        nonmutating set { pointer[flatIndex(index)] = newValue }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var o = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of range for shape \(shape)")
            o = o * n + i
        }
        return o
    }

    /// Reads the elements through a buffer pointer (hot loops).
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: pointer, count: count))
    }

    /// Writes the elements through a buffer pointer (hot loops). The tensor's storage is shared, so
    /// this does not need `mutating`.
    @inlinable public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: pointer, count: count))
    }

    /// The raw element pointer, valid while the tensor (or a view of it) lives.
    @inlinable public var pointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Sets every element to `value`, in place (seen by every view of the same storage).
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// The shape and the first eight elements, for printing.
    public var description: String {
        let shown = elements.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), elements: [\(shown)\(count > 8 ? ", …" : "")])"
    }
}

/// A heap buffer of Float32 owned by one or more tensors. Aligned to 64 bytes for SIMD and BLAS.
@usableFromInline final class TensorStorage {
    @usableFromInline let pointer: UnsafeMutablePointer<Float>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
        pointer.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { pointer.deallocate() }
}

extension Tensor {
    /// True when `shape` is `[N] + sample` for some N (checked without allocating).
    @inlinable public static func shape(_ shape: [Int], isBatchOf sample: [Int]) -> Bool {
        guard shape.count == sample.count + 1 else { return false }
        for i in sample.indices where shape[i + 1] != sample[i] { return false }
        return true
    }

    /// True when `shape` is `[batch] + sample` (checked without allocating).
    @inlinable public static func shape(_ shape: [Int], isBatch batch: Int, of sample: [Int]) -> Bool {
        Tensor.shape(shape, isBatchOf: sample) && shape[0] == batch
    }

    /// True when both tensors view the same elements with the same shape.
    @inlinable public func isSameView(as other: Tensor) -> Bool {
        storage === other.storage && offset == other.offset && shape == other.shape
    }

    /// Shapes printed the Keras way: `(None, 26, 26, 32)` for a per-sample shape.
    public static func describe(batchShape perSample: [Int]) -> String {
        "(None" + perSample.map { ", \($0)" }.joined() + ")"
    }
}

// MARK: - Size limits

import Foundation

extension Tensor {
    /// The most elements one tensor may hold: 2^40, or what fits in this machine's memory if less.
    /// Sizes come from flags and files (`--classes`, `--input-shape`, headers); one beyond this could
    /// never be allocated, and trying would abort the process instead of reporting the cause.
    package static let maxElementCount: Int = {
        let memoryFloats = Int(clamping: ProcessInfo.processInfo.physicalMemory / UInt64(MemoryLayout<Float>.stride))
        return Swift.max(1, Swift.min(1 << 40, memoryFloats))
    }()

    /// The product of `shape`, computed with overflow checks; nil when an axis is negative or the
    /// product overflows `Int`.
    package static func checkedElementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// The element count of `shape`, or an error naming `what` (a layer, a file, an argument) when
    /// the shape has a negative axis, its product overflows, or it exceeds `maxElementCount`.
    package static func validatedElementCount(_ shape: [Int], what: String) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw NNError.invalidArgument("\(what): shape \(shape) has a negative axis")
        }
        guard let n = checkedElementCount(shape) else {
            throw NNError.invalidArgument("\(what): shape \(shape) has more elements than an Int can count")
        }
        guard n <= maxElementCount else {
            let gb = Double(n) * Double(MemoryLayout<Float>.stride) / 1_073_741_824
            throw NNError.invalidArgument("\(what): shape \(shape) has \(n) elements (\(String(format: "%.1f", gb)) GB), over the limit of \(maxElementCount) elements for one tensor")
        }
        return n
    }

    /// A zero-filled tensor of `shape`, or an error naming `what` when the shape is negative,
    /// overflows or is too large to allocate (the checked form of `init(shape:)` for sizes a user gave).
    public static func validated(shape: [Int], what: String = "tensor") throws -> Tensor {
        _ = try validatedElementCount(shape, what: what)
        return Tensor(shape: shape)
    }
}

extension Tensor {
    /// The flat index of the first NaN or ±inf element, nil when all are finite (weights are checked
    /// with it before they are loaded).
    public var firstNonFiniteIndex: Int? {
        withUnsafeBufferPointer { b in b.firstIndex { !$0.isFinite } }
    }
}
