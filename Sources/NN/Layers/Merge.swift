/// The base of the layers that combine several tensors into one (Keras's `Merge` layers: `Add`,
/// `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`, `Concatenate`). A model calls
/// `forward(_ inputs:)` and `backward`, which returns dLoss/dInput for each input in order; the
/// single-input `forward` of `Layer` is refused. `inputShape` is the first input's shape.
public class MergeLayer: Layer {
    /// Per-sample shapes of the inputs, in order, known once built.
    public internal(set) var inputShapes: [[Int]] = []
    /// The fewest inputs the layer takes (`Subtract` takes exactly two: see `maximumInputs`).
    var minimumInputs: Int { 2 }
    var maximumInputs: Int { Int.max }
    /// One buffer per input for its gradient, and the array `backward` returns (refilled in place).
    var inputGradients: [ScratchBuffer] = []
    private var gradientList: [Tensor] = []
    /// The inputs of the last forward pass, for backward (held in place, not as the caller's array).
    private(set) var lastInputs: [Tensor] = []

    /// Checks and fixes the input shapes; `producers` names what produces each input, for errors.
    package func build(inputShapes shapes: [[Int]], producers: [String], rng: inout RandomGenerator) throws {
        guard shapes.count >= minimumInputs, shapes.count <= maximumInputs else {
            let wanted = minimumInputs == maximumInputs ? "exactly \(minimumInputs)" : "at least \(minimumInputs)"
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) takes \(wanted) inputs, got \(shapes.count)\(producers.isEmpty ? "" : " (\(producers.joined(separator: ", ")))")")
        }
        for s in shapes {
            guard s.allSatisfy({ $0 > 0 }) else { throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): input shape \(s) has an empty axis") }
        }
        let names = producers.count == shapes.count ? producers : shapes.indices.map { "input \($0)" }
        let out = try makeOutputShape(inputShapes: shapes, producers: names)
        _ = try Tensor.validatedElementCount(out, what: "layer '\(displayName)' (\(typeName)) output")
        inputShapes = shapes
        inputShape = shapes[0]
        outputShape = out
        inputGradients = shapes.map { _ in ScratchBuffer() }
        gradientList = shapes.map { _ in Layer.skippedGradient }
        lastInputs = gradientList
        isBuilt = true
    }

    /// The per-sample output shape for the inputs' shapes; throws naming both sides of a mismatch.
    func makeOutputShape(inputShapes shapes: [[Int]], producers: [String]) throws -> [Int] {
        for i in 1..<shapes.count where shapes[i] != shapes[0] {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) needs inputs of one shape, but '\(producers[0])' gives \(shapes[0]) and '\(producers[i])' gives \(shapes[i])")
        }
        return shapes[0]
    }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) merges several inputs: apply it to a list (\(typeName)()([a, b])) in a Model")
    }

    /// Runs the layer on one batch of each input. Builds from the inputs on first use.
    public final func forward(_ inputs: [Tensor], training: Bool = false) throws -> Tensor {
        if !isBuilt {
            var rng = RandomGenerator(seed: 0)
            try build(inputShapes: inputs.map { Array($0.shape.dropFirst()) }, producers: [], rng: &rng)
        }
        guard inputs.count == inputShapes.count else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) was built for \(inputShapes.count) inputs, got \(inputs.count)")
        }
        let batch = inputs[0].shape.first ?? 0
        for (i, x) in inputs.enumerated() {
            guard Tensor.shape(x.shape, isBatch: batch, of: inputShapes[i]), batch > 0 else {
                throw NNError.shapeMismatch(layer: displayName, typeName: typeName, what: "input \(i)", expected: [batch > 0 ? batch : -1] + inputShapes[i], got: x.shape)
            }
        }
        lastBatch = batch
        for i in inputs.indices { lastInputs[i] = inputs[i] }
        let out = outputBuffer.tensor(batch: batch, sampleShape: outputShape)
        merge(inputs, into: out)
        return out
    }

    /// dLoss/dInput for each input of the last forward pass. The array is the layer's own, refilled
    /// by the next call: read it, do not keep it.
    public final func backward(_ outputGradient: Tensor) throws -> [Tensor] {
        guard isBuilt, let batch = lastBatch else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): backward called before forward")
        }
        guard Tensor.shape(outputGradient.shape, isBatch: batch, of: outputShape) else {
            throw NNError.shapeMismatch(layer: displayName, typeName: typeName, what: "output gradient",
                                        expected: [batch] + outputShape, got: outputGradient.shape)
        }
        guard computesInputGradient else {
            for i in gradientList.indices { gradientList[i] = Layer.skippedGradient }
            return gradientList
        }
        for i in gradientList.indices { gradientList[i] = gradient(outputGradient, input: i) }
        return gradientList
    }

    /// The buffer for dLoss/dInput `i` of the current batch.
    func inputGradientBuffer(_ i: Int, batch: Int) -> Tensor {
        inputGradients[i].tensor(batch: batch, sampleShape: inputShapes[i])
    }

    /// Writes the merge of `inputs` into `out`.
    func merge(_ inputs: [Tensor], into out: Tensor) { fatalError("\(typeName).merge not implemented") }
    /// dLoss/dInput `i` given dLoss/dOutput `g` (may be `g` itself, never to be written by the caller).
    func gradient(_ g: Tensor, input i: Int) -> Tensor { fatalError("\(typeName).gradient not implemented") }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) merges several inputs: call forward(_ inputs: [Tensor])")
    }
    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)) merges several inputs: its backward returns one gradient per input")
    }
}

