import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

/// Every engine layer and loss compared elementwise with the plain-loop reference (run in Double on
/// the same Float inputs and weights), forward and backward: input gradient and every parameter
/// gradient. Tolerance 1e-4 relative, Caffe scale max(|a|, |b|, 1).
final class LayerOracleTests: XCTestCase {
    let rtol = 1e-4

    // MARK: - Reference activations

    /// The reference's version of an engine activation applied to preactivations z.
    func refActivate(_ a: Activation, _ z: RefTensor<Double>) -> RefTensor<Double> {
        switch a {
        case .linear: return z
        case .relu: return Ref.relu(z)
        case .relu6: return z.map { Swift.min(Swift.max($0, 0), 6) }
        case .sigmoid: return Ref.sigmoid(z)
        case .tanh: return Ref.tanh(z)
        case .softmax: return Ref.softmax(z)
        default: return Ref.activation(a.rawValue, z)
        }
    }

    /// dZ from dY through the reference activation, given preactivations z and outputs y.
    func refActivationBackward(_ a: Activation, z: RefTensor<Double>, y: RefTensor<Double>,
                               dy: RefTensor<Double>) -> RefTensor<Double> {
        switch a {
        case .linear: return dy
        case .relu: return Ref.reluBackward(input: z, outputGradient: dy)
        case .relu6:
            var dz = dy
            for i in 0..<dz.count where !(z.data[i] > 0 && z.data[i] < 6) { dz.data[i] = 0 }
            return dz
        case .sigmoid: return Ref.sigmoidBackward(output: y, outputGradient: dy)
        case .tanh: return Ref.tanhBackward(output: y, outputGradient: dy)
        case .softmax: return Ref.softmaxBackward(output: y, outputGradient: dy)
        default: return Ref.activationBackward(a.rawValue, input: z, outputGradient: dy)
        }
    }

    // MARK: - Dense

    func checkDense(_ label: String, batch: Int, inputs: Int, units: Int, activation: Activation = .linear,
                    useBias: Bool = true, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = Dense(units: units, activation: activation, useBias: useBias)
        try layer.build(inputShape: [inputs], seed: 1)
        if let bias = layer.bias { bias.value.assign(data.tensor([units], -0.5, 0.5)) }
        // relu6 needs outputs above 6 too, so widen the inputs for it.
        let x = data.tensor([batch, inputs], activation == .relu6 ? -8 : -1, activation == .relu6 ? 8 : 1)
        let y = try layer.forward(x, training: true).copy()

        let rx = toRef(x), rk = toRef(layer.kernel.value)
        let rb = layer.bias.map { toDoubles($0.value) }
        let z = Ref.dense(rx, kernel: rk, bias: rb)
        let ry = refActivate(activation, z)
        assertClose(y, ry, rtol: rtol, "\(label): forward", file: file, line: line)

        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let dz = refActivationBackward(activation, z: z, y: ry, dy: toRef(dy))
        let g = Ref.denseBackward(rx, kernel: rk, hasBias: useBias, outputGradient: dz)
        assertClose(dx, g.input, rtol: rtol, "\(label): input gradient", file: file, line: line)
        assertClose(layer.kernel.gradient, g.kernel, rtol: rtol, "\(label): kernel gradient", file: file, line: line)
        XCTAssertEqual(layer.parameters.count, useBias ? 2 : 1, "\(label): parameter count", file: file, line: line)
        if let bias = layer.bias {
            assertClose(bias.gradient.elements, g.bias ?? [], rtol: rtol, "\(label): bias gradient", file: file, line: line)
        }
    }

    func testDenseMatchesReference() throws {
        try checkDense("batch 1", batch: 1, inputs: 5, units: 3, seed: 1)
        try checkDense("batch 6", batch: 6, inputs: 17, units: 9, seed: 2)
        try checkDense("no bias", batch: 4, inputs: 7, units: 2, useBias: false, seed: 3)
        try checkDense("wide", batch: 3, inputs: 2, units: 33, seed: 4)
    }

