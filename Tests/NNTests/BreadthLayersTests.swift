import XCTest
import NN
import NNReference

/// The breadth layers and activations of issue 19 (AveragePooling2D, GlobalMaxPooling2D,
/// UpSampling2D, Cropping2D, SpatialDropout2D, Permute, LeakyReLU, PReLU, ELU; elu, selu, gelu,
/// silu, hard_sigmoid, hard_silu, softplus): Caffe-style Float32 gradient checks of the engine
/// layers, the engine against the plain-loop reference (forward, input and parameter gradients),
/// and the reference's own gradients against central differences in Double.
final class BreadthLayersTests: XCTestCase {
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)
    let rtol = 1e-4
    /// The activations added here, by the name the reference knows them by.
    let newActivations: [Activation] = [.elu, .selu, .gelu, .silu, .hardSigmoid, .hardSilu, .softplus]

    /// Inputs for activations: values in ±(0.1…2.9) and ±(3.1…5), so no probe crosses a kink at 0 or ±3.
    func activationInput(_ shape: [Int], _ data: inout TestData) -> Tensor {
        let x = data.awayFromZero(shape, 0.1, 2.9)
        for i in stride(from: 0, to: x.count, by: 4) { x[flat: i] = (x[flat: i] > 0 ? 1 : -1) * data.rng.uniform(3.1, 5) }
        return x
    }

    // MARK: - Gradient checks (Float32, Caffe's settings)

    func testGradientCheckAveragePooling2D() throws {
        var data = TestData(seed: 101)
        for (name, pool, strides, padding) in [("2x2 valid", (2, 2), nil, Padding.valid), ("3x3 s2 same", (3, 3), (2, 2), .same),
                                               ("2x3 s(1,2) same", (2, 3), (1, 2), .same)] as [(String, (Int, Int), (Int, Int)?, Padding)] {
            let layer = AveragePooling2D(poolSize: pool, strides: strides, padding: padding)
            try layer.build(inputShape: [7, 5, 2], seed: 1)
            try checker.check(layer, input: data.tensor([2, 7, 5, 2]), "AveragePooling2D \(name)")
        }
    }

    func testGradientCheckGlobalMaxPooling2D() throws {
        var data = TestData(seed: 102)
        for keepdims in [false, true] {
            let layer = GlobalMaxPooling2D(keepdims: keepdims)
            try layer.build(inputShape: [4, 3, 3], seed: 1)
            try checker.check(layer, input: data.distinct([2, 4, 3, 3], spacing: 0.05), "GlobalMaxPooling2D keepdims \(keepdims)")
        }
    }

    func testGradientCheckUpSampling2D() throws {
        var data = TestData(seed: 103)
        for interpolation in [ImageInterpolation.nearest, .bilinear] {
            let layer = UpSampling2D(size: (2, 3), interpolation: interpolation)
            try layer.build(inputShape: [3, 4, 2], seed: 1)
            try checker.check(layer, input: data.tensor([2, 3, 4, 2]), "UpSampling2D (2, 3) \(interpolation)")
        }
    }

    func testGradientCheckCroppingAndPermute() throws {
        var data = TestData(seed: 104)
        let crop = Cropping2D(cropping: ((1, 2), (0, 1)))
        try crop.build(inputShape: [6, 5, 2], seed: 1)
        try checker.check(crop, input: data.tensor([2, 6, 5, 2]), "Cropping2D ((1, 2), (0, 1))")
        for dims in [[2, 1, 3], [3, 1, 2], [1, 2, 3]] {
            let permute = Permute(dims: dims)
            try permute.build(inputShape: [4, 3, 2], seed: 1)
            try checker.check(permute, input: data.tensor([2, 4, 3, 2]), "Permute \(dims)")
        }
    }

    /// The generator is restored before every forward, so all passes see one mask (as Dropout's check).
    func testGradientCheckSpatialDropout2D() throws {
        var data = TestData(seed: 105)
        let layer = SpatialDropout2D(rate: 0.4, seed: 3)
        try layer.build(inputShape: [4, 3, 6], seed: 1)
        let saved = layer.rng
        try checker.check(layer, input: data.tensor([3, 4, 3, 6]), training: true, beforeForward: { layer.rng = saved }, "SpatialDropout2D 0.4")
        let mask = try XCTUnwrap(layer.mask)
        XCTAssertTrue(mask.elements.contains(0) && mask.elements.contains { $0 != 0 }, "the mask both drops and keeps")
    }

    func testGradientCheckActivationLayers() throws {
        var data = TestData(seed: 106)
        for (layer, name) in [(LeakyReLU(), "LeakyReLU 0.3"), (LeakyReLU(negativeSlope: 0), "LeakyReLU 0"),
                              (ELU(), "ELU 1"), (ELU(alpha: 0.5), "ELU 0.5")] as [(Layer, String)] {
            try layer.build(inputShape: [3, 5], seed: 1)
            try checker.check(layer, input: data.awayFromZero([2, 3, 5], 0.1, 2), "\(name)")
        }
        for shared in [nil, [1, 2], [2]] as [[Int]?] {
            let layer = PReLU(sharedAxes: shared)
            try layer.build(inputShape: [3, 4, 2], seed: 1)
            layer.alpha.value.assign(data.tensor(layer.alpha.value.shape, 0.1, 0.6))
            try checker.check(layer, input: data.awayFromZero([2, 3, 4, 2], 0.1, 2), "PReLU shared \(shared ?? [])")
        }
    }

    func testGradientCheckNewActivations() throws {
        var data = TestData(seed: 107)
        for a in newActivations {
            let layer = ActivationLayer(a)
            try layer.build(inputShape: [12], seed: 1)
            try checker.check(layer, input: activationInput([3, 12], &data), "ActivationLayer \(a)")
        }
    }

    /// The activations fused into Dense, Conv2D (pointwise and im2col paths) and DepthwiseConv2D;
    /// gelu, silu and hard_silu make the layer keep its preactivation.
    func testGradientCheckFusedNewActivations() throws {
        var data = TestData(seed: 108)
        let fine = GradientChecker(step: 1e-3, threshold: 1e-2, probes: 20)
        for a in newActivations {
            let dense = Dense(units: 4, activation: a)
            try dense.build(inputShape: [5], seed: 2)
            dense.bias!.value.assign(data.tensor([4], -0.5, 0.5))
            try fine.check(dense, input: data.tensor([3, 5], -2, 2), "Dense + \(a)")
            for kernel in [1, 3] {
                let conv = Conv2D(filters: 3, kernelSize: kernel, padding: .same, activation: a)
                try conv.build(inputShape: [4, 4, 2], seed: 3)
                conv.bias!.value.assign(data.tensor([3], -0.5, 0.5))
                try fine.check(conv, input: data.tensor([2, 4, 4, 2], -2, 2), "Conv2D \(kernel)x\(kernel) + \(a)")
            }
            let depthwise = DepthwiseConv2D(kernelSize: (2, 2), padding: .same, activation: a)
            try depthwise.build(inputShape: [4, 3, 2], seed: 4)
            try fine.check(depthwise, input: data.tensor([2, 4, 3, 2], -2, 2), "DepthwiseConv2D + \(a)")
        }
    }

    // MARK: - Engine against the reference

    func forwardBackward(_ layer: Layer, _ x: Tensor, training: Bool = true, _ data: inout TestData) throws -> (y: Tensor, dy: Tensor, dx: Tensor) {
        let y = try layer.forward(x, training: training).copy()
        let dy = data.tensor(y.shape)
        let dx = try layer.backward(dy).copy()
        return (y, dy, dx)
    }

    func testAveragePooling2DMatchesReference() throws {
        var data = TestData(seed: 111)
        let cases: [((Int, Int), (Int, Int)?, Padding, [Int])] = [
            ((2, 2), nil, .valid, [2, 7, 5, 3]), ((2, 2), nil, .same, [1, 7, 5, 1]), ((3, 3), (2, 2), .same, [2, 7, 5, 3]),
            ((3, 3), (2, 2), .valid, [2, 7, 5, 2]), ((2, 3), (1, 2), .same, [2, 7, 5, 3]), ((3, 3), (3, 3), .same, [2, 8, 8, 1]),
        ]
        for (pool, strides, padding, shape) in cases {
            let label = "AveragePooling2D \(pool) \(String(describing: strides)) \(padding) \(shape)"
            let layer = AveragePooling2D(poolSize: pool, strides: strides, padding: padding)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            assertClose(y, Ref.averagePool2D(toRef(x), pool: pool, strides: strides, padding: padding.ref), rtol: rtol, "\(label): forward")
            assertClose(dx, Ref.averagePool2DBackward(inputShape: shape, pool: pool, strides: strides, padding: padding.ref,
                                                      outputGradient: toRef(dy)), rtol: rtol, "\(label): backward")
        }
    }

    func testGlobalMaxPooling2DMatchesReference() throws {
        var data = TestData(seed: 112)
        for (keepdims, shape) in [(false, [3, 5, 4, 3]), (true, [1, 2, 2, 5]), (false, [2, 1, 1, 2])] {
            let layer = GlobalMaxPooling2D(keepdims: keepdims)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            // A tie: the gradient is split between the two maxima, in the engine as in the reference.
            if shape[1] * shape[2] > 1 { x[flat: shape[3]] = x[flat: 0] + 5; x[flat: 2 * shape[3]] = x[flat: 0] + 5 }
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            assertClose(y, Ref.globalMaxPool2D(toRef(x), keepdims: keepdims), rtol: 0, "GlobalMaxPooling2D \(shape): forward")
            assertClose(dx, Ref.globalMaxPool2DBackward(toRef(x), outputGradient: toRef(dy).reshaped([shape[0], shape[3]])),
                        rtol: rtol, "GlobalMaxPooling2D \(shape): backward")
            if shape[1] * shape[2] > 1 { XCTAssertEqual(dx[flat: shape[3]], dy[flat: 0] / 2, "the tie splits dY") }
        }
    }

    func testUpSampling2DMatchesReference() throws {
        var data = TestData(seed: 113)
        for (size, interpolation, shape) in [((2, 2), ImageInterpolation.nearest, [2, 3, 4, 2]), ((3, 2), .nearest, [1, 2, 3, 1]),
                                             ((2, 2), .bilinear, [2, 3, 4, 2]), ((3, 1), .bilinear, [1, 4, 2, 3]), ((1, 1), .bilinear, [1, 2, 2, 1])] {
            let label = "UpSampling2D \(size) \(interpolation) \(shape)"
            let layer = UpSampling2D(size: size, interpolation: interpolation)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            let bilinear = interpolation == .bilinear
            assertClose(y, Ref.upSample2D(toRef(x), size: size, bilinear: bilinear), rtol: rtol, "\(label): forward")
            assertClose(dx, Ref.upSample2DBackward(inputShape: shape, size: size, bilinear: bilinear, outputGradient: toRef(dy)),
                        rtol: rtol, "\(label): backward")
        }
    }

    func testCropping2DMatchesReference() throws {
        var data = TestData(seed: 114)
        // The last case splits over two threads (ImageWindow's parts); each runs twice through the same
        // buffers, spoiled in between as a memory plan's sharing would: every float must be written again.
        let savedThreads = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = savedThreads }
        for (crop, shape) in [(((1, 2), (0, 1)), [2, 6, 5, 3]), (((0, 0), (2, 2)), [1, 3, 5, 1]), (((1, 1), (1, 1)), [1, 3, 3, 2]),
                              (((3, 0), (2, 1)), [5, 31, 30, 8])] {
            let layer = Cropping2D(cropping: crop)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            for _ in 0..<2 {
                let x = data.tensor(shape)
                let (y, dy, dx) = try forwardBackward(layer, x, &data)
                assertClose(y, Ref.crop2D(toRef(x), top: crop.0.0, bottom: crop.0.1, left: crop.1.0, right: crop.1.1), rtol: 0, "Cropping2D \(crop): forward")
                assertClose(dx, Ref.crop2DBackward(inputShape: shape, top: crop.0.0, left: crop.1.0, outputGradient: toRef(dy)), rtol: 0,
                            "Cropping2D \(crop): backward")
                // forwardBackward returns copies: spoil the layer's own buffers.
                try layer.forward(x, training: true).fill(.nan)
                try layer.backward(dy).fill(.nan)
            }
        }
        XCTAssertThrowsError(try Cropping2D(cropping: ((2, 1), (0, 0))).build(inputShape: [3, 3, 1]), "cropping everything is refused")
    }

    func testPermuteMatchesReference() throws {
        var data = TestData(seed: 115)
        for (dims, shape) in [([2, 1, 3], [2, 4, 3, 2]), ([3, 1, 2], [1, 4, 3, 5]), ([2, 1], [3, 4, 5]), ([1], [2, 7]), ([4, 2, 3, 1], [1, 2, 3, 2, 2])] {
            let layer = Permute(dims: dims)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            assertClose(y, Ref.permute(toRef(x), dims: dims), rtol: 0, "Permute \(dims): forward")
            assertClose(dx, Ref.permuteBackward(dims: dims, outputGradient: toRef(dy)), rtol: 0, "Permute \(dims): backward")
        }
        XCTAssertThrowsError(try Permute(dims: [1, 1, 2]).build(inputShape: [2, 2, 2]), "a repeated axis is refused")
        XCTAssertThrowsError(try Permute(dims: [2, 1]).build(inputShape: [2, 2, 2]), "too few axes are refused")
    }

    func testSpatialDropout2DMatchesReferenceWithEngineMask() throws {
        var data = TestData(seed: 116)
        for (rate, shape) in [(Float(0.3), [4, 3, 3, 8]), (0.5, [2, 2, 5, 20]), (0.8, [3, 4, 2, 10])] {
            let layer = SpatialDropout2D(rate: rate, seed: 9)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            let x = data.tensor(shape)
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            let mask = try XCTUnwrap(layer.mask, "rate \(rate): no mask after a training forward")
            XCTAssertEqual(mask.shape, [shape[0], shape[3]])
            let scale = 1 / (1 - rate)
            XCTAssertTrue(mask.elements.allSatisfy { $0 == 0 || $0 == scale }, "rate \(rate): mask values")
            let mask01 = mask.elements.map { $0 == 0 ? 0.0 : 1.0 }
            XCTAssertEqual(Double(mask01.filter { $0 == 0 }.count) / Double(mask01.count), Double(rate), accuracy: 0.2, "rate \(rate): fraction dropped")
            assertClose(y, Ref.spatialDropout2D(toRef(x), mask: mask01, rate: Double(rate)), rtol: rtol, "rate \(rate): forward")
            assertClose(dx, Ref.spatialDropout2D(toRef(dy), mask: mask01, rate: Double(rate)), rtol: rtol, "rate \(rate): backward")
            // Inference is the identity.
            XCTAssertEqual(try layer.forward(x, training: false).elements, x.elements, "rate \(rate): inference")
        }
    }

    func testActivationLayersMatchReference() throws {
        var data = TestData(seed: 117)
        for shape in [[4, 7], [2, 3, 3, 5]] {
            for slope in [Float(0.3), 0, 0.05] {
                let x = data.tensor(shape, -3, 3)
                let (y, dy, dx) = try forwardBackward(LeakyReLU(negativeSlope: slope), x, &data)
                assertClose(y, Ref.leakyRelu(toRef(x), negativeSlope: Double(slope)), rtol: rtol, "LeakyReLU \(slope): forward")
                assertClose(dx, Ref.leakyReluBackward(input: toRef(x), negativeSlope: Double(slope), outputGradient: toRef(dy)), rtol: rtol,
                            "LeakyReLU \(slope): backward")
            }
            for alpha in [Float(1), 0.5, 2] {
                let x = data.tensor(shape, -3, 3)
                let (y, dy, dx) = try forwardBackward(ELU(alpha: alpha), x, &data)
                assertClose(y, Ref.elu(toRef(x), alpha: Double(alpha)), rtol: rtol, "ELU \(alpha): forward")
                assertClose(dx, Ref.eluBackward(input: toRef(x), alpha: Double(alpha), outputGradient: toRef(dy)), rtol: rtol, "ELU \(alpha): backward")
            }
            for a in newActivations + [.linear] {
                let x = data.tensor(shape, -6, 6)
                let (y, dy, dx) = try forwardBackward(ActivationLayer(a), x, &data)
                assertClose(y, Ref.activation(a.rawValue, toRef(x)), rtol: rtol, "\(a): forward")
                assertClose(dx, Ref.activationBackward(a.rawValue, input: toRef(x), outputGradient: toRef(dy)), rtol: rtol, "\(a): backward")
            }
        }
    }

    func testPReLUMatchesReference() throws {
        var data = TestData(seed: 118)
        for (shared, shape) in [(nil, [3, 4, 3, 2]), ([1, 2], [2, 4, 3, 5]), ([3], [2, 2, 3, 4]), (nil, [4, 6])] as [([Int]?, [Int])] {
            let layer = PReLU(sharedAxes: shared)
            try layer.build(inputShape: Array(shape.dropFirst()), seed: 1)
            XCTAssertEqual(layer.parameters.map(\.name), ["alpha"])
            XCTAssertTrue(layer.alpha.value.elements.allSatisfy { $0 == 0 }, "alpha starts at zeros, as Keras's")
            layer.alpha.value.assign(data.tensor(layer.alpha.value.shape, -0.5, 1))
            let x = data.tensor(shape, -2, 2)
            let (y, dy, dx) = try forwardBackward(layer, x, &data)
            let alpha = toRef(layer.alpha.value)
            assertClose(y, Ref.prelu(toRef(x), alpha: alpha), rtol: rtol, "PReLU \(shared ?? []): forward")
            let g = Ref.preluBackward(toRef(x), alpha: alpha, outputGradient: toRef(dy))
            assertClose(dx, g.input, rtol: rtol, "PReLU \(shared ?? []): input gradient")
            assertClose(layer.alpha.gradient, g.alpha, rtol: rtol, "PReLU \(shared ?? []): alpha gradient")
        }
        XCTAssertEqual(try { let l = PReLU(sharedAxes: [1, 2]); try l.build(inputShape: [5, 4, 3]); return l.alpha.value.shape }(), [1, 1, 3])
        XCTAssertThrowsError(try PReLU(sharedAxes: [4]).build(inputShape: [5, 4, 3]), "a shared axis beyond the sample is refused")
    }

    /// Dense and Conv2D with each new activation against reference dense/convolution + activation.
    func testFusedNewActivationsMatchReference() throws {
        var data = TestData(seed: 119)
        for a in newActivations {
            let dense = Dense(units: 5, activation: a)
            try dense.build(inputShape: [6], seed: 1)
            dense.bias!.value.assign(data.tensor([5], -0.5, 0.5))
            let x = data.tensor([3, 6], -2, 2)
            let (y, dy, dx) = try forwardBackward(dense, x, &data)
            let z = Ref.dense(toRef(x), kernel: toRef(dense.kernel.value), bias: toDoubles(dense.bias!.value))
            assertClose(y, Ref.activation(a.rawValue, z), rtol: rtol, "Dense + \(a): forward")
            let dz = Ref.activationBackward(a.rawValue, input: z, outputGradient: toRef(dy))
            let g = Ref.denseBackward(toRef(x), kernel: toRef(dense.kernel.value), hasBias: true, outputGradient: dz)
            assertClose(dx, g.input, rtol: rtol, "Dense + \(a): input gradient")
            assertClose(dense.kernel.gradient, g.kernel, rtol: rtol, "Dense + \(a): kernel gradient")

            for kernel in [1, 3] {
                let conv = Conv2D(filters: 3, kernelSize: kernel, padding: .same, activation: a)
                try conv.build(inputShape: [5, 4, 2], seed: 2)
                conv.bias!.value.assign(data.tensor([3], -0.5, 0.5))
                let xc = data.tensor([2, 5, 4, 2], -2, 2)
                let (yc, dyc, dxc) = try forwardBackward(conv, xc, &data)
                let zc = Ref.conv2D(toRef(xc), kernel: toRef(conv.kernel.value), bias: toDoubles(conv.bias!.value), strides: (1, 1), padding: .same)
                assertClose(yc, Ref.activation(a.rawValue, zc), rtol: rtol, "Conv2D \(kernel) + \(a): forward")
                let dzc = Ref.activationBackward(a.rawValue, input: zc, outputGradient: toRef(dyc))
                let gc = Ref.conv2DBackward(toRef(xc), kernel: toRef(conv.kernel.value), hasBias: true, strides: (1, 1), padding: .same, outputGradient: dzc)
                assertClose(dxc, gc.input, rtol: rtol, "Conv2D \(kernel) + \(a): input gradient")
                assertClose(conv.kernel.gradient, gc.kernel, rtol: rtol, "Conv2D \(kernel) + \(a): kernel gradient")
            }
        }
    }

    /// A model trains with gelu and silu heads and hidden layers (the memory plan keeps what their
    /// derivatives read), and every new layer sits in one Sequential that fits and predicts.
    func testModelWithEveryBreadthLayerTrains() throws {
        let model = try Sequential(inputShape: [8, 8, 2], layers: [
            Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .gelu),
            PReLU(sharedAxes: [1, 2]),
            AveragePooling2D(poolSize: 2),
            UpSampling2D(size: 2, interpolation: .bilinear),
            Cropping2D(cropping: ((1, 1), (1, 1))),
            SpatialDropout2D(rate: 0.25),
            DepthwiseConv2D(kernelSize: (3, 3), activation: .silu),
            LeakyReLU(),
            Permute(dims: [2, 1, 3]),
            ELU(alpha: 0.7),
            GlobalMaxPooling2D(),
            Dense(units: 6, activation: .hardSilu),
            ActivationLayer(.selu),
            Dense(units: 3, activation: .softmax),
        ], seed: 5)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy())
        var data = TestData(seed: 120)
        let x = data.tensor([16, 8, 8, 2])
        let y = labelTensor(data.labels(16, classes: 3))
        let before = try model.evaluate(x: x, y: y).loss
        try model.fit(x: x, y: y, batchSize: 8, epochs: 15, shuffle: false, verbose: .silent)
        let after = try model.evaluate(x: x, y: y).loss
        XCTAssertLessThan(after, before, "training lowers the loss")
        XCTAssertEqual(try model.predict(x).shape, [16, 3])
        let names = model.layers.map(\.name)
        for stem in ["p_re_lu", "average_pooling2d", "up_sampling2d", "cropping2d", "spatial_dropout2d", "leaky_re_lu",
                     "permute", "elu", "global_max_pooling2d"] {
            XCTAssertTrue(names.contains(stem), "automatic name \(stem) in \(names)")
        }
    }

    // MARK: - The reference's own gradients (Double, step 1e-5, tolerance 1e-6)

    func assertRefGradient(_ name: String, at x: RefTensor<Double>, analytic: [Double], file: StaticString = #filePath, line: UInt = #line,
                           objective: (RefTensor<Double>) -> Double) {
        var probe = x, worst = 0.0
        for i in 0..<x.count {
            probe.data[i] = x.data[i] + 1e-5
            let plus = objective(probe)
            probe.data[i] = x.data[i] - 1e-5
            let minus = objective(probe)
            probe.data[i] = x.data[i]
            let numeric = (plus - minus) / 2e-5
            worst = max(worst, abs(numeric - analytic[i]) / max(abs(numeric), abs(analytic[i]), 1))
        }
        XCTAssertLessThan(worst, 1e-6, "\(name): worst relative gradient error", file: file, line: line)
        XCTAssertTrue(analytic.contains { $0 != 0 }, "\(name): gradient is all zero", file: file, line: line)
    }

    func dot(_ a: RefTensor<Double>, _ b: RefTensor<Double>) -> Double { zip(a.data, b.data).reduce(0) { $0 + $1.0 * $1.1 } }

    func refTensor(_ shape: [Int], _ data: inout TestData, _ low: Float = -1, _ high: Float = 1) -> RefTensor<Double> {
        toRef(data.tensor(shape, low, high))
    }

    func testReferenceGradients() {
        var data = TestData(seed: 121)
        let img = toRef(data.distinct([2, 5, 4, 3], spacing: 0.05))
        for (pool, strides, padding) in [((2, 2), nil, RefPadding.valid), ((3, 3), (2, 2), .same), ((2, 3), (1, 2), .same)] as [((Int, Int), (Int, Int)?, RefPadding)] {
            let r = refTensor(Ref.averagePool2D(img, pool: pool, strides: strides, padding: padding).shape, &data)
            assertRefGradient("averagePool2D \(pool) \(padding)", at: img,
                              analytic: Ref.averagePool2DBackward(inputShape: img.shape, pool: pool, strides: strides, padding: padding, outputGradient: r).data) {
                self.dot(Ref.averagePool2D($0, pool: pool, strides: strides, padding: padding), r)
            }
        }
        let rg = refTensor([2, 3], &data)
        assertRefGradient("globalMaxPool2D", at: img, analytic: Ref.globalMaxPool2DBackward(img, outputGradient: rg).data) {
            self.dot(Ref.globalMaxPool2D($0), rg)
        }
        for bilinear in [false, true] {
            let r = refTensor([2, 10, 12, 3], &data)
            assertRefGradient("upSample2D bilinear \(bilinear)", at: img,
                              analytic: Ref.upSample2DBackward(inputShape: img.shape, size: (2, 3), bilinear: bilinear, outputGradient: r).data) {
                self.dot(Ref.upSample2D($0, size: (2, 3), bilinear: bilinear), r)
            }
        }
        let rc = refTensor([2, 2, 3, 3], &data)
        assertRefGradient("crop2D", at: img, analytic: Ref.crop2DBackward(inputShape: img.shape, top: 1, left: 0, outputGradient: rc).data) {
            self.dot(Ref.crop2D($0, top: 1, bottom: 2, left: 0, right: 1), rc)
        }
        let rp = refTensor([2, 3, 5, 4], &data)
        assertRefGradient("permute", at: img, analytic: Ref.permuteBackward(dims: [3, 1, 2], outputGradient: rp).data) {
            self.dot(Ref.permute($0, dims: [3, 1, 2]), rp)
        }
        let mask: [Double] = [1, 0, 1, 1, 1, 0]
        let rd = refTensor(img.shape, &data)
        assertRefGradient("spatialDropout2D", at: img, analytic: Ref.spatialDropout2D(rd, mask: mask, rate: 0.4).data) {
            self.dot(Ref.spatialDropout2D($0, mask: mask, rate: 0.4), rd)
        }

        // Activations, away from their kinks.
        let x = toRef(activationInput([3, 8], &data)), r = refTensor([3, 8], &data)
        for a in newActivations {
            assertRefGradient(a.rawValue, at: x, analytic: Ref.activationBackward(a.rawValue, input: x, outputGradient: r).data) {
                self.dot(Ref.activation(a.rawValue, $0), r)
            }
        }
        assertRefGradient("leakyRelu", at: x, analytic: Ref.leakyReluBackward(input: x, negativeSlope: 0.2, outputGradient: r).data) {
            self.dot(Ref.leakyRelu($0, negativeSlope: 0.2), r)
        }
        assertRefGradient("elu 0.6", at: x, analytic: Ref.eluBackward(input: x, alpha: 0.6, outputGradient: r).data) {
            self.dot(Ref.elu($0, alpha: 0.6), r)
        }
        let alpha = refTensor([8], &data, 0.1, 0.5)
        let g = Ref.preluBackward(x, alpha: alpha, outputGradient: r)
        assertRefGradient("prelu input", at: x, analytic: g.input.data) { self.dot(Ref.prelu($0, alpha: alpha), r) }
        assertRefGradient("prelu alpha", at: alpha, analytic: g.alpha.data) { self.dot(Ref.prelu(x, alpha: $0), r) }
    }

    /// Hand-computed values: Keras's formulas at a few points.
    func testActivationKnownValues() {
        let x = RefTensor<Double>(shape: [5], data: [-4, -1, 0.5, 2, 4])
        func values(_ name: String) -> [Double] { Ref.activation(name, x).data }
        let tol = 1e-6
        for (a, b) in zip(values("hard_sigmoid"), [0, 1.0 / 3, 3.5 / 6, 5.0 / 6, 1]) { XCTAssertEqual(a, b, accuracy: tol) }
        for (a, b) in zip(values("hard_silu"), [0, -1.0 / 3, 0.5 * 3.5 / 6, 2 * 5.0 / 6, 4]) { XCTAssertEqual(a, b, accuracy: tol) }
        for (a, b) in zip(values("gelu"), [-0.00012668, -0.15865525, 0.34573123, 1.95449974, 3.99987332]) { XCTAssertEqual(a, b, accuracy: tol) }
        for (a, b) in zip(values("selu"), [-1.7258986, -1.1113307, 0.5253505, 2.1014020, 4.2028039]) { XCTAssertEqual(a, b, accuracy: tol) }
        XCTAssertEqual(Activation(kerasName: "swish"), .silu)
        XCTAssertEqual(Activation(kerasName: "hard_swish"), .hardSilu)
        XCTAssertEqual(Activation.swish, .silu)
        XCTAssertEqual(Activation(kerasName: "softmax_v2"), .softmax)
        XCTAssertNil(Activation(kerasName: "mish"))
    }
}
