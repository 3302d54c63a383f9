/// A fully connected layer, `y = activation(x · kernel + bias)` with kernel `[in, out]` (Keras layout),
/// on the last axis of its input as in Keras (a rank-3 sample `[H, W, C]` gives `[H, W, units]`).
/// Forward, weight gradient and input gradient are one `sgemm` each over the whole batch.
public final class Dense: KernelLayer {
    public let units: Int

    private var preactivation = ScratchBuffer()

    public init(units: Int, activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
                kernelL2: Float = 0, name: String? = nil) {
        self.units = units
        super.init(activation: activation, useBias: useBias, kernelInitializer: kernelInitializer,
                   biasInitializer: biasInitializer, kernelL2: kernelL2, name: name)
    }

    package override var outputActivation: Activation? { activation }
    public override var typeName: String { "Dense" }
    public override var defaultNameStem: String { "dense" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        guard units > 0 else { throw NNError.invalidArgument("layer '\(displayName)' (Dense): units must be positive, got \(units)") }
        return Array(inputShape.dropLast()) + [units]
    }

    public override func createParameters(rng: inout RandomGenerator) throws {
        addKernelAndBias(kernelShape: [inFeatures, units], biasCount: units, rng: &rng)
    }

    /// The last input axis, the one the kernel contracts (Keras applies Dense to the last axis of
    /// inputs of any rank: `[N, H, W, C]` → `[N, H, W, units]`, every position with the same kernel).
    private var inFeatures: Int { inputShape.last! }
    /// Rows of the GEMMs for a batch of `n`: one per sample and position.
    private func rows(_ n: Int) -> Int { n * (inputShape.count == 1 ? 1 : inputShape.dropLast().reduce(1, *)) }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let n = input.shape[0], m = rows(n)
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        // With softmax the logits are kept apart for a fused cross-entropy loss.
        let z = keepsLogits ? preactivation.tensor(batch: n, sampleShape: outputShape) : out
        BiasAdd.broadcast(bias?.value, rows: m, into: z)
        BLAS.gemm(m: m, n: units, k: inFeatures, a: input.pointer, b: kernel.value.pointer,
                  beta: bias == nil ? 0 : 1, c: z.pointer)
        if keepsLogits { out.assign(z); logits = z }
        activation.apply(out.pointer, count: out.count, width: units)
        return keep(input: input, output: out)
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let (x, y) = try lastPass()
        let n = outputGradient.shape[0], m = rows(n)
        let dz = ActivationGradient.compute(activation, fused: activationFusedWithLoss, input: logits, output: y,
                                            outputGradient: outputGradient, sampleShape: outputShape, buffer: &activationGradient)
        // dW = xᵀ · dz ; db = dzᵀ · 1 ; dx = dz · Wᵀ
        BLAS.gemm(transA: true, m: inFeatures, n: units, k: m, a: x.pointer, b: dz.pointer, c: kernel.gradient.pointer)
        if let bias { BiasAdd.gradient(dz, rows: m, width: units, ones: &ones, into: bias.gradient) }
        guard computesInputGradient else { return Layer.skippedGradient }
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        BLAS.gemm(transB: true, m: m, n: inFeatures, k: units, a: dz.pointer, b: kernel.value.pointer, c: dx.pointer)
        return dx
    }
}