    func testDenseFusedActivationsMatchReference() throws {
        for (i, a) in Activation.allCases.enumerated() where a != .linear {
            try checkDense("activation \(a)", batch: 5, inputs: 11, units: 6, activation: a, seed: 10 + UInt64(i))
        }
    }

    // MARK: - Conv2D

    struct ConvCase {
        var label: String
        var n = 2, h = 7, w = 5, c = 3, f = 4
        var kernel = (3, 3), strides = (1, 1)
        var padding = Padding.valid
        var activation = Activation.linear
        var useBias = true
        /// When set, the workspace budget in images' worth of im2col columns (forces chunking).
        var budgetImages: Int? = nil
    }

    func checkConv(_ t: ConvCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = Conv2D(filters: t.f, kernelSize: t.kernel, strides: t.strides, padding: t.padding,
                           activation: t.activation, useBias: t.useBias)
        try layer.build(inputShape: [t.h, t.w, t.c], seed: 1)
        if let bias = layer.bias { bias.value.assign(data.tensor([t.f], -0.5, 0.5)) }
        let g = layer.geometry!
        if let images = t.budgetImages {
            let perImage = g.outputPixels * g.patchSize
            layer.useWorkspace(Workspace(budget: images * perImage))
            let chunk = layer.workspace.imagesPerChunk(floatsPerImage: perImage, batch: t.n)
            XCTAssertLessThanOrEqual(chunk, images, "\(t.label): images per chunk", file: file, line: line)
            XCTAssertGreaterThan((t.n + chunk - 1) / chunk, 1, "\(t.label): the batch must need more than one chunk",
                                 file: file, line: line)
        }
        let x = data.tensor([t.n, t.h, t.w, t.c])
        let y = try layer.forward(x, training: true).copy()

        let rx = toRef(x), rk = toRef(layer.kernel.value)
        let rb = layer.bias.map { toDoubles($0.value) }
        let z = Ref.conv2D(rx, kernel: rk, bias: rb, strides: t.strides, padding: t.padding.ref)
        let ry = refActivate(t.activation, z)
        assertClose(y, ry, rtol: rtol, "\(t.label): forward", file: file, line: line)

        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let dz = refActivationBackward(t.activation, z: z, y: ry, dy: toRef(dy))
        let rg = Ref.conv2DBackward(rx, kernel: rk, hasBias: t.useBias, strides: t.strides, padding: t.padding.ref,
                                    outputGradient: dz)
        assertClose(dx, rg.input, rtol: rtol, "\(t.label): input gradient", file: file, line: line)
        assertClose(layer.kernel.gradient, rg.kernel, rtol: rtol, "\(t.label): kernel gradient", file: file, line: line)
        if let bias = layer.bias {
            assertClose(bias.gradient.elements, rg.bias ?? [], rtol: rtol, "\(t.label): bias gradient", file: file, line: line)
        }

        // A second step on new data must not accumulate into the first step's gradients.
        let x2 = data.tensor(x.shape), dy2 = data.tensor(y.shape)
        _ = try layer.forward(x2, training: true)
        let dx2 = try layer.backward(dy2)
        let rx2 = toRef(x2)
        let z2 = Ref.conv2D(rx2, kernel: rk, bias: rb, strides: t.strides, padding: t.padding.ref)
        let dz2 = refActivationBackward(t.activation, z: z2, y: refActivate(t.activation, z2), dy: toRef(dy2))
        let rg2 = Ref.conv2DBackward(rx2, kernel: rk, hasBias: t.useBias, strides: t.strides, padding: t.padding.ref,
                                     outputGradient: dz2)
        assertClose(dx2, rg2.input, rtol: rtol, "\(t.label): second step input gradient", file: file, line: line)
        assertClose(layer.kernel.gradient, rg2.kernel, rtol: rtol, "\(t.label): second step kernel gradient", file: file, line: line)
    }

    func testConv2DValidStride1() throws {
        try checkConv(ConvCase(label: "3x3 valid s1, 3 channels"), seed: 1)
        try checkConv(ConvCase(label: "3x3 valid s1, 1 channel, batch 1", n: 1, c: 1), seed: 2)
    }

