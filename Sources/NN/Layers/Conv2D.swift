import Dispatch

/// A 2-D convolution over NHWC images with kernel `[kh, kw, in, filters]` (Keras HWIO), computed as
/// im2col followed by one `sgemm` per chunk of images (DESIGN.md's table):
/// forward `Y = col · W + b`, weight gradient `dW += colᵀ · dY`, input gradient `dcol = dY · Wᵀ`
/// then col2im. A 1×1 stride-1 convolution skips im2col: the input already is the column matrix.
/// A 3×3 stride-1 convolution may instead run as Winograd F(2×2, 3×3) or F(4×4, 3×3)
/// (`Kernels/Winograd.swift`), chosen per layer shape and batch by `ConvAlgorithm.policy`.
public final class Conv2D: ConvolutionLayer {
    public let filters: Int

    /// Forces this layer's algorithm (tests, benchmarks); nil follows `ConvAlgorithm.policy`.
    /// Winograd on a layer it does not apply to (not 3×3 stride 1) runs im2col.
    package var algorithmOverride: ConvAlgorithm?
    /// The algorithm of the last forward pass; backward uses the same.
    package private(set) var lastAlgorithm: ConvAlgorithm = .im2col

    private var preactivation = ScratchBuffer()
    private var partialGradients = ScratchBuffer()
    /// Winograd: the transformed kernel U `[positions][C][F]` and C zero floats for taps in the padding.
    private var transformedKernel = ScratchBuffer()
    private var zeros = ScratchBuffer()

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
                kernelL2: Float = 0, name: String? = nil) {
        self.filters = filters
        super.init(kernelSize: kernelSize, strides: strides, padding: padding, activation: activation, useBias: useBias,
                   kernelInitializer: kernelInitializer, biasInitializer: biasInitializer, kernelL2: kernelL2, name: name)
    }

    /// Square kernel and strides, the common case: `Conv2D(filters: 32, kernelSize: 3)`.
    public convenience init(filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid,
                            activation: Activation = .linear, useBias: Bool = true,
                            kernelInitializer: Initializer = .glorotUniform, kernelL2: Float = 0, name: String? = nil) {
        self.init(filters: filters, kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  activation: activation, useBias: useBias, kernelInitializer: kernelInitializer, kernelL2: kernelL2, name: name)
    }

    package override var outputActivation: Activation? { activation }
    public override var typeName: String { "Conv2D" }
    public override var defaultNameStem: String { "conv2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let g = try buildGeometry(inputShape: inputShape, otherSizes: ["filters": filters])
        return [g.outputHeight, g.outputWidth, filters]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        addKernelAndBias(kernelShape: [kernelSize.0, kernelSize.1, inputShape[2], filters], biasCount: filters, rng: &rng)
        // One image's im2col columns are the least the workspace must hold at the first batch:
        // refused here, naming the layer, rather than failing to allocate in the middle of `fit`.
        if let g = geometry, !g.isPointwise, let patch = Tensor.checkedElementCount([kernelSize.0, kernelSize.1, inputShape[2]]) {
            _ = try Tensor.validatedElementCount([g.outputHeight, g.outputWidth, patch],
                                                 what: "layer '\(displayName)' (Conv2D) im2col columns of one image")
        }
    }

    /// The algorithm for a batch of `n`: the override, else the policy's choice (measuring both
    /// algorithms on this input first when the policy is `measure` and the shape is new).
    private func algorithm(batch n: Int, input: Tensor, training: Bool) throws -> ConvAlgorithm {
        let g = geometry!
        guard Winograd.applies(to: g), !g.isPointwise else { return .im2col }
        if let algorithmOverride { return algorithmOverride }
        if let chosen = ConvAlgorithm.chosen(for: g, filters: filters, batch: n) { return chosen }
        return try measureAlgorithms(input: input, training: training)
    }

    /// Times forward (and in training, backward) of every algorithm on this batch, twice each, and
    /// records the fastest (best of the two) for this shape for the rest of the process.
    private func measureAlgorithms(input: Tensor, training: Bool) throws -> ConvAlgorithm {
        var best: (ConvAlgorithm, Double)?
        for candidate in ConvAlgorithm.allCases {
            var fastest = Double.infinity
            for _ in 0..<2 {
                let start = DispatchTime.now().uptimeNanoseconds
                let y = try forwardPass(input, algorithm: candidate)
                if training { _ = backwardPass(y, algorithm: candidate) }
                fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start))
            }
            if best == nil || fastest < best!.1 { best = (candidate, fastest) }
        }
        return ConvAlgorithm.record(best!.0, for: geometry!, filters: filters, batch: input.shape[0])
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let chosen = try algorithm(batch: input.shape[0], input: input, training: training)
        return try forwardPass(input, algorithm: chosen, fold: foldForThisPass(training: training))
    }

    /// `fold`: the BatchNormalization (and activation) after this layer, applied here at inference
    /// (this layer's own activation is then linear).
    private func forwardPass(_ input: Tensor, algorithm: ConvAlgorithm, fold: FoldedBatchNorm? = nil) throws -> Tensor {
        let g = geometry!, n = input.shape[0]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let z = keepsLogits ? preactivation.tensor(batch: n, sampleShape: outputShape) : out
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let beta: Float = bias == nil ? 0 : 1
        lastAlgorithm = algorithm
        if let winograd = Winograd(algorithm), Winograd.applies(to: g) {
            forwardWinograd(input, z: z, activation: keepsLogits ? .linear : activation, winograd: winograd)
            if keepsLogits {
                out.assign(z); logits = z
                activation.apply(out.pointer, count: out.count, width: filters)
            }
            fold?.applyInParallel(out.pointer, rows: n * rowsPerImage, width: filters)
        } else if g.isPointwise {
            BiasAdd.broadcast(bias?.value, rows: n * rowsPerImage, into: z)
            BLAS.gemm(m: n * rowsPerImage, n: filters, k: k, a: input.pointer, b: kernel.value.pointer, beta: beta, c: z.pointer)
            if keepsLogits { out.assign(z); logits = z }
            activation.apply(out.pointer, count: out.count, width: filters)
            fold?.applyInParallel(out.pointer, rows: n * rowsPerImage, width: filters)
        } else {
            // Parts of the batch run on the engine's threads, each with its own column buffer; within a
            // part, bias, GEMM and an element-wise activation go chunk by chunk while the chunk is in cache.
            let fused = !keepsLogits
            let parts = Parallel.imageParts(images: n, valuesPerImage: rowsPerImage * filters)
            let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: (n + parts - 1) / parts)
            let columnFloats = chunk * rowsPerImage * k
            let work = Conv2DForwardPart(geometry: g, filters: filters, images: n, chunk: chunk,
                                         input: input.pointer, kernel: kernel.value.pointer, bias: bias?.value.pointer,
                                         z: z.pointer, activation: fused ? activation : .linear, fold: fold,
                                         col: workspace.buffers(parts, floats: columnFloats), columnFloats: columnFloats)
            Parallel.run(parts, work)
            if !fused {
                out.assign(z); logits = z
                activation.apply(out.pointer, count: out.count, width: filters)
            }
        }
        return keep(input: input, output: out)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        _ = try lastPass()
        return backwardPass(outputGradient, algorithm: lastAlgorithm)
    }

    private func backwardPass(_ outputGradient: Tensor, algorithm: ConvAlgorithm) -> Tensor {
        let (x, y) = try! lastPass()
        let g = geometry!, n = outputGradient.shape[0]
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let wantsInput = computesInputGradient
        let dx = wantsInput ? inputGradientBuffer.tensor(batch: n, sampleShape: inputShape) : Layer.skippedGradient
        if let winograd = Winograd(algorithm), Winograd.applies(to: g) {
            return backwardWinograd(outputGradient, x: x, y: y, dx: dx, wantsInput: wantsInput, winograd: winograd)
        }
        if !g.isPointwise {
            return backwardChunked(outputGradient, x: x, y: y, dx: dx, wantsInput: wantsInput)
        }
        let dz = ActivationGradient.compute(activation, fused: activationFusedWithLoss, input: logits, output: y,
                                            outputGradient: outputGradient, sampleShape: outputShape, buffer: &activationGradient)
        if let bias { BiasAdd.gradient(dz, rows: n * rowsPerImage, width: filters, ones: &ones, into: bias.gradient) }
        // Pointwise: the input already is the column matrix.
        BLAS.gemm(transA: true, m: k, n: filters, k: n * rowsPerImage, a: x.pointer, b: dz.pointer, c: kernel.gradient.pointer)
        if wantsInput {
            BLAS.gemm(transB: true, m: n * rowsPerImage, n: k, k: filters, a: dz.pointer, b: kernel.value.pointer, c: dx.pointer)
        }
        return dx
    }

    /// The im2col path: parts of the batch on the engine's threads, each chunk by chunk. The
    /// activation's derivative is applied to a chunk of dY just before that chunk's GEMMs use it.
    /// Part 0 accumulates the kernel and bias gradients in place, the others into `partialGradients`,
    /// added afterwards in part order (the same sums for the same thread count).
    private func backwardChunked(_ outputGradient: Tensor, x: Tensor, y: Tensor, dx: Tensor, wantsInput: Bool) -> Tensor {
        let g = geometry!, n = outputGradient.shape[0]
        let rowsPerImage = g.outputPixels, k = g.patchSize
        let passThrough = activation == .linear || activationFusedWithLoss
        let dz = passThrough ? outputGradient
            : activationGradient.tensor(batch: n, sampleShape: outputShape)
        let parts = Parallel.imageParts(images: n, valuesPerImage: rowsPerImage * filters)
        let chunk = workspace.imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: (n + parts - 1) / parts)
        let columnFloats = chunk * rowsPerImage * k
        let columns = workspace.buffers(2 * parts, floats: columnFloats)
        let gradientSize = k * filters + (bias == nil ? 0 : filters)
        let partials = partialGradients.tensor(batch: max(1, parts - 1) * gradientSize, sampleShape: []).pointer
        let one = ones.tensor(batch: chunk * rowsPerImage, sampleShape: [])
        if one[flat: 0] != 1 || one[flat: one.count - 1] != 1 { one.fill(1) }
        let work = Conv2DBackwardPart(
            geometry: g, filters: filters, images: n, chunk: chunk, activation: passThrough ? nil : activation,
            x: x.pointer, y: y.pointer, z: logits?.pointer, dy: outputGradient.pointer, dz: dz.pointer, kernel: kernel.value.pointer,
            kernelGradient: kernel.gradient.pointer, biasGradient: bias?.gradient.pointer, partials: partials,
            gradientSize: gradientSize, ones: one.pointer, dx: wantsInput ? dx.pointer : nil,
            columns: columns, columnFloats: columnFloats)
        Parallel.run(parts, work)
        for p in 1..<max(1, parts) {
            let partial = partials + (p - 1) * gradientSize
            BLAS.axpy(count: k * filters, alpha: 1, x: partial, y: kernel.gradient.pointer)
            if let bias { BLAS.axpy(count: filters, alpha: 1, x: partial + k * filters, y: bias.gradient.pointer) }
        }
        return dx
    }
}