/// The element-wise sum of its inputs (ResNet's and MobileNetV2's skip connections, `block_N_add`).
/// Each input's gradient is the output gradient itself.
public final class Add: MergeLayer {
    package override var backwardMayReturnOutputGradient: Bool { true }
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Add" }
    public override var defaultNameStem: String { "add" }
    override func merge(_ inputs: [Tensor], into out: Tensor) {
        Parallel.add(inputs[0].pointer, inputs[1].pointer, into: out.pointer, count: out.count)
        for x in inputs.dropFirst(2) { Parallel.add(x.pointer, into: out.pointer, count: out.count) }
    }
    override func gradient(_ g: Tensor, input i: Int) -> Tensor { g }
}

/// The difference of exactly two inputs, `a − b`.
public final class Subtract: MergeLayer {
    package override var backwardMayReturnOutputGradient: Bool { true }
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Subtract" }
    public override var defaultNameStem: String { "subtract" }
    override var maximumInputs: Int { 2 }
    override func merge(_ inputs: [Tensor], into out: Tensor) {
        let a = inputs[0].pointer, b = inputs[1].pointer, o = out.pointer
        for j in 0..<out.count { o[j] = a[j] - b[j] }
    }
    override func gradient(_ g: Tensor, input i: Int) -> Tensor {
        guard i == 1 else { return g }
        let dx = inputGradientBuffer(1, batch: g.shape[0]), d = dx.pointer, s = g.pointer
        for j in 0..<g.count { d[j] = -s[j] }
        return dx
    }
}

/// The element-wise product of its inputs (gating, squeeze-and-excitation).
public final class Multiply: MergeLayer {
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Multiply" }
    public override var defaultNameStem: String { "multiply" }
    override func merge(_ inputs: [Tensor], into out: Tensor) {
        Parallel.multiply(inputs[0].pointer, inputs[1].pointer, into: out.pointer, count: out.count)
        for x in inputs.dropFirst(2) { Parallel.multiply(out.pointer, x.pointer, into: out.pointer, count: out.count) }
    }
    /// d/dx_i = g · Π_{j≠i} x_j (a product of the others, not out / x_i, which fails at zero).
    override func gradient(_ g: Tensor, input i: Int) -> Tensor {
        let dx = inputGradientBuffer(i, batch: g.shape[0])
        dx.assign(g)
        for (j, x) in lastInputs.enumerated() where j != i { Parallel.multiply(dx.pointer, x.pointer, into: dx.pointer, count: dx.count) }
        return dx
    }
}

/// The element-wise mean of its inputs. Every input's gradient is g / count (one buffer serves all).
public final class Average: MergeLayer {
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Average" }
    public override var defaultNameStem: String { "average" }
    override func merge(_ inputs: [Tensor], into out: Tensor) {
        Parallel.add(inputs[0].pointer, inputs[1].pointer, into: out.pointer, count: out.count)
        for x in inputs.dropFirst(2) { Parallel.add(x.pointer, into: out.pointer, count: out.count) }
        let scale = 1 / Float(inputs.count), o = out.pointer
        for j in 0..<out.count { o[j] *= scale }
    }
    override func gradient(_ g: Tensor, input i: Int) -> Tensor {
        let dx = inputGradientBuffer(0, batch: g.shape[0])
        if i == 0 {
            let scale = 1 / Float(inputShapes.count), d = dx.pointer, s = g.pointer
            for j in 0..<g.count { d[j] = s[j] * scale }
        }
        return dx
    }
}

