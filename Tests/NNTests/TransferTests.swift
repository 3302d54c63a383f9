import Foundation
import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

/// Issue 6: the layers MobileNet needs (DepthwiseConv2D, GlobalAveragePooling2D, ZeroPadding2D,
/// Reshape, ReLU with a max value) against the reference and central differences; freezing; head
/// replacement with base weights loaded by name; the closed-form ridge head; MobileNet's structure
/// and Keras's parameter counts; and a safetensors file for the Python check script.
final class TransferTests: XCTestCase {
    let rtol = 1e-4
    let checker = GradientChecker(step: 1e-2, threshold: 1e-2, probes: 20)

    // MARK: - DepthwiseConv2D

    struct DepthwiseCase {
        var label: String
        var n = 2, h = 7, w = 5, c = 3, multiplier = 1
        var kernel = (3, 3), strides = (1, 1)
        var padding = Padding.valid
        var activation = Activation.linear
        var useBias = true
    }

    func checkDepthwise(_ t: DepthwiseCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = DepthwiseConv2D(kernelSize: t.kernel, strides: t.strides, padding: t.padding, depthMultiplier: t.multiplier,
                                    activation: t.activation, useBias: t.useBias)
        try layer.build(inputShape: [t.h, t.w, t.c], seed: seed)
        if let bias = layer.bias { bias.value.assign(data.tensor(bias.value.shape, -0.5, 0.5)) }
        XCTAssertEqual(layer.kernel.value.shape, [t.kernel.0, t.kernel.1, t.c, t.multiplier], t.label, file: file, line: line)
        let rk = toRef(layer.kernel.value), rb = layer.bias.map { toDoubles($0.value) }

        for step in 0..<2 {  // a second step must not accumulate into the first one's gradients
            let x = data.tensor([t.n, t.h, t.w, t.c], -2, 2)
            let y = try layer.forward(x, training: true).copy()
            let rx = toRef(x)
            let z = Ref.depthwiseConv2D(rx, kernel: rk, bias: rb, strides: t.strides, padding: t.padding.ref)
            let ry = z.map { t.activation == .relu6 ? min(max($0, 0), 6) : $0 }
            assertClose(y, ry, rtol: rtol, "\(t.label) step \(step): forward", file: file, line: line)

            let dy = data.tensor(y.shape)
            let dx = try layer.backward(dy)
            var dz = toRef(dy)
            if t.activation == .relu6 { for i in 0..<dz.count where !(z.data[i] > 0 && z.data[i] < 6) { dz.data[i] = 0 } }
            let g = Ref.depthwiseConv2DBackward(rx, kernel: rk, hasBias: t.useBias, strides: t.strides, padding: t.padding.ref,
                                                outputGradient: dz)
            assertClose(dx, g.input, rtol: rtol, "\(t.label) step \(step): input gradient", file: file, line: line)
            assertClose(layer.kernel.gradient, g.kernel, rtol: rtol, "\(t.label) step \(step): kernel gradient", file: file, line: line)
            if let bias = layer.bias {
                assertClose(bias.gradient.elements, g.bias ?? [], rtol: rtol, "\(t.label) step \(step): bias gradient", file: file, line: line)
            }
        }
    }

    func testDepthwiseMatchesReference() throws {
        try checkDepthwise(DepthwiseCase(label: "3x3 valid s1"), seed: 1)
        try checkDepthwise(DepthwiseCase(label: "3x3 same s1, batch 1", n: 1, padding: .same), seed: 2)
        try checkDepthwise(DepthwiseCase(label: "3x3 same s2", strides: (2, 2), padding: .same), seed: 3)
        try checkDepthwise(DepthwiseCase(label: "3x3 valid s2 on 8x8 (MobileNet's padded stride)", h: 8, w: 8, c: 4,
                                         strides: (2, 2)), seed: 4)
        try checkDepthwise(DepthwiseCase(label: "multiplier 2", multiplier: 2, padding: .same), seed: 5)
        try checkDepthwise(DepthwiseCase(label: "multiplier 3, 2x3 s(2,1), no bias", c: 2, multiplier: 3, kernel: (2, 3),
                                         strides: (2, 1), padding: .same, useBias: false), seed: 6)
        try checkDepthwise(DepthwiseCase(label: "1x1 kernel", c: 5, kernel: (1, 1)), seed: 7)
        try checkDepthwise(DepthwiseCase(label: "relu6", c: 4, padding: .same, activation: .relu6), seed: 8)
    }

