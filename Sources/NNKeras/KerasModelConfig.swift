import Foundation
import NN

/// A Keras model config (the `config.json` of a `.keras` file, the `model_config` attribute of a
/// legacy `.h5`) as the engine's layers, and the engine's model as such a config. Sequential
/// configs, and Functional ones whose layers form one chain (keras.applications' MobileNet is one),
/// become a `Sequential`; graphs with branches are refused by name.
enum KerasModelConfig {
    /// What a config describes: the input shape and the layers (decoded, not yet built), the
    /// model's name, and for each layer a positive axis that must be its last.
    struct Architecture {
        var name: String
        var inputShape: [Int]
        var layers: [KerasLayers.Decoded]
    }

    /// Decodes a model config; every unsupported layer or option is collected and thrown at once.
    static func architecture(_ root: JSONValue, path: String) throws -> Architecture {
        var problems: [String] = []
        let className = root["class_name"]?.stringValue ?? "?"
        let config = root["config"] ?? .null
        var layerEntries: [JSONValue]
        switch className {
        case "Sequential":
            // Keras 2.0 wrote a Sequential's config as the bare list of layers.
            layerEntries = config["layers"]?.arrayValue ?? config.arrayValue ?? []
        case "Functional", "Model":
            layerEntries = try chain(config, path: path)
        default:
            throw KerasFileError.unsupported(path: path, problems: ["the model class \(className) (Sequential and Functional models only)"])
        }
        guard layerEntries.count <= 100_000 else {
            throw KerasFileError.unsupported(path: path, problems: ["\(layerEntries.count) layers (at most 100,000)"])
        }
        // The input shape: an InputLayer, or (Keras 2) the first layer's batch_input_shape, or the
        // model's build shape.
        var inputShape: [Int]?
        var shapeProblem: String?
        func readShape(_ v: JSONValue?) {
            guard inputShape == nil, shapeProblem == nil, let v, let dims = v.arrayValue else { return }
            let sizes = dims.dropFirst().map(\.intValue)
            if dims.count >= 2, dims.count <= 9, sizes.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= Tensor.maxElementCount }) {
                inputShape = sizes.map { $0! }
            } else {
                shapeProblem = "input shape \(v.summary) (every axis but the batch must have a fixed positive size)"
            }
        }
        if let first = layerEntries.first, first["class_name"]?.stringValue == "InputLayer" {
            let c = first["config"]
            readShape(c?["batch_shape"] ?? c?["batch_input_shape"])
            if let dtype = c?["dtype"]?.stringValue ?? c?["dtype"]?["config"]?["name"]?.stringValue, dtype != "float32" {
                problems.append("input layer: dtype \(dtype) is not supported (float32 only)")
            }
            layerEntries.removeFirst()
        }
        if let first = layerEntries.first { readShape(first["config"]?["batch_input_shape"] ?? first["config"]?["batch_shape"]) }
        readShape(config["build_input_shape"])
        readShape(root["build_config"]?["input_shape"])
        if let shapeProblem { problems.append(shapeProblem) }
        if inputShape == nil && shapeProblem == nil { problems.append("no input shape (no InputLayer, batch_input_shape or build_input_shape)") }

        var layers: [KerasLayers.Decoded] = []
        for (i, entry) in layerEntries.enumerated() {
            if entry["class_name"]?.stringValue == "InputLayer" {
                problems.append("layer \(i + 1): a second InputLayer (models with one input only)")
                continue
            }
            if let decoded = KerasLayers.decode(entry, index: i + 1, problems: &problems) { layers.append(decoded) }
        }
        if !problems.isEmpty { throw KerasFileError.unsupported(path: path, problems: problems) }
        return Architecture(name: config["name"]?.stringValue ?? "sequential", inputShape: inputShape!, layers: layers)
    }

    /// The layer entries of a Functional config in order, when they form one chain from the single
    /// input to the single output (each layer fed by the one before it).
    private static func chain(_ config: JSONValue, path: String) throws -> [JSONValue] {
        let entries = config["layers"]?.arrayValue ?? []
        var problems: [String] = []
        func endpoints(_ key: String) -> [String] {
            // [["name", 0, 0]] (Keras 3 and 2), or ["name", 0, 0] for a single endpoint.
            guard let list = config[key]?.arrayValue else { return [] }
            if let name = list.first?.stringValue { return [name] }
            return list.compactMap { $0.arrayValue?.first?.stringValue }
        }
        let inputs = endpoints("input_layers"), outputs = endpoints("output_layers")
        if inputs.count != 1 { problems.append("\(inputs.count) inputs (models with one input only)") }
        if outputs.count != 1 { problems.append("\(outputs.count) outputs (models with one output only)") }
        var previous: String?
        for (i, entry) in entries.enumerated() {
            let name = entry["name"]?.stringValue ?? entry["config"]?["name"]?.stringValue ?? "#\(i)"
            let sources = inboundLayers(entry["inbound_nodes"])
            if i == 0 {
                if !sources.isEmpty || entry["class_name"]?.stringValue != "InputLayer" {
                    problems.append("layer '\(name)': the first layer must be the InputLayer")
                }
            } else if sources.count != 1 || sources.first != previous {
                let from = sources.isEmpty ? "no layer" : sources.map { "'\($0)'" }.joined(separator: ", ")
                problems.append("layer '\(name)' takes its input from \(from), not from the layer before it ('\(previous ?? "?")'): graphs with branches or skip connections are not supported yet")
            }
            previous = name
        }
        if let first = entries.first, let input = inputs.first {
            let name = first["name"]?.stringValue ?? first["config"]?["name"]?.stringValue
            if name != input { problems.append("the input layer is '\(input)' but the first layer is '\(name ?? "?")'") }
        }
        if let output = outputs.first, let last = previous, output != last {
            problems.append("the output is layer '\(output)' but the chain ends at '\(last)'")
        }
        if !problems.isEmpty { throw KerasFileError.unsupported(path: path, problems: problems) }
        return entries
    }

    /// The layer names an `inbound_nodes` value reads from: Keras 3's `[{"args": [tensor…], "kwargs": …}]`
    /// with `keras_history: [name, node, index]`, or Keras 2's `[[["name", 0, 0, {}], …]]`.
    private static func inboundLayers(_ nodes: JSONValue?) -> [String] {
        guard let nodes = nodes?.arrayValue else { return [] }
        var names: [String] = []
        func visit(_ v: JSONValue, depth: Int) {
            guard depth < 16 else { return }
            if let history = v["config"]?["keras_history"]?.arrayValue, let name = history.first?.stringValue {
                names.append(name)
            } else if let a = v.arrayValue {
                if a.count >= 3, let name = a[0].stringValue, a[1].intValue != nil { names.append(name); return }
                for x in a { visit(x, depth: depth + 1) }
            } else if case .object = v {
                if let args = v["args"] { visit(args, depth: depth + 1) }
            }
        }
        for node in nodes { visit(node, depth: 0) }
        return names
    }

    /// Builds the architecture as a `Sequential`; `budget` caps each layer's parameters (see
    /// `Layer.parameterLimit`) so a config cannot allocate more than its weights file holds.
    static func build(_ a: Architecture, path: String, seed: UInt64, budget: (String) -> (elements: Int, reason: String)?) throws -> Model {
        for d in a.layers { d.layer.parameterLimit = budget(d.layer.name) }
        defer { for d in a.layers { d.layer.parameterLimit = nil } }
        let model: Model
        do {
            model = try Sequential(inputShape: a.inputShape, layers: a.layers.map(\.layer), seed: seed)
        } catch {
            throw KerasFileError.unsupported(path: path, problems: ["\(error)"])
        }
        var problems: [String] = []
        for d in a.layers {
            if let axis = d.lastAxis, axis != d.layer.inputShape.count {
                problems.append("layer '\(d.layer.name)' (\(d.layer.typeName)): axis \(axis) is not the last axis of its input \(d.layer.inputShape) (the last axis only)")
            }
        }
        // Activations are allocated per batch: a file may not declare a model whose samples alone
        // need more than `maxActivationsPerSample` values between them.
        var activations = 0
        for layer in model.layers {
            let (sum, overflow) = activations.addingReportingOverflow(layer.outputShape.reduce(1, *))
            activations = overflow ? Int.max : sum
        }
        if activations > maxActivationsPerSample {
            problems.append("the layers' outputs hold \(activations) values per sample (at most \(maxActivationsPerSample))")
        }
        if !problems.isEmpty { throw KerasFileError.unsupported(path: path, problems: problems) }
        return model
    }

    /// 2^28 values (1 GiB) of layer outputs per sample: a 224×224×3 MobileNet needs ~2^24.
    static let maxActivationsPerSample = 1 << 28

    // MARK: Model → config

    /// The Keras 3 config of `model` (`config.json` without `compile_config`).
    static func config(of model: Model, name: String = "sequential") throws -> [(key: String, value: JSONValue)] {
        let input: JSONValue = .object([
            ("module", .string("keras.layers")), ("class_name", .string("InputLayer")),
            ("config", .object([("batch_shape", .batchShape(model.inputShape)), ("dtype", .string("float32")),
                                ("sparse", .bool(false)), ("ragged", .bool(false)), ("name", .string("input_layer")),
                                ("optional", .bool(false))])),
            ("registered_name", .null),
        ])
        let layers = try [input] + model.layers.map(KerasLayers.encode)
        return [
            ("module", .string("keras")), ("class_name", .string("Sequential")),
            ("config", .object([("name", .string(name)), ("trainable", .bool(true)), ("dtype", KerasLayers.dtypePolicy),
                                ("layers", .array(layers)), ("build_input_shape", .batchShape(model.inputShape))])),
            ("registered_name", .null),
            ("build_config", .object([("input_shape", .batchShape(model.inputShape))])),
        ]
    }

    // MARK: Compile config

    /// The optimizer, loss and metrics of a compile config (`.keras`'s `compile_config`, legacy
    /// `training_config`); what cannot be restored is returned as warnings, as Keras warns when a
    /// compile config does not deserialize, and the model is then left uncompiled.
    static func compile(_ c: JSONValue, into model: Model) -> (compiled: Bool, warnings: [String]) {
        var warnings: [String] = []
        let optimizerEntry = c["optimizer"] ?? c["optimizer_config"]
        var optimizer: Optimizer?
        if let o = optimizerEntry, !o.isNull {
            do { optimizer = try self.optimizer(o) } catch { warnings.append("optimizer: \(error)") }
        }
        var loss: Loss?
        if let l = c["loss"], !l.isNull {
            do { loss = try self.loss(l) } catch { warnings.append("loss: \(error)") }
        } else {
            warnings.append("no loss in the compile config")
        }
        var metrics: [Metric] = []
        if let m = c["metrics"], !m.isNull {
            let names = metricNames(m)
            for name in names {
                if ["accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy"].contains(name) {
                    if !metrics.contains(.accuracy) { metrics.append(.accuracy) }
                } else {
                    warnings.append("metric '\(name)' is not supported (accuracy only); left out")
                }
            }
        }
        guard let loss, optimizerEntry == nil || optimizerEntry!.isNull || optimizer != nil else { return (false, warnings) }
        model.compile(optimizer: optimizer, loss: loss, metrics: metrics)
        return (true, warnings)
    }

    private static func metricNames(_ v: JSONValue) -> [String] {
        if let s = v.stringValue { return [s] }
        if let a = v.arrayValue { return a.flatMap(metricNames) }
        if let name = v["config"]?["name"]?.stringValue ?? v["class_name"]?.stringValue { return [name] }
        return []
    }

    static func optimizer(_ v: JSONValue) throws -> Optimizer {
        let name = (v["class_name"]?.stringValue ?? v.stringValue ?? "?")
        let c = v["config"] ?? .null
        var r = ConfigReader(config: c, label: "optimizer \(name)")
        let learningRate: Float
        if let lr = c["learning_rate"] ?? c["lr"], case .object = lr {
            throw NNError.invalidArgument("a learning-rate schedule (\(ConfigReader.describe(lr))) is not supported")
        }
        learningRate = r.float("learning_rate", default: r.float("lr", default: name.lowercased() == "sgd" ? 0.01 : 0.001))
        r.requireNull(["weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "loss_scale_factor",
                       "gradient_accumulation_steps", "amsgrad", "centered"])
        r.ignore(["ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer", "decay"])
        if let decay = c["decay"]?.doubleValue, decay != 0 { r.problem("decay", "\(decay) is not supported") }
        let optimizer: Optimizer
        switch name.lowercased() {
        case "adam":
            optimizer = Adam(learningRate: learningRate, beta1: r.float("beta_1", default: 0.9), beta2: r.float("beta_2", default: 0.999),
                             epsilon: r.float("epsilon", default: 1e-7))
        case "sgd":
            optimizer = SGD(learningRate: learningRate, momentum: r.float("momentum", default: 0), nesterov: r.bool("nesterov", default: false))
        case "rmsprop":
            let rho = r.float("rho", default: 0.9)
            r.requireValue("momentum", 0.0)
            optimizer = RMSProp(learningRate: learningRate, rho: rho, epsilon: r.float("epsilon", default: 1e-7))
        default:
            throw NNError.invalidArgument("\(name) is not supported (Adam, SGD, RMSprop)")
        }
        r.finish()
        if !r.problems.isEmpty { throw NNError.invalidArgument(r.problems.joined(separator: "; ")) }
        return optimizer
    }

    static func loss(_ v: JSONValue) throws -> Loss {
        let name = v.stringValue ?? v["class_name"]?.stringValue ?? v["config"]?["name"]?.stringValue ?? "?"
        let fromLogits = v["config"]?["from_logits"]?.boolValue ?? false
        if let smoothing = v["config"]?["label_smoothing"]?.doubleValue, smoothing != 0 {
            throw NNError.invalidArgument("label_smoothing \(smoothing) is not supported")
        }
        switch name.lowercased().replacingOccurrences(of: "_", with: "") {
        case "sparsecategoricalcrossentropy": return SparseCategoricalCrossentropy(fromLogits: fromLogits)
        case "categoricalcrossentropy": return CategoricalCrossentropy(fromLogits: fromLogits)
        case "meansquarederror", "mse": return MeanSquaredError()
        default: throw NNError.invalidArgument("'\(name)' is not supported (sparse_categorical_crossentropy, categorical_crossentropy, mean_squared_error)")
        }
    }

    /// The Keras 3 compile config of a compiled model.
    static func compileConfig(of model: Model) throws -> JSONValue? {
        guard let loss = model.loss else { return nil }
        var lossValue: JSONValue = .string(loss.name)
        if let ce = loss as? CrossEntropyLoss, ce.fromLogits {
            let className = loss is SparseCategoricalCrossentropy ? "SparseCategoricalCrossentropy" : "CategoricalCrossentropy"
            lossValue = .object([("module", .string("keras.losses")), ("class_name", .string(className)),
                                 ("config", .object([("name", .string(loss.name)), ("reduction", .string("sum_over_batch_size")),
                                                     ("from_logits", .bool(true))])), ("registered_name", .null)])
        }
        var optimizerValue: JSONValue = .null
        if let o = model.optimizer {
            var c: [(key: String, value: JSONValue)] = [("name", .string(o.name)), ("learning_rate", .float(o.learningRate))]
            let className: String
            switch o {
            case let a as Adam:
                className = "Adam"
                c += [("beta_1", .float(a.beta1)), ("beta_2", .float(a.beta2)), ("epsilon", .float(a.epsilon)), ("amsgrad", .bool(false))]
            case let s as SGD:
                className = "SGD"
                c += [("momentum", .float(s.momentum)), ("nesterov", .bool(s.nesterov))]
            case let r as RMSProp:
                className = "RMSprop"
                c += [("rho", .float(r.rho)), ("momentum", .float(0)), ("epsilon", .float(r.epsilon)), ("centered", .bool(false))]
            default:
                throw NNError.invalidArgument("the optimizer '\(o.name)' has no Keras equivalent this engine can write")
            }
            optimizerValue = .object([("module", .string("keras.optimizers")), ("class_name", .string(className)),
                                      ("config", .object(c)), ("registered_name", .null)])
        }
        return .object([("optimizer", optimizerValue), ("loss", lossValue), ("loss_weights", .null),
                        ("metrics", model.metrics.contains(.accuracy) ? .array([.string("accuracy")]) : .null),
                        ("weighted_metrics", .null), ("run_eagerly", .bool(false)), ("steps_per_execution", .integer(1)),
                        ("jit_compile", .bool(false))])
    }
}

/// A Keras file this engine cannot use: every unsupported layer or option at once.
public enum KerasFileError: Error, CustomStringConvertible, Equatable {
    case unsupported(path: String, problems: [String])

    public var description: String {
        switch self {
        case let .unsupported(path, problems):
            let shown = problems.prefix(50).map { "  - \($0)" }.joined(separator: "\n")
            let more = problems.count > 50 ? "\n  - … and \(problems.count - 50) more" : ""
            return "\(path) uses what this engine does not support:\n\(shown)\(more)"
        }
    }
}

extension KerasFileError: LocalizedError {
    public var errorDescription: String? { description }
}
