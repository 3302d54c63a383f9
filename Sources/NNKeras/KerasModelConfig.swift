import Foundation
import NN

/// A Keras model config (the `config.json` of a `.keras` file, the `model_config` attribute of a
/// legacy `.h5`) as the engine's layers, and the engine's model as such a config. A Sequential
/// config becomes a `Sequential`; a Functional one (Keras 3's `inbound_nodes` of keras tensors, or
/// Keras 2's `[["name", 0, 0, {}]]` lists) becomes a `Model` built through `Input`, `layer(x)` and
/// `Model(inputs:outputs:)`, with the layers in Keras's own order (`kerasOrder`). Shared layers,
/// cycles, unknown or unreachable layers and anything else unsupported are refused by name, all at once.
enum KerasModelConfig {
    /// What a config describes: the inputs and the layers (decoded, not yet built) and, for a
    /// Functional model, how they connect.
    struct Architecture {
        var name: String
        /// The model inputs: their InputLayer names and per-sample shapes (one for a Sequential).
        var inputs: [(name: String, shape: [Int])]
        /// The layers, in the order Keras lists them (`model.layers`, which numbers the weights).
        var layers: [KerasLayers.Decoded]
        /// nil for a Sequential (a chain in `layers` order).
        var graph: Graph?

        var inputShape: [Int] { inputs[0].shape }
    }

    /// A Functional model's connections, with values numbered as `Model.inbound` numbers them:
    /// value `i < inputs.count` is input `i`, value `inputs.count + j` is `layers[j]`'s output.
    struct Graph {
        var inbound: [[Int]]
        var outputs: [Int]
        /// Every value in Keras's `model.layers` order (InputLayers included).
        var order: [Int]
    }

    /// Decodes a model config; every unsupported layer or option is collected and thrown at once.
    static func architecture(_ root: JSONValue, path: String) throws -> Architecture {
        let className = root["class_name"]?.stringValue ?? "?"
        let config = root["config"] ?? .null
        switch className {
        case "Sequential":
            return try sequential(root, config, path: path)
        case "Functional", "Model":
            return try functional(config, path: path)
        default:
            throw KerasFileError.unsupported(path: path, problems: ["the model class \(className) (Sequential and Functional models only)"])
        }
    }

    /// The most layers a config may list.
    static let maxLayers = 100_000

    private static func sequential(_ root: JSONValue, _ config: JSONValue, path: String) throws -> Architecture {
        var problems: [String] = []
        // Keras 2.0 wrote a Sequential's config as the bare list of layers.
        var layerEntries = config["layers"]?.arrayValue ?? config.arrayValue ?? []
        guard layerEntries.count <= maxLayers else {
            throw KerasFileError.unsupported(path: path, problems: ["\(layerEntries.count) layers (at most 100,000)"])
        }
        // The input shape: an InputLayer, or (Keras 2) the first layer's batch_input_shape, or the
        // model's build shape.
        var inputShape: [Int]?
        var shapeProblem: String?
        func readShape(_ v: JSONValue?) {
            guard inputShape == nil, shapeProblem == nil, let v else { return }
            switch shape(v) {
            case .some(.success(let s)): inputShape = s
            case .some(.failure(let p)): shapeProblem = p.text
            case nil: break
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
        return Architecture(name: config["name"]?.stringValue ?? "sequential", inputs: [("input_layer", inputShape!)], layers: layers, graph: nil)
    }

    private struct ShapeProblem: Error { let text: String }

    /// A batch shape `[null, d1, …]` as its per-sample sizes; nil when `v` is not a list.
    private static func shape(_ v: JSONValue) -> Result<[Int], ShapeProblem>? {
        guard let dims = v.arrayValue else { return nil }
        let sizes = dims.dropFirst().map(\.intValue)
        if dims.count >= 2, dims.count <= 9, sizes.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= Tensor.maxElementCount }) {
            return .success(sizes.map { $0! })
        }
        return .failure(ShapeProblem(text: "input shape \(v.summary) (every axis but the batch must have a fixed positive size)"))
    }

    /// A reference to a layer's output: Keras's `[name, node_index, tensor_index]`.
    private struct Reference {
        var name: String
        var node: Int
        var tensor: Int
    }

