import Foundation

/// The base of Keras's random image augmentation layers (`RandomFlip`, `RandomRotation`, …): in
/// training each image gets its own random transform, at inference the layer is the identity (as
/// in Keras) and passes the gradient through. Each batch draws every image's parameters from the
/// layer's own generator in sample order before any work is split, so the result does not depend on
/// the thread count; the generator is seeded like `Dropout`'s (the user's `seed`, else one draw of
/// the model's), and checkpoints save it (`randomState`) so a resumed run repeats bit for bit.
public class RandomImageLayer: SeededLayer {
    package override var forwardMayReturnInput: Bool { true }
    /// The parameters drawn for the last training batch, `parametersPerSample` per image in sample
    /// order (what each layer documents), so a test can replay them; empty after inference.
    public private(set) var lastParameters: [Float] = []
    /// Whether the last forward transformed (training) or passed the batch through.
    private var applied = false
    /// A test hook: when set, training batches use these parameters (`parametersPerSample` per
    /// image, in `lastParameters`'s layout) instead of drawing, e.g. to replay Keras's by hand.
    package var presetParameters: [Float]?

    /// How many numbers `drawSample` appends per image.
    var parametersPerSample: Int { 1 }
    /// Appends one image's parameters to `parameters`, drawn from `rng`.
    func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {}
    /// The training output for `input`, given `lastParameters`.
    func transform(_ input: Tensor, parameters: UnsafePointer<Float>) -> Tensor { input }
    /// dLoss/dInput of `transform` for the last batch.
    func transformBackward(_ outputGradient: Tensor, parameters: UnsafePointer<Float>) -> Tensor { outputGradient }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        applied = training
        lastParameters.removeAll(keepingCapacity: true)
        guard training else { return input }
        let n = input.shape[0], k = parametersPerSample
        if let preset = presetParameters, preset.count == n * k {
            lastParameters.reserveCapacity(n * k)
            lastParameters.append(contentsOf: preset)
        } else if let window, window.total != n {
            // A replica draws for the whole global batch (so the generator moves as in one
            // process) and keeps its own samples' parameters.
            lastParameters.reserveCapacity(window.total * k)
            for _ in 0..<window.total { drawSample(&rng, into: &lastParameters) }
            lastParameters.removeSubrange((window.offset + n) * k..<lastParameters.count)
            lastParameters.removeSubrange(0..<window.offset * k)
        } else {
            lastParameters.reserveCapacity(n * k)
            for _ in 0..<n { drawSample(&rng, into: &lastParameters) }
        }
        return lastParameters.withUnsafeBufferPointer { transform(input, parameters: $0.baseAddress!) }
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard applied else { return outputGradient }
        return lastParameters.withUnsafeBufferPointer { transformBackward(outputGradient, parameters: $0.baseAddress!) }
    }
}

// MARK: - RandomFlip

/// Flips each image left–right and/or top–bottom with probability ½ in training (Keras
/// `RandomFlip`). As in Keras 3, `.horizontalAndVertical` draws one coin per image and flips both
/// axes together (a 180° turn) or neither. Parameters: 1 (flipped) or 0 per image.
public final class RandomFlip: RandomImageLayer {
    /// Which axes flip (Keras's `mode` strings as raw values).
    public enum Mode: String, Sendable, CaseIterable {
        case horizontal
        case vertical
        case horizontalAndVertical = "horizontal_and_vertical"
    }
    public let mode: Mode

    /// Keras's default mode is horizontal_and_vertical.
    public init(mode: Mode = .horizontalAndVertical, seed: UInt64? = nil, name: String? = nil) {
        self.mode = mode
        super.init(seed: seed, salt: 0xF11B, name: name)
    }

    public override var typeName: String { "RandomFlip" }
    public override var defaultNameStem: String { "random_flip" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        return inputShape
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        parameters.append(rng.nextUniform() <= 0.5 ? 1 : 0)
    }

    override func transform(_ input: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        flip(input, &outputBuffer, parameters)
    }

    /// A flip is its own transpose.
    override func transformBackward(_ outputGradient: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        flip(outputGradient, &inputGradientBuffer, parameters)
    }

