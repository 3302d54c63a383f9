/// The merge layers (Keras `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`,
/// `Concatenate`) as plain loops over equally shaped tensors (or, for concatenation, tensors that
/// agree on every axis but one).
extension Ref {
    /// The element-wise kinds of merge.
    public enum Merge: Sendable { case add, subtract, multiply, average, maximum, minimum }

    @inlinable
    public static func merge<T: RefScalar>(_ xs: [RefTensor<T>], _ kind: Merge) -> RefTensor<T> {
        precondition(xs.count >= 2 && xs.allSatisfy { $0.shape == xs[0].shape }, "merge needs two or more tensors of one shape")
        var y = xs[0]
        for i in 0..<y.count {
            var v = xs[0].data[i]
            for x in xs.dropFirst() {
                switch kind {
                case .add, .average: v += x.data[i]
                case .subtract: v -= x.data[i]
                case .multiply: v *= x.data[i]
                case .maximum: v = x.data[i] > v ? x.data[i] : v
                case .minimum: v = x.data[i] < v ? x.data[i] : v
                }
            }
            y.data[i] = kind == .average ? v / T(xs.count) : v
        }
        return y
    }

    /// dX for each input. Maximum and minimum send the gradient to the first input holding the extreme.
    @inlinable
    public static func mergeBackward<T: RefScalar>(_ xs: [RefTensor<T>], _ kind: Merge, outputGradient dy: RefTensor<T>) -> [RefTensor<T>] {
        var dxs = xs.map { RefTensor<T>(shape: $0.shape) }
        for i in 0..<dy.count {
            var winner = 0
            for k in xs.indices.dropFirst() {
                if kind == .maximum && xs[k].data[i] > xs[winner].data[i] { winner = k }
                if kind == .minimum && xs[k].data[i] < xs[winner].data[i] { winner = k }
            }
            for k in xs.indices {
                switch kind {
                case .add: dxs[k].data[i] = dy.data[i]
                case .subtract: dxs[k].data[i] = k == 0 ? dy.data[i] : -dy.data[i]
                case .average: dxs[k].data[i] = dy.data[i] / T(xs.count)
                case .multiply:
                    var p = dy.data[i]
                    for j in xs.indices where j != k { p *= xs[j].data[i] }
                    dxs[k].data[i] = p
                case .maximum, .minimum: dxs[k].data[i] = k == winner ? dy.data[i] : 0
                }
            }
        }
        return dxs
    }

    /// Joins tensors along `axis` (0 is the batch axis).
    @inlinable
    public static func concatenate<T: RefScalar>(_ xs: [RefTensor<T>], axis: Int) -> RefTensor<T> {
        var shape = xs[0].shape
        shape[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
        let outer = shape[..<axis].reduce(1, *)
        var data: [T] = []
        data.reserveCapacity(shape.reduce(1, *))
        for o in 0..<outer {
            for x in xs {
                let inner = x.shape[axis...].reduce(1, *)
                data += x.data[(o * inner)..<((o + 1) * inner)]
            }
        }
        return RefTensor(shape: shape, data: data)
    }

    /// Splits dY back into the inputs' parts.
    @inlinable
    public static func concatenateBackward<T: RefScalar>(_ xs: [RefTensor<T>], axis: Int, outputGradient dy: RefTensor<T>) -> [RefTensor<T>] {
        let outer = dy.shape[..<axis].reduce(1, *), width = dy.shape[axis...].reduce(1, *)
        var at = 0
        return xs.map { x in
            let inner = x.shape[axis...].reduce(1, *)
            var d = RefTensor<T>(shape: x.shape)
            for o in 0..<outer {
                for j in 0..<inner { d.data[o * inner + j] = dy.data[o * width + at + j] }
            }
            at += inner
            return d
        }
    }
}
