import CKernels

/// Where a sliding window (convolution or pooling) falls on an NHWC image: sizes, strides and the
/// padding before the first row and column. im2col, col2im and pooling all read this one description.
package struct ConvGeometry: Equatable, Sendable {
    package let inputHeight, inputWidth, channels: Int
    package let kernelHeight, kernelWidth: Int
    package let strideHeight, strideWidth: Int
    package let outputHeight, outputWidth: Int
    package let padTop, padLeft: Int

    package init(inputHeight: Int, inputWidth: Int, channels: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1, padding: Padding) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.channels = channels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        (outputHeight, padTop) = ConvGeometry.outputSize(inputHeight, kernelHeight, strideHeight, padding)
        (outputWidth, padLeft) = ConvGeometry.outputSize(inputWidth, kernelWidth, strideWidth, padding)
    }

    /// Output length and padding before the first element, as TensorFlow computes them.
    package static func outputSize(_ input: Int, _ kernel: Int, _ stride: Int, _ padding: Padding) -> (Int, Int) {
        switch padding {
        case .valid:
            return (input >= kernel ? (input - kernel) / stride + 1 : 0, 0)
        case .same:
            let out = (input + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - input, 0)
            return (out, total / 2)
        }
    }

    /// Columns of the im2col matrix: one per (kh, kw, c) tap.
    package var patchSize: Int { kernelHeight * kernelWidth * channels }
    /// Rows of the im2col matrix per image.
    package var outputPixels: Int { outputHeight * outputWidth }
    package var inputPixels: Int { inputHeight * inputWidth }
    /// True when the im2col matrix is the input itself (1×1 kernel, stride 1, no padding).
    package var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && padTop == 0 && padLeft == 0
    }
}

extension ConvGeometry {
    /// The same description for CKernels' C loops.
    var windowGeometry: nn_window_geometry {
        nn_window_geometry(inputHeight: inputHeight, inputWidth: inputWidth, channels: channels,
                           outputHeight: outputHeight, outputWidth: outputWidth,
                           kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                           strideHeight: strideHeight, strideWidth: strideWidth, padTop: padTop, padLeft: padLeft)
    }

    /// The one geometry check of the sliding-window layers (Conv2D, DepthwiseConv2D, MaxPooling2D):
    /// window, strides and `otherSizes` positive, an NHWC image input, and a window that fits it.
    /// Errors name the layer and its type (`layer 'conv2d' (Conv2D): …`).
    package static func validated(layer: String, typeName: String, inputShape: [Int],
                                  window: (Int, Int), windowName: String = "kernel", strides: (Int, Int),
                                  padding: Padding, otherSizes: KeyValuePairs<String, Int> = [:]) throws -> ConvGeometry {
        let named = "layer '\(layer)' (\(typeName))"
        guard window.0 > 0, window.1 > 0, strides.0 > 0, strides.1 > 0, otherSizes.allSatisfy({ $0.value > 0 }) else {
            let sizes = ["\(windowName) size \(window)", "strides \(strides)"] + otherSizes.map { "\($0.key) \($0.value)" }
            throw NNError.invalidArgument("\(named): \(sizes.dropLast().joined(separator: ", ")) and \(sizes.last!) must be positive")
        }
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("\(named) expects images [N, height, width, channels] but its input shape is \(inputShape)")
        }
        let g = ConvGeometry(inputHeight: inputShape[0], inputWidth: inputShape[1], channels: inputShape[2],
                             kernelHeight: window.0, kernelWidth: window.1,
                             strideHeight: strides.0, strideWidth: strides.1, padding: padding)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw NNError.invalidArgument("\(named): \(windowName) \(window) does not fit the input \(inputShape) with \(padding) padding")
        }
        return g
    }
}
