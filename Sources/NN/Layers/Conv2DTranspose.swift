/// A transposed 2-D convolution over NHWC images (Keras `Conv2DTranspose`, sometimes called a
/// deconvolution): the input gradient of a convolution, used to upsample (U-Net's decoder).
/// Kernel `[kh, kw, filters, in]` (Keras's layout: a `Conv2D` kernel from `filters` channels to
/// `in`), bias `[filters]`.
///
/// The output size is Keras's rule per axis: without `outputPadding`, `in · s` (same) or
/// `in · s + max(k − s, 0)` (valid); with it, `(in − 1) · s + k − 2·pad + outputPadding` where pad
/// is `k / 2` (same) or 0 (valid). The padding before the first row is TensorFlow's for the
/// convolution from that output back to the input, as `tf.nn.conv2d_transpose` computes it.
///
/// In GEMMs over the geometry `g` of that convolution (input = this layer's output):
/// forward `dcol = X · Wᵀ` then col2im into Y, plus bias and activation; backward im2col of dY,
/// `dX = col · W` (a transposed convolution's input gradient is a convolution) and
/// `dW += colᵀ · X`. The batch is split over the worker pool by images, each part with its own
/// column buffer; kernel gradients of parts after the first are summed afterwards in part order.
public final class Conv2DTranspose: KernelLayer {
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    /// Keras's `output_padding`: extra rows and columns after the output (each below its stride),
    /// or nil for Keras's default size.
    public let outputPadding: (Int, Int)?
    /// The convolution this layer transposes: its input is this layer's output, its output this
    /// layer's input.
    package private(set) var geometry: ConvGeometry!

    private var partialGradients = ScratchBuffer()

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                outputPadding: (Int, Int)? = nil, activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
                kernelL2: Float = 0, name: String? = nil) {
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.outputPadding = outputPadding
        super.init(activation: activation, useBias: useBias, kernelInitializer: kernelInitializer,
                   biasInitializer: biasInitializer, kernelL2: kernelL2, name: name)
    }

    /// Square kernel and strides: `Conv2DTranspose(filters: 32, kernelSize: 2, strides: 2)` doubles the size.
    public convenience init(filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid,
                            outputPadding: Int? = nil, activation: Activation = .linear, useBias: Bool = true,
                            kernelInitializer: Initializer = .glorotUniform, kernelL2: Float = 0, name: String? = nil) {
        self.init(filters: filters, kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  outputPadding: outputPadding.map { ($0, $0) }, activation: activation, useBias: useBias,
                  kernelInitializer: kernelInitializer, kernelL2: kernelL2, name: name)
    }

    public override var typeName: String { "Conv2DTranspose" }
    public override var defaultNameStem: String { "conv2d_transpose" }

    /// Keras's output length along one axis (`compute_conv_transpose_output_length`, no dilation),
    /// or nil when it overflows.
    package static func outputLength(input: Int, kernel: Int, stride: Int, padding: Padding, outputPadding: Int?) -> Int? {
        let (scaled, o1) = (outputPadding == nil ? input : input - 1).multipliedReportingOverflow(by: stride)
        guard !o1 else { return nil }
        guard let outputPadding else {
            let (n, o2) = scaled.addingReportingOverflow(padding == .valid ? max(kernel - stride, 0) : 0)
            return o2 ? nil : n
        }
        let pad = padding == .same ? kernel / 2 : 0
        let (n, o2) = scaled.addingReportingOverflow(kernel - 2 * pad + outputPadding)
        return o2 ? nil : n
    }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let named = "layer '\(displayName)' (Conv2DTranspose)"
        try checkWindowSizes(["kernel size": kernelSize, "strides": strides])
        guard kernelSize.0 > 0, kernelSize.1 > 0, strides.0 > 0, strides.1 > 0, filters > 0 else {
            throw NNError.invalidArgument("\(named): kernel size \(kernelSize), strides \(strides) and filters \(filters) must be positive")
        }
        if let p = outputPadding, !(0..<strides.0 ~= p.0 && 0..<strides.1 ~= p.1) {
            throw NNError.invalidArgument("\(named): output padding \(p) must be at least 0 and less than the strides \(strides)")
        }
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("\(named) expects images [N, height, width, channels] but its input shape is \(inputShape)")
        }
        guard let height = Self.outputLength(input: inputShape[0], kernel: kernelSize.0, stride: strides.0, padding: padding, outputPadding: outputPadding.map(\.0)),
              let width = Self.outputLength(input: inputShape[1], kernel: kernelSize.1, stride: strides.1, padding: padding, outputPadding: outputPadding.map(\.1)),
              height > 0, width > 0 else {
            throw NNError.invalidArgument("\(named): kernel \(kernelSize), strides \(strides) and output padding \(outputPadding.map { "\($0)" } ?? "none") give no output for the input \(inputShape)")
        }
        _ = try Tensor.validatedElementCount([height, width, filters], what: "\(named) output")
        let g = ConvGeometry(inputHeight: height, inputWidth: width, channels: filters, kernelHeight: kernelSize.0, kernelWidth: kernelSize.1,
                             strideHeight: strides.0, strideWidth: strides.1, padding: padding)
        // TensorFlow refuses an output its convolution would not map back onto the input (same
        // padding, kernel 4, stride 2 and output padding 0 shrinks it): so does this layer.
        guard g.outputHeight == inputShape[0], g.outputWidth == inputShape[1] else {
            throw NNError.invalidArgument("\(named): an output of \(height)×\(width) (kernel \(kernelSize), strides \(strides), \(padding) padding, output padding \(outputPadding.map { "\($0)" } ?? "none")) does not convolve back to the input's \(inputShape[0])×\(inputShape[1])")
        }
        geometry = g
        return [height, width, filters]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        addKernelAndBias(kernelShape: [kernelSize.0, kernelSize.1, filters, inputShape[2]], biasCount: filters, rng: &rng)
        // One image's columns are the least the workspace must hold: refused here, naming the layer.
        if let g = geometry {
            _ = try Tensor.validatedElementCount([g.outputHeight, g.outputWidth, kernelSize.0, kernelSize.1, filters],
                                                 what: "layer '\(displayName)' (Conv2DTranspose) column matrix of one image")
        }
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let parts = Parallel.imageParts(images: n, valuesPerImage: g.inputPixels * filters)
        let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: (n + parts - 1) / parts)
        let columnFloats = chunk * rowsPerImage * k
        Parallel.run(parts, Conv2DTransposeForwardPart(
            geometry: g, inputChannels: inputShape[2], images: n, chunk: chunk, x: input.pointer, kernel: kernel.value.pointer,
            bias: bias?.value.pointer, y: out.pointer, activation: activation,
            columns: workspace.buffers(parts, floats: columnFloats), columnFloats: columnFloats))
        return keep(input: input, output: out)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let (x, y) = try lastPass()
        let g = geometry!, n = outputGradient.shape[0], c = inputShape[2]
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let dz = ActivationGradient.compute(activation, fused: false, output: y, outputGradient: outputGradient,
                                            sampleShape: outputShape, buffer: &activationGradient)
        if let bias { BiasAdd.gradient(dz, rows: n * g.inputPixels, width: filters, ones: &ones, into: bias.gradient) }
        let wantsInput = computesInputGradient
        let dx = wantsInput ? inputGradientBuffer.tensor(batch: n, sampleShape: inputShape) : Layer.skippedGradient
        let parts = Parallel.imageParts(images: n, valuesPerImage: g.inputPixels * filters)
        let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: (n + parts - 1) / parts)
        let columnFloats = chunk * rowsPerImage * k
        let kernelCount = k * c
        let partials = partialGradients.tensor(batch: max(1, parts - 1) * kernelCount, sampleShape: []).pointer
        Parallel.run(parts, Conv2DTransposeBackwardPart(
            geometry: g, inputChannels: c, images: n, chunk: chunk, x: x.pointer, dz: dz.pointer, kernel: kernel.value.pointer,
            kernelGradient: kernel.gradient.pointer, partials: partials, dx: wantsInput ? dx.pointer : nil,
            columns: workspace.buffers(parts, floats: columnFloats), columnFloats: columnFloats))
        for p in 1..<max(1, parts) {
            BLAS.axpy(count: kernelCount, alpha: 1, x: partials + (p - 1) * kernelCount, y: kernel.gradient.pointer)
        }
        return dx
    }
}