/// The element-wise maximum (or minimum) of its inputs. The gradient goes to the input holding the
/// extreme; on a tie, to the first of them (as TensorFlow's pairwise `maximum` does).
public class ExtremumMerge: MergeLayer {
    /// +1 for the maximum, −1 for the minimum.
    var sign: Float { 1 }
    override func merge(_ inputs: [Tensor], into out: Tensor) {
        out.assign(inputs[0])
        let o = out.pointer, s = sign
        for x in inputs.dropFirst() {
            let p = x.pointer
            for j in 0..<out.count where s * p[j] > s * o[j] { o[j] = p[j] }
        }
    }
    override func gradient(_ g: Tensor, input i: Int) -> Tensor {
        let dx = inputGradientBuffer(i, batch: g.shape[0]), d = dx.pointer, s = sign, xi = lastInputs[i].pointer
        dx.assign(g)
        // Input i holds the extreme where no earlier input reaches it and no later one passes it.
        for k in lastInputs.indices where k != i {
            let p = lastInputs[k].pointer
            if k < i {
                for j in 0..<g.count where s * p[j] >= s * xi[j] { d[j] = 0 }
            } else {
                for j in 0..<g.count where s * p[j] > s * xi[j] { d[j] = 0 }
            }
        }
        return dx
    }
}

/// The element-wise maximum of its inputs.
public final class Maximum: ExtremumMerge {
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Maximum" }
    public override var defaultNameStem: String { "maximum" }
}

/// The element-wise minimum of its inputs.
public final class Minimum: ExtremumMerge {
    public override init(name: String? = nil) { super.init(name: name) }
    public override var typeName: String { "Minimum" }
    public override var defaultNameStem: String { "minimum" }
    override var sign: Float { -1 }
}

/// Joins its inputs along one axis (Keras `Concatenate(axis=-1)`: the channels of NHWC images, as
/// in U-Net's skip connections and Inception's branches). Every other axis must agree.
public final class Concatenate: MergeLayer {
    /// Keras's axis, counting the batch axis as 0; negative axes count from the end (-1, the last).
    public let axis: Int
    /// The per-sample axis, fixed when built.
    private var sampleAxis = 0

    public init(axis: Int = -1, name: String? = nil) {
        self.axis = axis
        super.init(name: name)
    }
    public override var typeName: String { "Concatenate" }
    public override var defaultNameStem: String { "concatenate" }

    override func makeOutputShape(inputShapes shapes: [[Int]], producers: [String]) throws -> [Int] {
        let rank = shapes[0].count
        for i in 1..<shapes.count where shapes[i].count != rank {
            throw NNError.invalidArgument("layer '\(displayName)' (Concatenate) needs inputs of one rank, but '\(producers[0])' gives \(shapes[0]) and '\(producers[i])' gives \(shapes[i])")
        }
        let a = axis < 0 ? rank + 1 + axis : axis
        guard a >= 1, a <= rank else {
            throw NNError.invalidArgument("layer '\(displayName)' (Concatenate): axis \(axis) is not a per-sample axis of inputs of shape [N, \(shapes[0].map(String.init).joined(separator: ", "))] (the batch axis 0 cannot be joined)")
        }
        sampleAxis = a - 1
        var out = shapes[0]
        for i in 1..<shapes.count {
            for d in 0..<rank where d != sampleAxis && shapes[i][d] != shapes[0][d] {
                throw NNError.invalidArgument("layer '\(displayName)' (Concatenate) joins along axis \(axis), so the other axes must agree, but '\(producers[0])' gives \(shapes[0]) and '\(producers[i])' gives \(shapes[i])")
            }
            out[sampleAxis] += shapes[i][sampleAxis]
        }
        return out
    }

    /// Rows: everything before the axis (batch included); each row of input i is `width(i)` floats.
    private func width(_ shape: [Int]) -> Int { shape[sampleAxis...].reduce(1, *) }

    override func merge(_ inputs: [Tensor], into out: Tensor) {
        let outWidth = width(outputShape), rows = out.count / outWidth
        var at = 0
        for (i, x) in inputs.enumerated() {
            let w = width(inputShapes[i]), src = x.pointer, dst = out.pointer + at
            for r in 0..<rows { (dst + r * outWidth).update(from: src + r * w, count: w) }
            at += w
        }
    }

    override func gradient(_ g: Tensor, input i: Int) -> Tensor {
        let outWidth = width(outputShape), rows = g.count / outWidth
        var at = 0
        for j in 0..<i { at += width(inputShapes[j]) }
        let w = width(inputShapes[i]), dx = inputGradientBuffer(i, batch: g.shape[0])
        let src = g.pointer + at, dst = dx.pointer
        for r in 0..<rows { (dst + r * w).update(from: src + r * outWidth, count: w) }
        return dx
    }
}