    func testConv2DSamePadding() throws {
        try checkConv(ConvCase(label: "3x3 same s1", padding: .same), seed: 3)
        try checkConv(ConvCase(label: "3x3 same s2", strides: (2, 2), padding: .same), seed: 4)
        try checkConv(ConvCase(label: "3x3 same s2, 1 channel, batch 1", n: 1, c: 1, strides: (2, 2), padding: .same), seed: 5)
        try checkConv(ConvCase(label: "3x3 same s2 on even 6x6", h: 6, w: 6, strides: (2, 2), padding: .same), seed: 6)
    }

    func testConv2DOddKernelsAndStrides() throws {
        try checkConv(ConvCase(label: "2x3 valid s2", kernel: (2, 3), strides: (2, 2)), seed: 7)
        try checkConv(ConvCase(label: "2x3 same s(2,1)", c: 1, kernel: (2, 3), strides: (2, 1), padding: .same), seed: 8)
        try checkConv(ConvCase(label: "3x2 valid s(1,2), no bias", f: 2, kernel: (3, 2), strides: (1, 2), useBias: false), seed: 9)
        try checkConv(ConvCase(label: "5x5 same s1 on 7x5", f: 3, kernel: (5, 5), padding: .same), seed: 10)
    }

    func testConv2DPointwise() throws {
        // 1×1 stride 1 skips im2col; 1×1 stride 2 does not.
        let pointwise = ConvCase(label: "1x1 s1 (pointwise path)", f: 5, kernel: (1, 1))
        try checkConv(pointwise, seed: 11)
        let layer = Conv2D(filters: 5, kernelSize: 1)
        try layer.build(inputShape: [7, 5, 3], seed: 1)
        XCTAssertTrue(layer.geometry.isPointwise)
        try checkConv(ConvCase(label: "1x1 same s1 (pointwise path)", n: 1, c: 1, f: 2, kernel: (1, 1), padding: .same), seed: 12)
        try checkConv(ConvCase(label: "1x1 valid s2 (im2col path)", f: 2, kernel: (1, 1), strides: (2, 2)), seed: 13)
        try checkConv(ConvCase(label: "1x1 s1 no bias", f: 4, kernel: (1, 1), useBias: false), seed: 14)
    }

    func testConv2DChunkedBatch() throws {
        // A budget of 2 images' columns: batch 5 runs as chunks of 2, 2, 1 (a ragged last chunk);
        // a budget of 1 image: one image per chunk.
        try checkConv(ConvCase(label: "chunked 3x3 same s1", n: 5, padding: .same, budgetImages: 2), seed: 15)
        try checkConv(ConvCase(label: "chunked 2x3 valid s2", n: 5, kernel: (2, 3), strides: (2, 2), budgetImages: 2), seed: 16)
        try checkConv(ConvCase(label: "chunked 1 image per chunk, relu", n: 3, padding: .same, activation: .relu,
                               budgetImages: 1), seed: 17)
    }

    func testConv2DOneChannelColumns() throws {
        // One-channel inputs take the channel-major im2col/col2im path: padding on every side,
        // strides, kernels wider than the image, chunks with a ragged last one.
        try checkConv(ConvCase(label: "1 channel 5x5 same s1 on 7x5", c: 1, f: 3, kernel: (5, 5), padding: .same), seed: 60)
        try checkConv(ConvCase(label: "1 channel 3x3 same s(1,2)", n: 3, c: 1, strides: (1, 2), padding: .same), seed: 61)
        try checkConv(ConvCase(label: "1 channel 3x7 same s1 (kernel wider than the image)", c: 1, kernel: (3, 7), padding: .same), seed: 62)
        try checkConv(ConvCase(label: "1 channel 2x2 valid s2, relu", c: 1, kernel: (2, 2), strides: (2, 2), activation: .relu), seed: 63)
        try checkConv(ConvCase(label: "1 channel chunked 3x3 valid", n: 5, c: 1, budgetImages: 2), seed: 64)
        try checkConv(ConvCase(label: "1 channel chunked 3x3 same s2", n: 5, c: 1, strides: (2, 2), padding: .same, budgetImages: 2), seed: 65)
        try checkConv(ConvCase(label: "1 channel 3x5 same on a 7x1 image (padding wider than the image)", w: 1, c: 1, kernel: (3, 5),
                               padding: .same), seed: 66)
        // Fewer than 16 filters and rows: the kernel-gradient GEMM (9 × 8 × 21632) is too thin to
        // split but big enough to be considered; it must still run.
        try checkConv(ConvCase(label: "1 channel 28x28 -> 8 filters, batch 32", n: 32, h: 28, w: 28, c: 1, f: 8), seed: 67)
    }

