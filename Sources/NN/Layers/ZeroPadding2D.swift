/// Adds rows and columns of zeros around NHWC images (Keras `ZeroPadding2D`), given as
/// ((top, bottom), (left, right)). MobileNet pads ((0, 1), (0, 1)) before each strided depthwise
/// convolution so its valid 3×3 window lines up the way TensorFlow's `same` would not.
public final class ZeroPadding2D: Layer {
    public let padding: ((top: Int, bottom: Int), (left: Int, right: Int))

    public init(padding: ((Int, Int), (Int, Int)), name: String? = nil) {
        self.padding = ((padding.0.0, padding.0.1), (padding.1.0, padding.1.1))
        super.init(name: name)
    }

    /// The same padding on every side.
    public convenience init(padding: Int = 1, name: String? = nil) {
        self.init(padding: ((padding, padding), (padding, padding)), name: name)
    }

    public override var typeName: String { "ZeroPadding2D" }
    public override var defaultNameStem: String { "zero_padding2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (v, h) = padding
        guard v.top >= 0, v.bottom >= 0, h.left >= 0, h.right >= 0 else {
            throw NNError.invalidArgument("layer '\(displayName)' (ZeroPadding2D): padding \(padding) must not be negative")
        }
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("layer '\(displayName)' (ZeroPadding2D) expects images [N, height, width, channels] but its input shape is \(inputShape)")
        }
        // Overflow-checked: the padding is the user's and may be anything up to Int.max.
        let height = inputShape[0].addingReportingOverflow(v.top), height2 = height.partialValue.addingReportingOverflow(v.bottom)
        let width = inputShape[1].addingReportingOverflow(h.left), width2 = width.partialValue.addingReportingOverflow(h.right)
        guard !height.overflow, !height2.overflow, !width.overflow, !width2.overflow else {
            throw NNError.invalidArgument("layer '\(displayName)' (ZeroPadding2D): padding \(padding) makes the image larger than an Int can count")
        }
        return [height2.partialValue, width2.partialValue, inputShape[2]]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        window.pad(input.pointer, into: out.pointer, images: input.shape[0])
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        window.crop(outputGradient.pointer, into: dx.pointer, images: outputGradient.shape[0])
        return dx
    }

    /// The input is the window of the padded output.
    private var window: ImageWindow {
        ImageWindow(full: (outputShape[0], outputShape[1]), window: inputShape, top: padding.0.top, left: padding.1.left)
    }
}
