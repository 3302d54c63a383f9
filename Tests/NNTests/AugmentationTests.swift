import Foundation
import XCTest
import NN
import NNKeras
import NNReference

/// Keras's preprocessing and augmentation layers: the oracle (the engine replays against the plain
/// loops of NNReference with the parameters it drew), gradient checks, identity at inference,
/// seeding and checkpointed generator state, buffer reuse, errors, and `.keras` round trips.
final class AugmentationTests: TemporaryDirectoryTestCase {
    let checker = GradientChecker()

    static func bits(_ t: Tensor) -> [UInt32] { t.elements.map(\.bitPattern) }

    func fillMode(_ f: FillMode) -> RefFillMode {
        switch f {
        case .reflect: return .reflect
        case .constant: return .constant
        case .wrap: return .wrap
        case .nearest: return .nearest
        }
    }

    /// The layers with randomness, each with arguments that exercise it.
    static func randomLayers(seed: UInt64? = 7) -> [RandomImageLayer] {
        [RandomFlip(mode: .horizontal, seed: seed), RandomRotation(factor: 0.2, seed: seed),
         RandomZoom(heightFactor: [-0.3, 0.2], widthFactor: 0.25, seed: seed),
         RandomTranslation(heightFactor: 0.2, widthFactor: [-0.1, 0.3], fillMode: .constant, fillValue: 0.5, seed: seed),
         RandomContrast(factor: [0.4, 0.5], valueRange: -10...10, seed: seed),
         RandomBrightness(factor: 0.3, valueRange: -10...10, seed: seed)]
    }

    // MARK: - Oracle

    func testResizingMatchesReference() throws {
        var data = TestData(seed: 1)
        for (h, w, th, tw) in [(7, 9, 4, 5), (7, 9, 11, 13), (5, 5, 5, 5), (6, 4, 3, 7)] {
            for interpolation in ImageInterpolation.allCases {
                for crop in [false, true] {
                    let layer = Resizing(height: th, width: tw, interpolation: interpolation, cropToAspectRatio: crop)
                    let x = data.tensor([3, h, w, 2])
                    let what = "\(h)×\(w) → \(th)×\(tw) \(interpolation) crop \(crop)"
                    let window = crop ? Ref.aspectCropWindow(height: h, width: w, targetHeight: th, targetWidth: tw) : nil
                    let bilinear = interpolation == .bilinear
                    let y = try layer.forward(x)
                    assertClose(y, Ref.resize(toRef(x, as: Float.self), height: th, width: tw, bilinear: bilinear, window: window),
                                rtol: 1e-6, what)
                    let dy = data.tensor(y.shape)
                    assertClose(try layer.backward(dy), Ref.resizeBackward(inputShape: x.shape, bilinear: bilinear, window: window,
                                                                          outputGradient: toRef(dy, as: Float.self)),
                                rtol: 1e-5, what + " backward")
                }
            }
        }
    }

    func testCenterCropCropsOrResizesLikeKeras3() throws {
        var data = TestData(seed: 2)
        let x = data.tensor([2, 7, 9, 3])
        // Larger input: the centre window, exactly; the gradient goes back into it, zero elsewhere.
        let crop = CenterCrop(height: 4, width: 5)
        let y = try crop.forward(x)
        XCTAssertEqual(y.shape, [2, 4, 5, 3])
        for n in 0..<2 { for i in 0..<4 { for j in 0..<5 { for c in 0..<3 {
            XCTAssertEqual(y[n, i, j, c], x[n, i + 1, j + 2, c])
        }}}}
        let dy = data.tensor(y.shape)
        let dx = try crop.backward(dy)
        XCTAssertEqual(dx.elements.reduce(0, +), dy.elements.reduce(0, +), accuracy: 1e-4)
        XCTAssertEqual(dx[1, 0, 0, 0], 0)
        XCTAssertEqual(dx[1, 2, 3, 1], dy[1, 1, 1, 1])
        // Smaller on one axis: Keras 3 crops to the aspect ratio and resizes (smart_resize).
        let grow = CenterCrop(height: 8, width: 8)
        let window = Ref.aspectCropWindow(height: 7, width: 9, targetHeight: 8, targetWidth: 8)
        XCTAssertEqual(window.height, 7); XCTAssertEqual(window.width, 7); XCTAssertEqual(window.left, 1)
        let z = try grow.forward(x)
        assertClose(z, Ref.resize(toRef(x, as: Float.self), height: 8, width: 8, window: window), rtol: 1e-6, "smart_resize")
        let dz = data.tensor(z.shape)
        assertClose(try grow.backward(dz), Ref.resizeBackward(inputShape: x.shape, window: window, outputGradient: toRef(dz, as: Float.self)),
                    rtol: 1e-5, "smart_resize backward")
    }

