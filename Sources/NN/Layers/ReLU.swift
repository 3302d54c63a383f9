/// Keras's `ReLU` layer: y = min(max(x, 0), maxValue), with no cap when `maxValue` is nil.
/// MobileNet uses `ReLU(maxValue: 6)` (ReLU6). The gradient passes where 0 < x < maxValue, as
/// TensorFlow's `relu6` gradient does; NaN stays NaN so a diverging run is seen.
public final class ReLU: Layer {
    public let maxValue: Float?
    private var output = ScratchBuffer()
    private var inputGradient = ScratchBuffer()
    private var y: Tensor?

    public init(maxValue: Float? = nil, name: String? = nil) {
        self.maxValue = maxValue
        super.init(name: name)
    }

    public override var typeName: String { "ReLU" }
    public override var defaultNameStem: String { "re_lu" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        if let maxValue, !(maxValue > 0) {
            throw NNError.invalidArgument("layer '\(displayName)' (ReLU): max value must be positive, got \(maxValue)")
        }
        return inputShape
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = output.tensor(batch: input.shape[0], sampleShape: outputShape)
        let x = input.pointer, o = out.pointer
        if let cap = maxValue {
            for i in 0..<out.count { let v = x[i]; o[i] = v < 0 ? 0 : (v > cap ? cap : v) }
        } else {
            for i in 0..<out.count { let v = x[i]; o[i] = v < 0 ? 0 : v }
        }
        y = out
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard let y else { throw NNError.invalidArgument("layer '\(displayName)' (ReLU): backward before forward") }
        let dx = inputGradient.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        let yp = y.pointer, g = outputGradient.pointer, d = dx.pointer
        let cap = maxValue ?? .infinity
        // y is x clamped, so 0 < y < cap exactly where 0 < x < cap.
        for i in 0..<dx.count { let v = yp[i]; d[i] = v > 0 && v < cap ? g[i] : 0 }
        return dx
    }
}