    /// Depth multiplier 1 runs CKernels' channel blocks of 64, 32, 16 and 8 and a scalar tail: 123 = 64 + 32 + 16 + 8 + 3
    /// channels takes each once, with strides and kernels where several taps, or none, read an input pixel.
    func testDepthwiseChannelBlocksMatchReference() throws {
        try checkDepthwise(DepthwiseCase(label: "123 channels, 3x3 same s1", h: 6, w: 5, c: 123, padding: .same), seed: 21)
        try checkDepthwise(DepthwiseCase(label: "123 channels, 5x4 same s(3,2)", h: 11, w: 9, c: 123, kernel: (5, 4),
                                         strides: (3, 2), padding: .same), seed: 22)
        try checkDepthwise(DepthwiseCase(label: "56 channels, 2x2 valid s3 (pixels no tap reads)", h: 8, w: 8, c: 56, kernel: (2, 2),
                                         strides: (3, 3), useBias: false), seed: 23)
        try checkDepthwise(DepthwiseCase(label: "16 channels, 3x3 same s2, relu6", n: 3, h: 9, w: 10, c: 16, strides: (2, 2),
                                         padding: .same, activation: .relu6), seed: 24)
        // One channel short of each block (the block test must not admit it), and a kernel larger
        // than the image, so every output pixel's taps start inside the padding.
        try checkDepthwise(DepthwiseCase(label: "63 channels, 7x7 same on 3x4", h: 3, w: 4, c: 63, kernel: (7, 7),
                                         padding: .same), seed: 25)
        try checkDepthwise(DepthwiseCase(label: "31 channels, 3x3 same s2", h: 7, w: 6, c: 31, strides: (2, 2),
                                         padding: .same), seed: 26)
        try checkDepthwise(DepthwiseCase(label: "15 channels, 4x3 valid", h: 6, w: 7, c: 15, kernel: (4, 3)), seed: 27)
    }

    /// A batch large enough to be split across cores (per-worker kernel-gradient buffers).
    func testDepthwiseParallelBatchMatchesReference() throws {
        try checkDepthwise(DepthwiseCase(label: "parallel 16x16x32, batch 9", n: 9, h: 16, w: 16, c: 32, padding: .same), seed: 9)
        try checkDepthwise(DepthwiseCase(label: "parallel multiplier 2, s2", n: 5, h: 17, w: 17, c: 24, multiplier: 2,
                                         strides: (2, 2)), seed: 10)
    }

    /// As a model's first layer it skips its input gradient; the kernel gradient is unchanged.
    func testDepthwiseFirstLayerSkipsInputGradient() throws {
        var data = TestData(seed: 12)
        for multiplier in [1, 2] {
            let layer = DepthwiseConv2D(kernelSize: 3, padding: .same, depthMultiplier: multiplier)
            try layer.build(inputShape: [5, 5, 19], seed: 1)
            let x = data.tensor([2, 5, 5, 19]), dy = data.tensor([2, 5, 5, 19 * multiplier])
            _ = try layer.forward(x, training: true)
            _ = try layer.backward(dy)
            let full = layer.kernel.gradient.copy()
            layer.computesInputGradient = false
            _ = try layer.forward(x, training: true)
            XCTAssertEqual(try layer.backward(dy).count, 0, "multiplier \(multiplier)")
            XCTAssertEqual(layer.kernel.gradient.elements, full.elements, "multiplier \(multiplier)")
        }
    }

    func testGradientCheckDepthwise() throws {
        var data = TestData(seed: 11)
        for (label, m, s, p) in [("s1 same", 1, 1, Padding.same), ("s2 valid, multiplier 2", 2, 2, .valid)] {
            let layer = DepthwiseConv2D(kernelSize: 3, strides: s, padding: p, depthMultiplier: m)
            try layer.build(inputShape: [6, 5, 3], seed: 3)
            layer.bias!.value.assign(data.tensor(layer.bias!.value.shape, -0.5, 0.5))
            try checker.check(layer, input: data.tensor([2, 6, 5, 3]), "DepthwiseConv2D \(label)")
        }
    }

    func testDepthwiseShapeErrors() throws {
        XCTAssertThrowsError(try DepthwiseConv2D(kernelSize: 5).build(inputShape: [3, 3, 2])) {
            XCTAssertTrue("\($0)".contains("does not fit"), "\($0)")
        }
        XCTAssertThrowsError(try DepthwiseConv2D(kernelSize: 3, depthMultiplier: 0).build(inputShape: [8, 8, 2]))
        XCTAssertThrowsError(try DepthwiseConv2D(kernelSize: 3).build(inputShape: [8, 2]))
    }

    // MARK: - GlobalAveragePooling2D, ZeroPadding2D, Reshape, ReLU

    func testGlobalAveragePoolingMatchesReference() throws {
        var data = TestData(seed: 20)
        for keepdims in [false, true] {
            let layer = GlobalAveragePooling2D(keepdims: keepdims)
            try layer.build(inputShape: [4, 3, 5])
            XCTAssertEqual(layer.outputShape, keepdims ? [1, 1, 5] : [5])
            let x = data.tensor([3, 4, 3, 5])
            let y = try layer.forward(x).copy()
            assertClose(y, Ref.globalAveragePool2D(toRef(x), keepdims: keepdims), rtol: rtol, "GAP keepdims \(keepdims): forward")
            let dy = data.tensor(y.shape)
            let dx = try layer.backward(dy)
            assertClose(dx, Ref.globalAveragePool2DBackward(inputShape: x.shape, outputGradient: toRef(dy)), rtol: rtol,
                        "GAP keepdims \(keepdims): input gradient")
            try checker.check(layer, input: data.tensor([2, 4, 3, 5]), "GlobalAveragePooling2D keepdims \(keepdims)")
        }
    }

