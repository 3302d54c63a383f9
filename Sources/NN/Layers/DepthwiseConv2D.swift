import CKernels

/// A depthwise 2-D convolution over NHWC images (Keras `DepthwiseConv2D`): input channel c has its
/// own `depthMultiplier` filters and output channel c·M + m sees only input channel c. Kernel
/// `[kh, kw, channels, M]` (Keras layout), bias `[channels · M]`.
///
/// Computed with direct loops over unsafe pointers rather than im2col + GEMM. Each output pixel is
/// Σ over the kh·kw taps of (input pixel row) ⊙ (kernel row), and in NHWC both rows are contiguous
/// `[C]` (or `[C, M]`) vectors, so the innermost loop is a vectorized multiply-add across channels.
/// That reads every input pixel kh·kw times from cache and never materializes columns. With depth
/// multiplier 1 (MobileNet's) the loops are CKernels' `nn_depthwise_*`, built for the CPU's widest
/// vectors (AVX-512 or AVX2+FMA; Swift code is built for SSE2) with the sum over taps in registers. The GEMV
/// alternative (DESIGN.md) needs the kh·kw·C·P im2col matrix — 9× the activations in memory and
/// traffic — and then C matrix-vector products of length kh·kw with stride C: BLAS cannot use
/// its blocking on 9-element dot products, so it is slower than the loop it replaces. Depthwise
/// work is ~1/C of the pointwise GEMM that follows it, so it is bandwidth, not FLOPs, that matters.
/// Batches are split across cores by images (forward and input gradient write disjoint images; the
/// kernel gradient is summed from one partial buffer per worker, never `+=` into shared memory).
public final class DepthwiseConv2D: ConvolutionLayer {
    public let depthMultiplier: Int
    /// The kernel's initializer under Keras's name for this layer (`depthwise_initializer`).
    public var depthwiseInitializer: Initializer { kernelInitializer }

    private var partialKernelGradients = ScratchBuffer()
    /// The preactivation, kept when the activation's derivative needs it (gelu, silu).
    private var preactivation = ScratchBuffer()
    private var keptPreactivation: Tensor?

    public init(kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid, depthMultiplier: Int = 1,
                activation: Activation = .linear, useBias: Bool = true,
                depthwiseInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
                kernelL2: Float = 0, name: String? = nil) {
        self.depthMultiplier = depthMultiplier
        super.init(kernelSize: kernelSize, strides: strides, padding: padding, activation: activation, useBias: useBias,
                   kernelInitializer: depthwiseInitializer, biasInitializer: biasInitializer, kernelL2: kernelL2, name: name)
    }

    /// Square kernel and strides: `DepthwiseConv2D(kernelSize: 3, strides: 2)`.
    public convenience init(kernelSize: Int, strides: Int = 1, padding: Padding = .valid, depthMultiplier: Int = 1,
                            activation: Activation = .linear, useBias: Bool = true, name: String? = nil) {
        self.init(kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  depthMultiplier: depthMultiplier, activation: activation, useBias: useBias, name: name)
    }