    private func flip(_ x: Tensor, _ buffer: inout ScratchBuffer, _ flips: UnsafePointer<Float>) -> Tensor {
        let n = x.shape[0]
        let y = buffer.tensor(batch: n, sampleShape: inputShape)
        let work = FlipPart(height: inputShape[0], width: inputShape[1], channels: inputShape[2], images: n,
                            horizontal: mode != .vertical, vertical: mode != .horizontal,
                            flips: flips, x: x.pointer, y: y.pointer)
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: y.count / n), work)
        return y
    }
}

struct FlipPart: ParallelWork {
    let height: Int, width: Int, channels: Int, images: Int
    let horizontal: Bool, vertical: Bool
    let flips: UnsafePointer<Float>
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = channels, rowSize = width * c, imageSize = height * rowSize
        for n in Parallel.range(part, of: parts, count: images) {
            let src = x + n * imageSize, dst = y + n * imageSize
            guard flips[n] != 0 else { dst.update(from: src, count: imageSize); continue }
            for r in 0..<height {
                let s = src + (vertical ? height - 1 - r : r) * rowSize, d = dst + r * rowSize
                if horizontal {
                    for col in 0..<width { (d + col * c).update(from: s + (width - 1 - col) * c, count: c) }
                } else {
                    d.update(from: s, count: rowSize)
                }
            }
        }
    }
}

// MARK: - Affine augmentations

/// The geometric augmentations: each image is resampled through its own inverse affine transform
/// as Keras's `affine_transform` (TensorFlow's `ImageProjectiveTransformV3`) does it, with
/// `fillMode` for points outside the image; backward scatters the gradient back with the same weights.
public class RandomAffineLayer: RandomImageLayer {
    public let fillMode: FillMode
    public let interpolation: ImageInterpolation
    /// What `.constant` fills with.
    public let fillValue: Float
    private var transforms = ScratchBuffer()

    init(fillMode: FillMode, interpolation: ImageInterpolation, fillValue: Float, seed: UInt64?, salt: UInt64, name: String?) {
        self.fillMode = fillMode
        self.interpolation = interpolation
        self.fillValue = fillValue
        super.init(seed: seed, salt: salt, name: name)
    }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        guard fillValue.isFinite else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): fill value must be finite, got \(fillValue)")
        }
        try validateFactors()
        return inputShape
    }

    func validateFactors() throws {}

    /// Writes one image's six inverse-transform coefficients (a0 a1 a2 b0 b1 b2) from its parameters.
    func fillTransform(_ parameters: UnsafePointer<Float>, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {}

    private var geometry: AffineGeometry {
        AffineGeometry(height: inputShape[0], width: inputShape[1], channels: inputShape[2], fillMode: fillMode,
                       interpolation: interpolation, fillValue: fillValue)
    }

    override func transform(_ input: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        let n = input.shape[0], k = parametersPerSample
        let t = transforms.floats(6 * n)
        for i in 0..<n { fillTransform(parameters + i * k, height: inputShape[0], width: inputShape[1], into: t + 6 * i) }
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: out.count / n),
                     AffineForwardPart(geometry: geometry, images: n, transforms: t, x: input.pointer, y: out.pointer))
        return out
    }

    override func transformBackward(_ outputGradient: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        let n = outputGradient.shape[0]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: dx.count / n),
                     AffineBackwardPart(geometry: geometry, images: n, transforms: transforms.floats(6 * n),
                                        dy: outputGradient.pointer, dx: dx.pointer))
        return dx
    }
}

/// Rotates each image about its centre by a random angle in training (Keras `RandomRotation`):
/// `factor` is a fraction of a full turn, one number f for [−f, f] or a pair; positive is
/// counter-clockwise. Parameters: the angle in degrees per image.
public final class RandomRotation: RandomAffineLayer {
    public let factor: AugmentationFactor

    public init(factor: AugmentationFactor, fillMode: FillMode = .reflect, interpolation: ImageInterpolation = .bilinear,
                fillValue: Float = 0, seed: UInt64? = nil, name: String? = nil) {
        self.factor = factor
        super.init(fillMode: fillMode, interpolation: interpolation, fillValue: fillValue, seed: seed, salt: 0x2074, name: name)
    }

    public override var typeName: String { "RandomRotation" }
    public override var defaultNameStem: String { "random_rotation" }