    func testRandomFlipMatchesReference() throws {
        var data = TestData(seed: 3)
        for mode in RandomFlip.Mode.allCases {
            let layer = RandomFlip(mode: mode, seed: 11)
            let x = data.tensor([8, 4, 5, 2])
            let y = try layer.forward(x, training: true)
            let flips = layer.lastParameters.map { $0 != 0 }
            XCTAssertTrue(flips.contains(true) && flips.contains(false), "\(mode): 8 coins both ways")
            let h = mode != .vertical, v = mode != .horizontal
            XCTAssertEqual(y.elements, Ref.flip(toRef(x, as: Float.self), flips: flips, horizontal: h, vertical: v).data, "\(mode)")
            let dy = data.tensor(y.shape)
            XCTAssertEqual(try layer.backward(dy).elements, Ref.flip(toRef(dy, as: Float.self), flips: flips, horizontal: h, vertical: v).data)
        }
    }

    /// Rotation, zoom and translation in every fill mode and interpolation vs TensorFlow's sampling
    /// in the reference, with the transforms the reference builds from the drawn parameters.
    func testAffineLayersMatchReference() throws {
        var data = TestData(seed: 4)
        for fill in FillMode.allCases {
            for interpolation in ImageInterpolation.allCases {
                let layers: [RandomAffineLayer] = [
                    RandomRotation(factor: 0.3, fillMode: fill, interpolation: interpolation, fillValue: 0.25, seed: 1),
                    RandomZoom(heightFactor: 0.4, widthFactor: [-0.5, 0.6], fillMode: fill, interpolation: interpolation, fillValue: 0.25, seed: 2),
                    RandomTranslation(heightFactor: 0.4, widthFactor: 0.5, fillMode: fill, interpolation: interpolation, fillValue: 0.25, seed: 3),
                ]
                for layer in layers {
                    let x = data.tensor([4, 7, 9, 2])
                    let y = try layer.forward(x, training: true)
                    let p = layer.lastParameters
                    let transforms: [[Float]] = (0..<4).map { n in
                        switch layer {
                        case is RandomRotation: return Ref.rotationTransform(degrees: p[n], height: 7, width: 9)
                        case is RandomZoom: return Ref.zoomTransform(heightZoom: p[2 * n], widthZoom: p[2 * n + 1], height: 7, width: 9)
                        default: return Ref.translationTransform(down: p[2 * n], right: p[2 * n + 1])
                        }
                    }
                    let what = "\(layer.typeName) \(fill) \(interpolation) parameters \(p)"
                    let ref = Ref.affineTransform(toRef(x, as: Float.self), transforms: transforms, fillMode: fillMode(fill),
                                                  fillValue: 0.25, bilinear: interpolation == .bilinear)
                    assertClose(y, ref, rtol: 1e-4, what)
                    let dy = data.tensor(y.shape)
                    let dref = Ref.affineTransformBackward(transforms: transforms, fillMode: fillMode(fill),
                                                           bilinear: interpolation == .bilinear, outputGradient: toRef(dy, as: Float.self))
                    assertClose(try layer.backward(dy), dref, rtol: 1e-4, what + " backward")
                }
            }
        }
    }