    public override var typeName: String { "DepthwiseConv2D" }
    public override var defaultNameStem: String { "depthwise_conv2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let g = try buildGeometry(inputShape: inputShape, otherSizes: ["depth multiplier": depthMultiplier])
        let (channels, overflow) = g.channels.multipliedReportingOverflow(by: depthMultiplier)
        guard !overflow else {
            throw NNError.invalidArgument("layer '\(displayName)' (DepthwiseConv2D): \(g.channels) channels × depth multiplier \(depthMultiplier) overflows")
        }
        return [g.outputHeight, g.outputWidth, channels]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        addKernelAndBias(kernelShape: [kernelSize.0, kernelSize.1, inputShape[2], depthMultiplier],
                         biasCount: outputShape[2], rng: &rng)
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0], f = outputShape[2], m = depthMultiplier
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let xp = input.pointer, kp = kernel.value.pointer, yp = out.pointer
        let bp = bias?.value.pointer
        // Split over output rows, not images: a batch of one (inference) uses every thread too.
        Parallel.run(Parallel.partCount(n * g.outputPixels * f, grain: Parallel.elementGrain),
                     DepthwiseForwardPart(geometry: g, filters: f, multiplier: m, images: n, x: xp, kernel: kp, bias: bp,
                                          fold: foldForThisPass(training: training), y: yp))
        if activation.needsInput {
            let z = preactivation.tensor(batch: n, sampleShape: outputShape)
            z.assign(out)
            keptPreactivation = z
        }
        if activation != .linear { activation.apply(yp, count: out.count, width: f) }
        return keep(input: input, output: out)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let (x, y) = try lastPass()
        let g = geometry!, n = outputGradient.shape[0], f = outputShape[2]
        let dz = ActivationGradient.compute(activation, fused: false, input: keptPreactivation, output: y, outputGradient: outputGradient,
                                            sampleShape: outputShape, buffer: &activationGradient)
        if let bias { BiasAdd.gradient(dz, rows: n * g.outputPixels, width: f, ones: &ones, into: bias.gradient) }
        return depthwiseBackward(multiplier: depthMultiplier, input: x, outputGradient: dz, partials: &partialKernelGradients)
    }

    // MARK: - Kernels

    /// For output row `oh`, calls `body(inputRowOffset, tap, kw, columns)` once per kernel tap whose
    /// input row is inside the image, with the output columns whose tap falls inside the input row
    /// (padding contributes zeros, so those are skipped): no bounds test per pixel remains.
    @inline(__always)
    fileprivate static func forEachTap(_ g: ConvGeometry, image: Int, oh: Int, _ body: (Int, Int, Int, Range<Int>) -> Void) {
        for kh in 0..<g.kernelHeight {
            let ih = oh * g.strideHeight - g.padTop + kh
            if ih < 0 || ih >= g.inputHeight { continue }
            let xRow = (image * g.inputHeight + ih) * g.inputWidth * g.channels
            for kw in 0..<g.kernelWidth {
                // iw = ow·s − shift must lie in [0, W).
                let s = g.strideWidth, shift = g.padLeft - kw
                let low = shift <= 0 ? 0 : (shift + s - 1) / s
                let last = g.inputWidth - 1 + shift
                let high = last < 0 ? 0 : min(g.outputWidth, last / s + 1)
                if high > low { body(xRow, kh * g.kernelWidth + kw, kw, low..<high) }
            }
        }
    }

    /// y[c·M + m] += x[c] · k[c·M + m] (M > 1; CKernels computes M = 1).
    @inline(__always)
    fileprivate static func multiplyAdd(x: UnsafePointer<Float>, kernel k: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                                    channels: Int, multiplier: Int) {
        for c in 0..<channels {
            let v = x[c], o = c * multiplier
            for j in 0..<multiplier { y[o + j] += v * k[o + j] }
        }
    }

    /// dx[c] += Σ_m k[c·M + m] · dz[c·M + m] (when dx is wanted);  dk[c·M + m] += x[c] · dz[c·M + m]
    /// (M > 1; CKernels computes M = 1).
    @inline(__always)
    fileprivate static func backwardTap(x: UnsafePointer<Float>, kernel k: UnsafePointer<Float>, outputGradient dz: UnsafePointer<Float>,
                                    inputGradient: UnsafeMutablePointer<Float>?, kernelGradient dk: UnsafeMutablePointer<Float>,
                                    channels: Int, multiplier: Int) {
        for c in 0..<channels {
            let v = x[c], o = c * multiplier
            var s: Float = 0
            for j in 0..<multiplier {
                s += k[o + j] * dz[o + j]
                dk[o + j] += v * dz[o + j]
            }
            inputGradient?[c] += s
        }
    }
}

/// DepthwiseConv2D's forward pass over part `part` of the batch's output rows (every image's
/// rows in order); each output value is summed in the same order whatever the split.
struct DepthwiseForwardPart: ParallelWork {
    let geometry: ConvGeometry
    let filters: Int, multiplier: Int, images: Int
    let x: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?
    /// The BatchNormalization (and activation) folded into this layer at inference, applied per row.
    let fold: FoldedBatchNorm?
    let y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let g = geometry, f = filters
        var cg = g.windowGeometry
        for outputRow in Parallel.range(part, of: parts, count: images * g.outputHeight) {
            let image = outputRow / g.outputHeight, oh = outputRow % g.outputHeight
            let yRow = y + (image * g.outputHeight + oh) * g.outputWidth * f
            if multiplier == 1 {
                nn_depthwise_forward_row(&cg, x, kernel, bias, yRow, image, oh)
            } else {
                if let bias {
                    for ow in 0..<g.outputWidth { (yRow + ow * f).update(from: bias, count: f) }
                } else {
                    yRow.update(repeating: 0, count: g.outputWidth * f)
                }
                DepthwiseConv2D.forEachTap(g, image: image, oh: oh) { xRow, tap, kw, columns in
                    let k = kernel + tap * f
                    for ow in columns {
                        DepthwiseConv2D.multiplyAdd(x: x + xRow + (ow * g.strideWidth - g.padLeft + kw) * g.channels, kernel: k,
                                                    into: yRow + ow * f, channels: g.channels, multiplier: multiplier)
                    }
                }
            }
            fold?.apply(yRow, rows: g.outputWidth, width: f)
        }
    }
}

