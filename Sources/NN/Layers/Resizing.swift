/// Resizes images to `height`×`width` (Keras `Resizing`), with TensorFlow's `tf.image.resize`
/// arithmetic (half-pixel centres, antialias off), in training and inference alike. With
/// `cropToAspectRatio` it first keeps the largest centred crop of the target's aspect ratio, so
/// nothing is stretched. Backward is the transpose of the resampling, so it may sit anywhere.
public final class Resizing: Layer {
    public let height: Int, width: Int
    public let interpolation: ImageInterpolation
    public let cropToAspectRatio: Bool
    private var geometry: ResizeGeometry!

    public init(height: Int, width: Int, interpolation: ImageInterpolation = .bilinear, cropToAspectRatio: Bool = false,
                name: String? = nil) {
        self.height = height
        self.width = width
        self.interpolation = interpolation
        self.cropToAspectRatio = cropToAspectRatio
        super.init(name: name)
    }

    public override var typeName: String { "Resizing" }
    public override var defaultNameStem: String { "resizing" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (h, w, c) = try imageShape(inputShape)
        guard height > 0, width > 0, height <= Tensor.maxElementCount, width <= Tensor.maxElementCount else {
            throw NNError.invalidArgument("layer '\(displayName)' (Resizing): height and width must be positive, got \(height)×\(width)")
        }
        let window = cropToAspectRatio ? aspectCropWindow(height: h, width: w, targetHeight: height, targetWidth: width)
                                       : (top: 0, left: 0, height: h, width: w)
        _ = try Tensor.validatedElementCount([height, width, c], what: "layer '\(displayName)' (Resizing) output")
        geometry = ResizeGeometry(inHeight: h, inWidth: w, channels: c, top: window.top, left: window.left,
                                  cropHeight: window.height, cropWidth: window.width, outHeight: height, outWidth: width,
                                  interpolation: interpolation)
        return [height, width, c]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        resizeForward(geometry, input, &outputBuffer, outputShape)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        resizeBackward(geometry, outputGradient, &inputGradientBuffer, inputShape)
    }
}

/// Crops the centre `height`×`width` of each image (Keras 3 `CenterCrop`). When the input is
/// smaller than the target on either axis, Keras 3 does not pad: it crops the largest centred
/// window of the target's aspect ratio and resizes it bilinearly (`smart_resize`), and so does this.
public final class CenterCrop: Layer {
    public let height: Int, width: Int
    private var geometry: ResizeGeometry!

    public init(height: Int, width: Int, name: String? = nil) {
        self.height = height
        self.width = width
        super.init(name: name)
    }

    public override var typeName: String { "CenterCrop" }
    public override var defaultNameStem: String { "center_crop" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (h, w, c) = try imageShape(inputShape)
        guard height > 0, width > 0, height <= Tensor.maxElementCount, width <= Tensor.maxElementCount else {
            throw NNError.invalidArgument("layer '\(displayName)' (CenterCrop): height and width must be positive, got \(height)×\(width)")
        }
        _ = try Tensor.validatedElementCount([height, width, c], what: "layer '\(displayName)' (CenterCrop) output")
        let window = h >= height && w >= width
            ? (top: (h - height) / 2, left: (w - width) / 2, height: height, width: width)
            : aspectCropWindow(height: h, width: w, targetHeight: height, targetWidth: width)
        geometry = ResizeGeometry(inHeight: h, inWidth: w, channels: c, top: window.top, left: window.left,
                                  cropHeight: window.height, cropWidth: window.width, outHeight: height, outWidth: width,
                                  interpolation: .bilinear)
        return [height, width, c]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        resizeForward(geometry, input, &outputBuffer, outputShape)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        resizeBackward(geometry, outputGradient, &inputGradientBuffer, inputShape)
    }
}

func resizeForward(_ g: ResizeGeometry, _ input: Tensor, _ buffer: inout ScratchBuffer, _ outputShape: [Int]) -> Tensor {
    let n = input.shape[0]
    let out = buffer.tensor(batch: n, sampleShape: outputShape)
    Parallel.run(Parallel.imageParts(images: n, valuesPerImage: out.count / n),
                 ResizeForwardPart(g: g, images: n, x: input.pointer, y: out.pointer))
    return out
}

func resizeBackward(_ g: ResizeGeometry, _ outputGradient: Tensor, _ buffer: inout ScratchBuffer, _ inputShape: [Int]) -> Tensor {
    let n = outputGradient.shape[0]
    let dx = buffer.tensor(batch: n, sampleShape: inputShape)
    Parallel.run(Parallel.imageParts(images: n, valuesPerImage: dx.count / n),
                 ResizeBackwardPart(g: g, images: n, dy: outputGradient.pointer, dx: dx.pointer))
    return dx
}