    override func validateFactors() throws {
        try factor.validate("factor", bounds: -1...1, layer: "'\(displayName)' (RandomRotation)")
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        let (lower, upper) = factor.range()
        parameters.append(rng.uniform(lower * 360, upper * 360))
    }

    override func fillTransform(_ p: UnsafePointer<Float>, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {
        rotationTransform(degrees: p[0], height: height, width: width, into: t)
    }
}

/// Zooms each image in or out about its centre in training (Keras `RandomZoom`): a factor f draws
/// the zoom from [1 + lower, 1 + upper]; positive values zoom out (the image shrinks), negative zoom
/// in. Without `widthFactor` both axes share the height's zoom (the aspect ratio is kept).
/// Parameters: height zoom, width zoom per image.
public final class RandomZoom: RandomAffineLayer {
    public let heightFactor: AugmentationFactor
    public let widthFactor: AugmentationFactor?

    public init(heightFactor: AugmentationFactor, widthFactor: AugmentationFactor? = nil, fillMode: FillMode = .reflect,
                interpolation: ImageInterpolation = .bilinear, fillValue: Float = 0, seed: UInt64? = nil, name: String? = nil) {
        self.heightFactor = heightFactor
        self.widthFactor = widthFactor
        super.init(fillMode: fillMode, interpolation: interpolation, fillValue: fillValue, seed: seed, salt: 0x2003, name: name)
    }

    public override var typeName: String { "RandomZoom" }
    public override var defaultNameStem: String { "random_zoom" }
    override var parametersPerSample: Int { 2 }

    override func validateFactors() throws {
        let label = "'\(displayName)' (RandomZoom)"
        try heightFactor.validate("height factor", bounds: -1...1, lowerOpen: true, layer: label)
        try widthFactor?.validate("width factor", bounds: -1...1, lowerOpen: true, layer: label)
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        let h = heightFactor.range()
        let heightZoom = rng.uniform(1 + h.lower, 1 + h.upper)
        parameters.append(heightZoom)
        if let widthFactor {
            let w = widthFactor.range()
            parameters.append(rng.uniform(1 + w.lower, 1 + w.upper))
        } else {
            parameters.append(heightZoom)
        }
    }

    override func fillTransform(_ p: UnsafePointer<Float>, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {
        zoomTransform(heightZoom: p[0], widthZoom: p[1], height: height, width: width, into: t)
    }
}

/// Shifts each image in training (Keras `RandomTranslation`): factors are fractions of the height
/// and width, one number f for [−f, f] or a pair; positive moves the content down / right.
/// Parameters: the shift in pixels down, right per image.
public final class RandomTranslation: RandomAffineLayer {
    public let heightFactor: AugmentationFactor
    public let widthFactor: AugmentationFactor

    public init(heightFactor: AugmentationFactor, widthFactor: AugmentationFactor, fillMode: FillMode = .reflect,
                interpolation: ImageInterpolation = .bilinear, fillValue: Float = 0, seed: UInt64? = nil, name: String? = nil) {
        self.heightFactor = heightFactor
        self.widthFactor = widthFactor
        super.init(fillMode: fillMode, interpolation: interpolation, fillValue: fillValue, seed: seed, salt: 0x7245, name: name)
    }

    public override var typeName: String { "RandomTranslation" }
    public override var defaultNameStem: String { "random_translation" }
    override var parametersPerSample: Int { 2 }

    override func validateFactors() throws {
        let label = "'\(displayName)' (RandomTranslation)"
        try heightFactor.validate("height factor", bounds: -1...1, layer: label)
        try widthFactor.validate("width factor", bounds: -1...1, layer: label)
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        let h = heightFactor.range(), w = widthFactor.range()
        parameters.append(rng.uniform(h.lower, h.upper) * Float(inputShape[0]))
        parameters.append(rng.uniform(w.lower, w.upper) * Float(inputShape[1]))
    }

