/// Fully connected layer (Keras `Dense`): y = x·W + b over the last axis, W [in, out].
extension Ref {
    /// y[r, o] = b[o] + Σ_i x[r, i] · W[i, o] for every row r of x viewed as [rows, in];
    /// the output keeps x's leading axes with the last one replaced by `out`.
    @inlinable
    public static func dense<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, bias: [T]? = nil) -> RefTensor<T> {
        let (rows, inputs, outputs) = denseSizes(x, kernel: kernel)
        if let bias { precondition(bias.count == outputs, "dense bias has \(bias.count) elements, units are \(outputs)") }
        var y = RefTensor<T>(shape: Array(x.shape.dropLast()) + [outputs])
        x.data.withUnsafeBufferPointer { xp in
        kernel.data.withUnsafeBufferPointer { wp in
        y.data.withUnsafeMutableBufferPointer { yp in
            for r in 0..<rows {
                let yRow = r * outputs
                if let bias { for o in 0..<outputs { yp[yRow + o] = bias[o] } }
                for i in 0..<inputs {
                    let xv = xp[r * inputs + i]
                    let wRow = i * outputs
                    for o in 0..<outputs { yp[yRow + o] += xv * wp[wRow + o] }
                }
            }
        }}}
        return y
    }

    /// Gradients of `dense`: dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ_rows dY (nil when `hasBias` is false).
    @inlinable
    public static func denseBackward<T: RefScalar>(_ x: RefTensor<T>, kernel: RefTensor<T>, hasBias: Bool = false,
                                                   outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, kernel: RefTensor<T>, bias: [T]?) {
        let (rows, inputs, outputs) = denseSizes(x, kernel: kernel)
        precondition(dy.shape == Array(x.shape.dropLast()) + [outputs], "dense output gradient shape \(dy.shape) does not match")
        var dx = RefTensor<T>(shape: x.shape)
        var dw = RefTensor<T>(shape: kernel.shape)
        var db = [T](repeating: 0, count: outputs)
        x.data.withUnsafeBufferPointer { xp in
        kernel.data.withUnsafeBufferPointer { wp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
        dw.data.withUnsafeMutableBufferPointer { dwp in
            for r in 0..<rows {
                let yRow = r * outputs
                if hasBias { for o in 0..<outputs { db[o] += dyp[yRow + o] } }
                for i in 0..<inputs {
                    let xv = xp[r * inputs + i]
                    let wRow = i * outputs
                    var acc: T = 0
                    for o in 0..<outputs {
                        let d = dyp[yRow + o]
                        acc += wp[wRow + o] * d
                        dwp[wRow + o] += xv * d
                    }
                    dxp[r * inputs + i] = acc
                }
            }
        }}}}}
        return (dx, dw, hasBias ? db : nil)
    }

    /// Rows, input and output units of a dense product, checking x's last axis matches W [in, out].
    @inlinable
    static func denseSizes<T>(_ x: RefTensor<T>, kernel: RefTensor<T>) -> (Int, Int, Int) {
        precondition(kernel.rank == 2, "dense kernel must be [in, out], got \(kernel.shape)")
        precondition(x.rank >= 1 && x.shape.last == kernel.shape[0],
                     "dense input \(x.shape) does not end in \(kernel.shape[0]) features")
        let inputs = kernel.shape[0]
        return (inputs == 0 ? 0 : x.count / inputs, inputs, kernel.shape[1])
    }
}
