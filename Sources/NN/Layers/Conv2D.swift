/// A 2-D convolution over NHWC images with kernel `[kh, kw, in, filters]` (Keras HWIO), computed as
/// im2col followed by one `sgemm` per chunk of images (DESIGN.md's table):
/// forward `Y = col · W + b`, weight gradient `dW += colᵀ · dY`, input gradient `dcol = dY · Wᵀ`
/// then col2im. A 1×1 stride-1 convolution skips im2col: the input already is the column matrix.
public final class Conv2D: Layer {
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let activation: Activation
    public let useBias: Bool
    public let kernelInitializer: Initializer
    public let biasInitializer: Initializer
    public let kernelL2: Float

    public private(set) var kernel: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var geometry: ConvGeometry!

    private var output = BatchBuffer()
    private var preactivation = BatchBuffer()
    private var activationGradient = BatchBuffer()
    private var inputGradient = BatchBuffer()
    private var ones = BatchBuffer()
    private var x: Tensor?
    private var y: Tensor?
    private var logits: Tensor?

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
                kernelL2: Float = 0, name: String? = nil) {
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.biasInitializer = biasInitializer
        self.kernelL2 = kernelL2
        super.init(name: name)
    }

    /// Square kernel and strides, the common case: `Conv2D(filters: 32, kernelSize: 3)`.
    public convenience init(filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid,
                            activation: Activation = .linear, useBias: Bool = true,
                            kernelInitializer: Initializer = .glorotUniform, kernelL2: Float = 0, name: String? = nil) {
        self.init(filters: filters, kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  activation: activation, useBias: useBias, kernelInitializer: kernelInitializer, kernelL2: kernelL2, name: name)
    }

    public override var endsInSoftmax: Bool { activation == .softmax }
    public override var softmaxLogits: Tensor? { logits }
    public override var typeName: String { "Conv2D" }
    public override var defaultNameStem: String { "conv2d" }
    public override var parameters: [Parameter] { ownParameters }
    private var ownParameters: [Parameter] = []

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard filters > 0, kernelSize.0 > 0, kernelSize.1 > 0, strides.0 > 0, strides.1 > 0 else {
            throw NNError.invalidArgument("layer '\(displayName)' (Conv2D): filters \(filters), kernel size \(kernelSize) and strides \(strides) must be positive")
        }
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("layer '\(displayName)' (Conv2D) expects images [N, height, width, channels] but its input shape is \(inputShape)")
        }
        let g = ConvGeometry(inputHeight: inputShape[0], inputWidth: inputShape[1], channels: inputShape[2],
                             kernelHeight: kernelSize.0, kernelWidth: kernelSize.1,
                             strideHeight: strides.0, strideWidth: strides.1, padding: padding)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw NNError.invalidArgument("layer '\(displayName)' (Conv2D): kernel \(kernelSize) does not fit the input \(inputShape) with \(padding) padding")
        }
        geometry = g
        return [g.outputHeight, g.outputWidth, filters]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        let k = Parameter(name: "kernel", shape: [kernelSize.0, kernelSize.1, inputShape[2], filters], l2: kernelL2)
        kernelInitializer.fill(k.value, using: &rng)
        kernel = k
        if useBias {
            let b = Parameter(name: "bias", shape: [filters])
            biasInitializer.fill(b.value, using: &rng)
            bias = b
        }
        ownParameters = [kernel, bias].compactMap { $0 }
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0]
        let out = output.tensor(batch: n, sampleShape: outputShape)
        let z = activation == .softmax ? preactivation.tensor(batch: n, sampleShape: outputShape) : out
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let beta: Float = bias == nil ? 0 : 1
        if g.isPointwise {
            BiasAdd.broadcast(bias?.value, rows: n * rowsPerImage, into: z)
            BLAS.gemm(m: n * rowsPerImage, n: filters, k: k, a: input.pointer, b: kernel.value.pointer, beta: beta, c: z.pointer)
            if activation == .softmax { out.assign(z); logits = z }
            activation.apply(out.pointer, count: out.count, width: filters)
        } else {
            let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: n)
            let col = workspace.buffer(chunk * rowsPerImage * k, slot: 0)
            let imageSize = g.inputPixels * g.channels
            // Bias, GEMM and an element-wise activation chunk by chunk, while the chunk's output is in cache.
            let fused = activation != .softmax
            for start in stride(from: 0, to: n, by: chunk) {
                let images = min(chunk, n - start)
                let rows = images * rowsPerImage, zChunk = z.pointer + start * rowsPerImage * filters
                if let b = bias?.value.pointer {
                    for r in 0..<rows { (zChunk + r * filters).update(from: b, count: filters) }
                }
                Im2col.im2col(input.pointer + start * imageSize, images: images, geometry: g, col: col)
                BLAS.gemm(m: rows, n: filters, k: k, a: col, b: kernel.value.pointer, beta: beta, c: zChunk)
                if fused { activation.apply(zChunk, count: rows * filters, width: filters) }
            }
            if !fused {
                out.assign(z); logits = z
                activation.apply(out.pointer, count: out.count, width: filters)
            }
        }
        x = input
        y = out
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard let x, let y else { throw NNError.invalidArgument("layer '\(displayName)' (Conv2D): backward before forward") }
        let g = geometry!, n = outputGradient.shape[0]
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let wantsInput = computesInputGradient
        let dx = wantsInput ? inputGradient.tensor(batch: n, sampleShape: inputShape) : Layer.skippedGradient
        if !g.isPointwise {
            return backwardChunked(outputGradient, x: x, y: y, dx: dx, wantsInput: wantsInput)
        }
        let dz = ActivationGradient.compute(activation, fused: softmaxFusedWithLoss, output: y,
                                            outputGradient: outputGradient, sampleShape: outputShape, buffer: &activationGradient)
        if let bias { BiasAdd.gradient(dz, rows: n * rowsPerImage, width: filters, ones: &ones, into: bias.gradient) }
        // Pointwise: the input already is the column matrix.
        BLAS.gemm(transA: true, m: k, n: filters, k: n * rowsPerImage, a: x.pointer, b: dz.pointer, c: kernel.gradient.pointer)
        if wantsInput {
            BLAS.gemm(transB: true, m: n * rowsPerImage, n: k, k: filters, a: dz.pointer, b: kernel.value.pointer, c: dx.pointer)
        }
        return dx
    }

    /// The im2col path, chunk by chunk: the activation's derivative is applied to a chunk of dY just
    /// before that chunk's GEMMs use it, while it is in cache.
    private func backwardChunked(_ outputGradient: Tensor, x: Tensor, y: Tensor, dx: Tensor, wantsInput: Bool) -> Tensor {
        let g = geometry!, n = outputGradient.shape[0]
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let passThrough = activation == .linear || (activation == .softmax && softmaxFusedWithLoss)
        let dz = passThrough ? outputGradient
            : activationGradient.tensor(batch: n, sampleShape: outputShape)
        if wantsInput { dx.fill(0) }
        let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: n)
        let col = workspace.buffer(chunk * rowsPerImage * k, slot: 0)
        let dcol = workspace.buffer(chunk * rowsPerImage * k, slot: 1)
        let imageSize = g.inputPixels * g.channels
        for start in stride(from: 0, to: n, by: chunk) {
            let images = min(chunk, n - start)
            let rows = images * rowsPerImage
            let dzChunk = dz.pointer + start * rowsPerImage * filters
            if !passThrough {
                dzChunk.update(from: outputGradient.pointer + start * rowsPerImage * filters, count: rows * filters)
                activation.backward(output: y.pointer + start * rowsPerImage * filters, gradient: dzChunk,
                                    count: rows * filters, width: filters)
            }
            // The forward pass's columns are recomputed rather than kept: cheaper than the memory.
            Im2col.im2col(x.pointer + start * imageSize, images: images, geometry: g, col: col)
            BLAS.gemm(transA: true, m: k, n: filters, k: rows, a: col, b: dzChunk,
                      beta: start == 0 ? 0 : 1, c: kernel.gradient.pointer)
            guard wantsInput else { continue }
            BLAS.gemm(transB: true, m: rows, n: k, k: filters, a: dzChunk, b: kernel.value.pointer, c: dcol)
            Im2col.col2im(dcol, images: images, geometry: g, output: dx.pointer + start * imageSize)
        }
        if let bias { BiasAdd.gradient(dz, rows: n * rowsPerImage, width: filters, ones: &ones, into: bias.gradient) }
        return dx
    }
}