    func testConv2DFusedActivations() throws {
        for (i, a) in Activation.allCases.enumerated() where a != .linear {
            try checkConv(ConvCase(label: "3x3 same s1 + \(a)", padding: .same, activation: a), seed: 20 + UInt64(i))
        }
    }

    // MARK: - Changing batch sizes

    /// Layers reuse their buffers across calls; a smaller last batch, then a larger one again, must
    /// still give the reference's answers (buffers viewed with the new batch, im2col chunks recomputed).
    func testLayersFollowChangingBatchSizes() throws {
        var data = TestData(seed: 90)
        let conv = Conv2D(filters: 3, kernelSize: 3, padding: .same, activation: .relu)
        try conv.build(inputShape: [5, 4, 2], seed: 1)
        conv.bias!.value.assign(data.tensor([3], -0.5, 0.5))
        conv.useWorkspace(Workspace(budget: 2 * conv.geometry.outputPixels * conv.geometry.patchSize))
        let dense = Dense(units: 4, activation: .tanh)
        try dense.build(inputShape: [60], seed: 2)
        let pool = MaxPooling2D(poolSize: 2, padding: .same)
        try pool.build(inputShape: [5, 4, 2], seed: 1)
        let bn = BatchNormalization()
        try bn.build(inputShape: [5, 4, 2], seed: 1)
        let flatten = Flatten()
        try flatten.build(inputShape: [5, 4, 3], seed: 1)
        let rk = toRef(conv.kernel.value), rb = toDoubles(conv.bias!.value), rw = toRef(dense.kernel.value)
        for n in [4, 1, 3, 4] {
            let label = "batch \(n)"
            let x = data.tensor([n, 5, 4, 2])
            let rx = toRef(x)
            // conv → flatten → dense, forward and backward through all three.
            let h = try conv.forward(x, training: true)
            let f = try flatten.forward(h, training: true)
            let y = try dense.forward(f, training: true)
            let z1 = Ref.conv2D(rx, kernel: rk, bias: rb, padding: .same)
            let a1 = Ref.relu(z1)
            let z2 = Ref.dense(Ref.flatten(a1), kernel: rw, bias: [0, 0, 0, 0])
            let a2 = Ref.tanh(z2)
            assertClose(y, a2, rtol: rtol, "\(label): conv → flatten → dense forward")
            let dy = data.tensor(y.shape)
            let dx = try conv.backward(try flatten.backward(try dense.backward(dy)))
            let g2 = Ref.denseBackward(Ref.flatten(a1), kernel: rw, hasBias: true,
                                       outputGradient: Ref.tanhBackward(output: a2, outputGradient: toRef(dy)))
            assertClose(dense.kernel.gradient, g2.kernel, rtol: rtol, "\(label): dense kernel gradient")
            let da1 = Ref.flattenBackward(g2.input, inputShape: a1.shape)
            let g1 = Ref.conv2DBackward(rx, kernel: rk, hasBias: true, padding: .same,
                                        outputGradient: Ref.reluBackward(input: z1, outputGradient: da1))
            assertClose(dx, g1.input, rtol: rtol, "\(label): conv input gradient")
            assertClose(conv.kernel.gradient, g1.kernel, rtol: rtol, "\(label): conv kernel gradient")
            assertClose(conv.bias!.gradient.elements, g1.bias ?? [], rtol: rtol, "\(label): conv bias gradient")

            let p = try pool.forward(x, training: true)
            assertClose(p, Ref.maxPool2D(rx, padding: .same), rtol: rtol, "\(label): pool forward")
            let dp = data.tensor(p.shape)
            assertClose(try pool.backward(dp), Ref.maxPool2DBackward(rx, padding: .same, outputGradient: toRef(dp)),
                        rtol: rtol, "\(label): pool backward")

            var mm = toDoubles(bn.movingMean.value), mv = toDoubles(bn.movingVariance.value)
            let b = try bn.forward(x, training: true)
            let (rbn, cache) = Ref.batchNormTraining(rx, gamma: [1, 1], beta: [0, 0], movingMean: &mm, movingVariance: &mv)
            assertClose(b, rbn, rtol: rtol, "\(label): batch-norm forward")
            let db = data.tensor(b.shape)
            assertClose(try bn.backward(db), Ref.batchNormBackward(cache: cache, gamma: [1, 1], outputGradient: toRef(db)).input,
                        rtol: rtol, "\(label): batch-norm backward")
        }
    }

