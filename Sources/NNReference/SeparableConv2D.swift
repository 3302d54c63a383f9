/// Depthwise-separable 2-D convolution (Keras `SeparableConv2D`): the reference depthwise
/// convolution (no bias) followed by the reference 1×1 convolution with bias.
extension Ref {
    /// y = conv2D(depthwiseConv2D(x, depthwiseKernel), pointwiseKernel) + b, for depthwise kernel
    /// [KH, KW, C, M] and pointwise kernel [1, 1, C·M, F].
    @inlinable
    public static func separableConv2D<T: RefScalar>(_ x: RefTensor<T>, depthwiseKernel: RefTensor<T>, pointwiseKernel: RefTensor<T>,
                                                     bias: [T]? = nil, strides: (Int, Int) = (1, 1),
                                                     padding: RefPadding = .valid) -> RefTensor<T> {
        let middle = depthwiseConv2D(x, kernel: depthwiseKernel, strides: strides, padding: padding)
        return conv2D(middle, kernel: pointwiseKernel, bias: bias)
    }

    /// Gradients of `separableConv2D` given dY: dX, dDepthwise, dPointwise and dBias (nil when
    /// `hasBias` is false), through the two reference backward passes.
    @inlinable
    public static func separableConv2DBackward<T: RefScalar>(_ x: RefTensor<T>, depthwiseKernel: RefTensor<T>,
                                                             pointwiseKernel: RefTensor<T>, hasBias: Bool = false,
                                                             strides: (Int, Int) = (1, 1), padding: RefPadding = .valid,
                                                             outputGradient dy: RefTensor<T>)
        -> (input: RefTensor<T>, depthwiseKernel: RefTensor<T>, pointwiseKernel: RefTensor<T>, bias: [T]?) {
        let middle = depthwiseConv2D(x, kernel: depthwiseKernel, strides: strides, padding: padding)
        let pointwise = conv2DBackward(middle, kernel: pointwiseKernel, hasBias: hasBias, outputGradient: dy)
        let depthwise = depthwiseConv2DBackward(x, kernel: depthwiseKernel, strides: strides, padding: padding,
                                                outputGradient: pointwise.input)
        return (depthwise.input, depthwise.kernel, pointwise.kernel, pointwise.bias)
    }
}
