import NN
/// MobileNet v2 (Sandler et al. 2018) as Keras's `keras.applications.MobileNetV2` builds it, layer
/// for layer and name for name, with the graph API (its residual blocks add their input back):
///
/// `Conv1` (3×3, stride 2, same) → `bn_Conv1` → `Conv1_relu` (ReLU6), then 17 inverted residual
/// blocks: `block_N_expand` (1×1, expansion × input channels) → `_expand_BN` → `_expand_relu` (not in
/// block 0, whose layers are named `expanded_conv_…`), for a strided block `block_N_pad`
/// (ZeroPadding2D by Keras's `correct_pad`) before a valid window, `block_N_depthwise` (3×3) →
/// `_depthwise_BN` → `_depthwise_relu`, `block_N_project` (1×1, linear) → `_project_BN`, and
/// `block_N_add` when the block keeps its size and channels. Then `Conv_1` (1×1, 1280 channels,
/// or 1280·alpha rounded when alpha > 1) → `Conv_1_bn` → `out_relu`, and the top
/// `global_average_pooling2d` → `predictions` (Dense, softmax).
///
/// Every width is Keras's `_make_divisible(filters · alpha, 8)`; every BatchNormalization has Keras's
/// epsilon 1e-3 and momentum 0.999. For 224×224×3, alpha 1, 1000 classes: 3,538,984 parameters,
/// 3,504,872 trainable, as Keras 3's `MobileNetV2(weights=None)`.
///
/// Unlike Keras, inputs under 32×32 are accepted: the strided blocks' padding keeps every size at
/// least 1 (28×28 runs 14 → 7 → 4 → 2 → 1).
public enum MobileNetV2 {
    /// (output filters before alpha, stride, expansion) of the 17 inverted residual blocks, block 0 first.
    public static let blocks: [(filters: Int, stride: Int, expansion: Int)] = [
        (16, 1, 1),
        (24, 2, 6), (24, 1, 6),
        (32, 2, 6), (32, 1, 6), (32, 1, 6),
        (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
        (96, 1, 6), (96, 1, 6), (96, 1, 6),
        (160, 2, 6), (160, 1, 6), (160, 1, 6),
        (320, 1, 6),
    ]

    /// Keras's `_make_divisible`: `v` rounded to the nearest multiple of `divisor` (at least
    /// `divisor`), one multiple up when rounding down lost more than 10%.
    public static func makeDivisible(_ v: Double, divisor: Int = 8, minValue: Int? = nil) -> Int {
        let d = Double(divisor)
        var newV = max(minValue ?? divisor, Int(v + d / 2) / divisor * divisor)
        if Double(newV) < 0.9 * v { newV += divisor }
        return newV
    }

    /// Keras's `imagenet_utils.correct_pad` for a 3×3 stride-2 window on a `height`×`width` map:
    /// ((top, bottom), (left, right)), one less on the top/left of an even side.
    public static func correctPad(height: Int, width: Int, kernelSize: Int = 3) -> ((Int, Int), (Int, Int)) {
        let c = kernelSize / 2
        return ((c - (1 - height % 2), c), (c - (1 - width % 2), c))
    }

    /// A MobileNet v2 for `inputShape` images. `alpha` is Keras's width multiplier (any value in
    /// (0, `MobileNet.maxAlpha`]); `pooling` applies without the top (Keras `pooling`);
    /// `preprocessing` layers go in front.
    public static func build(inputShape: [Int] = [224, 224, 3], alpha: Double = 1, includeTop: Bool = true,
                             pooling: MobileNet.Pooling = .none, classes: Int = 1000,
                             classifierActivation: Activation = .softmax,
                             seed: UInt64 = 0, preprocessing: [Layer] = []) throws -> Model {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("MobileNetV2 needs images [height, width, channels], got input shape \(inputShape)")
        }
        try MobileNet.checkAlpha(alpha)
        // Checked as Sequential checks it, before any size is computed from it.
        _ = try Tensor.validatedElementCount(inputShape, what: "model input shape")
        guard classes > 0 else { throw NNError.invalidArgument("MobileNetV2: classes (\(classes)) must be positive") }
        let input = Input(shape: inputShape)
        var x: SymbolicTensor = input
        // The preprocessing layers' output shape, for the strided blocks' padding.
        var shape = inputShape
        for layer in preprocessing {
            shape = try layer.makeOutputShape(inputShape: shape)
            x = layer(x)
        }
        guard shape.count == 3 else {
            throw NNError.invalidArgument("MobileNetV2 needs images [height, width, channels] after preprocessing, got \(shape)")
        }
        var (height, width) = (shape[0], shape[1])
        func bn(_ name: String) -> BatchNormalization { BatchNormalization(momentum: 0.999, epsilon: 1e-3, name: name) }

        let firstFilters = makeDivisible(32 * alpha)
        x = Conv2D(filters: firstFilters, kernelSize: 3, strides: 2, padding: .same, useBias: false, name: "Conv1")(x)
        x = bn("bn_Conv1")(x)
        x = ReLU(maxValue: 6, name: "Conv1_relu")(x)
        (height, width) = ((height + 1) / 2, (width + 1) / 2)

        var channels = firstFilters
        for (id, block) in blocks.enumerated() {
            let pointwise = makeDivisible(Double(Int(Double(block.filters) * alpha)))
            let blockInput = x
            var prefix = "block_\(id)_"
            if id > 0 {
                x = Conv2D(filters: block.expansion * channels, kernelSize: 1, padding: .same, useBias: false,
                           name: prefix + "expand")(x)
                x = bn(prefix + "expand_BN")(x)
                x = ReLU(maxValue: 6, name: prefix + "expand_relu")(x)
            } else {
                prefix = "expanded_conv_"
            }
            if block.stride == 2 {
                let pad = correctPad(height: height, width: width)
                x = ZeroPadding2D(padding: pad, name: prefix + "pad")(x)
                height = (height + pad.0.0 + pad.0.1 - 3) / 2 + 1
                width = (width + pad.1.0 + pad.1.1 - 3) / 2 + 1
            }
            x = DepthwiseConv2D(kernelSize: 3, strides: block.stride, padding: block.stride == 1 ? .same : .valid,
                                useBias: false, name: prefix + "depthwise")(x)
            x = bn(prefix + "depthwise_BN")(x)
            x = ReLU(maxValue: 6, name: prefix + "depthwise_relu")(x)
            x = Conv2D(filters: pointwise, kernelSize: 1, padding: .same, useBias: false, name: prefix + "project")(x)
            x = bn(prefix + "project_BN")(x)
            if channels == pointwise && block.stride == 1 {
                x = Add(name: prefix + "add")([blockInput, x])
            }
            channels = pointwise
        }

        let lastFilters = alpha > 1 ? makeDivisible(1280 * alpha) : 1280
        x = Conv2D(filters: lastFilters, kernelSize: 1, useBias: false, name: "Conv_1")(x)
        x = bn("Conv_1_bn")(x)
        x = ReLU(maxValue: 6, name: "out_relu")(x)
        if includeTop {
            x = GlobalAveragePooling2D(name: "global_average_pooling2d")(x)
            x = Dense(units: classes, activation: classifierActivation, name: "predictions")(x)
        } else if pooling == .average {
            x = GlobalAveragePooling2D(name: "global_average_pooling2d")(x)
        }
        // Keras's name: f"mobilenetv2_{alpha:0.2f}_{rows}".
        let hundredths = Int((alpha * 100).rounded())
        let alphaText = "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
        return try Model(inputs: input, outputs: x, name: "mobilenetv2_\(alphaText)_\(inputShape[0])", seed: seed)
    }
}