    // MARK: - MaxPooling2D

    func checkPool(_ label: String, n: Int, h: Int, w: Int, c: Int, pool: (Int, Int), strides: (Int, Int)?,
                   padding: Padding, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = MaxPooling2D(poolSize: pool, strides: strides, padding: padding)
        try layer.build(inputShape: [h, w, c], seed: 1)
        XCTAssertTrue(layer.parameters.isEmpty)
        let x = data.tensor([n, h, w, c])
        let y = try layer.forward(x, training: true).copy()
        let rx = toRef(x)
        let ry = Ref.maxPool2D(rx, pool: pool, strides: strides, padding: padding.ref)
        assertClose(y, ry, rtol: 0, "\(label): forward", file: file, line: line)
        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let rdx = Ref.maxPool2DBackward(rx, pool: pool, strides: strides, padding: padding.ref, outputGradient: toRef(dy))
        assertClose(dx, rdx, rtol: rtol, "\(label): input gradient", file: file, line: line)
    }

    func testMaxPooling2DMatchesReference() throws {
        try checkPool("2x2 valid on odd 7x5", n: 2, h: 7, w: 5, c: 3, pool: (2, 2), strides: nil, padding: .valid, seed: 1)
        try checkPool("2x2 same on odd 7x5, batch 1", n: 1, h: 7, w: 5, c: 1, pool: (2, 2), strides: nil, padding: .same, seed: 2)
        try checkPool("3x3 stride 2 same (overlapping)", n: 2, h: 7, w: 5, c: 3, pool: (3, 3), strides: (2, 2), padding: .same, seed: 3)
        try checkPool("3x3 stride 2 valid (overlapping)", n: 2, h: 7, w: 5, c: 2, pool: (3, 3), strides: (2, 2), padding: .valid, seed: 4)
        try checkPool("2x3 stride (1,2) same", n: 2, h: 7, w: 5, c: 3, pool: (2, 3), strides: (1, 2), padding: .same, seed: 5)
        try checkPool("2x2 stride 1 valid", n: 1, h: 4, w: 6, c: 2, pool: (2, 2), strides: (1, 1), padding: .valid, seed: 6)
        try checkPool("3x3 stride 3 same on 8x8 (pad both sides)", n: 2, h: 8, w: 8, c: 1, pool: (3, 3), strides: (3, 3), padding: .same, seed: 7)
    }

    // MARK: - Flatten

    func testFlattenMatchesReference() throws {
        var data = TestData(seed: 30)
        for shape in [[2, 7, 5, 3], [1, 3, 4, 1]] {
            let layer = Flatten()
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let y = try layer.forward(x, training: true).copy()
            assertClose(y, Ref.flatten(toRef(x)), rtol: 0, "flatten \(shape): forward")
            let dy = data.tensor(y.shape)
            let dx = try layer.backward(dy)
            assertClose(dx, Ref.flattenBackward(toRef(dy), inputShape: shape), rtol: 0, "flatten \(shape): backward")
        }
    }

