/// What Keras's 2-D window poolings share (Keras 2's `Pooling2D` base): the pool size, strides
/// and padding, their checks and the output shape, so MaxPooling2D and AveragePooling2D differ
/// only in what they compute over a window. Not open: the engine's poolings are its own.
public class Pooling2D: Layer {
    /// The window's height and width (Keras `pool_size`).
    public let poolSize: (Int, Int)
    /// The window's step down and across (Keras `strides`).
    public let strides: (Int, Int)
    /// `.valid` keeps only windows inside the image; `.same` lets them overhang, ⌈input / stride⌉ of them.
    public let padding: Padding
    /// The window's placement, fixed when the layer is built.
    package private(set) var geometry: ConvGeometry!

    /// Strides default to the pool size, as in Keras.
    public init(poolSize: (Int, Int) = (2, 2), strides: (Int, Int)? = nil, padding: Padding = .valid, name: String? = nil) {
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        super.init(name: name)
    }

    /// A square pool and square strides: `MaxPooling2D(poolSize: 2)`.
    public convenience init(poolSize: Int, strides: Int? = nil, padding: Padding = .valid, name: String? = nil) {
        self.init(poolSize: (poolSize, poolSize), strides: strides.map { ($0, $0) }, padding: padding, name: name)
    }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        try checkWindowSizes(["pool size": poolSize, "strides": strides])
        let g = try ConvGeometry.validated(layer: displayName, typeName: typeName, inputShape: inputShape,
                                           window: poolSize, windowName: "pool", strides: strides, padding: padding)
        geometry = g
        return [g.outputHeight, g.outputWidth, g.channels]
    }

    /// A bare Pooling2D computes nothing: an error naming the layer, not a crash.
    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        throw NNError.invalidArgument("layer '\(displayName)': Pooling2D is the base of MaxPooling2D and AveragePooling2D; use one of them")
    }

    /// How many parts a batch of `images` splits into: by images, both passes alike.
    func imageParts(_ images: Int) -> Int {
        Parallel.imageParts(images: images, valuesPerImage: geometry.inputPixels * geometry.channels)
    }
}

/// Average pooling over NHWC windows (Keras `AveragePooling2D`). With `.same` padding a window that
/// overhangs the border averages only the pixels inside the image, as TensorFlow's `avg_pool` (and
/// so Keras) does: the padding is never counted. Backward spreads each dY over its window's pixels,
/// divided by that window's count.
public final class AveragePooling2D: Pooling2D {
    public override var typeName: String { "AveragePooling2D" }
    public override var defaultNameStem: String { "average_pooling2d" }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        Parallel.run(imageParts(n), AveragePoolPart(geometry: g, images: n, backward: false, x: input.pointer, y: out.pointer))
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let g = geometry!, n = outputGradient.shape[0]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        Parallel.run(imageParts(n), AveragePoolPart(geometry: g, images: n, backward: true, x: dx.pointer, y: outputGradient.pointer))
        return dx
    }
}

/// Average pooling over part of the batch's images: forward `y = mean(window of x)`, or backward
/// `x[window] += y / count` (x zeroed first).
struct AveragePoolPart: ParallelWork {
    let geometry: ConvGeometry
    let images: Int
    let backward: Bool
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>

    func run(part: Int, of parts: Int) {
        let g = geometry, c = g.channels
        let imageSize = g.inputPixels * c, outSize = g.outputPixels * c
        let range = Parallel.range(part, of: parts, count: images)
        if backward { (x + range.lowerBound * imageSize).update(repeating: 0, count: range.count * imageSize) }
        for img in range {
            let xi = x + img * imageSize
            var o = y + img * outSize
            for oh in 0..<g.outputHeight {
                let h0 = oh * g.strideHeight - g.padTop
                let hLo = max(h0, 0), hHi = min(h0 + g.kernelHeight, g.inputHeight)
                for ow in 0..<g.outputWidth {
                    let w0 = ow * g.strideWidth - g.padLeft
                    let wLo = max(w0, 0), wHi = min(w0 + g.kernelWidth, g.inputWidth)
                    let scale = 1 / Float((hHi - hLo) * (wHi - wLo))
                    if backward {
                        for h in hLo..<hHi {
                            for w in wLo..<wHi {
                                let p = xi + (h * g.inputWidth + w) * c
                                for ch in 0..<c { p[ch] += o[ch] * scale }
                            }
                        }
                    } else {
                        for ch in 0..<c { o[ch] = 0 }
                        for h in hLo..<hHi {
                            for w in wLo..<wHi {
                                let p = xi + (h * g.inputWidth + w) * c
                                for ch in 0..<c { o[ch] += p[ch] }
                            }
                        }
                        for ch in 0..<c { o[ch] *= scale }
                    }
                    o += c
                }
            }
        }
    }
}

/// The maximum over height and width of each channel (Keras `GlobalMaxPooling2D`): `[H, W, C]` →
/// `[C]`, or `[1, 1, C]` with `keepdims`. Backward splits dY equally between the pixels that equal
/// the maximum, as TensorFlow's `reduce_max` gradient (which Keras's `ops.max` is) does; without a
/// tie it all goes to the one maximal pixel.
public final class GlobalMaxPooling2D: Layer {
    public let keepdims: Bool
    /// Per image and channel, the number of pixels equal to the maximum (backward's scratch).
    private var tieCounts = ScratchBuffer()
    private var x: Tensor?, y: Tensor?

    public init(keepdims: Bool = false, name: String? = nil) {
        self.keepdims = keepdims
        super.init(name: name)
    }

    public override var typeName: String { "GlobalMaxPooling2D" }
    public override var defaultNameStem: String { "global_max_pooling2d" }

    public override func makeOutputShape(inputShape: [Int]) throws -> [Int] {
        let (_, _, c) = try imageShape(inputShape)
        return keepdims ? [1, 1, c] : [c]
    }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let n = input.shape[0], pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let xp = input.pointer, yp = out.pointer
        for image in 0..<n {
            let xi = xp + image * pixels * c, yi = yp + image * c
            for ch in 0..<c { yi[ch] = xi[ch] }
            for p in 1..<max(pixels, 1) {
                let row = xi + p * c
                for ch in 0..<c { yi[ch] = Swift.max(yi[ch], row[ch]) }
            }
        }
        x = input
        y = out
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        guard let x, let y else { throw NNError.invalidArgument("layer '\(displayName)' (GlobalMaxPooling2D): backward before forward") }
        let n = outputGradient.shape[0], pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let count = tieCounts.tensor(batch: c, sampleShape: []).pointer
        let xp = x.pointer, yp = y.pointer, dy = outputGradient.pointer, d = dx.pointer
        for image in 0..<n {
            let xi = xp + image * pixels * c, di = d + image * pixels * c, yi = yp + image * c, gi = dy + image * c
            for ch in 0..<c { count[ch] = 0 }
            for p in 0..<pixels {
                for ch in 0..<c { let hit: Float = xi[p * c + ch] == yi[ch] ? 1 : 0; di[p * c + ch] = hit; count[ch] += hit }
            }
            for ch in 0..<c { count[ch] = gi[ch] / count[ch] }
            for p in 0..<pixels {
                for ch in 0..<c { di[p * c + ch] *= count[ch] }
            }
        }
        return dx
    }
}