    /// `["name", 0, 0]` or `["name", 0, 0, {kwargs}]`, or nil.
    private static func reference(_ v: JSONValue) -> Reference? {
        guard let a = v.arrayValue, a.count >= 3, let name = a[0].stringValue, let node = a[1].intValue, let tensor = a[2].intValue else { return nil }
        return Reference(name: name, node: node, tensor: tensor)
    }

    /// `input_layers` / `output_layers`: one `["name", 0, 0]` (Keras 3 for a single endpoint) or a
    /// list of them; nil when neither.
    private static func endpoints(_ v: JSONValue?) -> [Reference]? {
        guard let v, let list = v.arrayValue else { return nil }
        if let one = reference(v), list.count == 3 || list.count == 4, list[0].stringValue != nil { return [one] }
        let refs = list.compactMap(reference)
        return refs.count == list.count ? refs : nil
    }

    /// The layers one layer entry's `inbound_nodes` reads, in order: Keras 3's
    /// `[{"args": [tensor or [tensor, …]], "kwargs": {…}}]` (tensors with `keras_history`) or Keras 2's
    /// `[[["name", 0, 0, {}], …]]`. A second node (the layer called twice) is a shared layer.
    private static func inbound(_ nodes: JSONValue?, label: String, problems: inout [String]) -> [Reference] {
        guard let nodes, !nodes.isNull else { return [] }
        guard let list = nodes.arrayValue else {
            problems.append("\(label): inbound_nodes \(nodes.summary) is not a list of nodes")
            return []
        }
        guard let node = list.first else { return [] }
        if list.count > 1 {
            problems.append("\(label) is called \(list.count) times (\(list.count) inbound nodes): shared layers are not supported (give each call its own layer)")
            return []
        }
        func tensor(_ t: JSONValue) -> Reference? {
            guard let history = t["config"]?["keras_history"] else { return nil }
            return reference(history)
        }
        func callArguments(_ kwargs: JSONValue?) {
            guard let kwargs, case .object = kwargs else { return }
            for key in kwargs.objectKeys {
                let v = kwargs[key]!
                if v.isNull || v.boolValue == false { continue }
                problems.append("\(label): call argument \(key) = \(v.summary) is not supported")
            }
        }
        var refs: [Reference] = []
        if case .object = node {
            // Keras 3: the first argument is the input tensor, or the list of them for a merge layer.
            guard let args = node["args"]?.arrayValue, let first = args.first else {
                problems.append("\(label): an inbound node without args (\(node.summary))")
                return []
            }
            if let one = tensor(first) {
                refs = [one]
            } else if let many = first.arrayValue, !many.isEmpty, case let found = many.compactMap(tensor), found.count == many.count {
                refs = found
            } else {
                problems.append("\(label): inbound node argument \(first.summary) is not a keras tensor or a list of them")
                return []
            }
            for extra in args.dropFirst() where !extra.isNull {
                problems.append("\(label): a second call argument \(extra.summary) is not supported")
            }
            callArguments(node["kwargs"])
        } else if let items = node.arrayValue {
            // Keras 2: a list of [name, node_index, tensor_index, kwargs].
            for item in items {
                guard let r = reference(item) else {
                    problems.append("\(label): inbound node entry \(item.summary) is not [name, node_index, tensor_index]")
                    return []
                }
                if let a = item.arrayValue, a.count > 3 { callArguments(a[3]) }
                refs.append(r)
            }
        } else {
            problems.append("\(label): inbound node \(node.summary) is neither Keras 3's {args, kwargs} nor Keras 2's list")
        }
        return refs
    }

