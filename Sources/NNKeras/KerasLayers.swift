import Foundation
import NN

/// Every layer of the engine as a Keras layer config and back: Keras's class names and config keys
/// (Keras 3's, and Keras 2's where they differ), so a `.keras` or `.h5` file names the same layers,
/// arguments and defaults a Keras user wrote. Anything the engine does not compute exactly as Keras
/// does is a problem reported by name, never silently approximated.
enum KerasLayers {
    /// The class names `decode` knows (InputLayer is the model's input, not a layer here).
    static let classNames = ["Dense", "Conv2D", "DepthwiseConv2D", "MaxPooling2D", "BatchNormalization", "Dropout",
                             "Flatten", "Reshape", "ZeroPadding2D", "GlobalAveragePooling2D", "Activation", "ReLU",
                             "Softmax", "Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
                             "RandomTranslation", "RandomContrast", "RandomBrightness", "Add", "Subtract", "Multiply",
                             "Average", "Maximum", "Minimum", "Concatenate",
                             "AveragePooling2D", "GlobalMaxPooling2D", "UpSampling2D", "Cropping2D", "SpatialDropout2D", "Permute",
                             "LeakyReLU", "PReLU", "ELU", "Conv2DTranspose", "SeparableConv2D",
                             "LayerNormalization"]

    /// The Keras class of an engine layer (nil for a layer Keras has no equivalent of).
    static func className(of layer: Layer) -> String? {
        switch layer {
        case is Dense: return "Dense"
        case is Conv2D: return "Conv2D"
        case is DepthwiseConv2D: return "DepthwiseConv2D"
        case is MaxPooling2D: return "MaxPooling2D"
        case is BatchNormalization: return "BatchNormalization"
        case is Dropout: return "Dropout"
        case is Flatten: return "Flatten"
        case is Reshape: return "Reshape"
        case is ZeroPadding2D: return "ZeroPadding2D"
        case is GlobalAveragePooling2D: return "GlobalAveragePooling2D"
        case is Rescaling: return "Rescaling"
        case is Resizing: return "Resizing"
        case is CenterCrop: return "CenterCrop"
        case is RandomFlip: return "RandomFlip"
        case is RandomRotation: return "RandomRotation"
        case is RandomZoom: return "RandomZoom"
        case is RandomTranslation: return "RandomTranslation"
        case is RandomContrast: return "RandomContrast"
        case is RandomBrightness: return "RandomBrightness"
        case is ReLU: return "ReLU"
        case is Softmax: return "Softmax"
        case is ActivationLayer: return "Activation"
        case is Add: return "Add"
        case is Subtract: return "Subtract"
        case is Multiply: return "Multiply"
        case is Average: return "Average"
        case is Maximum: return "Maximum"
        case is Minimum: return "Minimum"
        case is Concatenate: return "Concatenate"
        case is AveragePooling2D: return "AveragePooling2D"
        case is GlobalMaxPooling2D: return "GlobalMaxPooling2D"
        case is UpSampling2D: return "UpSampling2D"
        case is Cropping2D: return "Cropping2D"
        case is SpatialDropout2D: return "SpatialDropout2D"
        case is Permute: return "Permute"
        case is LeakyReLU: return "LeakyReLU"
        case is PReLU: return "PReLU"
        case is ELU: return "ELU"
        case is Conv2DTranspose: return "Conv2DTranspose"
        case is SeparableConv2D: return "SeparableConv2D"
        case is LayerNormalization: return "LayerNormalization"
        default: return nil
        }
    }

    /// Where Keras 3 keeps each layer's variables in `model.weights.h5`: not under the layer's name
    /// (names are generated, so Keras does not trust them) but under its class name in snake case,
    /// numbered in model order — `conv2d`, `conv2d_1`, `batch_normalization`, … (Keras's
    /// `_save_container_state`). `classNames` lists the model's layers in order.
    static func weightKeys(classNames: [String]) -> [String] {
        var used: [String: Int] = [:]
        return classNames.map { className in
            let stem = snakeCase(className)
            if let n = used[stem] {
                used[stem] = n + 1
                return "\(stem)_\(n + 1)"
            }
            used[stem] = 0
            return stem
        }
    }

