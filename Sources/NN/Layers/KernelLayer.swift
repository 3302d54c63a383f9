/// What Dense, Conv2D and DepthwiseConv2D share (as Caffe's base convolution layer does): an
/// activation after a kernel product plus an optional bias, the initializers and L2 factor of those
/// two parameters, their creation, and the per-batch buffers around them. Not a layer of its own.
public class KernelLayer: Layer {
    public let activation: Activation
    public let useBias: Bool
    public let kernelInitializer: Initializer
    public let biasInitializer: Initializer
    /// L2 factor on the kernel (Keras `kernel_regularizer=l2(x)`).
    public let kernelL2: Float

    public internal(set) var kernel: Parameter!
    public internal(set) var bias: Parameter?

    var activationGradient = ScratchBuffer()
    /// A ones vector for the bias gradient (db = dzᵀ · 1).
    var ones = ScratchBuffer()
    /// The input and output of the last forward pass, for backward.
    private var x: Tensor?
    private var y: Tensor?

    init(activation: Activation, useBias: Bool, kernelInitializer: Initializer, biasInitializer: Initializer,
         kernelL2: Float, name: String?) {
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.biasInitializer = biasInitializer
        self.kernelL2 = kernelL2
        super.init(name: name)
    }

    /// Registers `kernel` then, when `useBias`, `bias` of `biasCount` values (the weights file's order).
    func addKernelAndBias(kernelShape: [Int], biasCount: Int, rng: inout RandomGenerator) {
        kernel = addParameter("kernel", shape: kernelShape, initializer: kernelInitializer, l2: kernelL2, rng: &rng)
        bias = useBias ? addParameter("bias", shape: [biasCount], initializer: biasInitializer, rng: &rng) : nil
    }

    /// Keeps a forward pass's input and output for backward; returns the output.
    func keep(input: Tensor, output: Tensor) -> Tensor {
        x = input
        y = output
        return output
    }

    /// The input and output kept by the last forward pass.
    func lastPass() throws -> (x: Tensor, y: Tensor) {
        guard let x, let y else { throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): backward before forward") }
        return (x, y)
    }
}

/// What Conv2D and DepthwiseConv2D add to `KernelLayer`: a kernel window sliding over NHWC images
/// with strides and padding, and the geometry (`ConvGeometry`) that fixes once built.
public class ConvolutionLayer: KernelLayer {
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    package private(set) var geometry: ConvGeometry!

    /// The BatchNormalization after this layer (and the activation after that, linear when none is
    /// folded), which this layer applies itself at inference; set by `Model.foldBatchNormalization`.
    package var foldedBatchNorm: (layer: BatchNormalization, activation: Activation)?
    /// Set only during a whole-model inference pass, in which this layer applies `foldedBatchNorm`.
    package var appliesFoldedBatchNorm = false
    private var foldBuffer = ScratchBuffer()

    /// The fold for this pass, with this pass's scale and shift (nil when none applies).
    func foldForThisPass(training: Bool) -> FoldedBatchNorm? {
        guard !training, appliesFoldedBatchNorm, let (bn, act) = foldedBatchNorm else { return nil }
        let c = outputShape.last ?? 1
        let scale = foldBuffer.floats(2 * c), shift = scale + c
        bn.inferenceScaleShift(scale: scale, shift: shift)
        return FoldedBatchNorm(scale: scale, shift: shift, activation: act)
    }

    init(kernelSize: (Int, Int), strides: (Int, Int), padding: Padding, activation: Activation, useBias: Bool,
         kernelInitializer: Initializer, biasInitializer: Initializer, kernelL2: Float, name: String?) {
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        super.init(activation: activation, useBias: useBias, kernelInitializer: kernelInitializer,
                   biasInitializer: biasInitializer, kernelL2: kernelL2, name: name)
    }

    /// Checks the window against `inputShape` (with `otherSizes` that must be positive too) and keeps
    /// the geometry it gives.
    func buildGeometry(inputShape: [Int], otherSizes: KeyValuePairs<String, Int>) throws -> ConvGeometry {
        try checkWindowSizes(["kernel size": kernelSize, "strides": strides])
        let g = try ConvGeometry.validated(layer: displayName, typeName: typeName, inputShape: inputShape,
                                           window: kernelSize, strides: strides, padding: padding, otherSizes: otherSizes)
        geometry = g
        return g
    }
}
