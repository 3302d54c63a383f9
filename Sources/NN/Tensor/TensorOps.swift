import Foundation

// A small tensor toolkit for the code around a model — preprocessing, metrics, looking at outputs —
// in NumPy's terms: element-wise arithmetic with broadcasting, reductions along an axis, matmul
// through the BLAS gateway, slicing, concatenation, transposition and one-hot encoding. Every
// operation returns a new tensor (no autodiff: gradients are the layers' business). Shape errors are
// thrown, naming the operation and the shapes, never trapped.

extension Tensor {
    // MARK: Element-wise arithmetic with broadcasting

    /// The element-wise binary operations.
    enum BinaryOp { case add, subtract, multiply, divide, maximum, minimum }

    /// NumPy's broadcast of two shapes: aligned from the last axis, each pair equal or one of them 1.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw NNError.invalidArgument("shapes \(a) and \(b) do not broadcast: axis \(i - rank) has \(x) and \(y)")
            }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// Strides of `shape` seen as `out` (0 on the axes it is broadcast along).
    private static func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: out.count)
        var step = 1
        for i in Swift.stride(from: shape.count - 1, through: 0, by: -1) {
            let o = out.count - shape.count + i
            strides[o] = shape[i] == 1 ? 0 : step
            step *= shape[i]
        }
        return strides
    }

    static func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) throws -> Tensor {
        let shape = try broadcastShape(a.shape, b.shape)
        let out = try Tensor.validated(shape: shape, what: "result")
        let x = a.pointer, y = b.pointer, z = out.pointer
        @inline(__always) func apply(_ u: Float, _ v: Float) -> Float {
            switch op {
            case .add: return u + v
            case .subtract: return u - v
            case .multiply: return u * v
            case .divide: return u / v
            case .maximum: return u.isNaN || v.isNaN ? .nan : Swift.max(u, v)
            case .minimum: return u.isNaN || v.isNaN ? .nan : Swift.min(u, v)
            }
        }
        if a.count == out.count && b.count == out.count {
            for i in 0..<out.count { z[i] = apply(x[i], y[i]) }
        } else if b.count == 1 {
            let v = y[0]
            for i in 0..<out.count { z[i] = apply(x[a.count == 1 ? 0 : i], v) }
        } else if a.count == 1 {
            let u = x[0]
            for i in 0..<out.count { z[i] = apply(u, y[i]) }
        } else {
            // The innermost axis runs with its two strides; the outer axes step an index counter.
            let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
            let rank = shape.count, inner = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1]
            var index = [Int](repeating: 0, count: rank)
            var oa = 0, ob = 0, o = 0
            while o < out.count {
                for j in 0..<inner { z[o + j] = apply(x[oa + j * ia], y[ob + j * ib]) }
                o += inner
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    oa += sa[axis]; ob += sb[axis]
                    if index[axis] < shape[axis] { break }
                    oa -= sa[axis] * shape[axis]; ob -= sb[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return out
    }

    /// Element-wise sum with broadcasting (`a + b` in NumPy).
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try binary(a, b, .add) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try binary(a, b, .subtract) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try binary(a, b, .multiply) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try binary(a, b, .divide) }
    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }
    public static func - (a: Tensor, s: Float) -> Tensor { a.map { $0 - s } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func / (a: Tensor, s: Float) -> Tensor { a.map { $0 / s } }
    public static func * (s: Float, a: Tensor) -> Tensor { a.map { s * $0 } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    /// Element-wise maximum and minimum with broadcasting (NumPy `maximum`, `minimum`; NaN wins).
    public static func maximum(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .maximum) }
    public static func minimum(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .minimum) }

    /// A new tensor of `f` applied to every element.
    public func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(shape: shape), x = pointer, z = out.pointer
        for i in 0..<count { z[i] = f(x[i]) }
        return out
    }

    public func exp() -> Tensor { map { Foundation.exp($0) } }
    public func log() -> Tensor { map { Foundation.log($0) } }
    public func sqrt() -> Tensor { map { $0.squareRoot() } }
    public func abs() -> Tensor { map { Swift.abs($0) } }
    public func squared() -> Tensor { map { $0 * $0 } }
    /// Every element limited to `range` (NumPy `clip`).
    public func clipped(to range: ClosedRange<Float>) -> Tensor { map { Swift.min(Swift.max($0, range.lowerBound), range.upperBound) } }

    // MARK: Reductions

    /// The axis `axis` (negative counts from the end) as an index, or an error naming `operation`.
    private func resolve(axis: Int, _ operation: String) throws -> Int {
        let a = axis < 0 ? rank + axis : axis
        guard a >= 0, a < rank else { throw NNError.invalidArgument("\(operation): axis \(axis) is out of range for shape \(shape)") }
        return a
    }

    /// Reduces along `axis` with `body(pointer, count, stride) -> value`, keeping the axis as 1 when
    /// `keepDims` (NumPy `keepdims`).
    private func reduce(axis: Int, keepDims: Bool, _ operation: String,
                        _ body: (UnsafePointer<Float>, Int, Int) -> Float) throws -> Tensor {
        let a = try resolve(axis: axis, operation)
        guard shape[a] > 0 else { throw NNError.invalidArgument("\(operation): axis \(axis) of shape \(shape) is empty") }
        let outer = shape[..<a].reduce(1, *), n = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        if keepDims { outShape[a] = 1 } else { outShape.remove(at: a) }
        let out = Tensor(shape: outShape), x = pointer, z = out.pointer
        for o in 0..<outer {
            for j in 0..<inner { z[o * inner + j] = body(x + o * n * inner + j, n, inner) }
        }
        return out
    }

    /// The sum along `axis` (summed in Double, then rounded once).
    public func sum(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try reduce(axis: axis, keepDims: keepDims, "sum") { p, n, s in
            var t = 0.0
            for i in 0..<n { t += Double(p[i * s]) }
            return Float(t)
        }
    }

    public func mean(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try reduce(axis: axis, keepDims: keepDims, "mean") { p, n, s in
            var t = 0.0
            for i in 0..<n { t += Double(p[i * s]) }
            return Float(t / Double(n))
        }
    }

    public func max(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try reduce(axis: axis, keepDims: keepDims, "max") { p, n, s in
            var m = p[0]
            for i in 1..<Swift.max(n, 1) where p[i * s] > m || p[i * s].isNaN { m = p[i * s]; if m.isNaN { break } }
            return m
        }
    }

    public func min(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try reduce(axis: axis, keepDims: keepDims, "min") { p, n, s in
            var m = p[0]
            for i in 1..<Swift.max(n, 1) where p[i * s] < m || p[i * s].isNaN { m = p[i * s]; if m.isNaN { break } }
            return m
        }
    }

    /// The index of the largest element along `axis` (the first on a tie), as Float values.
    public func argmax(axis: Int = -1) throws -> Tensor {
        try reduce(axis: axis, keepDims: false, "argmax") { p, n, s in
            var best = 0
            for i in 1..<Swift.max(n, 1) where p[i * s] > p[best * s] { best = i }
            return Float(best)
        }
    }

    public func argmin(axis: Int = -1) throws -> Tensor {
        try reduce(axis: axis, keepDims: false, "argmin") { p, n, s in
            var best = 0
            for i in 1..<Swift.max(n, 1) where p[i * s] < p[best * s] { best = i }
            return Float(best)
        }
    }

    /// The sum of every element (in Double, rounded once).
    public func sum() -> Float {
        var t = 0.0
        for i in 0..<count { t += Double(pointer[i]) }
        return Float(t)
    }

    /// The mean of every element; NaN for an empty tensor.
    public func mean() -> Float { count == 0 ? .nan : Float(Double(sum()) / Double(count)) }

    // MARK: Matrix product

    /// The matrix product through the BLAS gateway: `[m, k] × [k, n] → [m, n]`; a first operand of
    /// higher rank multiplies its last axis (`[..., k] × [k, n] → [..., n]`, as Keras's Dense does).
    public static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 2, b.rank == 2, a.shape[a.rank - 1] == b.shape[0] else {
            throw NNError.invalidArgument("matmul: shapes \(a.shape) and \(b.shape) do not multiply (need [..., k] and [k, n])")
        }
        let k = b.shape[0], n = b.shape[1], m = a.count / Swift.max(k, 1)
        let out = try Tensor.validated(shape: Array(a.shape.dropLast()) + [n], what: "matmul result")
        BLAS.gemm(m: m, n: n, k: k, a: a.pointer, b: b.pointer, c: out.pointer)
        return out
    }

    // MARK: Slicing, concatenation, transposition

    /// Elements `range` along `axis`, as a new tensor (NumPy `x[:, 2:5]` is `slice(axis: 1, 2..<5)`).
    public func slice(axis: Int, _ range: Range<Int>) throws -> Tensor {
        let a = try resolve(axis: axis, "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw NNError.invalidArgument("slice: range \(range) is outside 0..<\(shape[a]) of axis \(axis) of shape \(shape)")
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = range.count
        let out = Tensor(shape: outShape), w = range.count * inner
        for o in 0..<outer {
            (out.pointer + o * w).update(from: pointer + (o * shape[a] + range.lowerBound) * inner, count: w)
        }
        return out
    }

    /// The tensors joined along `axis`; every other axis must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw NNError.invalidArgument("concatenate: no tensors") }
        let a = try first.resolve(axis: axis, "concatenate")
        var outShape = first.shape
        outShape[a] = 0
        for t in tensors {
            guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
                throw NNError.invalidArgument("concatenate along axis \(axis): shapes \(first.shape) and \(t.shape) differ on another axis")
            }
            outShape[a] += t.shape[a]
        }
        let out = try Tensor.validated(shape: outShape, what: "concatenate result")
        let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
        let width = outShape[a] * inner
        var at = 0
        for t in tensors {
            let w = t.shape[a] * inner
            for o in 0..<outer { (out.pointer + o * width + at).update(from: t.pointer + o * w, count: w) }
            at += w
        }
        return out
    }

    /// The tensors (all of one shape) stacked along a new axis `axis`.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw NNError.invalidArgument("stack: no tensors") }
        guard tensors.allSatisfy({ $0.shape == first.shape }) else {
            throw NNError.invalidArgument("stack: shapes differ (\(tensors.map(\.shape).first { $0 != first.shape }!) and \(first.shape))")
        }
        let a = axis < 0 ? first.rank + 1 + axis : axis
        guard a >= 0, a <= first.rank else { throw NNError.invalidArgument("stack: axis \(axis) is out of range for rank \(first.rank + 1)") }
        var expanded = first.shape
        expanded.insert(1, at: a)
        return try concatenate(tensors.map { $0.reshaped(expanded) }, axis: a)
    }

    /// The axes permuted (NumPy `transpose`): axis i of the result is axis `permutation[i]` of this
    /// tensor; by default the axes reversed (a matrix's transpose).
    public func transposed(_ permutation: [Int]? = nil) throws -> Tensor {
        let perm = permutation ?? Array((0..<rank).reversed())
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw NNError.invalidArgument("transposed: \(perm) is not a permutation of the \(rank) axes of \(shape)")
        }
        let outShape = perm.map { shape[$0] }
        let out = Tensor(shape: outShape)
        guard count > 0 else { return out }
        var strides = [Int](repeating: 1, count: rank)
        for i in Swift.stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let s = perm.map { strides[$0] }
        var index = [Int](repeating: 0, count: rank), source = 0
        let x = pointer, z = out.pointer
        for o in 0..<count {
            z[o] = x[source]
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                source += s[axis]
                if index[axis] < outShape[axis] { break }
                source -= s[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    /// One-hot rows `[N, classes]` for class labels (Keras `to_categorical`). Labels must be whole
    /// numbers in 0..<classes.
    public static func oneHot(_ labels: [Int], classes: Int) throws -> Tensor {
        guard classes > 0 else { throw NNError.invalidArgument("oneHot: classes must be positive, got \(classes)") }
        let out = try Tensor.validated(shape: [labels.count, classes], what: "oneHot result")
        for (i, label) in labels.enumerated() {
            guard label >= 0, label < classes else {
                throw NNError.invalidArgument("oneHot: label \(label) of sample \(i) is outside 0..<\(classes)")
            }
            out.pointer[i * classes + label] = 1
        }
        return out
    }

    /// One-hot rows for a tensor of labels (`[N]`, whole-number values).
    public static func oneHot(_ labels: Tensor, classes: Int) throws -> Tensor {
        var ints: [Int] = []
        ints.reserveCapacity(labels.count)
        for i in 0..<labels.count {
            let v = labels.pointer[i]
            guard v.isFinite, v == v.rounded(), Swift.abs(v) < 1e9 else {
                throw NNError.invalidArgument("oneHot: label \(v) of sample \(i) is not a whole number")
            }
            ints.append(Int(v))
        }
        return try oneHot(ints, classes: classes)
    }
}
