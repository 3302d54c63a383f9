import NN
/// A small residual network for 28×28 images (Fashion-MNIST, MNIST), built with the graph API and
/// named as Keras's `keras.applications.ResNet` names its layers (`conv2_block1_1_conv`, `_bn`,
/// `_relu`, the projection shortcut `conv3_block1_0_conv`, `conv3_block1_add`, `conv3_block1_out`).
///
/// Stem `conv1_conv` (3×3, same) → `conv1_bn` → `conv1_relu` → `pool1_pool` (2×2 max), then
/// stages of basic blocks (two 3×3 convolutions, BatchNormalization after each, the input added
/// back before the last ReLU). The first block of every stage after the first halves the size
/// with a stride-2 3×3 convolution, and its shortcut is a 1×1 stride-2 projection with its own
/// BatchNormalization. The top is `flatten` (or `avg_pool`, GlobalAveragePooling2D) → `dropout` →
/// `dense` (softmax). On 28×28 Fashion-MNIST the flattened 7×7 map keeps where a feature is, which
/// the average pools away: 0.9295 with `avg_pool` against the flattened top's figure in the README.
///
/// With the defaults on 28×28×1: 28 → 14 (48 channels, two blocks; the first widens the 32-channel
/// stem with a 1×1 projection) → 7 (96 channels, two blocks): about 30 M multiply-adds per image
/// forward, 2.5× `deep-convnet`'s 11.9 M. Stages of 32 and 64 (half the work) reached 0.9316 on
/// Fashion-MNIST with the README's recipe, 48 and 96 0.9354 (see the README's figures).
public enum ResNetSmall {
    /// (filters, blocks) of each stage; every stage after the first starts with a stride-2 block.
    public static let defaultStages: [(filters: Int, blocks: Int)] = [(48, 2), (96, 2)]

    /// What sits between the last stage and the classifier.
    public enum Top: Sendable { case flatten, averagePooling }

    /// Builds the network for `inputShape` images and `classes` classes. `kernelL2` is put on every
    /// kernel; `dropout` is the rate before the classifier (0: no Dropout layer); `blockDropout` the
    /// rate of a Dropout between each block's two convolutions, after the first ReLU, as Wide ResNets
    /// place it (0: none). Without it the 48/96 net overfits Fashion-MNIST (training accuracy 0.974,
    /// test 0.9354); with 0.2 and the zoo's recipe it reaches 0.9386 (see the README's figures).
    public static func build(inputShape: [Int] = [28, 28, 1], classes: Int = 10,
                             stages: [(filters: Int, blocks: Int)] = defaultStages,
                             stemFilters: Int = 32, kernelL2: Float = 1e-4, top: Top = .flatten, dropout: Float = 0.5, blockDropout: Float = 0.2,
                             seed: UInt64 = 0, preprocessing: [Layer] = []) throws -> Model {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("resnet-small needs images [height, width, channels], got input shape \(inputShape)")
        }
        guard classes > 0, stemFilters > 0, !stages.isEmpty, stages.allSatisfy({ $0.filters > 0 && $0.blocks > 0 }) else {
            throw NNError.invalidArgument("resnet-small: classes, filters and block counts must be positive")
        }
        // Checked as Sequential checks it, before any layer sees it.
        _ = try Tensor.validatedElementCount(inputShape, what: "model input shape")
        let input = Input(shape: inputShape)
        var x: SymbolicTensor = input
        for layer in preprocessing { x = layer(x) }
        x = Conv2D(filters: stemFilters, kernelSize: 3, padding: .same, useBias: false, kernelL2: kernelL2, name: "conv1_conv")(x)
        x = BatchNormalization(name: "conv1_bn")(x)
        x = ActivationLayer(.relu, name: "conv1_relu")(x)
        x = MaxPooling2D(poolSize: 2, name: "pool1_pool")(x)
        var channels = stemFilters
        for (s, stage) in stages.enumerated() {
            for b in 0..<stage.blocks {
                let stride = (s > 0 && b == 0) ? 2 : 1
                let name = "conv\(s + 2)_block\(b + 1)"
                var shortcut = x
                if stride != 1 || channels != stage.filters {
                    shortcut = Conv2D(filters: stage.filters, kernelSize: 1, strides: stride, useBias: false,
                                      kernelL2: kernelL2, name: "\(name)_0_conv")(x)
                    shortcut = BatchNormalization(name: "\(name)_0_bn")(shortcut)
                }
                var h = Conv2D(filters: stage.filters, kernelSize: 3, strides: stride, padding: .same, useBias: false,
                               kernelL2: kernelL2, name: "\(name)_1_conv")(x)
                h = BatchNormalization(name: "\(name)_1_bn")(h)
                h = ActivationLayer(.relu, name: "\(name)_1_relu")(h)
                if blockDropout > 0 { h = Dropout(rate: blockDropout, name: "\(name)_1_dropout")(h) }
                h = Conv2D(filters: stage.filters, kernelSize: 3, padding: .same, useBias: false,
                           kernelL2: kernelL2, name: "\(name)_2_conv")(h)
                h = BatchNormalization(name: "\(name)_2_bn")(h)
                x = Add(name: "\(name)_add")([shortcut, h])
                x = ActivationLayer(.relu, name: "\(name)_out")(x)
                channels = stage.filters
            }
        }
        x = top == .flatten ? Flatten(name: "flatten")(x) : GlobalAveragePooling2D(name: "avg_pool")(x)
        if dropout > 0 { x = Dropout(rate: dropout, name: "dropout")(x) }
        // Unnamed: Keras names it "dense", as the zoo's other classifiers.
        x = Dense(units: classes, activation: .softmax, kernelL2: kernelL2)(x)
        return try Model(inputs: input, outputs: x, name: "resnet_small", seed: seed)
    }
}