extension Conv2D {
    /// Winograd forward: the kernel transformed once, then parts of the batch on the engine's
    /// threads, each chunk by chunk: input tiles transformed, one GEMM per position, output
    /// transform, bias and activation while the chunk is in cache.
    private func forwardWinograd(_ input: Tensor, z: Tensor, activation: Activation, winograd w: Winograd) {
        let g = geometry!, n = input.shape[0], c = g.channels, f = filters
        let u = transformedKernel.floats(w.positions * c * f)
        w.transformKernel(kernel.value.pointer, channels: c, filters: f, into: u)
        let zero = zeros.floats(c)
        zero.update(repeating: 0, count: c)
        let tilesPerImage = w.tilesPerImage(g)
        let parts = Parallel.imageParts(images: n, valuesPerImage: g.outputPixels * f)
        let chunk = workspace.imagesPerChunk(floatsPerImage: w.positions * tilesPerImage * max(c, f),
                                             batch: (n + parts - 1) / parts)
        let bufferFloats = chunk * w.positions * tilesPerImage * (c + f)
        let work = WinogradForwardPart(winograd: w, geometry: g, filters: f, images: n, chunk: chunk, input: input.pointer,
                                       u: u, zeros: zero, bias: bias?.value.pointer, z: z.pointer, activation: activation,
                                       buffers: workspace.buffers(parts, floats: bufferFloats), bufferFloats: bufferFloats)
        Parallel.run(parts, work)
    }