    func testContrastAndBrightnessMatchReference() throws {
        var data = TestData(seed: 5)
        // Inputs near the range's ends, so some values clip and their gradient stops.
        let x = data.tensor([5, 4, 6, 3], -1.2, 1.2)
        let contrast = RandomContrast(factor: [0.5, 0.6], valueRange: -1...1, seed: 4)
        let y = try contrast.forward(x, training: true)
        let f = contrast.lastParameters
        XCTAssertTrue(f.allSatisfy { $0 >= 0.5 && $0 <= 1.6 }, "factors \(f) within [1 − 0.5, 1 + 0.6]")
        assertClose(y, Ref.contrast(toRef(x), factors: f.map(Double.init), low: -1, high: 1), rtol: 1e-5, "contrast")
        let dy = data.tensor(y.shape)
        assertClose(try contrast.backward(dy), Ref.contrastBackward(toRef(x), factors: f.map(Double.init), low: -1, high: 1,
                                                                     outputGradient: toRef(dy)), rtol: 1e-5, "contrast backward")

        let brightness = RandomBrightness(factor: [-0.2, 0.3], valueRange: -1...1, seed: 4)
        let z = try brightness.forward(x, training: true)
        let d = brightness.lastParameters
        XCTAssertTrue(d.allSatisfy { $0 >= -0.4 && $0 <= 0.6 }, "offsets \(d): the factor times the range's width 2")
        assertClose(z, Ref.brightness(toRef(x), deltas: d.map(Double.init), low: -1, high: 1), rtol: 1e-6, "brightness")
        XCTAssertTrue(z.elements.contains(1) && z.elements.contains(-1), "some values clip")
        assertClose(try brightness.backward(dy), Ref.brightnessBackward(toRef(x), deltas: d.map(Double.init), low: -1, high: 1,
                                                                         outputGradient: toRef(dy)), rtol: 0, "brightness backward")
    }

    /// Keras's factor rules: one number is symmetric, except RandomContrast's (Keras 3 floors its
    /// lower bound at 0, so `0.2` draws factors from [1, 1.2]).
    func testFactorRanges() throws {
        XCTAssertTrue(AugmentationFactor(0.2).range() == (-0.2, 0.2))
        XCTAssertTrue(AugmentationFactor(-0.2).range() == (-0.2, 0.2))
        let pair: AugmentationFactor = [0.3, -0.1]
        XCTAssertTrue(pair.range() == (-0.1, 0.3))
        XCTAssertTrue(AugmentationFactor(0.2).range(floor: 0) == (0, 0.2))
        let contrast = RandomContrast(factor: 0.2, seed: 1)
        _ = try contrast.forward(Tensor(shape: [64, 2, 2, 1], repeating: 3), training: true)
        XCTAssertTrue(contrast.lastParameters.allSatisfy { $0 >= 1 && $0 <= 1.2 }, "\(contrast.lastParameters)")
        let rotation = RandomRotation(factor: [-0.1, 0.05], seed: 1)
        _ = try rotation.forward(Tensor(shape: [64, 3, 3, 1]), training: true)
        XCTAssertTrue(rotation.lastParameters.allSatisfy { $0 >= -36 && $0 <= 18 }, "degrees \(rotation.lastParameters)")
        let zoom = RandomZoom(heightFactor: 0.3, seed: 1)
        _ = try zoom.forward(Tensor(shape: [64, 3, 3, 1]), training: true)
        for n in 0..<64 {
            XCTAssertEqual(zoom.lastParameters[2 * n], zoom.lastParameters[2 * n + 1], "no width factor: one zoom")
            XCTAssertTrue((0.7...1.3).contains(zoom.lastParameters[2 * n]))
        }
    }

    // MARK: - Gradients

    /// Caffe's checker (step 1e-2, relative error 1e-2) in training mode with the layer's generator
    /// restored before every forward, so every pass draws the same parameters. The layers are
    /// linear in their input for fixed parameters (clips excepted: the value ranges are wide here),
    /// so the central differences are exact up to Float rounding.
    func testGradientChecks() throws {
        var data = TestData(seed: 6)
        for layer in Self.randomLayers() {
            try layer.build(inputShape: [5, 6, 2], seed: 1)
            let saved = layer.rng
            try checker.check(layer, input: data.tensor([3, 5, 6, 2]), training: true,
                              beforeForward: { layer.rng = saved }, layer.typeName)
            // Inference: the identity, whose gradient passes through.
            try checker.check(layer, input: data.tensor([3, 5, 6, 2]), training: false, "\(layer.typeName) inference")
        }
        for layer: Layer in [Resizing(height: 4, width: 9), Resizing(height: 3, width: 3, interpolation: .nearest, cropToAspectRatio: true),
                             CenterCrop(height: 3, width: 4), CenterCrop(height: 7, width: 5), Rescaling(scale: 0.5, offset: -1)] {
            try checker.check(layer, input: data.tensor([2, 5, 6, 2]), "\(layer.typeName) \(layer.outputShape)")
        }
    }