    override func fillTransform(_ p: UnsafePointer<Float>, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {
        translationTransform(down: p[0], right: p[1], into: t)
    }
}

/// Keras's `_compute_affine_matrix` for a rotation by `degrees` about ((W−1)/2, (H−1)/2), Float32.
func rotationTransform(degrees: Float, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {
    let angle = degrees * Float(Double.pi / 180)
    let cx = 0.5 * Float(width - 1), cy = 0.5 * Float(height - 1)
    let c = Foundation.cos(angle), s = Foundation.sin(angle)
    t[0] = c; t[1] = -s; t[2] = cx - cx * c - cy * -s
    t[3] = s; t[4] = c; t[5] = cy - cx * s - cy * c
}

/// Keras's `_get_zoom_matrix`: x' = zx·x + (W−1)/2·(1 − zx), likewise y.
func zoomTransform(heightZoom: Float, widthZoom: Float, height: Int, width: Int, into t: UnsafeMutablePointer<Float>) {
    t[0] = widthZoom; t[1] = 0; t[2] = (Float(width) - 1) / 2 * (1 - widthZoom)
    t[3] = 0; t[4] = heightZoom; t[5] = (Float(height) - 1) / 2 * (1 - heightZoom)
}

/// Keras's `_get_translation_matrix`: the output at (x, y) reads (x − dx, y − dy).
func translationTransform(down: Float, right: Float, into t: UnsafeMutablePointer<Float>) {
    t[0] = 1; t[1] = 0; t[2] = -right
    t[3] = 0; t[4] = 1; t[5] = -down
}

// MARK: - Colour augmentations

/// Scales each image's deviation from its per-channel mean by a random factor in training, then
/// clips to `valueRange` (Keras `RandomContrast`): y = clip((x − mean)·f + mean). The factor comes
/// from [1 − lower, 1 + upper]; one number f gives Keras 3's (max(−f, 0), f), i.e. [1, 1 + f] —
/// what Keras 3 computes, though its docstring says [1 − f, 1 + f]; write `[f, f]` for that.
/// Parameters: the contrast factor per image.
public final class RandomContrast: RandomImageLayer {
    public let factor: AugmentationFactor
    public let valueRange: ClosedRange<Float>
    private var lastInput: Tensor?

    public init(factor: AugmentationFactor, valueRange: ClosedRange<Float> = 0...255, seed: UInt64? = nil, name: String? = nil) {
        self.factor = factor
        self.valueRange = valueRange
        super.init(seed: seed, salt: 0xC047, name: name)
    }

    public override var typeName: String { "RandomContrast" }
    public override var defaultNameStem: String { "random_contrast" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        try factor.validate("factor", bounds: 0...1, layer: "'\(displayName)' (RandomContrast)")
        try checkValueRange(valueRange)
        return inputShape
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        let (lower, upper) = factor.range(floor: 0)
        parameters.append(rng.uniform(1 - lower, 1 + upper))
    }

    override func transform(_ input: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        lastInput = input
        return run(input, nil, parameters, &outputBuffer)
    }

    override func transformBackward(_ outputGradient: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        run(lastInput!, outputGradient, parameters, &inputGradientBuffer)
    }

    private func run(_ x: Tensor, _ dy: Tensor?, _ factors: UnsafePointer<Float>, _ buffer: inout ScratchBuffer) -> Tensor {
        let n = x.shape[0]
        let y = buffer.tensor(batch: n, sampleShape: inputShape)
        let work = ContrastPart(pixels: inputShape[0] * inputShape[1], channels: inputShape[2], images: n, factors: factors,
                                low: valueRange.lowerBound, high: valueRange.upperBound, x: x.pointer,
                                dy: dy?.pointer, y: y.pointer)
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: y.count / n), work)
        return y
    }
}

/// Contrast forward (dy nil) or backward over part of the batch. Backward: with g = dy where the
/// unclipped value lies in the range (TensorFlow's clip gradient) and 0 elsewhere,
/// dx = f·g + (1 − f)·mean(g) per channel, since the mean itself depends on every pixel.
struct ContrastPart: ParallelWork {
    let pixels: Int, channels: Int, images: Int
    let factors: UnsafePointer<Float>
    let low: Float, high: Float
    let x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let c = channels, imageSize = pixels * c
        for n in Parallel.range(part, of: parts, count: images) {
            let src = x + n * imageSize, dst = y + n * imageSize, f = factors[n]
            for k in 0..<c {
                var sum = 0.0
                for p in 0..<pixels { sum += Double(src[p * c + k]) }
                let mean = Float(sum / Double(pixels))
                if let dy {
                    let g = dy + n * imageSize
                    var gsum = 0.0
                    for p in 0..<pixels {
                        let v = (src[p * c + k] - mean) * f + mean
                        let pass = v >= low && v <= high
                        dst[p * c + k] = pass ? g[p * c + k] : 0
                        gsum += Double(dst[p * c + k])
                    }
                    let shared = (1 - f) * Float(gsum / Double(pixels))
                    for p in 0..<pixels { dst[p * c + k] = f * dst[p * c + k] + shared }
                } else {
                    for p in 0..<pixels { dst[p * c + k] = min(max((src[p * c + k] - mean) * f + mean, low), high) }
                }
            }
        }
    }
}

/// Adds a random offset to each image in training, then clips to `valueRange` (Keras
/// `RandomBrightness`): the offset is a fraction in [lower, upper] (one number f: [−f, f]) of the
/// range's width. Parameters: the offset per image, in value units.
public final class RandomBrightness: RandomImageLayer {
    public let factor: AugmentationFactor
    public let valueRange: ClosedRange<Float>