    /// Winograd backward, the adjoint of the forward algorithm: per chunk dZ, the bias gradient, then
    /// the kernel gradient by F(2×2, 3×3) whatever `w` is (`Winograd.kernelGradientTiling` says
    /// why): dM from dZ, V recomputed from X, dU += Vᵀ·dM per position; and (when wanted) the input
    /// gradient by `w`: dV = dM·Uᵀ scattered into dX (sharing F(2×2, 3×3)'s dM when `w` is it). Each
    /// part accumulates its own dU and db; they are summed in part order and dU is turned into the
    /// kernel gradient once (deterministic for a given thread count).
    private func backwardWinograd(_ outputGradient: Tensor, x: Tensor, y: Tensor, dx: Tensor, wantsInput: Bool,
                                  winograd w: Winograd) -> Tensor {
        let g = geometry!, n = outputGradient.shape[0], c = g.channels, f = filters
        let kw = Winograd.kernelGradientTiling
        let passThrough = activation == .linear || activationFusedWithLoss
        let dz = passThrough ? outputGradient : activationGradient.tensor(batch: n, sampleShape: outputShape)
        let u = transformedKernel.floats(w.positions * c * f)
        if wantsInput { w.transformKernel(kernel.value.pointer, channels: c, filters: f, into: u) }
        let zero = zeros.floats(c)
        zero.update(repeating: 0, count: c)
        // Each chunk's buffer holds F(2×2, 3×3)'s V and dM, then (when `w` differs) `w`'s dM and dV.
        let floatsPerImage = max(kw.positions * kw.tilesPerImage(g), w.positions * w.tilesPerImage(g))
        let parts = Parallel.imageParts(images: n, valuesPerImage: g.outputPixels * f)
        let chunk = workspace.imagesPerChunk(floatsPerImage: floatsPerImage * max(c, f), batch: (n + parts - 1) / parts)
        let bufferFloats = chunk * floatsPerImage * (c + f)
        let transformedSize = kw.positions * c * f
        let gradientSize = transformedSize + (bias == nil ? 0 : f)
        let partials = partialGradients.tensor(batch: parts * gradientSize, sampleShape: []).pointer
        let one = ones.tensor(batch: chunk * g.outputPixels, sampleShape: [])
        if one[flat: 0] != 1 || one[flat: one.count - 1] != 1 { one.fill(1) }
        let work = WinogradBackwardPart(
            winograd: w, geometry: g, filters: f, images: n, chunk: chunk, activation: passThrough ? nil : activation,
            x: x.pointer, y: y.pointer, z: logits?.pointer, dy: outputGradient.pointer, dz: dz.pointer, u: u, zeros: zero,
            partials: partials, gradientSize: gradientSize, hasBias: bias != nil, ones: one.pointer,
            dx: wantsInput ? dx.pointer : nil,
            buffers: workspace.buffers(parts, floats: bufferFloats), bufferFloats: bufferFloats)
        Parallel.run(parts, work)
        for p in 1..<max(1, parts) {
            BLAS.axpy(count: gradientSize, alpha: 1, x: partials + p * gradientSize, y: partials)
        }
        kw.kernelGradient(partials, channels: c, filters: f, into: kernel.gradient.pointer)
        if let bias { bias.gradient.pointer.update(from: partials + transformedSize, count: f) }
        return dx
    }
}