    /// Keras's `naming.to_snake_case`: `DepthwiseConv2D` → `depthwise_conv2d`, `ReLU` → `re_lu`.
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        // (.)([A-Z][a-z]+) → \1_\2, then ([a-z])([A-Z]) → \1_\2, then lowercase.
        var first: [Character] = []
        var i = 0
        while i < chars.count {
            if i > 0, chars[i].isUppercase, i + 1 < chars.count, chars[i + 1].isLowercase, chars[i].isASCII {
                first.append("_")
            }
            first.append(chars[i])
            i += 1
        }
        var second: [Character] = []
        for (j, c) in first.enumerated() {
            if j > 0, c.isUppercase, first[j - 1].isLowercase { second.append("_") }
            second.append(c)
        }
        return String(second).lowercased()
    }

    // MARK: Layer → config

    /// The Keras layer entry for `layer`: `{"module", "class_name", "config", "registered_name", "build_config"}`.
    static func encode(_ layer: Layer) throws -> JSONValue {
        var c: [(key: String, value: JSONValue)] = [("name", .string(layer.name)), ("trainable", .bool(layer.trainable)),
                                                    ("dtype", dtypePolicy)]
        let className: String
        switch layer {
        case let l as Dense:
            className = "Dense"
            c += [("units", .integer(l.units)), ("activation", .string(l.activation.rawValue)), ("use_bias", .bool(l.useBias)),
                  ("kernel_initializer", try initializer(l.kernelInitializer)), ("bias_initializer", try initializer(l.biasInitializer)),
                  ("kernel_regularizer", regularizer(l.kernelL2)), ("bias_regularizer", .null), ("kernel_constraint", .null),
                  ("bias_constraint", .null)]
        case let l as Conv2D:
            className = "Conv2D"
            c += [("filters", .integer(l.filters)), ("kernel_size", pair(l.kernelSize)), ("strides", pair(l.strides)),
                  ("padding", .string(l.padding.rawValue)), ("data_format", .string("channels_last")),
                  ("dilation_rate", pair((1, 1))), ("groups", .integer(1)), ("activation", .string(l.activation.rawValue)),
                  ("use_bias", .bool(l.useBias)), ("kernel_initializer", try initializer(l.kernelInitializer)),
                  ("bias_initializer", try initializer(l.biasInitializer)), ("kernel_regularizer", regularizer(l.kernelL2)),
                  ("bias_regularizer", .null), ("activity_regularizer", .null), ("kernel_constraint", .null), ("bias_constraint", .null)]
        case let l as DepthwiseConv2D:
            className = "DepthwiseConv2D"
            c += [("depth_multiplier", .integer(l.depthMultiplier)), ("kernel_size", pair(l.kernelSize)), ("strides", pair(l.strides)),
                  ("padding", .string(l.padding.rawValue)), ("data_format", .string("channels_last")),
                  ("dilation_rate", pair((1, 1))), ("activation", .string(l.activation.rawValue)), ("use_bias", .bool(l.useBias)),
                  ("depthwise_initializer", try initializer(l.depthwiseInitializer)),
                  ("bias_initializer", try initializer(l.biasInitializer)), ("depthwise_regularizer", regularizer(l.kernelL2)),
                  ("bias_regularizer", .null), ("activity_regularizer", .null), ("depthwise_constraint", .null), ("bias_constraint", .null)]
        case let l as MaxPooling2D:
            className = "MaxPooling2D"
            c += [("pool_size", pair(l.poolSize)), ("padding", .string(l.padding.rawValue)), ("strides", pair(l.strides)),
                  ("data_format", .string("channels_last"))]
        case let l as BatchNormalization:
            className = "BatchNormalization"
            c += [("axis", .integer(-1)), ("momentum", .float(l.momentum)), ("epsilon", .float(l.epsilon)), ("center", .bool(true)),
                  ("scale", .bool(true)), ("beta_initializer", try initializer(.zeros)), ("gamma_initializer", try initializer(.ones)),
                  ("moving_mean_initializer", try initializer(.zeros)), ("moving_variance_initializer", try initializer(.ones)),
                  ("beta_regularizer", .null), ("gamma_regularizer", .null), ("beta_constraint", .null), ("gamma_constraint", .null),
                  ("synchronized", .bool(false))]
        case let l as Dropout:
            className = "Dropout"
            c += [("rate", .float(l.rate)), ("seed", l.seed.map { .integer(Int(Int64(bitPattern: $0))) } ?? .null),
                  ("noise_shape", .null)]
        case is Flatten:
            className = "Flatten"
            c += [("data_format", .string("channels_last"))]
        case let l as Reshape:
            className = "Reshape"
            c += [("target_shape", .array(l.targetShape.map { .integer($0) }))]
        case let l as ZeroPadding2D:
            className = "ZeroPadding2D"
            let p = l.padding
            c += [("padding", .array([.array([.integer(p.0.top), .integer(p.0.bottom)]), .array([.integer(p.1.left), .integer(p.1.right)])])),
                  ("data_format", .string("channels_last"))]
        case let l as GlobalAveragePooling2D:
            className = "GlobalAveragePooling2D"
            c += [("data_format", .string("channels_last")), ("keepdims", .bool(l.keepdims))]
        case let l as Rescaling:
            className = "Rescaling"
            c += [("scale", .float(l.scale)), ("offset", .float(l.offset))]
        case let l as Resizing:
            className = "Resizing"
            c += [("data_format", .string("channels_last")), ("height", .integer(l.height)), ("width", .integer(l.width)),
                  ("interpolation", .string(l.interpolation.rawValue)), ("crop_to_aspect_ratio", .bool(l.cropToAspectRatio)),
                  ("pad_to_aspect_ratio", .bool(false)), ("fill_mode", .string("constant")), ("fill_value", .float(0)),
                  ("antialias", .bool(false))]
        case let l as CenterCrop:
            className = "CenterCrop"
            c += [("data_format", .string("channels_last")), ("height", .integer(l.height)), ("width", .integer(l.width))]
        case let l as RandomFlip:
            className = "RandomFlip"
            c += [("data_format", .string("channels_last")), ("seed", seed(l.seed)), ("mode", .string(l.mode.rawValue))]
        case let l as RandomRotation:
            // Keras writes the factor as the (lower, upper) pair it resolved.
            className = "RandomRotation"
            let r = l.factor.range()
            c += [("data_format", .string("channels_last")), ("factor", factor(AugmentationFactor(r.lower, r.upper))),
                  ("fill_mode", .string(l.fillMode.rawValue)), ("fill_value", .float(l.fillValue)),
                  ("interpolation", .string(l.interpolation.rawValue)), ("seed", seed(l.seed))]
        case let l as RandomZoom:
            className = "RandomZoom"
            c += [("data_format", .string("channels_last")), ("height_factor", factor(l.heightFactor)),
                  ("width_factor", l.widthFactor.map(factor) ?? .null), ("fill_mode", .string(l.fillMode.rawValue)),
                  ("interpolation", .string(l.interpolation.rawValue)), ("seed", seed(l.seed)), ("fill_value", .float(l.fillValue))]
        case let l as RandomTranslation:
            className = "RandomTranslation"
            c += [("data_format", .string("channels_last")), ("height_factor", factor(l.heightFactor)),
                  ("width_factor", factor(l.widthFactor)), ("fill_mode", .string(l.fillMode.rawValue)),
                  ("interpolation", .string(l.interpolation.rawValue)), ("seed", seed(l.seed)), ("fill_value", .float(l.fillValue))]
        case let l as RandomContrast:
            className = "RandomContrast"
            let r = l.factor.range(floor: 0)
            c += [("data_format", .string("channels_last")), ("factor", factor(AugmentationFactor(r.lower, r.upper))),
                  ("value_range", .array([.float(l.valueRange.lowerBound), .float(l.valueRange.upperBound)])), ("seed", seed(l.seed))]
        case let l as RandomBrightness:
            className = "RandomBrightness"
            let r = l.factor.range()
            c += [("data_format", .string("channels_last")), ("factor", factor(AugmentationFactor(r.lower, r.upper))),
                  ("value_range", .array([.float(l.valueRange.lowerBound), .float(l.valueRange.upperBound)])), ("seed", seed(l.seed))]
        case let l as ReLU:
            className = "ReLU"
            c += [("max_value", l.maxValue.map { .float($0) } ?? .null), ("negative_slope", .float(0)), ("threshold", .float(0))]
        case is Softmax:
            className = "Softmax"
            c += [("axis", .integer(-1))]
        case let l as ActivationLayer:
            className = "Activation"
            c += [("activation", .string(l.activation.rawValue))]
        case let l as Concatenate:
            className = "Concatenate"
            c += [("axis", .integer(l.axis))]
        case is Add, is Subtract, is Multiply, is Average, is Maximum, is Minimum:
            className = Self.className(of: layer)!
        case let l as AveragePooling2D:
            className = "AveragePooling2D"
            c += [("pool_size", pair(l.poolSize)), ("padding", .string(l.padding.rawValue)), ("strides", pair(l.strides)),
                  ("data_format", .string("channels_last"))]
        case let l as GlobalMaxPooling2D:
            className = "GlobalMaxPooling2D"
            c += [("data_format", .string("channels_last")), ("keepdims", .bool(l.keepdims))]
        case let l as UpSampling2D:
            className = "UpSampling2D"
            c += [("size", pair(l.size)), ("data_format", .string("channels_last")), ("interpolation", .string(l.interpolation.rawValue))]
        case let l as Cropping2D:
            className = "Cropping2D"
            let p = l.cropping
            c += [("cropping", .array([.array([.integer(p.0.top), .integer(p.0.bottom)]), .array([.integer(p.1.left), .integer(p.1.right)])])),
                  ("data_format", .string("channels_last"))]
        case let l as SpatialDropout2D:
            // Keras's SpatialDropout2D takes no `trainable` and writes its dtype as a string.
            className = "SpatialDropout2D"
            c = [("rate", .float(l.rate)), ("seed", seed(l.seed)), ("name", .string(layer.name)), ("dtype", .string("float32")),
                 ("data_format", .string("channels_last"))]
        case let l as Permute:
            className = "Permute"
            c += [("dims", .array(l.dims.map { .integer($0) }))]
        case let l as LeakyReLU:
            className = "LeakyReLU"
            c += [("negative_slope", .float(l.negativeSlope))]
        case let l as PReLU:
            className = "PReLU"
            c += [("alpha_initializer", try initializer(l.alphaInitializer)), ("alpha_regularizer", .null), ("alpha_constraint", .null),
                  ("shared_axes", l.sharedAxes.map { .array($0.map { .integer($0) }) } ?? .null)]
        case let l as ELU:
            className = "ELU"
            c += [("alpha", .float(l.alpha))]
        case let l as Conv2DTranspose:
            className = "Conv2DTranspose"
            c += [("filters", .integer(l.filters)), ("kernel_size", pair(l.kernelSize)), ("strides", pair(l.strides)),
                  ("padding", .string(l.padding.rawValue)), ("output_padding", l.outputPadding.map(pair) ?? .null),
                  ("data_format", .string("channels_last")), ("dilation_rate", pair((1, 1))), ("activation", .string(l.activation.rawValue)),
                  ("use_bias", .bool(l.useBias)), ("kernel_initializer", try initializer(l.kernelInitializer)),
                  ("bias_initializer", try initializer(l.biasInitializer)), ("kernel_regularizer", regularizer(l.kernelL2)),
                  ("bias_regularizer", .null), ("activity_regularizer", .null), ("kernel_constraint", .null), ("bias_constraint", .null)]
        case let l as SeparableConv2D:
            className = "SeparableConv2D"
            c += [("depth_multiplier", .integer(l.depthMultiplier)), ("filters", .integer(l.filters)), ("kernel_size", pair(l.kernelSize)),
                  ("strides", pair(l.strides)), ("padding", .string(l.padding.rawValue)), ("data_format", .string("channels_last")),
                  ("dilation_rate", pair((1, 1))), ("activation", .string(l.activation.rawValue)), ("use_bias", .bool(l.useBias)),
                  ("depthwise_initializer", try initializer(l.depthwiseInitializer)),
                  ("pointwise_initializer", try initializer(l.pointwiseInitializer)), ("bias_initializer", try initializer(l.biasInitializer)),
                  ("depthwise_regularizer", regularizer(l.kernelL2)), ("pointwise_regularizer", regularizer(l.pointwiseL2)),
                  ("bias_regularizer", .null), ("activity_regularizer", .null), ("depthwise_constraint", .null),
                  ("pointwise_constraint", .null), ("bias_constraint", .null)]
        case let l as LayerNormalization:
            className = "LayerNormalization"
            // Keras turns the axis into a list when the layer is built.
            c += [("axis", l.isBuilt ? .array([.integer(-1)]) : .integer(-1)), ("epsilon", .float(l.epsilon)), ("center", .bool(l.center)), ("scale", .bool(l.scale)),
                  ("rms_scaling", .bool(false)), ("beta_initializer", try initializer(l.betaInitializer)),
                  ("gamma_initializer", try initializer(l.gammaInitializer)), ("beta_regularizer", .null), ("gamma_regularizer", .null),
                  ("beta_constraint", .null), ("gamma_constraint", .null)]
        default:
            throw NNError.invalidArgument("layer '\(layer.name)' (\(layer.typeName)) has no Keras equivalent this engine can write")
        }
        var entry: [(key: String, value: JSONValue)] = [("module", .string("keras.layers")), ("class_name", .string(className)),
                                                        ("config", .object(c)), ("registered_name", .null)]
        if let merge = layer as? MergeLayer {
            // A merge layer is built on the list of its inputs' shapes.
            if merge.isBuilt { entry.append(("build_config", .object([("input_shape", .array(merge.inputShapes.map { .batchShape($0) }))]))) }
        } else if layer.isBuilt {
            entry.append(("build_config", .object([("input_shape", .batchShape(layer.inputShape))])))
        }
        return .object(entry)
    }

    /// Keras 3's float32 dtype policy, as every layer config carries it.
    static let dtypePolicy: JSONValue = .object([("module", .string("keras")), ("class_name", .string("DTypePolicy")),
                                                 ("config", .object([("name", .string("float32"))])), ("registered_name", .null)])

    /// A Keras factor: the one number, or the [lower, upper] list.
    static func factor(_ f: AugmentationFactor) -> JSONValue {
        f.isSingle ? .float(f.values[0]) : .array(f.values.map { .float($0) })
    }

    /// A layer seed as Keras's integer (all 64 bits, as Dropout's), or null.
    static func seed(_ s: UInt64?) -> JSONValue { s.map { .integer(Int(Int64(bitPattern: $0))) } ?? .null }

    static func pair(_ p: (Int, Int)) -> JSONValue { .array([.integer(p.0), .integer(p.1)]) }

    static func regularizer(_ l2: Float) -> JSONValue {
        guard l2 != 0 else { return .null }
        return .object([("module", .string("keras.regularizers")), ("class_name", .string("L2")),
                        ("config", .object([("l2", .float(l2))])), ("registered_name", .null)])
    }

    static func initializer(_ i: Initializer) throws -> JSONValue {
        let (name, config): (String, [(key: String, value: JSONValue)])
        switch i {
        case .glorotUniform: (name, config) = ("GlorotUniform", [("seed", .null)])
        case .heNormal: (name, config) = ("HeNormal", [("seed", .null)])
        case .heUniform: (name, config) = ("HeUniform", [("seed", .null)])
        case .zeros: (name, config) = ("Zeros", [])
        case .ones: (name, config) = ("Ones", [])
        case .constant(let v): (name, config) = ("Constant", [("value", .float(v))])
        case .orthogonal(let gain): (name, config) = ("Orthogonal", [("gain", .float(gain)), ("seed", .null)])
        case .randomNormal(let mean, let stddev): (name, config) = ("RandomNormal", [("mean", .float(mean)), ("stddev", .float(stddev)), ("seed", .null)])
        case .randomUniform(let low, let high): (name, config) = ("RandomUniform", [("minval", .float(low)), ("maxval", .float(high)), ("seed", .null)])
        }
        return .object([("module", .string("keras.initializers")), ("class_name", .string(name)),
                        ("config", .object(config)), ("registered_name", .null)])
    }

    // MARK: Config → layer

    /// The layer a Keras layer entry describes, or nil with every reason in `problems` (the caller
    /// reports all layers' problems in one error). `entry` is `{"class_name", "config", …}`.
    static func decode(_ entry: JSONValue, index: Int, problems: inout [String]) -> Decoded? {
        let className = entry["class_name"]?.stringValue ?? "?"
        guard let config = entry["config"], case .object = config else {
            problems.append("layer \(index) (\(className)): no config object")
            return nil
        }
        let name = config["name"]?.stringValue ?? entry["name"]?.stringValue ?? ""
        var r = ConfigReader(config: config, label: "layer '\(name.isEmpty ? "#\(index)" : name)' (\(className))")
        let layer: Layer?
        switch className {
        case "Dense":
            let units = r.positiveInt("units")
            let activation = r.activation("activation")
            let useBias = r.bool("use_bias", default: true)
            let ki = r.initializer("kernel_initializer", default: .glorotUniform)
            let bi = r.initializer("bias_initializer", default: .zeros)
            let l2 = r.l2("kernel_regularizer")
            r.requireNull(["bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "quantization_config"])
            layer = units.map { Dense(units: $0, activation: activation, useBias: useBias, kernelInitializer: ki, biasInitializer: bi, kernelL2: l2, name: name) }
        case "Conv2D":
            let filters = r.positiveInt("filters")
            let o = r.convOptions(groups: true)
            let ki = r.initializer("kernel_initializer", default: .glorotUniform)
            let bi = r.initializer("bias_initializer", default: .zeros)
            let l2 = r.l2("kernel_regularizer")
            r.requireNull(["bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank"])
            if let filters, let kernelSize = o.kernelSize, let strides = o.strides {
                layer = Conv2D(filters: filters, kernelSize: kernelSize, strides: strides, padding: o.padding, activation: o.activation,
                               useBias: o.useBias, kernelInitializer: ki, biasInitializer: bi, kernelL2: l2, name: name)
            } else { layer = nil }
        case "DepthwiseConv2D":
            let multiplier = r.positiveInt("depth_multiplier", default: 1)
            let o = r.convOptions()
            let ki = r.initializer("depthwise_initializer", default: .glorotUniform)
            let bi = r.initializer("bias_initializer", default: .zeros)
            let l2 = r.l2("depthwise_regularizer")
            r.requireNull(["bias_regularizer", "activity_regularizer", "depthwise_constraint", "bias_constraint", "lora_rank"])
            if let multiplier, let kernelSize = o.kernelSize, let strides = o.strides {
                layer = DepthwiseConv2D(kernelSize: kernelSize, strides: strides, padding: o.padding, depthMultiplier: multiplier,
                                        activation: o.activation, useBias: o.useBias, depthwiseInitializer: ki, biasInitializer: bi,
                                        kernelL2: l2, name: name)
            } else { layer = nil }
        case "MaxPooling2D":
            let poolSize = r.pair("pool_size", default: (2, 2))
            let strides = r.optionalPair("strides")
            let padding = r.padding("padding")
            r.channelsLast()
            layer = poolSize.map { MaxPooling2D(poolSize: $0, strides: strides ?? $0, padding: padding, name: name) }
        case "BatchNormalization":
            r.lastAxis("axis")
            let momentum = r.float("momentum", default: 0.99)
            let epsilon = r.float("epsilon", default: 1e-3)
            r.requireValue("center", true)
            r.requireValue("scale", true)
            r.requireInitializer("beta_initializer", .zeros)
            r.requireInitializer("gamma_initializer", .ones)
            r.requireInitializer("moving_mean_initializer", .zeros)
            r.requireInitializer("moving_variance_initializer", .ones)
            r.requireNull(["beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "renorm_clipping"])
            r.requireValue("renorm", false)
            r.ignore(["synchronized", "renorm_momentum", "fused", "virtual_batch_size", "adjustment"])
            layer = BatchNormalization(momentum: momentum, epsilon: epsilon, name: name)
        case "Dropout":
            let rate = r.float("rate", default: 0)
            let seed = r.optionalInt("seed")
            r.requireNull(["noise_shape"])
            layer = Dropout(rate: rate, seed: seed.map { UInt64(bitPattern: Int64($0)) }, name: name)
        case "Flatten":
            r.channelsLast()
            layer = Flatten(name: name)
        case "Reshape":
            let target = r.intArray("target_shape")
            layer = target.map { Reshape($0, name: name) }
        case "ZeroPadding2D":
            let padding = r.padding2D("padding")
            r.channelsLast()
            layer = padding.map { ZeroPadding2D(padding: $0, name: name) }
        case "GlobalAveragePooling2D":
            r.channelsLast()
            let keepdims = r.bool("keepdims", default: false)
            layer = GlobalAveragePooling2D(keepdims: keepdims, name: name)
        case "Activation":
            let activation = r.activation("activation")
            layer = ActivationLayer(activation, name: name)
        case "ReLU":
            let maxValue = r.optionalFloat("max_value")
            r.requireValue("negative_slope", 0.0)
            r.requireValue("threshold", 0.0)
            layer = ReLU(maxValue: maxValue, name: name)
        case "Softmax":
            r.lastAxis("axis")
            layer = Softmax(name: name)
        case "Rescaling":
            let scale = r.float("scale", default: 1)
            let offset = r.float("offset", default: 0)
            layer = Rescaling(scale: scale, offset: offset, name: name)
        case "Resizing":
            let height = r.positiveInt("height"), width = r.positiveInt("width")
            let interpolation = r.interpolation("interpolation")
            let crop = r.bool("crop_to_aspect_ratio", default: false)
            r.requireValue("pad_to_aspect_ratio", false)
            r.requireValue("antialias", false)
            r.channelsLast()
            // Only read with pad_to_aspect_ratio, which is refused above.
            r.ignore(["fill_mode", "fill_value"])
            if let height, let width {
                layer = Resizing(height: height, width: width, interpolation: interpolation, cropToAspectRatio: crop, name: name)
            } else { layer = nil }
        case "CenterCrop":
            let height = r.positiveInt("height"), width = r.positiveInt("width")
            r.channelsLast()
            if let height, let width { layer = CenterCrop(height: height, width: width, name: name) } else { layer = nil }
        case "RandomFlip":
            let mode = r.string("mode", default: "horizontal_and_vertical")
            let seed = r.seed("seed")
            r.channelsLast()
            if let m = RandomFlip.Mode(rawValue: mode) {
                layer = RandomFlip(mode: m, seed: seed, name: name)
            } else {
                r.problem("mode", "'\(mode)' is not supported (horizontal, vertical, horizontal_and_vertical)")
                layer = nil
            }
        case "RandomRotation":
            let factor = r.factor("factor")
            let (fill, interpolation, fillValue, seed) = r.affineOptions()
            layer = factor.map { RandomRotation(factor: $0, fillMode: fill, interpolation: interpolation, fillValue: fillValue, seed: seed, name: name) }
        case "RandomZoom":
            let heightFactor = r.factor("height_factor")
            let widthFactor = r.optionalFactor("width_factor")
            let (fill, interpolation, fillValue, seed) = r.affineOptions()
            layer = heightFactor.map {
                RandomZoom(heightFactor: $0, widthFactor: widthFactor, fillMode: fill, interpolation: interpolation,
                           fillValue: fillValue, seed: seed, name: name)
            }
        case "RandomTranslation":
            let heightFactor = r.factor("height_factor"), widthFactor = r.factor("width_factor")
            let (fill, interpolation, fillValue, seed) = r.affineOptions()
            if let heightFactor, let widthFactor {
                layer = RandomTranslation(heightFactor: heightFactor, widthFactor: widthFactor, fillMode: fill,
                                          interpolation: interpolation, fillValue: fillValue, seed: seed, name: name)
            } else { layer = nil }
        case "RandomContrast", "RandomBrightness":
            let factor = r.factor("factor")
            let range = r.valueRange("value_range")
            let seed = r.seed("seed")
            r.channelsLast()
            if let factor, let range {
                layer = className == "RandomContrast" ? RandomContrast(factor: factor, valueRange: range, seed: seed, name: name)
                                                      : RandomBrightness(factor: factor, valueRange: range, seed: seed, name: name)
            } else { layer = nil }
        case "Add": layer = Add(name: name)
        case "Subtract": layer = Subtract(name: name)
        case "Multiply": layer = Multiply(name: name)
        case "Average": layer = Average(name: name)
        case "Maximum": layer = Maximum(name: name)
        case "Minimum": layer = Minimum(name: name)
        case "Concatenate":
            // Keras's axis counts the batch axis; the layer checks it against its inputs' rank.
            let axis = r.optionalInt("axis") ?? -1
            layer = Concatenate(axis: axis, name: name)
        case "AveragePooling2D":
            let poolSize = r.pair("pool_size", default: (2, 2))
            let strides = r.optionalPair("strides")
            let padding = r.padding("padding")
            r.channelsLast()
            layer = poolSize.map { AveragePooling2D(poolSize: $0, strides: strides ?? $0, padding: padding, name: name) }
        case "GlobalMaxPooling2D":
            r.channelsLast()
            layer = GlobalMaxPooling2D(keepdims: r.bool("keepdims", default: false), name: name)
        case "UpSampling2D":
            let size = r.pair("size", default: (2, 2))
            let s = r.string("interpolation", default: "nearest").lowercased()
            let interpolation = ImageInterpolation(rawValue: s)
            if interpolation == nil { r.problem("interpolation", "'\(s)' is not supported (nearest, bilinear)") }
            r.channelsLast()
            if let size, let interpolation { layer = UpSampling2D(size: size, interpolation: interpolation, name: name) } else { layer = nil }
        case "Cropping2D":
            let cropping = config["cropping"].map { !$0.isNull } ?? false ? r.padding2D("cropping") : ((0, 0), (0, 0))
            r.channelsLast()
            layer = cropping.map { Cropping2D(cropping: $0, name: name) }
        case "SpatialDropout2D":
            let rate = r.float("rate", default: 0)
            let seed = r.seed("seed")
            r.channelsLast()
            layer = SpatialDropout2D(rate: rate, seed: seed, name: name)
        case "Permute":
            let dims = r.intArray("dims")
            layer = dims.map { Permute(dims: $0, name: name) }
        case "LeakyReLU":
            // Keras 2 called the slope `alpha`.
            let slope = config["negative_slope"].map { !$0.isNull } ?? false ? r.float("negative_slope", default: 0.3)
                                                                             : r.float("alpha", default: 0.3)
            r.ignore(["negative_slope", "alpha"])
            layer = LeakyReLU(negativeSlope: slope, name: name)
        case "PReLU":
            let initializer = r.initializer("alpha_initializer", default: .zeros)
            r.requireNull(["alpha_regularizer", "alpha_constraint"])
            let shared = config["shared_axes"]?.intValue.map { [$0] } ?? (config["shared_axes"].map { !$0.isNull } ?? false ? r.intArray("shared_axes") : nil)
            r.ignore(["shared_axes"])
            layer = PReLU(alphaInitializer: initializer, sharedAxes: shared, name: name)
        case "ELU":
            layer = ELU(alpha: r.float("alpha", default: 1), name: name)
        case "Conv2DTranspose":
            let filters = r.positiveInt("filters")
            let o = r.convOptions(outputPadding: true)
            let ki = r.initializer("kernel_initializer", default: .glorotUniform)
            let bi = r.initializer("bias_initializer", default: .zeros)
            let l2 = r.l2("kernel_regularizer")
            r.requireNull(["bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"])
            if let filters, let kernelSize = o.kernelSize, let strides = o.strides {
                layer = Conv2DTranspose(filters: filters, kernelSize: kernelSize, strides: strides, padding: o.padding,
                                        outputPadding: o.outputPadding, activation: o.activation, useBias: o.useBias,
                                        kernelInitializer: ki, biasInitializer: bi, kernelL2: l2, name: name)
            } else { layer = nil }
        case "SeparableConv2D":
            let multiplier = r.positiveInt("depth_multiplier", default: 1)
            let filters = r.positiveInt("filters")
            let o = r.convOptions()
            let di = r.initializer("depthwise_initializer", default: .glorotUniform)
            let pi = r.initializer("pointwise_initializer", default: .glorotUniform)
            let bi = r.initializer("bias_initializer", default: .zeros)
            let dl2 = r.l2("depthwise_regularizer"), pl2 = r.l2("pointwise_regularizer")
            r.requireNull(["bias_regularizer", "activity_regularizer", "depthwise_constraint", "pointwise_constraint", "bias_constraint"])
            if let multiplier, let filters, let kernelSize = o.kernelSize, let strides = o.strides {
                layer = SeparableConv2D(filters: filters, kernelSize: kernelSize, strides: strides, padding: o.padding,
                                        depthMultiplier: multiplier, activation: o.activation, useBias: o.useBias, depthwiseInitializer: di,
                                        pointwiseInitializer: pi, biasInitializer: bi, depthwiseL2: dl2, pointwiseL2: pl2, name: name)
            } else { layer = nil }
        case "LayerNormalization":
            r.lastAxis("axis")
            let epsilon = r.float("epsilon", default: 1e-3)
            let center = r.bool("center", default: true), scale = r.bool("scale", default: true)
            r.requireValue("rms_scaling", false)
            let bi = r.initializer("beta_initializer", default: .zeros)
            let gi = r.initializer("gamma_initializer", default: .ones)
            r.requireNull(["beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"])
            layer = LayerNormalization(epsilon: epsilon, center: center, scale: scale, gammaInitializer: gi, betaInitializer: bi, name: name)
        case "Sequential", "Functional", "Model":
            problems.append("\(r.label): a model nested inside the model is not supported; flatten it into one list of layers")
            return nil
        default:
            problems.append("\(r.label): this engine has no \(className) layer (it has \(classNames.joined(separator: ", ")))")
            return nil
        }
        if let trainable = config["trainable"]?.boolValue { layer?.trainable = trainable }
        r.finish()
        problems += r.problems
        guard r.problems.isEmpty, let layer else { return nil }
        return Decoded(layer: layer, lastAxis: r.lastAxisRequired)
    }

    /// A decoded layer and, when its config named a positive axis that must be the last one
    /// (BatchNormalization's `axis: 3`), that axis, checked once the model knows its input rank.
    struct Decoded {
        let layer: Layer
        let lastAxis: Int?
    }
}

/// Reads one layer's config, noting every unsupported option by key; `finish` then reports keys no
/// reader asked about, unless they hold null or false (the "off" value of every Keras option this
/// engine lacks, so a newer Keras's additions pass while a used one is named).
struct ConfigReader {
    let config: JSONValue
    let label: String
    private(set) var problems: [String] = []
    private var seen: Set<String> = ["name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim"]

    init(config: JSONValue, label: String) {
        self.config = config
        self.label = label
    }

    private mutating func value(_ key: String) -> JSONValue? {
        seen.insert(key)
        guard let v = config[key], !v.isNull else { return nil }
        return v
    }

    mutating func problem(_ key: String, _ what: String) { problems.append("\(label): \(key) \(what)") }

    mutating func ignore(_ keys: [String]) { for k in keys { seen.insert(k) } }

    mutating func finish() {
        for key in config.objectKeys where !seen.contains(key) {
            let v = config[key]!
            if v.isNull || v.boolValue == false { continue }
            problems.append("\(label): option \(key) = \(v.summary) is not supported")
        }
        if let dtype = config["dtype"], !dtype.isNull {
            let name = dtype.stringValue ?? dtype["config"]?["name"]?.stringValue
            if name != "float32" { problems.append("\(label): dtype \(name ?? dtype.summary) is not supported (float32 only)") }
        }
    }

    mutating func positiveInt(_ key: String, default d: Int? = nil) -> Int? {
        guard let v = value(key) else {
            if d == nil { problem(key, "is missing") }
            return d
        }
        guard let n = v.intValue, n > 0, n <= Tensor.maxElementCount else { problem(key, "must be a positive integer, got \(v.summary)"); return nil }
        return n
    }

    mutating func optionalInt(_ key: String) -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v.intValue else { problem(key, "must be an integer, got \(v.summary)"); return nil }
        return n
    }

    mutating func float(_ key: String, default d: Float) -> Float {
        guard let v = value(key) else { return d }
        guard let x = v.doubleValue, Float(x).isFinite else { problem(key, "must be a finite number, got \(v.summary)"); return d }
        return Float(x)
    }

    mutating func optionalFloat(_ key: String) -> Float? {
        guard let v = value(key) else { return nil }
        guard let x = v.doubleValue, Float(x).isFinite else { problem(key, "must be a finite number, got \(v.summary)"); return nil }
        return Float(x)
    }

    mutating func bool(_ key: String, default d: Bool) -> Bool {
        guard let v = value(key) else { return d }
        guard let b = v.boolValue else { problem(key, "must be true or false, got \(v.summary)"); return d }
        return b
    }

    /// An int `n` (as `(n, n)`) or a two-element list.
    mutating func pair(_ key: String, default d: (Int, Int)? = nil) -> (Int, Int)? {
        guard let v = value(key) else {
            if d == nil { problem(key, "is missing") }
            return d
        }
        if let n = v.intValue, n > 0, n <= Tensor.maxElementCount { return (n, n) }
        if let a = v.arrayValue, a.count == 2, let x = a[0].intValue, let y = a[1].intValue,
           x > 0, y > 0, x <= Tensor.maxElementCount, y <= Tensor.maxElementCount { return (x, y) }
        problem(key, "must be a positive integer or two, got \(v.summary)")
        return nil
    }

    mutating func optionalPair(_ key: String) -> (Int, Int)? {
        guard config[key].map({ !$0.isNull }) ?? false else { seen.insert(key); return nil }
        return pair(key)
    }

    mutating func intArray(_ key: String) -> [Int]? {
        guard let v = value(key), let a = v.arrayValue, !a.isEmpty, a.count <= 64 else {
            problem(key, "must be a list of sizes, got \(config[key]?.summary ?? "nothing")")
            return nil
        }
        let ints = a.compactMap(\.intValue)
        guard ints.count == a.count else { problem(key, "must hold integers, got \(v.summary)"); return nil }
        return ints
    }

    mutating func padding(_ key: String) -> Padding {
        guard let v = value(key) else { return .valid }
        guard let s = v.stringValue, let p = Padding(rawValue: s.lowercased()) else {
            problem(key, "\(v.summary) is not supported (valid or same)")
            return .valid
        }
        return p
    }

    /// ZeroPadding2D's `padding`: n, (h, w) or ((top, bottom), (left, right)).
    mutating func padding2D(_ key: String) -> ((Int, Int), (Int, Int))? {
        guard let v = value(key) else { return ((1, 1), (1, 1)) }
        func size(_ x: JSONValue) -> Int? { x.intValue.flatMap { $0 >= 0 && $0 <= Tensor.maxElementCount ? $0 : nil } }
        if let n = size(v) { return ((n, n), (n, n)) }
        if let a = v.arrayValue, a.count == 2 {
            if let h = size(a[0]), let w = size(a[1]) { return ((h, h), (w, w)) }
            if let hs = a[0].arrayValue, let ws = a[1].arrayValue, hs.count == 2, ws.count == 2,
               let t = size(hs[0]), let b = size(hs[1]), let l = size(ws[0]), let r = size(ws[1]) { return ((t, b), (l, r)) }
        }
        problem(key, "must be n, [h, w] or [[top, bottom], [left, right]], got \(v.summary)")
        return nil
    }

    mutating func string(_ key: String, default d: String) -> String {
        guard let v = value(key) else { return d }
        guard let s = v.stringValue else { problem(key, "must be a string, got \(v.summary)"); return d }
        return s
    }

    /// A layer seed (Keras's integer, any 64 bits) or nil.
    mutating func seed(_ key: String) -> UInt64? { optionalInt(key).map { UInt64(bitPattern: Int64($0)) } }

    mutating func interpolation(_ key: String) -> ImageInterpolation {
        let s = string(key, default: "bilinear")
        guard let i = ImageInterpolation(rawValue: s) else { problem(key, "'\(s)' is not supported (bilinear, nearest)"); return .bilinear }
        return i
    }

    /// A Keras augmentation factor: one number or a [lower, upper] list (the layer checks the range).
    mutating func factor(_ key: String) -> AugmentationFactor? {
        guard config[key].map({ !$0.isNull }) ?? false else { seen.insert(key); problem(key, "is missing"); return nil }
        return optionalFactor(key)
    }

    mutating func optionalFactor(_ key: String) -> AugmentationFactor? {
        guard let v = value(key) else { return nil }
        if let x = v.doubleValue, Float(x).isFinite { return AugmentationFactor(Float(x)) }
        if let a = v.arrayValue, a.count == 2, let x = a[0].doubleValue, let y = a[1].doubleValue, Float(x).isFinite, Float(y).isFinite {
            return AugmentationFactor(Float(x), Float(y))
        }
        problem(key, "must be a number or a [lower, upper] pair, got \(v.summary)")
        return nil
    }

    /// `value_range`: two numbers (Keras sorts them), 0…255 when absent.
    mutating func valueRange(_ key: String) -> ClosedRange<Float>? {
        guard let v = value(key) else { return 0...255 }
        if let a = v.arrayValue, a.count == 2, let x = a[0].doubleValue, let y = a[1].doubleValue,
           Float(x).isFinite, Float(y).isFinite, x != y {
            return Float(min(x, y))...Float(max(x, y))
        }
        problem(key, "must be two different numbers, got \(v.summary)")
        return nil
    }

    /// The options RandomRotation, RandomZoom and RandomTranslation share.
    mutating func affineOptions() -> (FillMode, ImageInterpolation, Float, UInt64?) {
        let s = string("fill_mode", default: "reflect")
        let fill = FillMode(rawValue: s) ?? .reflect
        if FillMode(rawValue: s) == nil { problem("fill_mode", "'\(s)' is not supported (reflect, constant, wrap, nearest)") }
        let interpolation = interpolation("interpolation")
        let fillValue = float("fill_value", default: 0)
        let seed = seed("seed")
        channelsLast()
        return (fill, interpolation, fillValue, seed)
    }

    mutating func channelsLast() {
        if let v = value("data_format"), v.stringValue != "channels_last" {
            problem("data_format", "\(v.summary) is not supported (channels_last only: the engine is NHWC)")
        }
    }

    /// An axis option that must be the last one: -1, or a positive axis that `Sequential` checks
    /// against the input rank once built (Keras 2 writes BatchNormalization's as `[3]`).
    mutating func lastAxis(_ key: String) {
        guard let v = value(key) else { return }
        let axis = v.intValue ?? v.arrayValue.flatMap { $0.count == 1 ? $0[0].intValue : nil }
        guard let axis, axis == -1 || axis > 0 else { problem(key, "\(v.summary) is not supported (the last axis only)"); return }
        if axis > 0 { lastAxisRequired = axis }
    }
    /// A positive `axis` that must turn out to be the last (checked once the input shape is known).
    private(set) var lastAxisRequired: Int?

    mutating func requireOnes(_ key: String) {
        guard let v = value(key) else { return }
        if v.intValue == 1 { return }
        if let a = v.arrayValue, a.allSatisfy({ $0.intValue == 1 }) { return }
        problem(key, "\(v.summary) is not supported (1 only)")
    }

    mutating func requireValue(_ key: String, _ expected: Int) {
        guard let v = value(key) else { return }
        if v.intValue != expected { problem(key, "\(v.summary) is not supported (\(expected) only)") }
    }

    mutating func requireValue(_ key: String, _ expected: Double) {
        guard let v = value(key) else { return }
        if v.doubleValue != expected { problem(key, "\(v.summary) is not supported (\(expected) only)") }
    }

    mutating func requireValue(_ key: String, _ expected: Bool) {
        guard let v = value(key) else { return }
        if v.boolValue != expected { problem(key, "\(v.summary) is not supported (\(expected) only)") }
    }

    mutating func requireNull(_ keys: [String]) {
        for key in keys {
            if let v = value(key), v.boolValue != false { problem(key, "\(Self.describe(v)) is not supported") }
        }
    }

    mutating func requireInitializer(_ key: String, _ expected: Initializer) {
        if initializer(key, default: expected) != expected { problem(key, "other than \(expected) is not supported") }
    }

    /// The activation by its Keras name (a string, or Keras 2's serialized function).
    mutating func activation(_ key: String) -> Activation {
        guard let v = value(key) else { return .linear }
        let name = v.stringValue ?? v["config"]?.stringValue ?? v["class_name"]?.stringValue
        if let name, let a = Activation(kerasName: name) { return a }
        problem(key, "\(name.map { "'\($0)'" } ?? v.summary) is not supported (\(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
        return .linear
    }

    /// An initializer by class name (Keras 3 and 2 objects) or by its snake_case string.
    mutating func initializer(_ key: String, default d: Initializer) -> Initializer {
        guard let v = value(key) else { return d }
        let name = (v.stringValue ?? v["class_name"]?.stringValue ?? "").lowercased().replacingOccurrences(of: "_", with: "")
        let c = v["config"]
        func number(_ k: String, _ fallback: Float) -> Float { c?[k]?.doubleValue.map(Float.init) ?? fallback }
        switch name {
        case "glorotuniform": return .glorotUniform
        case "henormal": return .heNormal
        case "heuniform": return .heUniform
        case "zeros", "zero": return .zeros
        case "ones", "one": return .ones
        case "constant": return .constant(number("value", 0))
        case "orthogonal": return .orthogonal(gain: number("gain", 1))
        case "randomnormal": return .randomNormal(mean: number("mean", 0), stddev: number("stddev", 0.05))
        case "randomuniform": return .randomUniform(low: number("minval", -0.05), high: number("maxval", 0.05))
        default:
            problem(key, "\(Self.describe(v)) is not supported (GlorotUniform, HeNormal, HeUniform, Zeros, Ones, Constant, Orthogonal, RandomNormal, RandomUniform)")
            return d
        }
    }

    /// The L2 factor of a kernel regularizer (`L2`, or `L1L2` with l1 = 0); anything else is a problem.
    mutating func l2(_ key: String) -> Float {
        guard let v = value(key) else { return 0 }
        let name = v["class_name"]?.stringValue ?? v.stringValue ?? ""
        let c = v["config"]
        let l1 = c?["l1"]?.doubleValue ?? 0
        switch name {
        case "L2", "l2":
            if let x = c?["l2"]?.doubleValue ?? (c == nil ? 0.01 : nil), Float(x).isFinite, x >= 0 { return Float(x) }
        case "L1L2", "l1_l2":
            if l1 == 0, let x = Optional(c?["l2"]?.doubleValue ?? 0), Float(x).isFinite, x >= 0 { return Float(x) }
        default: break
        }
        problem(key, "\(Self.describe(v)) is not supported (L2 only)")
        return 0
    }

    /// A short name for a config value: a Keras object by class name and config, others by summary.
    static func describe(_ v: JSONValue) -> String {
        if let name = v["class_name"]?.stringValue {
            let args = v["config"].map { c in c.objectKeys.compactMap { k in c[k].flatMap { $0.isNull ? nil : "\(k)=\($0.summary)" } } } ?? []
            return args.isEmpty ? name : "\(name)(\(args.prefix(4).joined(separator: ", ")))"
        }
        return v.summary
    }
}

/// The options Keras's convolutions (Conv2D, DepthwiseConv2D, Conv2DTranspose, SeparableConv2D)
/// spell alike; nil sizes were problems.
struct ConvOptions {
    let kernelSize: (Int, Int)?
    let strides: (Int, Int)?
    let padding: Padding
    /// Conv2DTranspose's (nil: Keras's default, or not read).
    let outputPadding: (Int, Int)?
    let activation: Activation
    let useBias: Bool
}

extension ConfigReader {
    /// `kernel_size`, `strides` (1 when absent), `padding`, `data_format` (NHWC only) and
    /// `dilation_rate` (1 only), then `activation` and `use_bias`: what every convolution reads the
    /// same way. Conv2DTranspose's `output_padding` and Conv2D's `groups` (1 only) are read where
    /// Keras writes them, so a config's problems still come in its keys' order.
    mutating func convOptions(outputPadding readsOutputPadding: Bool = false, groups: Bool = false) -> ConvOptions {
        let kernelSize = pair("kernel_size")
        let strides = pair("strides", default: (1, 1))
        let padding = padding("padding")
        let outputPadding = readsOutputPadding ? outputPadding("output_padding") : nil
        channelsLast()
        requireOnes("dilation_rate")
        if groups { requireValue("groups", 1) }
        let activation = activation("activation")
        let useBias = bool("use_bias", default: true)
        return ConvOptions(kernelSize: kernelSize, strides: strides, padding: padding, outputPadding: outputPadding,
                           activation: activation, useBias: useBias)
    }

    /// Conv2DTranspose's `output_padding`: null (Keras's default size), n or [h, w], each at least 0
    /// (the layer checks them against the strides). Anything else is a problem, and nil.
    mutating func outputPadding(_ key: String) -> (Int, Int)? {
        ignore([key])
        guard let v = config[key], !v.isNull else { return nil }
        func size(_ x: JSONValue) -> Int? { x.intValue.flatMap { $0 >= 0 && $0 <= Tensor.maxElementCount ? $0 : nil } }
        if let n = size(v) { return (n, n) }
        if let a = v.arrayValue, a.count == 2, let h = size(a[0]), let w = size(a[1]) { return (h, w) }
        problem(key, "must be null, a size or two sizes, got \(v.summary)")
        return nil
    }
}