    // MARK: - Dropout

    func testDropoutMatchesReferenceWithEngineMask() throws {
        var data = TestData(seed: 31)
        for (rate, shape) in [(Float(0.3), [4, 5, 5, 3]), (0.5, [1, 40]), (0.8, [2, 50])] {
            let layer = Dropout(rate: rate, seed: 9)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let y = try layer.forward(x, training: true).copy()
            guard let mask = layer.mask else { return XCTFail("rate \(rate): no mask after a training forward") }
            XCTAssertEqual(mask.shape, shape)
            // The engine's mask holds 0 or 1/(1 − rate); the reference wants 0/1.
            let scale = 1 / (1 - rate)
            XCTAssertTrue(mask.elements.allSatisfy { $0 == 0 || $0 == scale }, "rate \(rate): mask values")
            let mask01 = mask.elements.map { $0 == 0 ? 0.0 : 1.0 }
            let dropped = Double(mask01.filter { $0 == 0 }.count) / Double(mask01.count)
            XCTAssertEqual(dropped, Double(rate), accuracy: 0.15, "rate \(rate): fraction dropped")
            assertClose(y, Ref.dropout(toRef(x), mask: mask01, rate: Double(rate)), rtol: rtol, "rate \(rate): forward")
            let dy = data.tensor(shape)
            let dx = try layer.backward(dy)
            assertClose(dx, Ref.dropoutBackward(mask: mask01, rate: Double(rate), outputGradient: toRef(dy)), rtol: rtol,
                        "rate \(rate): backward")

            // Inference is the identity, forward and backward.
            let yi = try layer.forward(x, training: false)
            XCTAssertEqual(yi.elements, x.elements, "rate \(rate): inference forward")
            XCTAssertEqual(try layer.backward(dy).elements, dy.elements, "rate \(rate): inference backward")
        }
    }

    // MARK: - BatchNormalization

    func checkBatchNorm(_ label: String, shape: [Int], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let c = shape.last!
        let layer = BatchNormalization(momentum: 0.9, epsilon: 1e-3)
        try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
        XCTAssertEqual(layer.parameters.map(\.name), ["gamma", "beta", "moving_mean", "moving_variance"])
        layer.gamma.value.assign(data.tensor([c], 0.5, 1.5))
        layer.beta.value.assign(data.tensor([c], -0.5, 0.5))
        layer.movingMean.value.assign(data.tensor([c], -0.2, 0.2))
        layer.movingVariance.value.assign(data.tensor([c], 0.5, 1.5))
        let gamma = toDoubles(layer.gamma.value), beta = toDoubles(layer.beta.value)
        var movingMean = toDoubles(layer.movingMean.value), movingVariance = toDoubles(layer.movingVariance.value)

        // Training: batch statistics, moving statistics updated.
        let x = data.tensor(shape, -2, 3)
        let y = try layer.forward(x, training: true).copy()
        let (ry, cache) = Ref.batchNormTraining(toRef(x), gamma: gamma, beta: beta, movingMean: &movingMean,
                                                movingVariance: &movingVariance, momentum: 0.9, epsilon: 1e-3)
        assertClose(y, ry, rtol: rtol, "\(label): training forward", file: file, line: line)
        assertClose(layer.movingMean.value.elements, movingMean, rtol: rtol, "\(label): moving mean", file: file, line: line)
        assertClose(layer.movingVariance.value.elements, movingVariance, rtol: rtol, "\(label): moving variance", file: file, line: line)
        let dy = data.tensor(shape)
        let dx = try layer.backward(dy)
        let rg = Ref.batchNormBackward(cache: cache, gamma: gamma, outputGradient: toRef(dy))
        assertClose(dx, rg.input, rtol: rtol, "\(label): training input gradient", file: file, line: line)
        assertClose(layer.gamma.gradient.elements, rg.gamma, rtol: rtol, "\(label): gamma gradient", file: file, line: line)
        assertClose(layer.beta.gradient.elements, rg.beta, rtol: rtol, "\(label): beta gradient", file: file, line: line)

        // Inference with the moving statistics the training pass left behind; the statistics are
        // constants, so dX = dY · γ / sqrt(var + ε).
        let xi = data.tensor(shape, -2, 3)
        let yi = try layer.forward(xi, training: false).copy()
        let ryi = Ref.batchNormInference(toRef(xi), gamma: gamma, beta: beta, movingMean: movingMean,
                                         movingVariance: movingVariance, epsilon: 1e-3)
        assertClose(yi, ryi, rtol: rtol, "\(label): inference forward", file: file, line: line)
        assertClose(layer.movingMean.value.elements, movingMean, rtol: rtol, "\(label): inference leaves moving mean", file: file, line: line)
        let dyi = data.tensor(shape)
        let dxi = try layer.backward(dyi)
        var rdx = toRef(dyi)
        var dGamma = [Double](repeating: 0, count: c), dBeta = dGamma
        for i in 0..<rdx.count {
            let j = i % c
            let s = 1 / (movingVariance[j] + 1e-3).squareRoot()
            let xhat = (Double(xi[flat: i]) - movingMean[j]) * s
            dGamma[j] += Double(dyi[flat: i]) * xhat
            dBeta[j] += Double(dyi[flat: i])
            rdx.data[i] *= gamma[j] * s
        }
        assertClose(dxi, rdx, rtol: rtol, "\(label): inference input gradient", file: file, line: line)
        assertClose(layer.gamma.gradient.elements, dGamma, rtol: rtol, "\(label): inference gamma gradient", file: file, line: line)
        assertClose(layer.beta.gradient.elements, dBeta, rtol: rtol, "\(label): inference beta gradient", file: file, line: line)

        // A frozen layer normalizes with the moving statistics even in training (Keras's rule).
        layer.trainable = false
        let yf = try layer.forward(xi, training: true)
        assertClose(yf, ryi, rtol: rtol, "\(label): frozen layer in training uses moving statistics", file: file, line: line)
        assertClose(layer.movingMean.value.elements, movingMean, rtol: rtol, "\(label): frozen layer keeps moving mean", file: file, line: line)
    }