    // MARK: - Randomness

    func testIdentityAtInference() throws {
        var data = TestData(seed: 7)
        let x = data.tensor([4, 5, 6, 3])
        for layer in Self.randomLayers() {
            let before = layer.rng.state
            let y = try layer.forward(x, training: false)
            XCTAssertEqual(Self.bits(y), Self.bits(x), layer.typeName)
            XCTAssertEqual(layer.rng.state, before, "\(layer.typeName): inference draws nothing")
            let dy = data.tensor(x.shape)
            XCTAssertEqual(Self.bits(try layer.backward(dy)), Self.bits(dy), layer.typeName)
            XCTAssertNotEqual(Self.bits(try layer.forward(x, training: true)), Self.bits(x), "\(layer.typeName) transforms in training")
        }
    }

    func testSeedsRepeatAndDiffer() throws {
        var data = TestData(seed: 8)
        let x = data.tensor([6, 5, 6, 3])
        for (a, (b, c)) in zip(Self.randomLayers(seed: 7), zip(Self.randomLayers(seed: 7), Self.randomLayers(seed: 8))) {
            let ya = Self.bits(try a.forward(x, training: true))
            XCTAssertEqual(ya, Self.bits(try b.forward(x, training: true)), "\(a.typeName): same seed, same output")
            XCTAssertNotEqual(ya, Self.bits(try c.forward(x, training: true)), "\(a.typeName): another seed, another output")
            XCTAssertNotEqual(ya, Self.bits(try a.forward(x, training: true)), "\(a.typeName): the next batch draws anew")
        }
    }

    /// Restoring `randomState` repeats the next batch bit for bit (what a checkpoint relies on),
    /// and an unseeded layer in a model takes its seed from the model's.
    func testRandomStateRestoresTheNextBatch() throws {
        var data = TestData(seed: 9)
        let x = data.tensor([5, 6, 7, 2])
        for layer in Self.randomLayers(seed: nil) {
            _ = try layer.forward(x, training: true)
            let state = try XCTUnwrap(layer.randomState)
            let first = Self.bits(try layer.forward(x, training: true)), params = layer.lastParameters
            layer.randomState = state
            XCTAssertEqual(Self.bits(try layer.forward(x, training: true)), first, layer.typeName)
            XCTAssertEqual(layer.lastParameters, params, layer.typeName)
        }
        func model(_ seed: UInt64) throws -> Model {
            try Sequential(inputShape: [6, 7, 2], layers: Self.randomLayers(seed: nil), seed: seed)
        }
        let (m1, m2, m3) = (try model(1), try model(1), try model(2))
        for ((a, b), c) in zip(zip(m1.layers, m2.layers), m3.layers) {
            XCTAssertEqual(a.randomState, b.randomState, "\(a.typeName): the model's seed fixes the layer's")
            XCTAssertNotEqual(a.randomState, c.randomState, "\(a.typeName): another model seed")
        }
    }

    /// Steady-state training steps reuse the layers' buffers (no allocation per step once warm).
    func testBuffersAreReused() throws {
        var data = TestData(seed: 10)
        let x = data.tensor([4, 6, 6, 3]), dy = data.tensor([4, 6, 6, 3])
        for layer in Self.randomLayers() {
            let y1 = try layer.forward(x, training: true).pointer, d1 = try layer.backward(dy).pointer
            let y2 = try layer.forward(x, training: true).pointer, d2 = try layer.backward(dy).pointer
            XCTAssertEqual(y1, y2, layer.typeName)
            XCTAssertEqual(d1, d2, layer.typeName)
            XCTAssertGreaterThanOrEqual(layer.lastParameters.capacity, 4)
        }
    }