/// Winograd forward over part `part` of the batch, chunk by chunk, with the part's own V and M buffers.
struct WinogradForwardPart: ParallelWork {
    let winograd: Winograd
    let geometry: ConvGeometry
    let filters: Int, images: Int, chunk: Int
    let input: UnsafeMutablePointer<Float>
    let u: UnsafeMutablePointer<Float>, zeros: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>?
    let z: UnsafeMutablePointer<Float>
    let activation: Activation
    /// One buffer per part: V `[positions][T][C]` then M `[positions][T][F]` for a chunk's T tiles.
    let buffers: UnsafeMutablePointer<Float>, bufferFloats: Int

    func run(part: Int, of parts: Int) {
        let w = winograd, g = geometry, c = g.channels, f = filters
        let imageSize = g.inputPixels * c, outputSize = g.outputPixels * f
        let tilesPerImage = w.tilesPerImage(g)
        let v = buffers + part * bufferFloats
        let range = Parallel.range(part, of: parts, count: images)
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let t = count * tilesPerImage
            let m = v + w.positions * t * c
            w.transformInput(input + start * imageSize, images: count, geometry: g, zeros: zeros, into: v)
            for xi in 0..<w.positions {
                BLAS.gemm(m: t, n: f, k: c, a: v + xi * t * c, b: u + xi * c * f, c: m + xi * t * f)
            }
            let zChunk = z + start * outputSize
            w.transformOutput(m, images: count, geometry: g, filters: f, into: zChunk)
            activation.apply(zChunk, count: count * outputSize, width: f, bias: bias)
        }
    }
}

