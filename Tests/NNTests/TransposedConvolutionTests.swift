import XCTest
import NN
import NNReference

/// Conv2DTranspose, SeparableConv2D and LayerNormalization (issue 19): central-difference gradient
/// checks of the engine layers in Float32 (input and every parameter), of the reference in Double,
/// and the engine compared elementwise with the reference, forward and backward, including
/// batches split over threads and chunks. Keras's own numbers are in KerasBreadthLayerTests.
final class TransposedConvolutionTests: XCTestCase {
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)
    let rtol = 1e-4

    // MARK: - Conv2DTranspose

    struct TransposeCase {
        var label: String
        var n = 2, h = 3, w = 4, c = 3, f = 2
        var kernel = (3, 3), strides = (1, 1)
        var padding = Padding.valid
        var outputPadding: (Int, Int)? = nil
        var activation = Activation.linear
        var useBias = true
        var expected: [Int]? = nil
    }

    let transposeCases: [TransposeCase] = [
        TransposeCase(label: "3x3 s1 valid", expected: [5, 6, 2]),
        TransposeCase(label: "3x3 s2 same", strides: (2, 2), padding: .same, expected: [6, 8, 2]),
        TransposeCase(label: "3x3 s2 valid", strides: (2, 2), expected: [7, 9, 2]),
        TransposeCase(label: "3x3 s2 same op 0", strides: (2, 2), padding: .same, outputPadding: (0, 0), expected: [5, 7, 2]),
        TransposeCase(label: "3x3 s2 valid op 1", strides: (2, 2), outputPadding: (1, 1), expected: [8, 10, 2]),
        TransposeCase(label: "2x3 s(2,1) same op (1,0)", kernel: (2, 3), strides: (2, 1), padding: .same, outputPadding: (1, 0),
                      expected: [5, 4, 2]),
        TransposeCase(label: "2x2 s2 valid (U-Net)", f: 4, kernel: (2, 2), strides: (2, 2), expected: [6, 8, 4]),
        TransposeCase(label: "1x1 s3 valid (gaps)", kernel: (1, 1), strides: (3, 3), expected: [9, 12, 2]),
        TransposeCase(label: "4x4 s2 same, 1 channel in", c: 1, kernel: (4, 4), strides: (2, 2), padding: .same, expected: [6, 8, 2]),
        TransposeCase(label: "3x3 s1 same + sigmoid, no bias", padding: .same, activation: .sigmoid, useBias: false, expected: [3, 4, 2]),
        TransposeCase(label: "3x3 s2 same + tanh, batch 1", n: 1, strides: (2, 2), padding: .same, activation: .tanh),
    ]

    func makeTranspose(_ t: TransposeCase, seed: UInt64, data: inout TestData) throws -> Conv2DTranspose {
        let layer = Conv2DTranspose(filters: t.f, kernelSize: t.kernel, strides: t.strides, padding: t.padding,
                                    outputPadding: t.outputPadding, activation: t.activation, useBias: t.useBias)
        try layer.build(inputShape: [t.h, t.w, t.c], seed: seed)
        if let bias = layer.bias { bias.value.assign(data.tensor([t.f], -0.5, 0.5)) }
        return layer
    }

    func testConv2DTransposeGradientCheck() throws {
        for (i, t) in transposeCases.enumerated() {
            var data = TestData(seed: 100 + UInt64(i))
            let layer = try makeTranspose(t, seed: UInt64(i), data: &data)
            if let e = t.expected { XCTAssertEqual(layer.outputShape, e, t.label) }
            XCTAssertEqual(layer.parameters.map(\.name), t.useBias ? ["kernel", "bias"] : ["kernel"], t.label)
            XCTAssertEqual(layer.kernel.value.shape, [t.kernel.0, t.kernel.1, t.f, t.c], t.label)
            try checker.check(layer, input: data.tensor([t.n, t.h, t.w, t.c]), "Conv2DTranspose \(t.label)")
        }
    }

    func checkTransposeOracle(_ t: TransposeCase, seed: UInt64, budgetImages: Int? = nil,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = try makeTranspose(t, seed: seed, data: &data)
        if let images = budgetImages {
            let perImage = layer.geometry.outputPixels * layer.geometry.patchSize
            layer.useWorkspace(Workspace(budget: images * perImage))
            XCTAssertLessThan(layer.workspace.imagesPerChunk(floatsPerImage: perImage, batch: t.n), t.n, file: file, line: line)
        }
        let x = data.tensor([t.n, t.h, t.w, t.c])
        let y = try layer.forward(x, training: true).copy()
        let rx = toRef(x), rk = toRef(layer.kernel.value)
        let z = Ref.conv2DTranspose(rx, kernel: rk, bias: layer.bias.map { toDoubles($0.value) }, strides: t.strides,
                                    padding: t.padding.ref, outputPadding: t.outputPadding)
        let ry = activate(t.activation, z)
        assertClose(y, ry, rtol: rtol, "\(t.label): forward", file: file, line: line)
        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let dz = activationBackward(t.activation, y: ry, dy: toRef(dy))
        let g = Ref.conv2DTransposeBackward(rx, kernel: rk, hasBias: t.useBias, strides: t.strides, padding: t.padding.ref,
                                            outputPadding: t.outputPadding, outputGradient: dz)
        assertClose(dx, g.input, rtol: rtol, "\(t.label): input gradient", file: file, line: line)
        assertClose(layer.kernel.gradient, g.kernel, rtol: rtol, "\(t.label): kernel gradient", file: file, line: line)
        if let bias = layer.bias { assertClose(bias.gradient.elements, g.bias ?? [], rtol: rtol, "\(t.label): bias gradient", file: file, line: line) }
    }

    func testConv2DTransposeMatchesReference() throws {
        for (i, t) in transposeCases.enumerated() { try checkTransposeOracle(t, seed: 200 + UInt64(i)) }
    }

    /// A batch big enough to be split over the pool's threads, and one split into chunks of the workspace.
    func testConv2DTransposeSplitBatchMatchesReference() throws {
        let old = Parallel.threads
        defer { Parallel.threads = old }
        Parallel.threads = 3
        var big = TransposeCase(label: "batch 7 over 3 threads", n: 7, h: 6, w: 6, c: 4, f: 5, strides: (2, 2), padding: .same)
        try checkTransposeOracle(big, seed: 300)
        big.label = "batch 7 in chunks of 2"
        try checkTransposeOracle(big, seed: 301, budgetImages: 2)
        // Repeated calls give the same bits (ordered partial sums).
        var data = TestData(seed: 302)
        let layer = try makeTranspose(big, seed: 3, data: &data)
        let x = data.tensor([7, 6, 6, 4]), dy = data.tensor([7] + layer.outputShape)
        _ = try layer.forward(x, training: true)
        _ = try layer.backward(dy)
        let first = layer.kernel.gradient.elements
        _ = try layer.forward(x, training: true)
        _ = try layer.backward(dy)
        XCTAssertEqual(layer.kernel.gradient.elements, first)
    }

    /// The transposed convolution is the convolution's input gradient: for the same kernel,
    /// ⟨conv(x), y⟩ = ⟨x, convT(y)⟩.
    func testConv2DTransposeIsAdjointOfConv2D() throws {
        var data = TestData(seed: 400)
        let conv = Conv2D(filters: 3, kernelSize: (3, 3), strides: (2, 2), padding: .same, useBias: false)
        try conv.build(inputShape: [6, 6, 2], seed: 1)
        let transpose = Conv2DTranspose(filters: 2, kernelSize: (3, 3), strides: (2, 2), padding: .same, useBias: false)
        try transpose.build(inputShape: [3, 3, 3], seed: 2)
        transpose.kernel.value.assign(conv.kernel.value)
        let x = data.tensor([2, 6, 6, 2]), y = data.tensor([2, 3, 3, 3])
        let cx = try conv.forward(x).copy(), ty = try transpose.forward(y).copy()
        let lhs = zip(cx.elements, y.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.elements, ty.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)))
    }

    func testConv2DTransposeRefusesBadOptions() throws {
        func message(_ layer: Layer, _ shape: [Int]) -> String {
            do { try layer.build(inputShape: shape); return "no error" } catch { return "\(error)" }
        }
        let tooMuch = message(Conv2DTranspose(filters: 2, kernelSize: 3, strides: 2, outputPadding: 2, name: "up"), [4, 4, 1])
        XCTAssertTrue(tooMuch.contains("layer 'up' (Conv2DTranspose): output padding (2, 2) must be at least 0 and less than the strides"), tooMuch)
        let shrinks = message(Conv2DTranspose(filters: 2, kernelSize: 4, strides: 2, padding: .same, outputPadding: 0), [4, 4, 1])
        XCTAssertTrue(shrinks.contains("does not convolve back to the input"), shrinks)
        let flat = message(Conv2DTranspose(filters: 2, kernelSize: 3), [4, 4])
        XCTAssertTrue(flat.contains("expects images"), flat)
    }

    // MARK: - SeparableConv2D

    struct SeparableCase {
        var label: String
        var n = 2, h = 6, w = 5, c = 3, f = 4, m = 1
        var kernel = (3, 3), strides = (1, 1)
        var padding = Padding.valid
        var activation = Activation.linear
        var useBias = true
    }

    let separableCases: [SeparableCase] = [
        SeparableCase(label: "3x3 valid"),
        SeparableCase(label: "3x3 same s2 M2", m: 2, strides: (2, 2), padding: .same),
        SeparableCase(label: "2x3 same s(1,2) + tanh, no bias", kernel: (2, 3), strides: (1, 2), padding: .same, activation: .tanh, useBias: false),
        SeparableCase(label: "3x3 same + sigmoid, batch 1, 1 channel", n: 1, c: 1, f: 2, m: 3, padding: .same, activation: .sigmoid),
    ]

    func makeSeparable(_ t: SeparableCase, seed: UInt64, data: inout TestData) throws -> SeparableConv2D {
        let layer = SeparableConv2D(filters: t.f, kernelSize: t.kernel, strides: t.strides, padding: t.padding, depthMultiplier: t.m,
                                    activation: t.activation, useBias: t.useBias)
        try layer.build(inputShape: [t.h, t.w, t.c], seed: seed)
        if let bias = layer.bias { bias.value.assign(data.tensor([t.f], -0.5, 0.5)) }
        return layer
    }

    func testSeparableConv2DGradientCheck() throws {
        for (i, t) in separableCases.enumerated() {
            var data = TestData(seed: 500 + UInt64(i))
            let layer = try makeSeparable(t, seed: UInt64(i), data: &data)
            XCTAssertEqual(layer.parameters.map(\.name), ["depthwise_kernel", "pointwise_kernel"] + (t.useBias ? ["bias"] : []), t.label)
            XCTAssertEqual(layer.depthwiseKernel.value.shape, [t.kernel.0, t.kernel.1, t.c, t.m], t.label)
            XCTAssertEqual(layer.pointwiseKernel.value.shape, [1, 1, t.c * t.m, t.f], t.label)
            try checker.check(layer, input: data.tensor([t.n, t.h, t.w, t.c]), "SeparableConv2D \(t.label)")
        }
    }

    func checkSeparableOracle(_ t: SeparableCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = try makeSeparable(t, seed: seed, data: &data)
        let x = data.tensor([t.n, t.h, t.w, t.c])
        let y = try layer.forward(x, training: true).copy()
        let rx = toRef(x), rd = toRef(layer.depthwiseKernel.value), rp = toRef(layer.pointwiseKernel.value)
        let z = Ref.separableConv2D(rx, depthwiseKernel: rd, pointwiseKernel: rp, bias: layer.bias.map { toDoubles($0.value) },
                                    strides: t.strides, padding: t.padding.ref)
        let ry = activate(t.activation, z)
        assertClose(y, ry, rtol: rtol, "\(t.label): forward", file: file, line: line)
        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let g = Ref.separableConv2DBackward(rx, depthwiseKernel: rd, pointwiseKernel: rp, hasBias: t.useBias, strides: t.strides,
                                            padding: t.padding.ref, outputGradient: activationBackward(t.activation, y: ry, dy: toRef(dy)))
        assertClose(dx, g.input, rtol: rtol, "\(t.label): input gradient", file: file, line: line)
        assertClose(layer.depthwiseKernel.gradient, g.depthwiseKernel, rtol: rtol, "\(t.label): depthwise gradient", file: file, line: line)
        assertClose(layer.pointwiseKernel.gradient, g.pointwiseKernel, rtol: rtol, "\(t.label): pointwise gradient", file: file, line: line)
        if let bias = layer.bias { assertClose(bias.gradient.elements, g.bias ?? [], rtol: rtol, "\(t.label): bias gradient", file: file, line: line) }
    }

    func testSeparableConv2DMatchesReference() throws {
        for (i, t) in separableCases.enumerated() { try checkSeparableOracle(t, seed: 600 + UInt64(i)) }
        let old = Parallel.threads
        defer { Parallel.threads = old }
        Parallel.threads = 3
        try checkSeparableOracle(SeparableCase(label: "batch 9 over 3 threads", n: 9, h: 10, w: 10, c: 8, f: 6, m: 2, padding: .same), seed: 610)
    }

    /// With a sigmoid head and binary cross-entropy the loss reads the layer's logits (the fusion
    /// Conv2D and Dense have), and training still lowers the loss.
    func testSeparableConv2DSigmoidHeadFusesWithBinaryCrossentropy() throws {
        var data = TestData(seed: 620)
        let model = try Sequential(inputShape: [5, 5, 2], layers: [
            SeparableConv2D(filters: 1, kernelSize: 3, padding: .same, activation: .sigmoid),
        ], seed: 1)
        model.compile(optimizer: Adam(learningRate: 0.05), loss: BinaryCrossentropy())
        XCTAssertTrue(model.layers[0].activationFusedWithLoss)
        let x = data.tensor([8, 5, 5, 2]), y = Tensor(shape: [8, 5, 5, 1])
        for i in 0..<y.count { y[flat: i] = x[flat: 2 * i] > 0 ? 1 : 0 }
        let first = try model.trainStep(x: x, y: y).loss
        var last = first
        for _ in 0..<30 { last = try model.trainStep(x: x, y: y).loss }
        XCTAssertLessThan(last, first * 0.8)
    }

    // MARK: - LayerNormalization

    func testLayerNormalizationGradientCheck() throws {
        let cases: [(String, [Int], Bool, Bool)] = [
            ("[3, 5] default", [3, 5], true, true),
            ("[2, 2, 4] no center", [2, 2, 4], false, true),
            ("[7] no scale", [7], true, false),
            ("[4] neither", [4], false, false),
        ]
        for (i, (label, shape, center, scale)) in cases.enumerated() {
            var data = TestData(seed: 700 + UInt64(i))
            let layer = LayerNormalization(center: center, scale: scale)
            try layer.build(inputShape: shape, seed: 1)
            layer.gamma?.value.assign(data.tensor(layer.gamma!.value.shape, 0.5, 1.5))
            layer.beta?.value.assign(data.tensor(layer.beta!.value.shape, -0.5, 0.5))
            XCTAssertEqual(layer.parameters.map(\.name), (scale ? ["gamma"] : []) + (center ? ["beta"] : []), label)
            try checker.check(layer, input: data.tensor([3] + shape, -2, 2), "LayerNormalization \(label)")
        }
    }

    func checkLayerNormOracle(_ label: String, batch: Int, shape: [Int], center: Bool = true, scale: Bool = true,
                              epsilon: Float = 1e-3, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = LayerNormalization(epsilon: epsilon, center: center, scale: scale)
        try layer.build(inputShape: shape, seed: 1)
        layer.gamma?.value.assign(data.tensor(layer.gamma!.value.shape, 0.5, 1.5))
        layer.beta?.value.assign(data.tensor(layer.beta!.value.shape, -0.5, 0.5))
        let x = data.tensor([batch] + shape, -3, 3)
        let y = try layer.forward(x, training: true).copy()
        let gamma = layer.gamma.map { toDoubles($0.value) }, beta = layer.beta.map { toDoubles($0.value) }
        assertClose(y, Ref.layerNorm(toRef(x), gamma: gamma, beta: beta, epsilon: Double(epsilon)), rtol: rtol, "\(label): forward",
                    file: file, line: line)
        // Inference computes the same thing.
        XCTAssertEqual(try layer.forward(x, training: false).elements, y.elements, "\(label): inference", file: file, line: line)
        _ = try layer.forward(x, training: true)
        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy)
        let g = Ref.layerNormBackward(toRef(x), gamma: gamma, epsilon: Double(epsilon), outputGradient: toRef(dy))
        assertClose(dx, g.input, rtol: rtol, "\(label): input gradient", file: file, line: line)
        if let p = layer.gamma { assertClose(p.gradient.elements, g.gamma, rtol: rtol, "\(label): gamma gradient", file: file, line: line) }
        if let p = layer.beta { assertClose(p.gradient.elements, g.beta, rtol: rtol, "\(label): beta gradient", file: file, line: line) }
    }

    func testLayerNormalizationMatchesReference() throws {
        try checkLayerNormOracle("[4, 6]", batch: 3, shape: [4, 6], seed: 800)
        try checkLayerNormOracle("[5, 5, 3] no center", batch: 2, shape: [5, 5, 3], center: false, seed: 801)
        try checkLayerNormOracle("[9] no scale, eps 1e-5", batch: 4, shape: [9], scale: false, epsilon: 1e-5, seed: 802)
        let old = Parallel.threads
        defer { Parallel.threads = old }
        Parallel.threads = 3
        try checkLayerNormOracle("[16, 16, 32] over 3 threads", batch: 8, shape: [16, 16, 32], seed: 803)
    }

    // MARK: - The reference in Double

    /// Σ y ⊙ r and its gradient through each reference backward, against central differences
    /// (step 1e-5, tolerance 1e-6 as ReferenceGradientTests).
    func assertReferenceGradient(_ name: String, at point: RefTensor<Double>, analytic: RefTensor<Double>,
                                 file: StaticString = #filePath, line: UInt = #line,
                                 _ objective: (RefTensor<Double>) -> Double) {
        var probe = point, worst = 0.0
        for i in 0..<point.count {
            probe.data[i] = point.data[i] + 1e-5
            let plus = objective(probe)
            probe.data[i] = point.data[i] - 1e-5
            let minus = objective(probe)
            probe.data[i] = point.data[i]
            let numeric = (plus - minus) / 2e-5
            worst = max(worst, abs(numeric - analytic.data[i]) / max(abs(numeric), abs(analytic.data[i]), 1))
        }
        XCTAssertLessThan(worst, 1e-6, name, file: file, line: line)
    }

    func dot(_ a: RefTensor<Double>, _ b: RefTensor<Double>) -> Double { zip(a.data, b.data).reduce(0) { $0 + $1.0 * $1.1 } }

    func testReferenceGradients() {
        var rng = RefTestRNG(seed: 19)
        // Conv2DTranspose, same padding with output padding and uneven strides.
        let x = rng.tensor([2, 3, 2, 2]), k = rng.tensor([3, 2, 3, 2]), b = rng.array(3)
        let s = (2, 3), op = (1, 2)
        func t(_ x: RefTensor<Double>, _ k: RefTensor<Double>, _ b: [Double]) -> RefTensor<Double> {
            Ref.conv2DTranspose(x, kernel: k, bias: b, strides: s, padding: .same, outputPadding: op)
        }
        let r = rng.tensor(t(x, k, b).shape)
        let g = Ref.conv2DTransposeBackward(x, kernel: k, hasBias: true, strides: s, padding: .same, outputPadding: op, outputGradient: r)
        assertReferenceGradient("conv2DTranspose input", at: x, analytic: g.input) { dot(t($0, k, b), r) }
        assertReferenceGradient("conv2DTranspose kernel", at: k, analytic: g.kernel) { dot(t(x, $0, b), r) }
        assertReferenceGradient("conv2DTranspose bias", at: RefTensor(shape: [3], data: b), analytic: RefTensor(shape: [3], data: g.bias!)) {
            dot(t(x, k, $0.data), r)
        }
        // SeparableConv2D.
        let sx = rng.tensor([1, 5, 4, 2]), dk = rng.tensor([3, 3, 2, 2]), pk = rng.tensor([1, 1, 4, 3])
        func sep(_ x: RefTensor<Double>, _ d: RefTensor<Double>, _ p: RefTensor<Double>) -> RefTensor<Double> {
            Ref.separableConv2D(x, depthwiseKernel: d, pointwiseKernel: p, strides: (2, 1), padding: .same)
        }
        let sr = rng.tensor(sep(sx, dk, pk).shape)
        let sg = Ref.separableConv2DBackward(sx, depthwiseKernel: dk, pointwiseKernel: pk, strides: (2, 1), padding: .same, outputGradient: sr)
        assertReferenceGradient("separableConv2D input", at: sx, analytic: sg.input) { dot(sep($0, dk, pk), sr) }
        assertReferenceGradient("separableConv2D depthwise", at: dk, analytic: sg.depthwiseKernel) { dot(sep(sx, $0, pk), sr) }
        assertReferenceGradient("separableConv2D pointwise", at: pk, analytic: sg.pointwiseKernel) { dot(sep(sx, dk, $0), sr) }
        // LayerNormalization.
        let lx = rng.tensor([3, 4, 5], -2, 2), gamma = rng.array(5, 0.5, 1.5), beta = rng.array(5)
        let lr = rng.tensor([3, 4, 5])
        let lg = Ref.layerNormBackward(lx, gamma: gamma, outputGradient: lr)
        assertReferenceGradient("layerNorm input", at: lx, analytic: lg.input) { dot(Ref.layerNorm($0, gamma: gamma, beta: beta), lr) }
        assertReferenceGradient("layerNorm gamma", at: RefTensor(shape: [5], data: gamma), analytic: RefTensor(shape: [5], data: lg.gamma)) {
            dot(Ref.layerNorm(lx, gamma: $0.data, beta: beta), lr)
        }
        assertReferenceGradient("layerNorm beta", at: RefTensor(shape: [5], data: beta), analytic: RefTensor(shape: [5], data: lg.beta)) {
            dot(Ref.layerNorm(lx, gamma: gamma, beta: $0.data), lr)
        }
    }

    // MARK: - Helpers

    func activate(_ a: Activation, _ z: RefTensor<Double>) -> RefTensor<Double> {
        switch a {
        case .linear: return z
        case .relu: return Ref.relu(z)
        case .sigmoid: return Ref.sigmoid(z)
        case .tanh: return Ref.tanh(z)
        default: XCTFail("activation \(a) not used here"); return z
        }
    }

    func activationBackward(_ a: Activation, y: RefTensor<Double>, dy: RefTensor<Double>) -> RefTensor<Double> {
        switch a {
        case .linear: return dy
        case .relu: return Ref.reluBackward(input: y, outputGradient: dy)
        case .sigmoid: return Ref.sigmoidBackward(output: y, outputGradient: dy)
        case .tanh: return Ref.tanhBackward(output: y, outputGradient: dy)
        default: XCTFail("activation \(a) not used here"); return dy
        }
    }
}
