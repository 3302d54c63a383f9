/// A depthwise-separable 2-D convolution (Keras `SeparableConv2D`): a depthwise convolution
/// (each input channel its own `depthMultiplier` filters, no bias) then a pointwise 1×1
/// convolution to `filters` channels, plus bias and activation — one layer, far fewer weights
/// than a full `Conv2D` of the same window.
///
/// Parameters in Keras's names and order: `depthwise_kernel [kh, kw, in, M]`,
/// `pointwise_kernel [1, 1, in·M, filters]`, `bias [filters]`. The depthwise step runs
/// DepthwiseConv2D's own kernels (split over the worker pool by images); the pointwise step is one
/// GEMM over the whole batch, its input already the column matrix (`[N·OH·OW, in·M]`).
public final class SeparableConv2D: ConvolutionLayer {
    public let filters: Int
    public let depthMultiplier: Int
    /// Keras's `pointwise_initializer` (the depthwise one is `depthwiseInitializer`).
    public let pointwiseInitializer: Initializer
    /// L2 factor on the pointwise kernel (Keras `pointwise_regularizer=l2(x)`); `kernelL2` is the depthwise one's.
    public let pointwiseL2: Float
    /// The depthwise kernel's initializer under Keras's name (`depthwise_initializer`).
    public var depthwiseInitializer: Initializer { kernelInitializer }
    /// The depthwise kernel `[kh, kw, in, M]` (also `kernel`).
    public var depthwiseKernel: Parameter { kernel }
    public private(set) var pointwiseKernel: Parameter!

    /// The depthwise output of the last forward pass `[N, OH, OW, in·M]`, the pointwise GEMM's input.
    private var depthwiseOutput = ScratchBuffer()
    private var depthwiseGradient = ScratchBuffer()
    private var preactivation = ScratchBuffer()
    private var partialKernelGradients = ScratchBuffer()

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                depthMultiplier: Int = 1, activation: Activation = .linear, useBias: Bool = true,
                depthwiseInitializer: Initializer = .glorotUniform, pointwiseInitializer: Initializer = .glorotUniform,
                biasInitializer: Initializer = .zeros, depthwiseL2: Float = 0, pointwiseL2: Float = 0, name: String? = nil) {
        self.filters = filters
        self.depthMultiplier = depthMultiplier
        self.pointwiseInitializer = pointwiseInitializer
        self.pointwiseL2 = pointwiseL2
        super.init(kernelSize: kernelSize, strides: strides, padding: padding, activation: activation, useBias: useBias,
                   kernelInitializer: depthwiseInitializer, biasInitializer: biasInitializer, kernelL2: depthwiseL2, name: name)
    }

    /// Square kernel and strides: `SeparableConv2D(filters: 64, kernelSize: 3, padding: .same)`.
    public convenience init(filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid, depthMultiplier: Int = 1,
                            activation: Activation = .linear, useBias: Bool = true, name: String? = nil) {
        self.init(filters: filters, kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  depthMultiplier: depthMultiplier, activation: activation, useBias: useBias, name: name)
    }

    package override var outputActivation: Activation? { activation }
    public override var typeName: String { "SeparableConv2D" }
    public override var defaultNameStem: String { "separable_conv2d" }

    /// Channels between the two steps: in · M.
    private var middleChannels: Int { inputShape[2] * depthMultiplier }
    /// The depthwise output's per-sample shape `[OH, OW, in·M]`, kept so a step builds no array.
    private var middleShape: [Int] = []

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let g = try buildGeometry(inputShape: inputShape, otherSizes: ["filters": filters, "depth multiplier": depthMultiplier])
        let (middle, overflow) = g.channels.multipliedReportingOverflow(by: depthMultiplier)
        guard !overflow else {
            throw NNError.invalidArgument("layer '\(displayName)' (SeparableConv2D): \(g.channels) channels × depth multiplier \(depthMultiplier) overflows")
        }
        middleShape = [g.outputHeight, g.outputWidth, middle]
        _ = try Tensor.validatedElementCount(middleShape, what: "layer '\(displayName)' (SeparableConv2D) depthwise output")
        return [g.outputHeight, g.outputWidth, filters]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let c = inputShape[2], m = depthMultiplier
        kernel = addParameter("depthwise_kernel", shape: [kernelSize.0, kernelSize.1, c, m], initializer: kernelInitializer,
                              l2: kernelL2, rng: &rng)
        pointwiseKernel = addParameter("pointwise_kernel", shape: [1, 1, c * m, filters], initializer: pointwiseInitializer,
                                       l2: pointwiseL2, rng: &rng)
        bias = useBias ? addParameter("bias", shape: [filters], initializer: biasInitializer, rng: &rng) : nil
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0], cm = middleChannels, rows = n * g.outputPixels
        let middle = depthwiseOutput.tensor(batch: n, sampleShape: middleShape)
        Parallel.run(Parallel.partCount(n * g.outputPixels * cm, grain: Parallel.elementGrain),
                     DepthwiseForwardPart(geometry: g, filters: cm, multiplier: depthMultiplier, images: n, x: input.pointer,
                                          kernel: kernel.value.pointer, bias: nil, fold: nil, y: middle.pointer))
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let z = keepsLogits ? preactivation.tensor(batch: n, sampleShape: outputShape) : out
        BiasAdd.broadcast(bias?.value, rows: rows, into: z)
        BLAS.gemm(m: rows, n: filters, k: cm, a: middle.pointer, b: pointwiseKernel.value.pointer, beta: bias == nil ? 0 : 1, c: z.pointer)
        if keepsLogits { out.assign(z); logits = z }
        activation.apply(out.pointer, count: out.count, width: filters)
        return keep(input: input, output: out)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let (x, y) = try lastPass()
        let g = geometry!, n = outputGradient.shape[0], cm = middleChannels, rows = n * g.outputPixels
        let dz = ActivationGradient.compute(activation, fused: activationFusedWithLoss, output: y, outputGradient: outputGradient,
                                            sampleShape: outputShape, buffer: &activationGradient)
        if let bias { BiasAdd.gradient(dz, rows: rows, width: filters, ones: &ones, into: bias.gradient) }
        // Pointwise: dP = Mᵀ · dZ, dM = dZ · Pᵀ.
        let middle = depthwiseOutput.tensor(batch: n, sampleShape: middleShape)
        let dMiddle = depthwiseGradient.tensor(batch: n, sampleShape: middleShape)
        BLAS.gemm(transA: true, m: cm, n: filters, k: rows, a: middle.pointer, b: dz.pointer, c: pointwiseKernel.gradient.pointer)
        BLAS.gemm(transB: true, m: rows, n: cm, k: filters, a: dz.pointer, b: pointwiseKernel.value.pointer, c: dMiddle.pointer)
        // Depthwise: DepthwiseConv2D's own backward.
        return depthwiseBackward(multiplier: depthMultiplier, input: x, outputGradient: dMiddle, partials: &partialKernelGradients)
    }
}