/// Winograd backward over part `part` of the batch (see `Conv2D.backwardWinograd`).
struct WinogradBackwardPart: ParallelWork {
    /// The tiling of the input gradient (the kernel gradient's is `Winograd.kernelGradientTiling`).
    let winograd: Winograd
    let geometry: ConvGeometry
    let filters: Int, images: Int, chunk: Int
    let activation: Activation?
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    /// The preactivation, kept when the activation's derivative needs it (gelu, silu, hard_silu).
    let z: UnsafeMutablePointer<Float>?
    let dy: UnsafeMutablePointer<Float>, dz: UnsafeMutablePointer<Float>
    /// `winograd`'s transformed kernel (read only when `dx` is wanted).
    let u: UnsafeMutablePointer<Float>, zeros: UnsafeMutablePointer<Float>
    /// Part p accumulates F(2×2, 3×3)'s dU `[16][C][F]` then db `[F]` at `partials + p · gradientSize`.
    let partials: UnsafeMutablePointer<Float>, gradientSize: Int, hasBias: Bool
    let ones: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>?
    /// One buffer per part: V (then dV) and dM, `[positions][T][C]` and `[positions][T][F]`.
    let buffers: UnsafeMutablePointer<Float>, bufferFloats: Int

    func run(part: Int, of parts: Int) {
        let w = winograd, kw = Winograd.kernelGradientTiling, g = geometry, c = g.channels, f = filters
        let imageSize = g.inputPixels * c, outputSize = g.outputPixels * f
        let du = partials + part * gradientSize
        let db = du + kw.positions * c * f
        let v = buffers + part * bufferFloats
        let range = Parallel.range(part, of: parts, count: images)
        if range.isEmpty { du.update(repeating: 0, count: gradientSize); return }
        if let dx { (dx + range.lowerBound * imageSize).update(repeating: 0, count: range.count * imageSize) }
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let rows = count * g.outputPixels, at = start * outputSize
            let first: Float = start == range.lowerBound ? 0 : 1
            if let activation {
                activation.backward(input: z.map { UnsafePointer($0 + at) }, output: y + at, outputGradient: dy + at, into: dz + at,
                                    count: rows * f, width: f)
            }
            if hasBias { BLAS.gemv(trans: true, m: rows, n: f, a: dz + at, x: ones, beta: first, y: db) }
            // The kernel gradient (and the input gradient too when `w` is the same tiling).
            let shared = dx != nil && w == kw
            let t = count * kw.tilesPerImage(g)
            assert(kw.positions * t * (c + f) <= bufferFloats && w.positions * count * w.tilesPerImage(g) * (c + f) <= bufferFloats)
            let dm = v + kw.positions * t * c
            kw.transformOutputGradient(dz + at, images: count, geometry: g, filters: f, into: dm)
            kw.transformInput(x + start * imageSize, images: count, geometry: g, zeros: zeros, into: v)
            for xi in 0..<kw.positions {
                let vXi = v + xi * t * c, dmXi = dm + xi * t * f
                BLAS.gemm(transA: true, m: c, n: f, k: t, a: vXi, b: dmXi, beta: first, c: du + xi * c * f)
                if shared { BLAS.gemm(transB: true, m: t, n: c, k: f, a: dmXi, b: u + xi * c * f, c: vXi) }
            }
            guard let dx else { continue }
            if !shared {
                let t = count * w.tilesPerImage(g)
                let dm = v + w.positions * t * c
                w.transformOutputGradient(dz + at, images: count, geometry: g, filters: f, into: dm)
                for xi in 0..<w.positions {
                    BLAS.gemm(transB: true, m: t, n: c, k: f, a: dm + xi * t * f, b: u + xi * c * f, c: v + xi * t * c)
                }
            }
            w.scatterInputGradient(v, images: count, geometry: g, into: dx + start * imageSize)
        }
    }
}

/// Conv2D's forward pass over part `part` of the batch: per chunk of images, bias rows, im2col,
/// one GEMM and the activation, using the part's own column buffer.
struct Conv2DForwardPart: ParallelWork {
    let geometry: ConvGeometry
    let filters: Int, images: Int, chunk: Int
    let input: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?
    let z: UnsafeMutablePointer<Float>
    let activation: Activation
    /// The BatchNormalization (and activation) folded into this layer at inference, applied per chunk.
    let fold: FoldedBatchNorm?
    /// The parts' column buffers, `columnFloats` each.
    let col: UnsafeMutablePointer<Float>, columnFloats: Int