    func testZeroPaddingMatchesReference() throws {
        var data = TestData(seed: 21)
        let layer = ZeroPadding2D(padding: ((0, 1), (2, 1)))
        try layer.build(inputShape: [3, 4, 2])
        XCTAssertEqual(layer.outputShape, [4, 7, 2])
        let x = data.tensor([2, 3, 4, 2])
        let y = try layer.forward(x).copy()
        assertClose(y, Ref.zeroPad2D(toRef(x), top: 0, bottom: 1, left: 2, right: 1), rtol: 0, "ZeroPadding2D forward")
        let dy = data.tensor(y.shape)
        assertClose(try layer.backward(dy), Ref.zeroPad2DBackward(inputShape: x.shape, top: 0, left: 2, outputGradient: toRef(dy)),
                    rtol: 0, "ZeroPadding2D input gradient")
        try checker.check(layer, input: data.tensor([2, 3, 4, 2]), "ZeroPadding2D")
        XCTAssertThrowsError(try ZeroPadding2D(padding: ((-1, 0), (0, 0))).build(inputShape: [3, 3, 1]))

        // A batch large enough to split over two threads (ImageWindow's parts), twice through the same
        // buffers, spoiled in between as a memory plan's sharing would: every float must be written again.
        let savedThreads = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = savedThreads }
        let big = ZeroPadding2D(padding: ((2, 1), (1, 3)))
        for pass in 0..<2 {
            let x = data.tensor([5, 30, 29, 8])
            let y = try big.forward(x, training: true)
            assertClose(y, Ref.zeroPad2D(toRef(x), top: 2, bottom: 1, left: 1, right: 3), rtol: 0, "ZeroPadding2D forward, batch 5, pass \(pass)")
            let dy = data.tensor(y.shape)
            let dx = try big.backward(dy)
            assertClose(dx, Ref.zeroPad2DBackward(inputShape: x.shape, top: 2, left: 1, outputGradient: toRef(dy)),
                        rtol: 0, "ZeroPadding2D input gradient, batch 5, pass \(pass)")
            y.fill(.nan); dx.fill(.nan)
        }
    }

    func testReshape() throws {
        var data = TestData(seed: 22)
        let layer = Reshape([-1, 6])
        try layer.build(inputShape: [1, 1, 12])
        XCTAssertEqual(layer.outputShape, [2, 6])
        let x = data.tensor([3, 1, 1, 12])
        let y = try layer.forward(x)
        XCTAssertEqual(y.shape, [3, 2, 6])
        XCTAssertEqual(y.elements, x.elements)
        let dx = try layer.backward(data.tensor([3, 2, 6]))
        XCTAssertEqual(dx.shape, [3, 1, 1, 12])
        try checker.check(layer, input: x, "Reshape")
        XCTAssertThrowsError(try Reshape([5]).build(inputShape: [2, 3])) { XCTAssertTrue("\($0)".contains("cannot reshape"), "\($0)") }
        XCTAssertThrowsError(try Reshape([-1, -1]).build(inputShape: [2, 3]))
    }

    func testReLUWithMaxValueMatchesReference() throws {
        var data = TestData(seed: 23)
        let layer = ReLU(maxValue: 6)
        try layer.build(inputShape: [10])
        let x = data.tensor([4, 10], -9, 9)
        let y = try layer.forward(x).copy()
        XCTAssertEqual(y.elements.max()!, 6)
        assertClose(y, Ref.relu(toRef(x), maxValue: 6.0), rtol: 0, "ReLU6 forward")
        let dy = data.tensor(y.shape)
        assertClose(try layer.backward(dy), Ref.reluBackward(input: toRef(x), maxValue: 6.0, outputGradient: toRef(dy)),
                    rtol: 0, "ReLU6 input gradient")
        try checker.check(layer, input: data.tensor([4, 10], -9, 9), kinks: true, "ReLU(maxValue: 6)")

        let plain = ReLU()
        try plain.build(inputShape: [10])
        assertClose(try plain.forward(x), Ref.relu(toRef(x)), rtol: 0, "ReLU forward")
        XCTAssertThrowsError(try ReLU(maxValue: 0).build(inputShape: [3]))

        // Any other positive cap (Keras max_value) is the same function and gradient.
        let capped = ReLU(maxValue: 2.5)
        try capped.build(inputShape: [10])
        let yc = try capped.forward(x).copy()
        XCTAssertEqual(yc.elements.max()!, 2.5)
        assertClose(yc, Ref.relu(toRef(x), maxValue: 2.5), rtol: 0, "ReLU(2.5) forward")
        assertClose(try capped.backward(dy), Ref.reluBackward(input: toRef(x), maxValue: 2.5, outputGradient: toRef(dy)),
                    rtol: 0, "ReLU(2.5) input gradient")
        try checker.check(capped, input: data.tensor([4, 10], -9, 9), kinks: true, "ReLU(maxValue: 2.5)")
    }

    /// The new reference functions against central differences in Double.
    func testNewReferenceGradients() {
        var rng = RandomGenerator(seed: 24)
        func tensor(_ shape: [Int]) -> RefTensor<Double> {
            RefTensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Double(rng.uniform(-1, 1)) })
        }
        func check(_ name: String, _ x: RefTensor<Double>, analytic: RefTensor<Double>, _ f: (RefTensor<Double>) -> Double) {
            var worst = 0.0, probe = x
            for i in 0..<x.count {
                probe.data[i] = x.data[i] + 1e-6; let plus = f(probe)
                probe.data[i] = x.data[i] - 1e-6; let minus = f(probe)
                probe.data[i] = x.data[i]
                let numeric = (plus - minus) / 2e-6
                worst = max(worst, abs(numeric - analytic.data[i]) / max(abs(numeric), abs(analytic.data[i]), 1))
            }
            XCTAssertLessThan(worst, 1e-7, name)
        }
        func dot(_ a: RefTensor<Double>, _ b: RefTensor<Double>) -> Double { zip(a.data, b.data).reduce(0) { $0 + $1.0 * $1.1 } }

        let x = tensor([2, 3, 4, 2])
        let r = tensor([2, 1, 1, 2])
        check("GAP", x, analytic: Ref.globalAveragePool2DBackward(inputShape: x.shape, outputGradient: r)) {
            dot(Ref.globalAveragePool2D($0, keepdims: true), r)
        }
        let rp = tensor([2, 5, 5, 2])
        check("zero padding", x, analytic: Ref.zeroPad2DBackward(inputShape: x.shape, top: 1, left: 0, outputGradient: rp)) {
            dot(Ref.zeroPad2D($0, top: 1, bottom: 1, left: 0, right: 1), rp)
        }
        let big = x.map { $0 * 8 }  // kinks at 0 and 6 are at least 1e-6 away for these values
        let rr = tensor(x.shape)
        check("relu6", big, analytic: Ref.reluBackward(input: big, maxValue: 6, outputGradient: rr)) {
            dot(Ref.relu($0, maxValue: 6), rr)
        }
    }

    // MARK: - Freezing

    /// A small model with every kind of parameter: conv kernel + bias (with L2), BN's four, dense.
    func smallModel(seed: UInt64 = 1, headUnits: Int = 3, headName: String = "head") throws -> Model {
        try Sequential(inputShape: [6, 6, 2], layers: [
            Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .relu, kernelL2: 1e-2, name: "conv"),
            BatchNormalization(name: "bn"),
            DepthwiseConv2D(kernelSize: 3, strides: 2, padding: .same, name: "dw"),
            ReLU(maxValue: 6, name: "relu6"),
            GlobalAveragePooling2D(name: "gap"),
            Dense(units: 8, activation: .relu, name: "features"),
            Dense(units: headUnits, activation: .softmax, name: headName),
        ], seed: seed)
    }

    func blobs(_ n: Int, classes: Int = 3, seed: UInt64) -> (Tensor, Tensor) {
        var data = TestData(seed: seed)
        let labels = data.labels(n, classes: classes)
        let x = data.tensor([n, 6, 6, 2], -0.5, 0.5)
        for (i, l) in labels.enumerated() { for j in 0..<72 where j % 3 == l { x[flat: i * 72 + j] += 1 } }
        return (x, labelTensor(labels))
    }

    func bits(_ t: Tensor) -> [UInt32] { t.elements.map(\.bitPattern) }

    func testFrozenLayersAreBitIdenticalAfterFit() throws {
        let model = try smallModel()
        try model.freeze(0..<3)  // conv (with L2), bn, dw
        XCTAssertEqual(model.frozenLayerNames, ["conv", "bn", "dw"])
        let frozen = model.layers[0..<3].flatMap(\.parameters)
        let before = frozen.map { bits($0.value) }
        let headBefore = model.layers.last!.parameters.map { $0.value.copy() }
        let (x, y) = blobs(64, seed: 2)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        try model.fit(x: x, y: y, batchSize: 16, epochs: 3, verbose: .silent)
        for (p, b) in zip(frozen, before) { XCTAssertEqual(bits(p.value), b, "frozen parameter \(p.name) changed") }
        // The frozen BatchNormalization's moving statistics did not move either (checked above), and the head trained.
        XCTAssertNotEqual(model.layers.last!.parameters[0].value.elements, headBefore[0].elements)

        // Unfrozen, the same fit changes them all.
        try model.unfreeze()
        try model.fit(x: x, y: y, batchSize: 16, epochs: 1, verbose: .silent)
        for (p, b) in zip(frozen, before) { XCTAssertNotEqual(bits(p.value), b, "unfrozen parameter \(p.name) did not train") }
    }

    func testFrozenBatchNormRunsInInferenceMode() throws {
        var data = TestData(seed: 30)
        let bn = BatchNormalization()
        try bn.build(inputShape: [4])
        bn.movingMean.value.assign(data.tensor([4]))
        bn.movingVariance.value.assign(data.tensor([4], 0.5, 2))
        bn.trainable = false
        let mean = bits(bn.movingMean.value), variance = bits(bn.movingVariance.value)
        let x = data.tensor([8, 4], -3, 3)
        let training = try bn.forward(x, training: true).copy()
        let inference = try bn.forward(x, training: false).copy()
        XCTAssertEqual(bits(training), bits(inference))
        XCTAssertEqual(bits(bn.movingMean.value), mean)
        XCTAssertEqual(bits(bn.movingVariance.value), variance)
    }

    func testSummaryCountsFrozenParametersAsNonTrainable() throws {
        let model = try smallModel()
        let total = model.parameterCount
        // conv 3·3·2·4 + 4 = 76, bn 16 (8 trainable), dw 3·3·4 + 4 = 40, features 4·8 + 8 = 40, head 8·3 + 3 = 27.
        XCTAssertEqual(total, 76 + 16 + 40 + 40 + 27)
        XCTAssertEqual(model.trainableParameterCount, total - 8)
        try model.freeze(through: "bn")
        XCTAssertEqual(model.trainableParameterCount, 40 + 40 + 27)
        XCTAssertTrue(model.summary().contains("Non-trainable params: \(total - 107) "), model.summary())
        XCTAssertEqual(try model.setTrainable(true, namePrefix: "b"), 1)
        XCTAssertEqual(model.trainableParameterCount, 8 + 40 + 40 + 27)
        XCTAssertThrowsError(try model.freeze(through: "nope")) { XCTAssertTrue("\($0)".contains("'nope'"), "\($0)") }
        XCTAssertThrowsError(try model.setTrainable(false, namePrefix: "zzz"))
        XCTAssertThrowsError(try model.freeze(0..<99))
    }

    // MARK: - Replacing the head

    func testReplacedHeadLoadsBaseAndGivesSameFeatures() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("transfer-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try smallModel(seed: 1)
        let (x, y) = blobs(48, seed: 3)
        source.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy())
        try source.fit(x: x, y: y, batchSize: 16, epochs: 2, verbose: .silent)  // moves BN statistics too
        try source.saveWeights(to: path)

        let target = try smallModel(seed: 99)
        try target.replaceHead(with: [Dense(units: 5, activation: .softmax, name: "new_head")])
        XCTAssertEqual(target.layers.map(\.name).suffix(2), ["features", "new_head"])
        XCTAssertEqual(target.outputShape, [5])
        let headBefore = bits(target.layers.last!.parameters[0].value)
        let (loaded, kept) = try target.loadBaseWeights(from: path)
        XCTAssertEqual(kept, ["new_head.kernel", "new_head.bias"])
        XCTAssertEqual(loaded.count, source.namedParameters.count - 2)
        XCTAssertEqual(bits(target.layers.last!.parameters[0].value), headBefore, "the new head keeps its initialization")
        XCTAssertEqual(bits(try target.features(x)), bits(try source.features(x)), "same base, same features")

        // A base layer whose shape differs is named in the error, and nothing is loaded.
        let wrong = try Sequential(inputShape: [6, 6, 2], layers: [
            Conv2D(filters: 5, kernelSize: 3, padding: .same, name: "conv"), Flatten(), Dense(units: 2, name: "other"),
        ])
        let convBefore = bits(wrong.layers[0].parameters[0].value)
        XCTAssertThrowsError(try wrong.loadBaseWeights(from: path)) {
            XCTAssertTrue("\($0)".contains("'conv.kernel'") && "\($0)".contains("[3, 3, 2, 4]"), "\($0)")
        }
        XCTAssertEqual(bits(wrong.layers[0].parameters[0].value), convBefore)
        // A model sharing no tensor name with the file is refused.
        let unrelated = try Sequential(inputShape: [3], layers: [Dense(units: 2, name: "x")])
        XCTAssertThrowsError(try unrelated.loadBaseWeights(from: path))
    }

    func testFitHeadTrainsOnlyTheHeadOnInferenceFeatures() throws {
        let model = try smallModel(seed: 8)
        let (x, y) = blobs(90, seed: 9)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        try model.fit(x: x, y: y, batchSize: 16, epochs: 2, verbose: .silent)
        try model.replaceHead(with: [Dense(units: 3, activation: .softmax, name: "new_head")])
        let base = model.layers.dropLast().flatMap(\.parameters), before = base.map { bits($0.value) }
        let featuresBefore = bits(try model.features(x))
        let history = try model.fitHead(x: x, y: y, optimizer: Adam(learningRate: 0.05), loss: SparseCategoricalCrossentropy(),
                                        batchSize: 16, epochs: 40)
        XCTAssertEqual(history.epochs.count, 40)
        for (p, b) in zip(base, before) { XCTAssertEqual(bits(p.value), b, "base parameter \(p.name) changed") }
        XCTAssertEqual(bits(try model.features(x)), featuresBefore)
        XCTAssertTrue(model.layers.allSatisfy { $0.workspace === model.workspace })
        XCTAssertTrue(model.activationFusedWithLoss)
        XCTAssertGreaterThan(try model.evaluate(x: x, y: y).accuracy ?? 0, 0.9)
        XCTAssertThrowsError(try model.fitHead(0, x: x, y: y, optimizer: SGD(), loss: SparseCategoricalCrossentropy()))
    }

    func testRecomputedBatchNormStatisticsAreThoseOfItsInput() throws {
        let model = try Sequential(inputShape: [6, 6, 2], layers: [
            Conv2D(filters: 3, kernelSize: 3, activation: .relu, name: "conv"), BatchNormalization(name: "bn1"),
            Dropout(rate: 0.5), Flatten(), Dense(units: 4, name: "dense"), BatchNormalization(name: "bn2"),
            Dense(units: 2, activation: .softmax, name: "head"),
        ], seed: 3)
        let (x, _) = blobs(37, seed: 13)
        try model.recomputeBatchNormStatistics(x, batchSize: 10)
        for (index, name) in [(1, "bn1"), (5, "bn2")] {
            let input = try model.features(x, layers: index)
            let bn = model.layer(named: name) as! BatchNormalization
            let c = input.shape.last!, rows = input.count / c
            for j in 0..<c {
                let values = (0..<rows).map { Double(input[flat: $0 * c + j]) }
                let mean = values.reduce(0, +) / Double(rows)
                let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rows)
                XCTAssertEqual(Double(bn.movingMean.value[flat: j]), mean, accuracy: 1e-5 * max(1, abs(mean)), "\(name) mean \(j)")
                XCTAssertEqual(Double(bn.movingVariance.value[flat: j]), variance, accuracy: 1e-4 * max(1, variance), "\(name) variance \(j)")
            }
        }
        // Inference through the first BN now gives each channel mean ≈ β = 0 and variance ≈ 1 − ε-ish.
        let normalized = try model.features(x, layers: 2)
        let c = 3, rows = normalized.count / c
        for j in 0..<c {
            let mean = (0..<rows).reduce(0.0) { $0 + Double(normalized[flat: $1 * c + j]) } / Double(rows)
            XCTAssertEqual(mean, 0, accuracy: 1e-4)
        }
    }

    func testReplaceHeadFailureLeavesModelUnchanged() throws {
        let model = try smallModel()
        let names = model.layers.map(\.name)
        XCTAssertThrowsError(try model.replaceHead(dropping: 2, with: [Dense(units: 4, name: "conv")]))  // duplicate name
        XCTAssertEqual(model.layers.map(\.name), names)
        XCTAssertThrowsError(try model.dropHead(99))
        XCTAssertEqual(try model.dropHead(2).map(\.name), ["features", "head"])
        XCTAssertEqual(model.outputShape, [4])
    }

    // MARK: - Ridge head

    /// x = 1, 2, 3 and y = 2, 4, 6 with λ = 2 (bias not penalized): centred Sxx = 2, Sxy = 4, so
    /// w = Sxy / (Sxx + λ) = 1 and b = ȳ − w·x̄ = 4 − 2 = 2. With λ = 0 the fit is exact: w = 2, b = 0.
    func testRidgeSolvesKnownSmallProblem() throws {
        let x = Tensor(shape: [3, 1], elements: [1, 2, 3]), y = Tensor(shape: [3, 1], elements: [2, 4, 6])
        for solver in RidgeHead.Solver.allCases {
            let ridge = try RidgeHead.solve(features: x, targets: y, lambda: 2, solver: solver)
            XCTAssertEqual(ridge.kernel[0, 0], 1, accuracy: 1e-5, "\(solver)")
            XCTAssertEqual(ridge.bias[0], 2, accuracy: 1e-5, "\(solver)")
            let exact = try RidgeHead.solve(features: x, targets: y, lambda: 0, solver: solver)
            XCTAssertEqual(exact.kernel[0, 0], 2, accuracy: 1e-5, "\(solver)")
            XCTAssertEqual(exact.bias[0], 0, accuracy: 1e-5, "\(solver)")
        }
    }

    func testRidgeRecoversLinearMapAndSolversAgree() throws {
        var data = TestData(seed: 40)
        let (n, d, k) = (40, 6, 3)
        let x = data.tensor([n, d]), w = data.tensor([d, k]), b = data.tensor([k])
        let y = Tensor(shape: [n, k])
        for i in 0..<n { for j in 0..<k {
            var s = b[j]
            for t in 0..<d { s += x[i, t] * w[t, j] }
            y[i, j] = s
        }}
        for solver in RidgeHead.Solver.allCases {
            let fit = try RidgeHead.solve(features: x, targets: y, lambda: 0, solver: solver)
            assertClose(fit.kernel, toRef(w), rtol: 1e-4, "\(solver) kernel")
            assertClose(fit.bias.elements, toDoubles(b), rtol: 1e-4, "\(solver) bias")
        }
        let a = try RidgeHead.solve(features: x, targets: y, lambda: 0.5, solver: .cholesky)
        let q = try RidgeHead.solve(features: x, targets: y, lambda: 0.5, solver: .leastSquares)
        assertClose(a.kernel, toRef(q.kernel), rtol: 1e-4, "solvers agree with λ")
        XCTAssertGreaterThan(abs(a.kernel[0, 0] - w[0, 0]), 1e-4, "λ shrinks the weights")
        // More features than samples: the Cholesky solver switches to the N×N dual system and must
        // still agree with QR on the stacked least-squares problem.
        let wide = data.tensor([7, 30]), wideY = data.tensor([7, 2])
        let dual = try RidgeHead.solve(features: wide, targets: wideY, lambda: 0.3, solver: .cholesky)
        let stacked = try RidgeHead.solve(features: wide, targets: wideY, lambda: 0.3, solver: .leastSquares)
        assertClose(dual.kernel, toRef(stacked.kernel), rtol: 1e-4, "dual kernel")
        assertClose(dual.bias.elements, toDoubles(stacked.bias), rtol: 1e-4, "dual bias")
        // A singular system without λ (a feature that is always 0): Cholesky reports it, naming sposv.
        let zero = Tensor(shape: [3, 1])
        XCTAssertThrowsError(try RidgeHead.solve(features: zero, targets: Tensor(shape: [3, 1], elements: [1, 2, 3]), lambda: 0)) {
            XCTAssertTrue("\($0)".contains("sposv"), "\($0)")
        }
        XCTAssertThrowsError(try RidgeHead.solve(features: x, targets: y, lambda: -1))
        XCTAssertThrowsError(try RidgeHead.solve(features: x, targets: Tensor(shape: [n + 1, k]), lambda: 1))
    }

    func testRidgeHeadClassifiesFrozenFeatures() throws {
        let model = try smallModel(seed: 5)
        let (x, y) = blobs(90, seed: 6)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        try model.fit(x: x, y: y, batchSize: 16, epochs: 5, verbose: .silent)
        let features = try model.features(x)
        XCTAssertEqual(features.shape, [90, 8])
        let head = try RidgeHead.fit(features: features, labels: y, classes: 3, lambda: 0.1, name: "ridge")
        try model.replaceHead(with: [head])
        let accuracy = try model.evaluate(x: x, y: y).accuracy ?? 0
        XCTAssertGreaterThan(accuracy, 0.9)
        XCTAssertThrowsError(try RidgeHead.fit(features: features, labels: Tensor(shape: [90], repeating: 3), classes: 3))
    }

    // MARK: - MobileNet

    func testMobileNetKerasParameterCounts() throws {
        let model = try MobileNet.build(inputShape: [224, 224, 3], classes: 1000)
        XCTAssertEqual(model.parameterCount, 4_253_864)
        XCTAssertEqual(model.trainableParameterCount, 4_231_976)
        let summary = model.summary()
        XCTAssertTrue(summary.contains("Total params: 4,253,864"), summary)
        XCTAssertTrue(summary.contains("Trainable params: 4,231,976"), summary)
        XCTAssertTrue(summary.contains("Non-trainable params: 21,888"), summary)
        let zoo = try ModelZoo.build("mobilenet", inputShape: [224, 224, 3], classes: 1000)
        XCTAssertEqual(zoo.parameterCount, 4_253_864)

        let names = model.layers.map(\.name)
        XCTAssertEqual(Array(names.prefix(4)), ["conv1", "conv1_bn", "conv1_relu", "conv_dw_1"])
        XCTAssertEqual(Array(names.suffix(5)), ["global_average_pooling2d", "dropout", "conv_preds", "reshape_2", "predictions"])
        XCTAssertEqual(names.filter { $0.hasPrefix("conv_pad_") }, ["conv_pad_2", "conv_pad_4", "conv_pad_6", "conv_pad_12"])
        XCTAssertEqual(model.layer(named: "conv_pw_13_relu")?.outputShape, [7, 7, 1024])
        XCTAssertEqual(model.layer(named: "conv1")?.outputShape, [112, 112, 32])
        // Every pointwise convolution takes the no-im2col GEMM path.
        let pointwise = model.layers.compactMap { $0 as? Conv2D }.filter { $0.name.hasPrefix("conv_pw_") || $0.name == "conv_preds" }
        XCTAssertEqual(pointwise.count, 14)
        XCTAssertTrue(pointwise.allSatisfy { $0.geometry.isPointwise })
    }

    func testMobileNetOnSmallInputs() throws {
        let model = try MobileNet.build(inputShape: [28, 28, 1], alpha: 0.25, classes: 10, seed: 3)
        XCTAssertEqual(model.layer(named: "conv1")?.outputShape, [28, 28, 8])
        XCTAssertEqual(model.layer(named: "conv_dw_2")?.outputShape, [14, 14, 16])
        XCTAssertEqual(model.layer(named: "conv_pw_13")?.outputShape, [1, 1, 256])
        XCTAssertEqual(model.outputShape, [10])
        var data = TestData(seed: 7)
        let x = data.tensor([3, 28, 28, 1], 0, 1)
        let p = try model.predict(x)
        for i in 0..<3 { XCTAssertEqual((0..<10).reduce(0) { $0 + p[i, $1] }, 1, accuracy: 1e-5) }
        model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let step = try model.trainStep(x: x, y: labelTensor([1, 2, 3]))
        XCTAssertTrue(step.loss.isFinite)

        // 32×32 is Keras's smallest: its own stride-2 conv1, ending at 1×1; no top gives the feature map.
        let base = try MobileNet.build(inputShape: [32, 32, 3], alpha: 0.5, includeTop: false, pooling: .average)
        XCTAssertEqual(base.layer(named: "conv1")?.outputShape, [16, 16, 16])
        XCTAssertEqual(base.outputShape, [512])
        XCTAssertEqual(try MobileNet.build(inputShape: [64, 64, 3], depthMultiplier: 2, includeTop: false).outputShape, [2, 2, 1024])
        XCTAssertThrowsError(try MobileNet.build(inputShape: [8, 8, 1]))
    }

    // MARK: - Safetensors for Python

    /// Writes a trained model's weights and tensors of edge-case values, plus the expected bit
    /// patterns as JSON, for `scripts/check-safetensors-python` (into $NN_SAFETENSORS_CHECK_DIR when
    /// set, else a temporary directory), and checks our own reader gives back the same bits.
    func testWritesSafetensorsForPythonCheck() throws {
        let directory = ProcessInfo.processInfo.environment["NN_SAFETENSORS_CHECK_DIR"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["NN_SAFETENSORS_CHECK_DIR"] == nil { try? FileManager.default.removeItem(atPath: directory) } }

        let model = try MobileNet.build(inputShape: [28, 28, 1], alpha: 0.25, classes: 10, seed: 11)
        var data = TestData(seed: 12)
        model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
        try model.fit(x: data.tensor([8, 28, 28, 1], 0, 1), y: labelTensor(data.labels(8, classes: 10)), batchSize: 4, epochs: 1,
                      verbose: .silent)
        let special: [Float] = [0, -0.0, 1, -1, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                                .infinity, -.infinity, .nan, 1 / 3, Float(bitPattern: 0x7FC0_1234), .pi]
        let files: [(String, [(name: String, tensor: Tensor)])] = [
            ("model.safetensors", model.namedParameters.map { ($0.name, $0.parameter.value) }),
            ("special.safetensors", [("special", Tensor(shape: [special.count], elements: special)),
                                     ("empty", Tensor(shape: [0, 3])), ("scalar", Tensor(shape: [], elements: [42]))]),
        ]
        var expected: [String: Any] = [:]
        for (file, tensors) in files {
            let path = directory + "/" + file
            if file == "model.safetensors" {
                try model.saveWeights(to: path)
            } else {
                try SafeTensors.save(tensors, metadata: ["source": "NN TransferTests"], to: path)
            }
            let back = try SafeTensors.load(path)
            var entries: [String: Any] = [:]
            for (name, t) in tensors {
                XCTAssertEqual(back[name].map(bits), bits(t), "\(file) \(name)")
                entries[name] = ["shape": t.shape, "bits": bits(t).map(Int.init)]
            }
            expected[file] = entries
        }
        let json = try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys])
        try json.write(to: URL(fileURLWithPath: directory + "/expected.json"))
    }
}