    func testBatchNormalizationMatchesReference() throws {
        try checkBatchNorm("dense [6, 5]", shape: [6, 5], seed: 40)
        try checkBatchNorm("images [3, 7, 5, 3]", shape: [3, 7, 5, 3], seed: 41)
        try checkBatchNorm("batch 1 [1, 4, 3, 2]", shape: [1, 4, 3, 2], seed: 42)
    }

    // MARK: - ActivationLayer

    func testActivationLayersMatchReference() throws {
        var data = TestData(seed: 50)
        for shape in [[4, 7], [2, 3, 3, 5], [1, 1]] {
            for a in [Activation.relu, .sigmoid, .tanh, .softmax, .relu6, .linear] {
                let label = "\(a) \(shape)"
                let layer = ActivationLayer(a)
                try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
                let x = data.tensor(shape, a == .relu6 ? -9 : -3, a == .relu6 ? 9 : 3)
                let y = try layer.forward(x, training: true).copy()
                let rx = toRef(x)
                let ry = refActivate(a, rx)
                assertClose(y, ry, rtol: rtol, "\(label): forward")
                let dy = data.tensor(shape)
                let dx = try layer.backward(dy)
                assertClose(dx, refActivationBackward(a, z: rx, y: ry, dy: toRef(dy)), rtol: rtol, "\(label): backward")
            }
        }
    }

    // MARK: - Losses

