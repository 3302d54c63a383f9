import NN

/// A small U-Net (Ronneberger et al., 2015) for image-to-image tasks such as denoising: an encoder
/// of `depth` blocks (two 3×3 same-padded ReLU `Conv2D`s, then `MaxPooling2D(2)`), a bottleneck
/// block, and a decoder that upsamples with `Conv2DTranspose(2×2, stride 2)`, concatenates the
/// encoder block of the same size (the skip connection) and runs two more convolutions; a 1×1
/// `Conv2D` with a sigmoid gives the output image, the input's size with `outputChannels` channels.
/// Filters start at `filters` and double at every level down.
///
/// ```swift
/// let model = try UNet.build(inputShape: [28, 28, 1], filters: 16, depth: 2, seed: 1)
/// model.compile(optimizer: Adam(), loss: MeanSquaredError())
/// try model.fit(x: noisy, y: clean, epochs: 5)
/// ```
public enum UNet {
    /// The U-Net graph. Height and width must be divisible by 2^depth (28×28 allows depth 2).
    /// Layers are named by level: `down1_conv1`, `down1_pool`, `bottleneck_conv1`, `up2_transpose`,
    /// `up2_concat`, `up2_conv1`, …, `output`.
    public static func build(inputShape: [Int] = [28, 28, 1], filters: Int = 16, depth: Int = 2, outputChannels: Int? = nil,
                             seed: UInt64 = 0, name: String = "unet") throws -> Model {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("U-Net takes images [height, width, channels], got the input shape \(inputShape)")
        }
        guard (1...6).contains(depth), (1...1024).contains(filters) else {
            throw NNError.invalidArgument("U-Net: depth must be 1...6 and filters 1...1024, got depth \(depth) and filters \(filters)")
        }
        let factor = 1 << depth
        guard inputShape[0] % factor == 0, inputShape[1] % factor == 0 else {
            throw NNError.invalidArgument("U-Net of depth \(depth): height and width must be divisible by \(factor), got \(inputShape[0])×\(inputShape[1])")
        }
        let input = Input(shape: inputShape, name: "noisy")
        func block(_ x: SymbolicTensor, _ f: Int, _ prefix: String) -> SymbolicTensor {
            let a = Conv2D(filters: f, kernelSize: 3, padding: .same, activation: .relu, kernelInitializer: .heNormal, name: "\(prefix)_conv1")(x)
            return Conv2D(filters: f, kernelSize: 3, padding: .same, activation: .relu, kernelInitializer: .heNormal, name: "\(prefix)_conv2")(a)
        }
        var skips: [SymbolicTensor] = []
        var x: SymbolicTensor = input
        for level in 1...depth {
            let features = block(x, filters << (level - 1), "down\(level)")
            skips.append(features)
            x = MaxPooling2D(poolSize: 2, name: "down\(level)_pool")(features)
        }
        x = block(x, filters << depth, "bottleneck")
        for level in stride(from: depth, through: 1, by: -1) {
            let f = filters << (level - 1)
            let up = Conv2DTranspose(filters: f, kernelSize: 2, strides: 2, padding: .same, name: "up\(level)_transpose")(x)
            x = block(Concatenate(name: "up\(level)_concat")([up, skips[level - 1]]), f, "up\(level)")
        }
        let output = Conv2D(filters: outputChannels ?? inputShape[2], kernelSize: 1, activation: .sigmoid, name: "output")(x)
        return try Model(inputs: input, outputs: output, name: name, seed: seed)
    }

    /// `images` (values in [0, 1]) plus Gaussian noise of standard deviation `stddev`, clipped to
    /// [0, 1] (the TensorFlow autoencoder tutorial's noisy Fashion-MNIST), drawn from `seed`.
    public static func addNoise(_ images: Tensor, stddev: Float, seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let noisy = Tensor(shape: images.shape)
        let x = images.pointer, y = noisy.pointer
        for i in 0..<images.count { y[i] = min(max(x[i] + stddev * rng.nextNormal(), 0), 1) }
        return noisy
    }

    /// The mean of (a − b)² over all elements, in Double.
    public static func meanSquaredError(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.count == b.count, "meanSquaredError: \(a.shape) and \(b.shape) differ")
        let x = a.pointer, y = b.pointer
        var sum = 0.0
        for i in 0..<a.count { let d = Double(x[i]) - Double(y[i]); sum += d * d }
        return a.count == 0 ? 0 : sum / Double(a.count)
    }
}