    /// A Functional config: InputLayers and layers wired by their inbound nodes, resolved with a
    /// worklist in config order (so a cycle, or a layer reading one that never resolves, is named,
    /// never followed), then ordered as Keras orders `model.layers`.
    private static func functional(_ config: JSONValue, path: String) throws -> Architecture {
        var problems: [String] = []
        guard let entries = config["layers"]?.arrayValue else {
            throw KerasFileError.unsupported(path: path, problems: ["the Functional config has no list of layers"])
        }
        guard entries.count <= maxLayers else {
            throw KerasFileError.unsupported(path: path, problems: ["\(entries.count) layers (at most 100,000)"])
        }
        let count = entries.count
        var names: [String] = []
        var index: [String: Int] = [:]
        var isInput: [Bool] = []
        for (i, entry) in entries.enumerated() {
            let name = entry["name"]?.stringValue ?? entry["config"]?["name"]?.stringValue ?? ""
            names.append(name.isEmpty ? "#\(i + 1)" : name)
            isInput.append(entry["class_name"]?.stringValue == "InputLayer")
            if name.isEmpty {
                problems.append("layer \(i + 1) (\(entry["class_name"]?.stringValue ?? "?")) has no name (the inbound nodes refer to layers by name)")
            } else if index[name] != nil {
                problems.append("two layers are named '\(name)' (layer names must be unique)")
            } else {
                index[name] = i
            }
        }
        func label(_ i: Int) -> String { "layer '\(names[i])' (\(entries[i]["class_name"]?.stringValue ?? "?"))" }

        // Each entry's sources, by entry index.
        var parents: [[Int]] = Array(repeating: [], count: count)
        var wired = true
        for (i, entry) in entries.enumerated() {
            let refs = inbound(entry["inbound_nodes"], label: label(i), problems: &problems)
            if isInput[i] {
                if !refs.isEmpty { problems.append("\(label(i)) has inbound nodes (an InputLayer reads nothing)") }
                continue
            }
            if refs.isEmpty {
                problems.append("\(label(i)) has no inbound node: it is not connected to the model's inputs")
                wired = false
            }
            for r in refs {
                if r.node != 0 {
                    problems.append("\(label(i)) reads node \(r.node) of '\(r.name)' (its call number \(r.node + 1)): shared layers are not supported")
                    wired = false
                } else if r.tensor != 0 {
                    problems.append("\(label(i)) reads output \(r.tensor) of '\(r.name)' (layers with one output only)")
                    wired = false
                } else if let j = index[r.name] {
                    parents[i].append(j)
                } else {
                    problems.append("\(label(i)) reads from '\(r.name)', which is not a layer of the model")
                    wired = false
                }
            }
        }

        // The model's inputs and outputs.
        var inputEntries: [Int] = [], outputEntries: [Int] = []
        func resolve(_ key: String, into list: inout [Int]) {
            guard let refs = endpoints(config[key]), !refs.isEmpty else {
                problems.append("\(key) \(config[key]?.summary ?? "is missing") is not a list of [name, 0, 0]")
                wired = false
                return
            }
            for r in refs {
                guard let j = index[r.name] else {
                    problems.append("\(key) names '\(r.name)', which is not a layer of the model")
                    wired = false
                    continue
                }
                if r.node != 0 || r.tensor != 0 {
                    problems.append("\(key) names output [\(r.node), \(r.tensor)] of '\(r.name)' (node 0, tensor 0 only: shared layers and layers with several outputs are not supported)")
                    wired = false
                }
                if list.contains(j) {
                    problems.append("\(key) lists '\(r.name)' twice")
                    wired = false
                }
                list.append(j)
            }
        }
        resolve("input_layers", into: &inputEntries)
        resolve("output_layers", into: &outputEntries)
        for j in inputEntries where !isInput[j] {
            problems.append("input_layers names \(label(j)), which is not an InputLayer")
            wired = false
        }
        for (i, input) in isInput.enumerated() where input && !inputEntries.contains(i) {
            problems.append("\(label(i)) is not listed in input_layers")
            wired = false
        }

        // Input shapes and dtypes.
        var inputs: [(name: String, shape: [Int])] = []
        for j in inputEntries where isInput[j] {
            let c = entries[j]["config"]
            if let dtype = c?["dtype"]?.stringValue ?? c?["dtype"]?["config"]?["name"]?.stringValue, dtype != "float32" {
                problems.append("input layer '\(names[j])': dtype \(dtype) is not supported (float32 only)")
            }
            for key in ["sparse", "ragged"] where c?[key]?.boolValue == true {
                problems.append("input layer '\(names[j])': \(key) inputs are not supported")
            }
            switch (c?["batch_shape"] ?? c?["batch_input_shape"]).flatMap(shape) {
            case .some(.success(let s)): inputs.append((names[j], s))
            case .some(.failure(let p)): problems.append("input layer '\(names[j])': \(p.text)")
            case nil: problems.append("input layer '\(names[j])' has no batch_shape")
            }
        }

        // Every layer, decoded even when the wiring is wrong, so one error lists everything.
        var decoded: [Int: KerasLayers.Decoded] = [:]
        for (i, entry) in entries.enumerated() where !isInput[i] {
            if let d = KerasLayers.decode(entry, index: i + 1, problems: &problems) { decoded[i] = d }
        }

        if wired {
            // The worklist: an entry resolves once every entry it reads has (Kahn's algorithm, config
            // order among the ready). What never resolves reads from a cycle or is in one.
            var waiting = parents.map(\.count)
            var readers: [[Int]] = Array(repeating: [], count: count)
            for (i, ps) in parents.enumerated() { for p in ps { readers[p].append(i) } }
            var ready = (0..<count).filter { waiting[$0] == 0 }
            var resolved = 0
            var head = 0
            while head < ready.count {
                let i = ready[head]
                head += 1
                resolved += 1
                for r in readers[i] {
                    waiting[r] -= 1
                    if waiting[r] == 0 { ready.append(r) }
                }
            }
            if resolved < count {
                let stuck = (0..<count).filter { waiting[$0] > 0 }
                let shown = stuck.prefix(10).map { "'\(names[$0])'" }.joined(separator: ", ")
                problems.append("layers \(shown)\(stuck.count > 10 ? " and \(stuck.count - 10) more" : "") read from each other in a cycle (or from a layer in one): the graph cannot be computed")
                wired = false
            }
        }
        var graph: Graph?
        var layers: [KerasLayers.Decoded] = []
        if wired {
            // What the outputs depend on; anything else is refused rather than silently dropped.
            var reached = [Bool](repeating: false, count: count)
            var stack = outputEntries
            while let i = stack.popLast() {
                guard !reached[i] else { continue }
                reached[i] = true
                stack += parents[i]
            }
            for i in 0..<count where !reached[i] {
                problems.append(isInput[i] ? "input '\(names[i])' is not used by any output" : "\(label(i)) does not lead to any output (output_layers)")
            }
            // Values: the inputs in input_layers order, then the layers in Keras's order.
            let order = kerasOrder(count: count, parents: parents, outputs: outputEntries)
            var value = [Int](repeating: -1, count: count)
            for (k, j) in inputEntries.enumerated() { value[j] = k }
            var layerEntries: [Int] = []
            for i in order where !isInput[i] {
                value[i] = inputEntries.count + layerEntries.count
                layerEntries.append(i)
            }
            if problems.isEmpty {
                layers = layerEntries.map { decoded[$0]! }
                graph = Graph(inbound: layerEntries.map { parents[$0].map { value[$0] } }, outputs: outputEntries.map { value[$0] },
                              order: order.map { value[$0] })
            }
        }
        if !problems.isEmpty { throw KerasFileError.unsupported(path: path, problems: problems) }
        return Architecture(name: config["name"]?.stringValue ?? "functional", inputs: inputs, layers: layers, graph: graph)
    }