/// DepthwiseConv2D's backward pass over part `part` of the images: the input gradient of those
/// images (zeroed by the caller when the multiplier is not 1; CKernels writes it whole), and the kernel gradient into part 0's or the part's own accumulator.
struct DepthwiseBackwardPart: ParallelWork {
    let geometry: ConvGeometry
    let filters: Int, multiplier: Int, images: Int
    let x: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>, outputGradient: UnsafeMutablePointer<Float>
    let inputGradient: UnsafeMutablePointer<Float>?
    let kernelGradient: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let g = geometry, f = filters, kernelCount = g.kernelHeight * g.kernelWidth * f
        let dk = part == 0 ? kernelGradient : partials + (part - 1) * kernelCount
        dk.update(repeating: 0, count: kernelCount)
        if multiplier == 1 {
            var cg = g.windowGeometry
            for image in Parallel.range(part, of: parts, count: images) {
                nn_depthwise_backward_image(&cg, x, kernel, outputGradient, inputGradient, dk, image)
            }
            return
        }
        for image in Parallel.range(part, of: parts, count: images) {
            for oh in 0..<g.outputHeight {
                let dzRow = outputGradient + (image * g.outputHeight + oh) * g.outputWidth * f
                DepthwiseConv2D.forEachTap(g, image: image, oh: oh) { xRow, tap, kw, columns in
                    for ow in columns {
                        let offset = xRow + (ow * g.strideWidth - g.padLeft + kw) * g.channels
                        DepthwiseConv2D.backwardTap(x: x + offset, kernel: kernel + tap * f, outputGradient: dzRow + ow * f,
                                                    inputGradient: inputGradient.map { $0 + offset }, kernelGradient: dk + tap * f,
                                                    channels: g.channels, multiplier: multiplier)
                    }
                }
            }
        }
    }
}

extension ConvolutionLayer {
    /// The depthwise backward pass DepthwiseConv2D and SeparableConv2D (its first step) share:
    /// given dLoss/dZ of the depthwise output, fills the kernel gradient and returns dLoss/dInput
    /// (`Layer.skippedGradient` for a model's first layer, which skips it). Split over images: part 0
    /// accumulates into the kernel gradient, the others into their own rows of `partials`, added
    /// afterwards in part order, so the sum does not depend on the thread count's timing.
    func depthwiseBackward(multiplier: Int, input x: Tensor, outputGradient dz: Tensor, partials: inout ScratchBuffer) -> Tensor {
        let g = geometry!, n = dz.shape[0], f = g.channels * multiplier
        let wantsInput = computesInputGradient
        let dx = wantsInput ? inputGradientBuffer.tensor(batch: n, sampleShape: inputShape) : Layer.skippedGradient
        if multiplier != 1 { dx.fill(0) }
        let kernelCount = kernel.value.count
        let parts = Parallel.imageParts(images: n, valuesPerImage: g.outputPixels * f)
        let sums = partials.tensor(batch: max(1, parts - 1) * kernelCount, sampleShape: []).pointer
        Parallel.run(parts, DepthwiseBackwardPart(geometry: g, filters: f, multiplier: multiplier, images: n, x: x.pointer,
                                                  kernel: kernel.value.pointer, outputGradient: dz.pointer,
                                                  inputGradient: wantsInput ? dx.pointer : nil,
                                                  kernelGradient: kernel.gradient.pointer, partials: sums))
        for p in 1..<max(parts, 1) {
            BLAS.axpy(count: kernelCount, alpha: 1, x: sums + (p - 1) * kernelCount, y: kernel.gradient.pointer)
        }
        return dx
    }
}