    /// In a model, augmentation in front costs no backward: nothing before the first layer with
    /// parameters computes an input gradient, and the model's backward stops there.
    func testParameterlessPrefixSkipsBackward() throws {
        let model = try Sequential(inputShape: [8, 8, 3], layers: [
            RandomFlip(), RandomRotation(factor: 0.1), Rescaling(scale: 0.5), Conv2D(filters: 2, kernelSize: 3),
            MaxPooling2D(poolSize: 2), Flatten(), Dense(units: 2)], seed: 1)
        XCTAssertEqual(model.layers.map(\.computesInputGradient), [false, false, false, false, true, true, true])
        model.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy(fromLogits: true))
        var data = TestData(seed: 13)
        let x = data.tensor([4, 8, 8, 3]), y = labelTensor([0, 1, 1, 0])
        let first = try model.trainStep(x: x, y: y).loss
        for _ in 0..<20 { _ = try model.trainStep(x: x, y: y) }
        XCTAssertLessThan(try model.trainStep(x: x, y: y).loss, first, "it trains through the augmentation")
        model.computesInputGradient = true
        XCTAssertTrue(model.layers.allSatisfy(\.computesInputGradient))
        _ = try model.forward(x, training: true)
        XCTAssertEqual(try model.backward(Tensor(shape: [4, 2], repeating: 1)).shape, [4, 8, 8, 3], "saliency still reaches the input")
    }

    // MARK: - Errors

    func testErrorsNameTheLayer() throws {
        let cases: [(Layer, [Int], String)] = [
            (RandomFlip(name: "flip"), [5, 6], "layer 'flip' (RandomFlip) expects images [height, width, channels]"),
            (RandomRotation(factor: 1.5, name: "rot"), [5, 6, 1], "layer 'rot' (RandomRotation): factor"),
            (RandomRotation(factor: [0.1, 0.2, 0.3], name: "rot"), [5, 6, 1], "layer 'rot' (RandomRotation): factor"),
            (RandomZoom(heightFactor: -1, name: "zoom"), [5, 6, 1], "layer 'zoom' (RandomZoom): height factor"),
            (RandomTranslation(heightFactor: 0.1, widthFactor: 2, name: "shift"), [5, 6, 1], "layer 'shift' (RandomTranslation): width factor"),
            (RandomContrast(factor: -0.1, name: "c"), [5, 6, 1], "layer 'c' (RandomContrast): factor"),
            (RandomBrightness(factor: 0.1, valueRange: 1...1, name: "b"), [5, 6, 1], "layer 'b' (RandomBrightness): value range"),
            (Resizing(height: 0, width: 3, name: "r"), [5, 6, 1], "layer 'r' (Resizing): height and width"),
            (CenterCrop(height: 3, width: 3, name: "cc"), [5, 6, 1, 1], "layer 'cc' (CenterCrop) expects images"),
        ]
        for (layer, shape, expected) in cases {
            XCTAssertThrowsError(try layer.build(inputShape: shape)) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(error)")
            }
        }
        let flip = RandomFlip(name: "flip")
        try flip.build(inputShape: [4, 4, 3])
        XCTAssertThrowsError(try flip.forward(Tensor(shape: [1, 4, 5, 3]), training: true)) { error in
            XCTAssertTrue("\(error)".contains("layer 'flip' (RandomFlip) expected input"), "\(error)")
        }
    }

    // MARK: - Rescaling

    func testRescaling() throws {
        var data = TestData(seed: 11)
        let layer = Rescaling(scale: 1 / 127.5, offset: -1)
        let x = data.tensor([2, 3, 3, 3], 0, 255)
        let y = try layer.forward(x)
        for i in 0..<x.count { XCTAssertEqual(y[flat: i], x[flat: i] * (1 / 127.5) - 1) }
        let dy = data.tensor(x.shape)
        let dx = try layer.backward(dy)
        for i in 0..<x.count { XCTAssertEqual(dx[flat: i], dy[flat: i] * (1 / 127.5)) }
        XCTAssertThrowsError(try Rescaling(scale: .nan, name: "bad").build(inputShape: [2])) { error in
            XCTAssertTrue("\(error)".hasPrefix("layer 'bad' (Rescaling)"), "\(error)")
        }
    }

    // MARK: - Keras files

    /// Keras's own augmentation pipeline in front of a small convnet, saved as `.keras`, read back
    /// with every layer's arguments, then trained on: the loaded model continues bit for bit.
    func testKerasRoundTrip() throws {
        func layers() -> [Layer] {
            [Resizing(height: 10, width: 12, interpolation: .nearest, cropToAspectRatio: true, name: "resize"),
             CenterCrop(height: 9, width: 11, name: "crop"),
             RandomFlip(mode: .horizontal, name: "flip"),
             RandomRotation(factor: 0.1, fillMode: .constant, interpolation: .nearest, fillValue: 0.5, seed: 3, name: "rotate"),
             RandomZoom(heightFactor: [-0.2, 0.1], fillMode: .wrap, name: "zoom"),
             RandomTranslation(heightFactor: 0.1, widthFactor: [-0.2, 0.05], fillMode: .nearest, seed: 1 << 63, name: "shift"),
             RandomContrast(factor: 0.2, valueRange: 0...1, name: "contrast"),
             RandomBrightness(factor: [-0.1, 0.2], valueRange: 0...1, name: "brightness"),
             Rescaling(scale: 2, offset: -1, name: "scale"),
             Conv2D(filters: 3, kernelSize: 3, activation: .relu, name: "conv"),
             GlobalAveragePooling2D(name: "gap"),
             Dense(units: 2, name: "head")]
        }
        let original = try Sequential(inputShape: [12, 16, 3], layers: layers(), seed: 5)
        original.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        let path = dir + "/augment.keras"
        try original.save(to: path)
        let loaded = try loadModel(from: path)
        XCTAssertEqual(loaded.layers.map(\.name), original.layers.map(\.name))
        XCTAssertEqual(loaded.layers.map(\.typeName), original.layers.map(\.typeName))
        XCTAssertEqual(loaded.layers.map(\.outputShape), original.layers.map(\.outputShape))
        for (a, b) in zip(original.layers, loaded.layers) {
            XCTAssertEqual(describe(a), describe(b), a.name)
            if let r = a as? RandomImageLayer { XCTAssertEqual(r.seed, (b as? RandomImageLayer)?.seed, a.name) }
        }
        // The contrast factor comes back as Keras writes it, the resolved pair [0, 0.2].
        XCTAssertEqual((loaded.layer(named: "contrast") as? RandomContrast)?.factor, [0, 0.2])
        for (a, b) in zip(original.layers, loaded.layers) { b.randomState = a.randomState }
        var data = TestData(seed: 12)
        let x = data.tensor([4, 12, 16, 3], 0, 1), y = labelTensor(data.labels(4, classes: 2))
        for _ in 0..<2 {
            let l1 = try original.trainStep(x: x, y: y).loss, l2 = try loaded.trainStep(x: x, y: y).loss
            XCTAssertEqual(l1.bitPattern, l2.bitPattern)
        }
        XCTAssertEqual(Self.bits(try original.predict(x)), Self.bits(try loaded.predict(x)))
    }

    /// Every argument the Keras config carries, as text.
    func describe(_ layer: Layer) -> String {
        switch layer {
        case let l as Resizing: return "\(l.height) \(l.width) \(l.interpolation) \(l.cropToAspectRatio)"
        case let l as CenterCrop: return "\(l.height) \(l.width)"
        case let l as RandomFlip: return "\(l.mode)"
        case let l as RandomRotation: return "\(l.factor.range()) \(l.fillMode) \(l.interpolation) \(l.fillValue)"
        case let l as RandomZoom: return "\(l.heightFactor) \(String(describing: l.widthFactor)) \(l.fillMode) \(l.interpolation) \(l.fillValue)"
        case let l as RandomTranslation: return "\(l.heightFactor) \(l.widthFactor) \(l.fillMode) \(l.interpolation) \(l.fillValue)"
        case let l as RandomContrast: return "\(l.factor.range(floor: 0)) \(l.valueRange)"
        case let l as RandomBrightness: return "\(l.factor.range()) \(l.valueRange)"
        default: return layer.typeName
        }
    }
}