    /// The order in which Keras lists a graph's layers (`Functional.layers`, from `map_graph`): by
    /// depth — the longest path to an output — deepest first, ties broken by when a depth-first walk
    /// from the outputs (in order, each node's inputs in order) first met them. Keras numbers the
    /// weights of `model.weights.h5`, matches legacy `.h5` weights and orders optimizer variables
    /// in this order, so files must follow it. Nodes `0..<count` read `parents`; every node must be
    /// acyclic; nodes the outputs do not reach come last, in index order.
    static func kerasOrder(count: Int, parents: [[Int]], outputs: [Int]) -> [Int] {
        var first = [Int](repeating: Int.max, count: count)
        var done = [Bool](repeating: false, count: count), walking = done
        var postorder: [Int] = []
        var seen = 0
        for o in outputs where !done[o] {
            if first[o] == Int.max { first[o] = seen; seen += 1 }
            var stack: [(node: Int, next: Int)] = [(o, 0)]
            walking[o] = true
            while let top = stack.last {
                if top.next < parents[top.node].count {
                    stack[stack.count - 1].next += 1
                    let p = parents[top.node][top.next]
                    guard !done[p], !walking[p] else { continue }
                    if first[p] == Int.max { first[p] = seen; seen += 1 }
                    walking[p] = true
                    stack.append((p, 0))
                } else {
                    stack.removeLast()
                    walking[top.node] = false
                    done[top.node] = true
                    postorder.append(top.node)
                }
            }
        }
        var depth = [Int](repeating: 0, count: count)
        for node in postorder.reversed() {
            for p in parents[node] { depth[p] = max(depth[p], depth[node] + 1) }
        }
        let unreached = (0..<count).filter { !done[$0] }
        return postorder.sorted { (depth[$0], -first[$0]) > (depth[$1], -first[$1]) } + unreached
    }

