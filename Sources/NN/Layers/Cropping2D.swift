/// Removes rows from the top and bottom and columns from the left and right of each image (Keras
/// `Cropping2D`, `cropping = ((top, bottom), (left, right))`). Backward puts dY back in the kept
/// window and zeros the cropped border.
public final class Cropping2D: Layer {
    /// ((top, bottom), (left, right)), as Keras writes it.
    public let cropping: ((top: Int, bottom: Int), (left: Int, right: Int))

    public init(cropping: ((top: Int, bottom: Int), (left: Int, right: Int)) = ((0, 0), (0, 0)), name: String? = nil) {
        self.cropping = cropping
        super.init(name: name)
    }

    /// The same crop on every side: `Cropping2D(cropping: 1)`.
    public convenience init(cropping: Int, name: String? = nil) {
        self.init(cropping: ((cropping, cropping), (cropping, cropping)), name: name)
    }

    /// Symmetric crops: `height` rows from top and bottom, `width` columns from left and right.
    public convenience init(height: Int, width: Int, name: String? = nil) {
        self.init(cropping: ((height, height), (width, width)), name: name)
    }

    public override var typeName: String { "Cropping2D" }
    public override var defaultNameStem: String { "cropping2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (h, w, c) = try imageShape(inputShape)
        let (v, hz) = cropping
        let sizes = [v.top, v.bottom, hz.left, hz.right]
        guard sizes.allSatisfy({ $0 >= 0 && $0 <= Tensor.maxElementCount }) else {
            throw NNError.invalidArgument("layer '\(displayName)' (Cropping2D): cropping must be non-negative, got \(sizes)")
        }
        guard v.top + v.bottom < h, hz.left + hz.right < w else {
            throw NNError.invalidArgument("layer '\(displayName)' (Cropping2D): cropping ((\(v.top), \(v.bottom)), (\(hz.left), \(hz.right))) leaves nothing of a \(h)×\(w) image")
        }
        return [h - v.top - v.bottom, w - hz.left - hz.right, c]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let out = outputBuffer.tensor(batch: input.shape[0], sampleShape: outputShape)
        window.crop(input.pointer, into: out.pointer, images: input.shape[0])
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let dx = inputGradientBuffer.tensor(batch: outputGradient.shape[0], sampleShape: inputShape)
        window.pad(outputGradient.pointer, into: dx.pointer, images: outputGradient.shape[0])
        return dx
    }

    /// The output is the window of the input that the crop keeps.
    private var window: ImageWindow {
        ImageWindow(full: (inputShape[0], inputShape[1]), window: outputShape, top: cropping.0.top, left: cropping.1.left)
    }
}