/// `cnn transfer` and `cnn summary --model mobilenet` run as subprocesses (on a tiny MNIST-format
/// directory for transfer: 10 classes told apart by a bright band's row).
final class TransferCLITests: XCTestCase {
    private var work = ""

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("nn-transfer-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: work) }

    private func cnn(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let run = try CNNProcess.run(arguments)
        XCTAssertFalse(run.timedOut, "cnn \(arguments.joined(separator: " ")) timed out")
        return (run.status, run.all)
    }

    private func makeData() throws -> String {
        let dir = work + "/data"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: 5)
        func images(_ n: Int) -> ([UInt8], [UInt8]) {
            var pixels = [UInt8](repeating: 0, count: n * 784), labels = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                labels[i] = UInt8(i % 10)
                for r in 0..<28 { for c in 0..<28 {
                    pixels[i * 784 + r * 28 + c] = r / 2 == i % 10 + 2 ? 200 + UInt8(rng.next() % 56) : UInt8(rng.next() % 40)
                }}
            }
            return (pixels, labels)
        }
        let (trainX, trainY) = images(200), (testX, testY) = images(50)
        try IDXFile.write(trainX, dimensions: [200, 28, 28], to: dir + "/" + DataSets.trainImagesFile)
        try IDXFile.write(trainY, dimensions: [200], to: dir + "/" + DataSets.trainLabelsFile)
        try IDXFile.write(testX, dimensions: [50, 28, 28], to: dir + "/" + DataSets.testImagesFile)
        try IDXFile.write(testY, dimensions: [50], to: dir + "/" + DataSets.testLabelsFile)
        return dir
    }

    func testSummaryOfMobileNetMatchesKeras() throws {
        let run = try cnn(["summary", "--model", "mobilenet", "--input-shape", "224x224x3", "--classes", "1000"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("Total params: 4,253,864 (16.23 MB)"), run.output)
        XCTAssertTrue(run.output.contains("Trainable params: 4,231,976 (16.14 MB)"), run.output)
        XCTAssertTrue(run.output.contains("conv_pad_12 (ZeroPadding2D)"), run.output)
        let bad = try cnn(["summary", "--model", "mobilenet", "--input-shape", "224x224"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("--input-shape"), bad.output)
    }

    func testTransferWritesAllAccuraciesAsJSON() throws {
        let data = try makeData()
        for (base, head) in [("deep-convnet", "sgd"), ("mobilenet", "ridge")] {
            let json = work + "/\(base).json", weights = work + "/\(base).safetensors"
            let run = try cnn(["transfer", "--data", data, "--base", base, "--head", head, "--labels-per-class", "5",
                               "--pretrain-epochs", "1", "--epochs", "2", "--fine-tune-epochs", "1", "--json", json, "--save-base", weights])
            XCTAssertEqual(run.status, 0, run.output)
            XCTAssertTrue(run.output.contains("(c) fine-tuned after (b)"), run.output)
            XCTAssertTrue(FileManager.default.fileExists(atPath: weights))
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            XCTAssertEqual(object?["labels_per_class"] as? Int, 5)
            for key in ["scratch", "frozen", "fine_tuned", "ridge"] {
                let value = object?[key] as? Double ?? -1
                XCTAssertTrue(value >= 0 && value <= 1, "\(base) \(key) = \(value)")
            }
            XCTAssertNotNil((object?["timings"] as? [String: Any])?["ridge_solve_seconds"])

            // A saved base loads again without pretraining; a base of the other kind is refused by name.
            let again = try cnn(["transfer", "--data", data, "--base", base, "--load-base", weights, "--labels-per-class", "5",
                                 "--epochs", "1", "--fine-tune-epochs", "0"])
            XCTAssertEqual(again.status, 0, again.output)
        }
        let mismatched = try cnn(["transfer", "--data", data, "--base", "mobilenet", "--load-base", work + "/deep-convnet.safetensors",
                                  "--labels-per-class", "5", "--epochs", "1"])
        XCTAssertNotEqual(mismatched.status, 0)
        XCTAssertTrue(mismatched.output.contains("error:"), mismatched.output)
        let badHead = try cnn(["transfer", "--head", "lasso"])
        XCTAssertNotEqual(badHead.status, 0)
        XCTAssertTrue(badHead.output.contains("--head"), badHead.output)
    }
}