    func testCategoricalCrossentropyMatchesReference() throws {
        var data = TestData(seed: 60)
        for (rows, classes) in [(1, 3), (5, 10), (8, 2)] {
            let logits = data.tensor([rows, classes], -4, 4)
            let labels = data.labels(rows, classes: classes)
            for (kind, target) in [("one-hot", oneHotRows(labels, classes: classes)), ("soft", data.probabilities(rows: rows, classes: classes))] {
                let label = "\(kind) [\(rows), \(classes)]"
                let ref = Ref.categoricalCrossentropyFromLogits(toRef(logits), targets: toRef(target))
                // fromLogits: true at construction, and logits: true at the call, are the same path.
                for (loss, flag) in [(CategoricalCrossentropy(fromLogits: true), false), (CategoricalCrossentropy(), true)] {
                    let g = Tensor(shape: logits.shape)
                    let value = try loss.compute(prediction: logits, target: target, logits: flag, gradient: g)
                    assertClose(value, ref.loss, rtol: rtol, "\(label): loss from logits")
                    assertClose(g, ref.gradient, rtol: rtol, "\(label): gradient from logits")
                }

                // The probability path on softmax outputs: the same loss, and the gradient taken back
                // through the softmax equals the logits gradient.
                let rp = Ref.softmax(toRef(logits))
                let p = toTensor(rp)
                let gp = Tensor(shape: p.shape)
                let value = try CategoricalCrossentropy().compute(prediction: p, target: target, logits: false, gradient: gp)
                assertClose(value, ref.loss, rtol: rtol, "\(label): loss from probabilities")
                let throughSoftmax = Ref.softmaxBackward(output: rp, outputGradient: toRef(gp))
                assertClose(toTensor(throughSoftmax), ref.gradient, rtol: rtol, "\(label): probability gradient through softmax")
                XCTAssertEqual(value, try CategoricalCrossentropy()(p, target), "\(label): callAsFunction")
            }
        }
    }

    func testSparseCategoricalCrossentropyMatchesReference() throws {
        var data = TestData(seed: 61)
        for (rows, classes) in [(1, 3), (6, 10), (4, 2)] {
            let label = "[\(rows), \(classes)]"
            let logits = data.tensor([rows, classes], -4, 4)
            let labels = data.labels(rows, classes: classes)
            let ref = Ref.sparseCategoricalCrossentropyFromLogits(toRef(logits), labels: labels)
            for (loss, flag) in [(SparseCategoricalCrossentropy(fromLogits: true), false), (SparseCategoricalCrossentropy(), true)] {
                let g = Tensor(shape: logits.shape)
                let value = try loss.compute(prediction: logits, target: labelTensor(labels), logits: flag, gradient: g)
                assertClose(value, ref.loss, rtol: rtol, "\(label): loss from logits")
                assertClose(g, ref.gradient, rtol: rtol, "\(label): gradient from logits")
            }
            // Probability path, and agreement with the dense loss on one-hot targets.
            let rp = Ref.softmax(toRef(logits))
            let p = toTensor(rp)
            let gp = Tensor(shape: p.shape)
            let value = try SparseCategoricalCrossentropy().compute(prediction: p, target: labelTensor(labels), logits: false, gradient: gp)
            assertClose(value, ref.loss, rtol: rtol, "\(label): loss from probabilities")
            let throughSoftmax = Ref.softmaxBackward(output: rp, outputGradient: toRef(gp))
            assertClose(toTensor(throughSoftmax), ref.gradient, rtol: rtol, "\(label): probability gradient through softmax")
            let gd = Tensor(shape: p.shape)
            let dense = try CategoricalCrossentropy().compute(prediction: p, target: oneHotRows(labels, classes: classes), logits: false, gradient: gd)
            XCTAssertEqual(value, dense, accuracy: 1e-6, "\(label): sparse equals one-hot")
            XCTAssertEqual(gp.elements, gd.elements, "\(label): sparse gradient equals one-hot gradient")
        }
    }

    func testMeanSquaredErrorMatchesReference() throws {
        var data = TestData(seed: 62)
        for shape in [[1, 1], [4, 3], [2, 3, 3, 2]] {
            let p = data.tensor(shape, -2, 2), t = data.tensor(shape, -2, 2)
            let ref = Ref.meanSquaredError(toRef(p), targets: toRef(t))
            let g = Tensor(shape: shape)
            let value = try MeanSquaredError().compute(prediction: p, target: t, logits: false, gradient: g)
            assertClose(value, ref.loss, rtol: rtol, "mse \(shape): loss")
            assertClose(g, ref.gradient, rtol: rtol, "mse \(shape): gradient")
        }
    }
}