    func run(part: Int, of parts: Int) {
        let g = geometry, rowsPerImage = g.outputPixels, k = g.patchSize
        let imageSize = g.inputPixels * g.channels
        let col = col + part * columnFloats
        let range = Parallel.range(part, of: parts, count: images)
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let rows = count * rowsPerImage, zChunk = z + start * rowsPerImage * filters
            if g.channels == 1 {
                Im2col.im2colChannelMajor(input + start * imageSize, images: count, geometry: g, col: col)
                BLAS.gemm(transA: true, m: rows, n: filters, k: k, a: col, lda: rows, b: kernel, c: zChunk)
            } else {
                Im2col.im2col(input + start * imageSize, images: count, geometry: g, col: col)
                BLAS.gemm(m: rows, n: filters, k: k, a: col, b: kernel, c: zChunk)
            }
            activation.apply(zChunk, count: rows * filters, width: filters, bias: bias)
            fold?.apply(zChunk, rows: rows, width: filters)
        }
    }
}

/// Conv2D's backward pass over part `part` of the batch, chunk by chunk: dZ from dY and the
/// activation, im2col again, dW (and db) into the part's accumulator, and when wanted
/// dcol = dZ · Wᵀ scattered back by col2im into the part's own images of dX.
struct Conv2DBackwardPart: ParallelWork {
    let geometry: ConvGeometry
    let filters: Int, images: Int, chunk: Int
    /// The activation whose derivative turns dY into dZ, or nil when dZ is dY.
    let activation: Activation?
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    /// The preactivation, kept for the activations whose derivative needs it (gelu, silu).
    let z: UnsafeMutablePointer<Float>?
    let dy: UnsafeMutablePointer<Float>, dz: UnsafeMutablePointer<Float>
    let kernel: UnsafeMutablePointer<Float>
    let kernelGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?
    /// Parts 1… accumulate here, `gradientSize` floats each: dW then db.
    let partials: UnsafeMutablePointer<Float>, gradientSize: Int
    let ones: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>?
    /// Two buffers per part (columns, column gradients), `columnFloats` each.
    let columns: UnsafeMutablePointer<Float>, columnFloats: Int

    func run(part: Int, of parts: Int) {
        let g = geometry, rowsPerImage = g.outputPixels, k = g.patchSize
        let imageSize = g.inputPixels * g.channels, outputSize = rowsPerImage * filters
        let col = columns + 2 * part * columnFloats, dcol = col + columnFloats
        let dW = part == 0 ? kernelGradient : partials + (part - 1) * gradientSize
        let db = biasGradient.map { part == 0 ? $0 : partials + (part - 1) * gradientSize + k * filters }
        let range = Parallel.range(part, of: parts, count: images)
        if let dx { (dx + range.lowerBound * imageSize).update(repeating: 0, count: range.count * imageSize) }
        for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let count = min(chunk, range.upperBound - start)
            let rows = count * rowsPerImage, at = start * outputSize
            let first: Float = start == range.lowerBound ? 0 : 1
            if let activation {
                activation.backward(input: z.map { UnsafePointer($0 + at) }, output: y + at, outputGradient: dy + at, into: dz + at, count: rows * filters, width: filters)
            }
            // The forward pass's columns are recomputed rather than kept: cheaper than the memory.
            // One-channel images use channel-major columns [K, rows] (see Im2col), so the GEMMs
            // transpose the other operand.
            let channelMajor = g.channels == 1
            if channelMajor {
                Im2col.im2colChannelMajor(x + start * imageSize, images: count, geometry: g, col: col)
                BLAS.gemm(m: k, n: filters, k: rows, a: col, lda: rows, b: dz + at, beta: first, c: dW)
            } else {
                Im2col.im2col(x + start * imageSize, images: count, geometry: g, col: col)
                BLAS.gemm(transA: true, m: k, n: filters, k: rows, a: col, b: dz + at, beta: first, c: dW)
            }
            if let db { BLAS.gemv(trans: true, m: rows, n: filters, a: dz + at, x: ones, beta: first, y: db) }
            guard let dx else { continue }
            if channelMajor {
                BLAS.gemm(transB: true, m: k, n: rows, k: filters, a: kernel, b: dz + at, c: dcol, ldc: rows)
                Im2col.col2imChannelMajor(dcol, images: count, geometry: g, output: dx + start * imageSize)
            } else {
                BLAS.gemm(transB: true, m: rows, n: k, k: filters, a: dz + at, b: kernel, c: dcol)
                Im2col.col2im(dcol, images: count, geometry: g, output: dx + start * imageSize)
            }
        }
    }
}
