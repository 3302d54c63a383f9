/// Repeats each image's rows `size.0` times and columns `size.1` times (Keras `UpSampling2D`):
/// `.nearest` copies pixels (Keras's `ops.repeat`), `.bilinear` is `tf.image.resize` to the larger
/// size with half-pixel centres and no antialiasing, as Keras calls it. Both are the engine's
/// `Resizing` arithmetic (nearest with half-pixel centres and an integer factor is the repeat), so
/// backward is the transpose of the resampling.
public final class UpSampling2D: Layer {
    /// The (rows, columns) factors.
    public let size: (Int, Int)
    public let interpolation: ImageInterpolation
    private var geometry: ResizeGeometry!

    public init(size: (Int, Int) = (2, 2), interpolation: ImageInterpolation = .nearest, name: String? = nil) {
        self.size = size
        self.interpolation = interpolation
        super.init(name: name)
    }

    /// The same factor on both axes: `UpSampling2D(size: 2)`.
    public convenience init(size: Int, interpolation: ImageInterpolation = .nearest, name: String? = nil) {
        self.init(size: (size, size), interpolation: interpolation, name: name)
    }

    public override var typeName: String { "UpSampling2D" }
    public override var defaultNameStem: String { "up_sampling2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (h, w, c) = try imageShape(inputShape)
        try checkWindowSizes(["size": size])
        guard size.0 > 0, size.1 > 0 else {
            throw NNError.invalidArgument("layer '\(displayName)' (UpSampling2D): size must be positive, got \(size)")
        }
        let (height, o1) = h.multipliedReportingOverflow(by: size.0), (width, o2) = w.multipliedReportingOverflow(by: size.1)
        guard !o1, !o2 else {
            throw NNError.invalidArgument("layer '\(displayName)' (UpSampling2D): \(h)×\(w) times \(size) overflows")
        }
        _ = try Tensor.validatedElementCount([height, width, c], what: "layer '\(displayName)' (UpSampling2D) output")
        geometry = ResizeGeometry(inHeight: h, inWidth: w, channels: c, top: 0, left: 0, cropHeight: h, cropWidth: w,
                                  outHeight: height, outWidth: width, interpolation: interpolation)
        return [height, width, c]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        resizeForward(geometry, input, &outputBuffer, outputShape)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        resizeBackward(geometry, outputGradient, &inputGradientBuffer, inputShape)
    }
}