    /// Builds the architecture as a `Sequential` or a graph `Model`; `budget` caps each layer's
    /// parameters (see `Layer.parameterLimit`) so a config cannot allocate more than its weights
    /// file holds.
    static func build(_ a: Architecture, path: String, seed: UInt64, budget: (String) -> (elements: Int, reason: String)?) throws -> Model {
        for d in a.layers { d.layer.parameterLimit = budget(d.layer.name) }
        defer { for d in a.layers { d.layer.parameterLimit = nil } }
        let model: Model
        do {
            if let graph = a.graph {
                let inputs = a.inputs.map { Input(shape: $0.shape, name: $0.name) }
                var tensors: [SymbolicTensor?] = inputs
                tensors += Array(repeating: nil, count: a.layers.count)
                // Applied in Keras's order, so `model.layers` lists them as Keras does.
                for v in graph.order where v >= inputs.count {
                    let j = v - inputs.count
                    let layer = a.layers[j].layer
                    let sources = graph.inbound[j].map { tensors[$0]! }
                    tensors[v] = layer is MergeLayer || sources.count != 1 ? layer(sources) : layer(sources[0])
                }
                model = try Model(inputs: inputs, outputs: graph.outputs.map { tensors[$0]! }, name: a.name, seed: seed)
            } else {
                model = try Sequential(inputShape: a.inputShape, layers: a.layers.map(\.layer), seed: seed)
            }
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

    /// The Keras 3 config of `model` (`config.json` without `compile_config`): a `Sequential` as
    /// Keras writes one, any other model as a Functional config.
    static func config(of model: Model, name: String = "sequential") throws -> [(key: String, value: JSONValue)] {
        guard model is Sequential else { return try functionalConfig(of: model) }
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

    /// A graph model's values (inputs and layer outputs, numbered as `Model.inbound`) in Keras's
    /// `model.layers` order (see `kerasOrder`): the order its files list, number and match layers in.
    static func kerasOrder(of model: Model) -> [Int] {
        let inputCount = model.inputShapes.count
        let parents = Array(repeating: [], count: inputCount) + model.inbound
        return kerasOrder(count: inputCount + model.layers.count, parents: parents, outputs: model.outputValues)
    }

    /// A graph model as Keras 3 writes a Functional model: an InputLayer entry per input, every
    /// entry with its `name` and `inbound_nodes` (keras tensors naming `[layer, 0, 0]`, a list of
    /// them for a merge layer), in Keras's order, then `input_layers` and `output_layers`.
    private static func functionalConfig(of model: Model) throws -> [(key: String, value: JSONValue)] {
        let inputCount = model.inputShapes.count
        func tensor(_ v: Int) -> JSONValue {
            .object([("class_name", .string("__keras_tensor__")),
                     ("config", .object([("shape", .batchShape(model.shape(ofValue: v))), ("dtype", .string("float32")),
                                         ("keras_history", .array([.string(model.producerName(ofValue: v)), .integer(0), .integer(0)]))]))])
        }
        var entries: [JSONValue] = []
        for v in kerasOrder(of: model) {
            let name = model.producerName(ofValue: v)
            if v < inputCount {
                entries.append(.object([
                    ("module", .string("keras.layers")), ("class_name", .string("InputLayer")),
                    ("config", .object([("batch_shape", .batchShape(model.inputShapes[v])), ("dtype", .string("float32")),
                                        ("sparse", .bool(false)), ("ragged", .bool(false)), ("name", .string(name)),
                                        ("optional", .bool(false))])),
                    ("registered_name", .null), ("name", .string(name)), ("inbound_nodes", .array([])),
                ]))
                continue
            }
            let j = v - inputCount
            let layer = model.layers[j]
            guard case var .object(members) = try KerasLayers.encode(layer) else { continue }
            let sources = model.inbound[j]
            let argument: JSONValue = layer is MergeLayer ? .array(sources.map(tensor)) : tensor(sources[0])
            // Keras records the call's keyword arguments; BatchNormalization's call takes a mask.
            let kwargs: JSONValue = layer is BatchNormalization ? .object([("mask", .null)]) : .object([])
            members += [("name", .string(name)),
                        ("inbound_nodes", .array([.object([("args", .array([argument])), ("kwargs", kwargs)])]))]
            entries.append(.object(members))
        }
        func endpoints(_ values: [Int]) -> JSONValue {
            let refs: [JSONValue] = values.map { .array([.string(model.producerName(ofValue: $0)), .integer(0), .integer(0)]) }
            // Keras 3 writes a single input or output as the bare [name, 0, 0].
            return refs.count == 1 ? refs[0] : .array(refs)
        }
        return [
            ("module", .string("keras.src.models.functional")), ("class_name", .string("Functional")),
            ("config", .object([("name", .string(model.name)), ("trainable", .bool(true)), ("layers", .array(entries)),
                                ("input_layers", endpoints(Array(0..<inputCount))), ("output_layers", endpoints(model.outputValues))])),
            ("registered_name", .string("Functional")),
            ("build_config", .object([("input_shape", .null)])),
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
                if let metric = Metric.named(name) {
                    if !metrics.contains(where: { $0.name == metric.name }) { metrics.append(metric) }
                } else {
                    warnings.append("metric '\(name)' is not supported (accuracy, binary/categorical/sparse_categorical/top-k accuracy, precision, recall, auc, mae, mse); left out")
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
        var schedule: LearningRateSchedule?
        let learningRate: Float
        if let lr = c["learning_rate"] ?? c["lr"], case .object = lr {
            schedule = try self.schedule(lr)
            learningRate = schedule!.learningRate(atStep: 0)
            r.ignore(["learning_rate", "lr"])
        } else {
            learningRate = r.float("learning_rate", default: r.float("lr", default: name.lowercased() == "sgd" ? 0.01 : 0.001))
        }
        r.requireNull(["use_ema", "loss_scale_factor", "gradient_accumulation_steps", "amsgrad", "centered"])
        if name.lowercased() != "adamw" { r.requireNull(["weight_decay"]) }
        r.ignore(["ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer", "decay"])
        if let decay = c["decay"]?.doubleValue, decay != 0 { r.problem("decay", "\(decay) is not supported") }
        let clipNorm = c["clipnorm"]?.doubleValue.map(Float.init), clipValue = c["clipvalue"]?.doubleValue.map(Float.init)
        let globalClipNorm = c["global_clipnorm"]?.doubleValue.map(Float.init)
        r.ignore(["clipnorm", "clipvalue", "global_clipnorm"])
        for (key, value) in [("clipnorm", clipNorm), ("clipvalue", clipValue), ("global_clipnorm", globalClipNorm)] {
            if let value, !(value > 0 && value.isFinite) { r.problem(key, "\(value) must be a positive number") }
        }
        let optimizer: Optimizer
        switch name.lowercased() {
        case "adam":
            optimizer = Adam(learningRate: learningRate, beta1: r.float("beta_1", default: 0.9), beta2: r.float("beta_2", default: 0.999),
                             epsilon: r.float("epsilon", default: 1e-7))
        case "adamw":
            optimizer = AdamW(learningRate: learningRate, weightDecay: r.float("weight_decay", default: 0.004), beta1: r.float("beta_1", default: 0.9),
                              beta2: r.float("beta_2", default: 0.999), epsilon: r.float("epsilon", default: 1e-7))
        case "adagrad":
            optimizer = Adagrad(learningRate: learningRate, initialAccumulatorValue: r.float("initial_accumulator_value", default: 0.1),
                                epsilon: r.float("epsilon", default: 1e-7))
        case "sgd":
            optimizer = SGD(learningRate: learningRate, momentum: r.float("momentum", default: 0), nesterov: r.bool("nesterov", default: false))
        case "rmsprop":
            let rho = r.float("rho", default: 0.9)
            r.requireValue("momentum", 0.0)
            optimizer = RMSProp(learningRate: learningRate, rho: rho, epsilon: r.float("epsilon", default: 1e-7))
        default:
            throw NNError.invalidArgument("\(name) is not supported (Adam, AdamW, Adagrad, SGD, RMSprop)")
        }
        r.finish()
        if !r.problems.isEmpty { throw NNError.invalidArgument(r.problems.joined(separator: "; ")) }
        optimizer.schedule = schedule
        optimizer.clipNorm = clipNorm
        optimizer.clipValue = clipValue
        optimizer.globalClipNorm = globalClipNorm
        return optimizer
    }

    /// A Keras learning-rate schedule object (`keras.optimizers.schedules`).
    static func schedule(_ v: JSONValue) throws -> LearningRateSchedule {
        let name = v["class_name"]?.stringValue ?? "?"
        let c = v["config"] ?? .null
        var r = ConfigReader(config: c, label: "learning-rate schedule \(name)")
        r.ignore(["name"])
        func int(_ key: String) -> Int {
            guard let d = c[key]?.doubleValue, d == d.rounded(), abs(d) < 1e15 else { r.problem(key, "must be a whole number"); return 1 }
            r.ignore([key])
            return Int(d)
        }
        let schedule: LearningRateSchedule
        switch name {
        case "ExponentialDecay":
            schedule = try ExponentialDecay(initialLearningRate: r.float("initial_learning_rate", default: 0.01), decaySteps: int("decay_steps"),
                                            decayRate: r.float("decay_rate", default: 0.96), staircase: r.bool("staircase", default: false))
        case "PiecewiseConstantDecay":
            let boundaries = (c["boundaries"]?.arrayValue ?? []).map { Int($0.doubleValue ?? -1) }
            let values = (c["values"]?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) }
            r.ignore(["boundaries", "values"])
            schedule = try PiecewiseConstantDecay(boundaries: boundaries, values: values)
        case "CosineDecay":
            let target = c["warmup_target"]?.doubleValue.map(Float.init)
            r.ignore(["warmup_target"])
            schedule = try CosineDecay(initialLearningRate: r.float("initial_learning_rate", default: 0.01), decaySteps: int("decay_steps"),
                                       alpha: r.float("alpha", default: 0), warmupTarget: target, warmupSteps: c["warmup_steps"] == nil ? 0 : int("warmup_steps"))
        default:
            throw NNError.invalidArgument("the learning-rate schedule \(name) is not supported (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)")
        }
        r.finish()
        if !r.problems.isEmpty { throw NNError.invalidArgument(r.problems.joined(separator: "; ")) }
        return schedule
    }

    /// The Keras config of a schedule.
    static func scheduleConfig(_ s: LearningRateSchedule) -> JSONValue {
        var c: [(key: String, value: JSONValue)]
        switch s {
        case let e as ExponentialDecay:
            c = [("initial_learning_rate", .float(e.initialLearningRate)), ("decay_steps", .integer(e.decaySteps)),
                 ("decay_rate", .float(e.decayRate)), ("staircase", .bool(e.staircase))]
        case let p as PiecewiseConstantDecay:
            c = [("boundaries", .array(p.boundaries.map { .integer($0) })), ("values", .array(p.values.map { .float($0) }))]
        case let d as CosineDecay:
            c = [("initial_learning_rate", .float(d.initialLearningRate)), ("decay_steps", .integer(d.decaySteps)), ("alpha", .float(d.alpha)),
                 ("warmup_target", d.warmupTarget.map { .float($0) } ?? .null), ("warmup_steps", .integer(d.warmupSteps))]
        default:
            c = []
        }
        return .object([("module", .string("keras.optimizers.schedules")), ("class_name", .string(s.className)),
                        ("config", .object(c + [("name", .string(s.className))])), ("registered_name", .null)])
    }

    static func loss(_ v: JSONValue) throws -> Loss {
        let name = v.stringValue ?? v["class_name"]?.stringValue ?? v["config"]?["name"]?.stringValue ?? "?"
        let config = v["config"]
        let fromLogits = config?["from_logits"]?.boolValue ?? false
        let smoothing = Float(config?["label_smoothing"]?.doubleValue ?? 0)
        let key = name.lowercased().replacingOccurrences(of: "_", with: "")
        if smoothing != 0 && !["categoricalcrossentropy", "binarycrossentropy"].contains(key) {
            throw NNError.invalidArgument("label_smoothing \(smoothing) is not supported for \(name)")
        }
        switch key {
        case "sparsecategoricalcrossentropy": return SparseCategoricalCrossentropy(fromLogits: fromLogits)
        case "categoricalcrossentropy": return CategoricalCrossentropy(fromLogits: fromLogits, labelSmoothing: smoothing)
        case "binarycrossentropy": return BinaryCrossentropy(fromLogits: fromLogits, labelSmoothing: smoothing)
        case "meansquarederror", "mse": return MeanSquaredError()
        case "meanabsoluteerror", "mae": return MeanAbsoluteError()
        case "huber", "huberloss": return Huber(delta: Float(config?["delta"]?.doubleValue ?? 1))
        case "kldivergence", "kld", "kullbackleiblerdivergence": return KLDivergence()
        default: throw NNError.invalidArgument("'\(name)' is not supported (sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, mean_squared_error, mean_absolute_error, huber, kl_divergence)")
        }
    }

    /// The Keras 3 compile config of a compiled model.
    static func compileConfig(of model: Model) throws -> JSONValue? {
        guard let loss = model.loss else { return nil }
        // A loss with options is written as Keras serializes the class; a plain one by its name.
        var lossValue: JSONValue = .string(loss.name)
        var options: [(key: String, value: JSONValue)] = []
        var className = ""
        switch loss {
        case let ce as SparseCategoricalCrossentropy where ce.fromLogits:
            className = "SparseCategoricalCrossentropy"; options = [("from_logits", .bool(true))]
        case let ce as CategoricalCrossentropy where ce.fromLogits || ce.labelSmoothing != 0:
            className = "CategoricalCrossentropy"; options = [("from_logits", .bool(ce.fromLogits)), ("label_smoothing", .float(ce.labelSmoothing))]
        case let b as BinaryCrossentropy where b.fromLogits || b.labelSmoothing != 0:
            className = "BinaryCrossentropy"; options = [("from_logits", .bool(b.fromLogits)), ("label_smoothing", .float(b.labelSmoothing))]
        case let h as Huber:
            className = "Huber"; options = [("delta", .float(h.delta))]
        default: break
        }
        if !className.isEmpty {
            lossValue = .object([("module", .string("keras.losses")), ("class_name", .string(className)),
                                 ("config", .object([("name", .string(loss.name)), ("reduction", .string("sum_over_batch_size"))] + options)),
                                 ("registered_name", .null)])
        }
        var optimizerValue: JSONValue = .null
        if let o = model.optimizer {
            var c: [(key: String, value: JSONValue)] = [("name", .string(o.name)),
                                                         ("learning_rate", o.schedule.map(scheduleConfig) ?? .float(o.learningRate))]
            for (key, value) in [("clipnorm", o.clipNorm), ("global_clipnorm", o.globalClipNorm), ("clipvalue", o.clipValue)] {
                c.append((key, value.map { .float($0) } ?? .null))
            }
            let className: String
            switch o {
            case let a as AdamW:
                className = "AdamW"
                c += [("weight_decay", .float(a.weightDecay)), ("beta_1", .float(a.beta1)), ("beta_2", .float(a.beta2)),
                      ("epsilon", .float(a.epsilon)), ("amsgrad", .bool(false))]
            case let a as Adagrad:
                className = "Adagrad"
                c += [("initial_accumulator_value", .float(a.initialAccumulatorValue)), ("epsilon", .float(a.epsilon))]
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
                        ("metrics", model.metrics.isEmpty ? .null : .array(model.metrics.map { .string($0.name) })),
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
