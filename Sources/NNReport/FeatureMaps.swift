import NN
/// What the convolutional layers see: the activations of any layer for an input, and images of
/// the first convolution's filters and of feature maps. The report's fifth section is built from
/// these; they are public so a user can build their own views.
extension Model {
    /// Indices in `layers` of the convolutional layers (Conv2D and DepthwiseConv2D), in order.
    public var convolutionLayerIndices: [Int] { layers.indices.filter { layers[$0] is Conv2D || layers[$0] is DepthwiseConv2D } }

    /// The first Conv2D layer, whose filters look directly at the pixels.
    public var firstConvolution: Conv2D? { layers.lazy.compactMap { $0 as? Conv2D }.first }

    /// The output of `layers[index]` for a batch `input` `[N, inputShape...]`: runs layers 0 through
    /// `index` in inference mode (no dropout, BatchNormalization on its moving statistics) and
    /// returns a copy, so later calls do not overwrite it.
    public func activations(ofLayer index: Int, for input: Tensor) throws -> Tensor {
        guard layers.indices.contains(index) else {
            throw NNError.invalidArgument("layer index \(index) is out of range: the model has \(layers.count) layers (0..<\(layers.count))")
        }
        guard input.rank == inputShape.count + 1, Array(input.shape.dropFirst()) == inputShape else {
            throw inputShapeError(what: "input", got: input.shape)
        }
        return try forward([input], through: index, training: false).copy()
    }

    /// The output of the layer called `name` for a batch `input`.
    public func activations(ofLayer name: String, for input: Tensor) throws -> Tensor {
        guard let index = layers.firstIndex(where: { $0.name == name }) else {
            throw NNError.invalidArgument("the model has no layer named '\(name)'; its layers are \(layers.map(\.name).joined(separator: ", "))")
        }
        return try activations(ofLayer: index, for: input)
    }

    /// The feature maps `[H, W, C]` of `layers[index]` for one image, given as `[H, W, C]` or `[1, H, W, C]`.
    public func featureMaps(ofLayer index: Int, for image: Tensor) throws -> Tensor {
        let batch = image.rank == inputShape.count ? image.reshaped([1] + image.shape) : image
        guard batch.shape.first == 1 else {
            throw NNError.invalidArgument("featureMaps takes one image, got a batch of shape \(image.shape)")
        }
        let a = try activations(ofLayer: index, for: batch)
        return a.reshaped(Array(a.shape.dropFirst()))
    }
}

/// Images of filters and activations, upscaled with nearest neighbour so single pixels stay visible.
package enum FeatureMapImages {
    /// One image per channel of `maps` `[H, W, C]`, each scaled from its own minimum to maximum
    /// through `colormap` (a map that is constant, e.g. a dead ReLU, shows as the scale's low end).
    package static func maps(_ maps: Tensor, colormap: ColorMap = .viridis, upscale: Int = 1) -> [RasterImage] {
        precondition(maps.rank == 3, "feature maps are [height, width, channels], got \(maps.shape)")
        let (h, w, c) = (maps.shape[0], maps.shape[1], maps.shape[2])
        let values = maps.elements
        return (0..<c).map { k in
            let plane = (0..<(h * w)).map { values[$0 * c + k] }
            return RasterImage(values: plane, width: w, height: h, colormap: colormap).scaled(by: upscale)
        }
    }

    /// One image per filter of a Conv2D kernel `[kh, kw, in, out]`, each scaled from its own
    /// minimum to maximum: gray for one input channel, RGB for three, otherwise the mean over the
    /// input channels in gray.
    package static func filters(_ kernel: Tensor, upscale: Int = 1) -> [RasterImage] {
        precondition(kernel.rank == 4, "a convolution kernel is [kh, kw, in, out], got \(kernel.shape)")
        let (kh, kw, cin, cout) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
        let v = kernel.elements
        func at(_ y: Int, _ x: Int, _ c: Int, _ f: Int) -> Float { v[((y * kw + x) * cin + c) * cout + f] }
        return (0..<cout).map { f in
            if cin == 3 {
                let all = (0..<(kh * kw * 3)).map { i in at(i / (kw * 3), i / 3 % kw, i % 3, f) }
                let r = RasterImage.extent(all)
                let span = r.upperBound - r.lowerBound
                // NaN/inf weights (a diverged run) draw as 0, and a span that overflows to inf
                // draws as 0 too: UInt8(_:) of a non-finite or out-of-range value would trap.
                let bytes = all.map { v -> UInt8 in
                    let t = span > 0 ? (v - r.lowerBound) / span : 0
                    return UInt8(((t.isFinite ? t : 0).clamped(0, 1) * 255).rounded())
                }
                return RasterImage(width: kw, height: kh, channels: 3, pixels: bytes).scaled(by: upscale)
            }
            let plane = (0..<(kh * kw)).map { i in
                (0..<cin).reduce(Float(0)) { $0 + at(i / kw, i % kw, $1, f) } / Float(cin)
            }
            return RasterImage(gray: plane, width: kw, height: kh, range: RasterImage.extent(plane)).scaled(by: upscale)
        }
    }

    /// Sample `index` of an image batch `[N, H, W, C]` with values in `range`: gray for one
    /// channel, RGB for three, channel 0 otherwise.
    package static func sample(_ index: Int, of images: Tensor, range: ClosedRange<Float>? = nil, upscale: Int = 1) -> RasterImage {
        precondition(images.rank == 4 && index >= 0 && index < images.shape[0],
                     "sample \(index) of images \(images.shape): need [N, H, W, C] and 0 <= index < N")
        let (h, w, c) = (images.shape[1], images.shape[2], images.shape[3])
        let base = images.pointer + index * h * w * c
        // Without a range: 0–1 (the engine's IDX data), or 0–255 when a value says the pixels are
        // unscaled (image folders, as Keras loads them).
        let range = range ?? ((0..<(h * w * c)).contains { base[$0] > 1.5 } ? 0...255 : 0...1)
        let span = range.upperBound - range.lowerBound
        func byte(_ v: Float) -> UInt8 {
            let t = span > 0 ? (v - range.lowerBound) / span : 0
            return UInt8(((t.isFinite ? t : 0).clamped(0, 1) * 255).rounded())
        }
        // RGB and RGBA show in colour (alpha dropped); gray and gray+alpha in gray.
        let channels = c >= 3 ? 3 : 1
        var bytes = [UInt8](repeating: 0, count: h * w * channels)
        for p in 0..<(h * w) {
            for k in 0..<channels { bytes[p * channels + k] = byte(base[p * c + k]) }
        }
        return RasterImage(width: w, height: h, channels: channels, pixels: bytes).scaled(by: upscale)
    }

    /// A nearest-neighbour factor that makes a `size`-pixel side about `target` pixels.
    package static func upscale(for size: Int, target: Int) -> Int { max(1, Int((Double(target) / Double(max(1, size))).rounded())) }
}