/// Conv2DTranspose's forward pass over part `part` of the batch, chunk by chunk: the column
/// gradient `X · Wᵀ` of the convolution `geometry`, scattered into the part's zeroed output images
/// by col2im; then bias and activation over the part's images.
struct Conv2DTransposeForwardPart: ParallelWork {
    let geometry: ConvGeometry
    let inputChannels: Int, images: Int, chunk: Int
    let x: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?
    let y: UnsafeMutablePointer<Float>
    let activation: Activation
    let columns: UnsafeMutablePointer<Float>, columnFloats: Int

    func run(part: Int, of parts: Int) {
        let g = geometry, rowsPerImage = g.outputPixels, k = g.patchSize, c = inputChannels
        let outputSize = g.inputPixels * g.channels
        let col = columns + part * columnFloats
        let range = Parallel.range(part, of: parts, count: images)
        let yPart = y + range.lowerBound * outputSize
        yPart.update(repeating: 0, count: range.count * outputSize)
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let rows = count * rowsPerImage
            BLAS.gemm(transB: true, m: rows, n: k, k: c, a: x + start * rowsPerImage * c, b: kernel, c: col)
            Im2col.col2im(col, images: count, geometry: g, output: y + start * outputSize)
        }
        activation.apply(yPart, count: range.count * outputSize, width: g.channels, bias: bias)
    }
}

/// Conv2DTranspose's backward pass over part `part` of the batch, chunk by chunk: im2col of dZ
/// over the convolution `geometry`, dW (into part 0's gradient or the part's own partial sum) and,
/// when wanted, dX = col · W for the part's own images.
struct Conv2DTransposeBackwardPart: ParallelWork {
    let geometry: ConvGeometry
    let inputChannels: Int, images: Int, chunk: Int
    let x: UnsafeMutablePointer<Float>, dz: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>
    let kernelGradient: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>?
    let columns: UnsafeMutablePointer<Float>, columnFloats: Int

    func run(part: Int, of parts: Int) {
        let g = geometry, rowsPerImage = g.outputPixels, k = g.patchSize, c = inputChannels
        let outputSize = g.inputPixels * g.channels
        let col = columns + part * columnFloats
        let dW = part == 0 ? kernelGradient : partials + (part - 1) * k * c
        let range = Parallel.range(part, of: parts, count: images)
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let rows = count * rowsPerImage, at = start * rowsPerImage * c
            Im2col.im2col(dz + start * outputSize, images: count, geometry: g, col: col)
            BLAS.gemm(transA: true, m: k, n: c, k: rows, a: col, b: x + at, beta: start == range.lowerBound ? 0 : 1, c: dW)
            if let dx { BLAS.gemm(m: rows, n: c, k: k, a: col, b: kernel, c: dx + at) }
        }
    }
}
