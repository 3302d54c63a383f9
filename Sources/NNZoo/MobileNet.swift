import NN
/// MobileNet v1 (Howard et al. 2017) as Keras's `keras.applications.MobileNet` builds it, layer for
/// layer and name for name: `conv1` (3×3, stride 2) → `conv1_bn` → `conv1_relu` (ReLU6), then 13
/// depthwise-separable blocks `conv_dw_i` → `_bn` → `_relu` → `conv_pw_i` (1×1, the no-im2col GEMM
/// path) → `_bn` → `_relu`, strided blocks preceded by `conv_pad_i` (ZeroPadding2D ((0,1),(0,1)))
/// and a valid 3×3 depthwise window. The top is `global_average_pooling2d` (keepdims) → `dropout`
/// → `conv_preds` (1×1 with bias) → `reshape_2` → `predictions` (softmax).
///
/// For 224×224×3, alpha 1, 1000 classes this has 4,253,864 parameters, 4,231,976 trainable (the
/// rest are BatchNormalization's moving statistics), exactly as Keras 3's `MobileNet(weights=None)`.
///
/// Small inputs: Keras requires at least 32×32, because five stride-2 stages take 32 to 1×1 and a
/// 28×28 input would shrink to nothing before block 12. Below 32 pixels on a side this builder
/// gives `conv1` stride 1 instead (the usual CIFAR/MNIST adaptation), so 28×28 runs 28 → 14 → 7 →
/// 3 → 1 through the strided blocks and every layer keeps its Keras name and parameter shape.
public enum MobileNet {
    /// What to put on top when `includeTop` is false (Keras `pooling`).
    public enum Pooling: Sendable { case none, average }

    /// The (pointwise filters, stride) of the 13 depthwise-separable blocks, before `alpha`.
    public static let blocks: [(filters: Int, stride: Int)] = [
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    ]

    /// The largest width multiplier `build` accepts: 4 makes the last blocks 4096 channels wide
    /// (a 3.2e8-parameter model). Keras only checks alpha > 0; the cap keeps a typo such as 1e30
    /// from asking for more channels than an Int holds.
    public static let maxAlpha: Double = 4
    /// Throws unless `alpha` is a width multiplier `build` accepts: finite and in (0, `maxAlpha`].
    /// `layers(…)` does not throw; a caller that builds from it (`cnn transfer`) checks here first.
    public static func checkAlpha(_ alpha: Double) throws {
        guard alpha.isFinite, alpha > 0, alpha <= maxAlpha else {
            throw NNError.invalidArgument("MobileNet: alpha \(alpha) must be in (0, \(maxAlpha)] (the width multiplier; Keras uses 0.25 to 1)")
        }
    }

    /// The largest depth multiplier `build` accepts (Keras uses 1; 64 already makes 65,536 channels).
    public static let maxDepthMultiplier = 64

    /// The smallest side Keras accepts; smaller inputs get a stride-1 `conv1` (see above).
    public static let kerasMinimumSize = 32

    /// A MobileNet v1 for `inputShape` images. `alpha` scales every layer's filters (Keras's width
    /// multiplier: int(filters · alpha)); `depthMultiplier` is each depthwise layer's; `dropout` is
    /// the rate before `conv_preds`; `preprocessing` layers go in front. Without the top, `pooling: .average` ends in a flat feature
    /// vector (`GlobalAveragePooling2D`), `.none` in the last block's `[h, w, 1024·alpha]` map.
    public static func build(inputShape: [Int] = [224, 224, 3], alpha: Double = 1, depthMultiplier: Int = 1,
                             dropout: Float = 1e-3, includeTop: Bool = true, pooling: Pooling = .none,
                             classes: Int = 1000, classifierActivation: Activation = .softmax,
                             seed: UInt64 = 0, preprocessing: [Layer] = []) throws -> Model {
        guard inputShape.count == 3 else {
            throw NNError.invalidArgument("MobileNet needs images [height, width, channels], got input shape \(inputShape)")
        }
        try checkAlpha(alpha)
        guard depthMultiplier <= maxDepthMultiplier else {
            throw NNError.invalidArgument("MobileNet: depth multiplier \(depthMultiplier) must be at most \(maxDepthMultiplier)")
        }
        guard alpha > 0, depthMultiplier > 0, classes > 0 else {
            throw NNError.invalidArgument("MobileNet: alpha (\(alpha)), depth multiplier (\(depthMultiplier)) and classes (\(classes)) must be positive")
        }
        return try Sequential(inputShape: inputShape,
                              layers: preprocessing + layers(inputShape: inputShape, alpha: alpha, depthMultiplier: depthMultiplier,
                                             dropout: dropout, includeTop: includeTop, pooling: pooling, classes: classes,
                                             classifierActivation: classifierActivation),
                              seed: seed)
    }

    /// The layers of `build`, unbuilt, for adding to a model of one's own.
    public static func layers(inputShape: [Int], alpha: Double = 1, depthMultiplier: Int = 1, dropout: Float = 1e-3,
                              includeTop: Bool = true, pooling: Pooling = .none, classes: Int = 1000,
                              classifierActivation: Activation = .softmax) -> [Layer] {
        // Clamped so that no alpha (NaN, 1e30) traps converting to Int here; `build` refuses such
        // an alpha with a message, and a layer of absurd width is refused when it is built.
        func width(_ filters: Int) -> Int {
            let w = Double(filters) * alpha
            return w.isFinite ? max(1, Int(min(w, 1e12))) : 1
        }
        let small = inputShape.prefix(2).contains { $0 < kerasMinimumSize }
        var result: [Layer] = [
            Conv2D(filters: width(32), kernelSize: 3, strides: small ? 1 : 2, padding: .same, useBias: false, name: "conv1"),
            BatchNormalization(name: "conv1_bn"),
            ReLU(maxValue: 6, name: "conv1_relu"),
        ]
        for (i, block) in blocks.enumerated() {
            let id = i + 1
            if block.stride != 1 { result.append(ZeroPadding2D(padding: ((0, 1), (0, 1)), name: "conv_pad_\(id)")) }
            result += [
                DepthwiseConv2D(kernelSize: 3, strides: block.stride, padding: block.stride == 1 ? .same : .valid,
                                depthMultiplier: depthMultiplier, useBias: false, name: "conv_dw_\(id)"),
                BatchNormalization(name: "conv_dw_\(id)_bn"),
                ReLU(maxValue: 6, name: "conv_dw_\(id)_relu"),
                Conv2D(filters: width(block.filters), kernelSize: 1, padding: .same, useBias: false, name: "conv_pw_\(id)"),
                BatchNormalization(name: "conv_pw_\(id)_bn"),
                ReLU(maxValue: 6, name: "conv_pw_\(id)_relu"),
            ]
        }
        if includeTop {
            result += [
                GlobalAveragePooling2D(keepdims: true, name: "global_average_pooling2d"),
                Dropout(rate: dropout, name: "dropout"),
                Conv2D(filters: classes, kernelSize: 1, padding: .same, name: "conv_preds"),
                Reshape([classes], name: "reshape_2"),
                ActivationLayer(classifierActivation, name: "predictions"),
            ]
        } else if pooling == .average {
            result.append(GlobalAveragePooling2D(name: "global_average_pooling2d"))
        }
        return result
    }
}