    private var lastInput: Tensor?

    public init(factor: AugmentationFactor, valueRange: ClosedRange<Float> = 0...255, seed: UInt64? = nil, name: String? = nil) {
        self.factor = factor
        self.valueRange = valueRange
        super.init(seed: seed, salt: 0xB816, name: name)
    }

    public override var typeName: String { "RandomBrightness" }
    public override var defaultNameStem: String { "random_brightness" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        _ = try imageShape(inputShape)
        try factor.validate("factor", bounds: -1...1, layer: "'\(displayName)' (RandomBrightness)")
        try checkValueRange(valueRange)
        return inputShape
    }

    override func drawSample(_ rng: inout RandomGenerator, into parameters: inout [Float]) {
        let (lower, upper) = factor.range()
        parameters.append(rng.uniform(lower, upper) * (valueRange.upperBound - valueRange.lowerBound))
    }

    override func transform(_ input: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        let n = input.shape[0]
        let y = outputBuffer.tensor(batch: n, sampleShape: inputShape)
        lastInput = input
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: y.count / n),
                     BrightnessPart(imageSize: y.count / n, images: n, deltas: parameters, low: valueRange.lowerBound,
                                    high: valueRange.upperBound, x: input.pointer, y: y.pointer, dx: nil, dy: nil))
        return y
    }

    /// The gradient passes where lo ≤ x + δ ≤ hi (TensorFlow's clip gradient), else it is 0.
    override func transformBackward(_ outputGradient: Tensor, parameters: UnsafePointer<Float>) -> Tensor {
        let n = outputGradient.shape[0]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let x = lastInput!.pointer
        Parallel.run(Parallel.imageParts(images: n, valuesPerImage: dx.count / n),
                     BrightnessPart(imageSize: dx.count / n, images: n, deltas: parameters, low: valueRange.lowerBound,
                                    high: valueRange.upperBound, x: x, y: x, dx: dx.pointer,
                                    dy: outputGradient.pointer))
        return dx
    }
}

/// Brightness forward (y = clip(x + δ)) or, when `dx` is set, backward (x is then the forward's input).
struct BrightnessPart: ParallelWork {
    let imageSize: Int, images: Int
    let deltas: UnsafePointer<Float>
    let low: Float, high: Float
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?

    func run(part: Int, of parts: Int) {
        for n in Parallel.range(part, of: parts, count: images) {
            let d = deltas[n], base = n * imageSize
            if let dx, let dy {
                for i in base..<(base + imageSize) {
                    let v = x[i] + d
                    dx[i] = v >= low && v <= high ? dy[i] : 0
                }
            } else {
                for i in base..<(base + imageSize) { y[i] = min(max(x[i] + d, low), high) }
            }
        }
    }
}

extension Layer {
    func checkValueRange(_ range: ClosedRange<Float>) throws {
        guard range.lowerBound.isFinite, range.upperBound.isFinite, range.lowerBound < range.upperBound else {
            throw NNError.invalidArgument("layer '\(displayName)' (\(typeName)): value range must be two finite numbers, low < high, got \(range)")
        }
    }
}
