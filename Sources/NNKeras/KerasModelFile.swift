import Foundation
import NN

/// Keras `keras.models.load_model`: the model in a `.keras` archive or a legacy Keras `.h5` file,
/// with its layers, names, weights, BatchNormalization statistics, trainable flags and L2
/// regularizers; compiled from the file's compile config when `compile` is true and the file has
/// one, with the optimizer's state (Adam's moments, iterations) restored so training continues.
public func loadModel(from path: String, compile: Bool = true) throws -> Model {
    try KerasModelFile.read(path, compile: compile).model
}

/// A Keras model file as read: the model and what could not be restored of its compile config.
public struct KerasModelFile {
    /// The model, built, with the file's weights.
    public let model: Model
    /// Which of Keras's two formats the file is in.
    public let format: Format
    /// The Keras version that wrote the file, when it says.
    public let kerasVersion: String?
    /// The model's name in the file (`sequential`, `mobilenet_0.25_96`).
    public let name: String
    /// Whether the optimizer's state (step count, moments) was restored from the file.
    public let restoredOptimizerState: Bool
    /// Parts of the compile config not restored (an unsupported metric, say), as Keras warns.
    public let warnings: [String]
    /// The class names the model was saved with (`save(to:classNames:)`; Keras itself stores none).
    public let classNames: [String]?

    /// Keras 3's zip archive, or the HDF5 file of Keras 2 and `model.save("m.h5")`.
    public enum Format: String, Sendable { case keras, h5 }

    /// Reads a `.keras` or `.h5` model file, recognized by its content, not its name. `seed` seeds
    /// the model's generator (initial weights, then shuffles and dropout masks, as
    /// `Sequential(…, seed:)`); with `loadWeights` false the file's weights are not loaded and the
    /// model starts from that seed's initialization (training an architecture afresh).
    public static func read(_ path: String, compile: Bool = true, seed: UInt64 = 0, loadWeights: Bool = true) throws -> KerasModelFile {
        try read(data: InputFile.read(path), path: path, compile: compile, seed: seed, loadWeights: loadWeights)
    }

    /// `read` on a file's bytes; `path` names it in errors (the fuzz target's entry).
    package static func read(data: Data, path: String, compile: Bool = true, seed: UInt64 = 0, loadWeights: Bool = true) throws -> KerasModelFile {
        let options = Options(compile: compile, seed: seed, loadWeights: loadWeights)
        let kind = KerasFiles.kind(of: data)
        guard kind == .zip || kind == .hdf5, Isolation.enabled else { return try readUntrusted(data, path: path, options) }
        // libhdf5 reads the untrusted bytes in a child process (see `Isolation`); what it read comes
        // back as this engine's own .keras archive, read here.
        let answer = try Isolation.run(path: path, format: "Keras model file", bytes: data.count) {
            do {
                let file = try readUntrusted(data, path: path, options)
                let archive = try KerasFileWriter.kerasArchive(file.model, classNames: file.classNames)
                let info: JSONValue = .object([
                    ("format", .string(file.format.rawValue)), ("keras_version", file.kerasVersion.map { .string($0) } ?? .null),
                    ("name", .string(file.name)), ("restored", .bool(file.restoredOptimizerState)),
                    ("warnings", .array(file.warnings.map { .string($0) })),
                ])
                return Frames.join([Data(info.text.utf8), archive])
            } catch {
                throw TransportedError(error)
            }
        }
        let parts = try Frames.split(answer, count: 2, path: path)
        let info = try KerasFiles.json(parts[0], name: path)
        let back = try readKeras(Data(parts[1]), path: path, Options(compile: compile, seed: seed, loadWeights: true))
        return KerasModelFile(model: back.model, format: Format(rawValue: info["format"]?.stringValue ?? "") ?? kind.format,
                              kerasVersion: info["keras_version"]?.stringValue, name: info["name"]?.stringValue ?? back.name,
                              restoredOptimizerState: info["restored"]?.boolValue ?? false,
                              warnings: info["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [], classNames: back.classNames)
    }

    /// `read` in this process: what the reader process runs.
    private static func readUntrusted(_ data: Data, path: String, _ options: Options) throws -> KerasModelFile {
        switch KerasFiles.kind(of: data) {
        case .zip: return try readKeras(data, path: path, options)
        case .hdf5: return try readH5(HDF5File.open(image: data, name: path), path: path, options)
        case .safetensors:
            throw IOError.invalidFile(path: path, format: "Keras model file", reason: "this is a safetensors weights file (weights only, no architecture); build the model in code (cnn: --model) and load it with loadWeights(from:) (cnn: --weights)")
        case .other:
            throw IOError.invalidFile(path: path, format: "Keras model file", reason: "it is neither a .keras archive (zip) nor an HDF5 .h5 file")
        }
    }

    /// Whether the file at `path` starts like a Keras file (a zip archive or HDF5), for callers
    /// that take either Keras or safetensors weights.
    public static func isKerasFile(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let prefix = try? handle.read(upToCount: 8) else { return false }
        return ZipArchive.looksLikeZip(prefix.prefix(4)) || Array(prefix) == KerasFiles.hdf5Signature
    }

    private struct Options {
        let compile: Bool
        let seed: UInt64
        let loadWeights: Bool
    }

    private static func readKeras(_ data: Data, path: String, _ options: Options) throws -> KerasModelFile {
        let entries = try ZipArchive.read(data, path: path, maxTotalBytes: KerasFiles.inflateLimit(data.count))
        func entry(_ name: String) throws -> Data {
            guard let e = entries.first(where: { $0.name == name }) else {
                throw IOError.invalidFile(path: path, format: "Keras .keras archive", reason: "it has no \(name) (it holds \(entries.prefix(5).map(\.name).joined(separator: ", ")))")
            }
            return e.data
        }
        let config = try KerasFiles.json(entry("config.json"), name: "\(path)/config.json")
        var version: String?
        var classNames: [String]?
        if let metadata = entries.first(where: { $0.name == "metadata.json" }),
           let json = try? KerasFiles.json(metadata.data, name: "\(path)/metadata.json") {
            version = json["keras_version"]?.stringValue
            classNames = json["class_names"]?.arrayValue.flatMap { a in
                let names = a.compactMap(\.stringValue)
                return names.count == a.count && names.count <= 1 << 16 ? names : nil
            }
        }
        let weights = try HDF5File.open(image: entry("model.weights.h5"), name: "\(path)/model.weights.h5")
        let architecture = try KerasModelConfig.architecture(config, path: path)
        let layersGroup = try weights.root.isGroup("layers") ? weights.root.group("layers") : nil
        let source = KerasWeightSource.keras3(layersGroup, file: "\(path)/model.weights.h5",
                                              keys: KerasWeightSource.keras3Keys(architecture))
        let model = try KerasModelConfig.build(architecture, path: path, seed: options.seed, budget: source.budget)
        if options.loadWeights { try source.load(into: model, strict: true) }
        var restored = false
        var warnings: [String] = []
        if options.compile, let c = config["compile_config"], !c.isNull {
            let (compiled, w) = KerasModelConfig.compile(c, into: model)
            warnings = w
            if compiled, options.loadWeights, let optimizer = model.optimizer, try weights.root.isGroup("optimizer/vars") {
                let group = try weights.root.group("optimizer/vars")
                let names = try group.childNames().filter { Int($0) != nil }.sorted { Int($0)! < Int($1)! }
                restored = try KerasOptimizerState.restore(optimizer, model: model, count: names.count, path: "\(path)/model.weights.h5 optimizer/vars",
                                                           integer: { try group.readInteger(names[$0]) },
                                                           tensor: { try group.readFloats(names[$0]) })
            }
        }
        return KerasModelFile(model: model, format: .keras, kerasVersion: version, name: architecture.name,
                              restoredOptimizerState: restored, warnings: warnings, classNames: classNames)
    }

    private static func readH5(_ file: HDF5File, path: String, _ options: Options) throws -> KerasModelFile {
        let root = file.root
        guard let configText = try root.stringAttribute("model_config") else {
            if try root.stringArrayAttribute("layer_names") != nil || root.isGroup("layers") {
                throw IOError.invalidFile(path: path, format: "Keras model file", reason: "this is a weights-only file (no architecture); build the model in code and load it with loadKerasWeights(from:) (cnn: --model M --weights \(path))")
            }
            throw IOError.invalidFile(path: path, format: "Keras .h5 model file", reason: "the HDF5 file has no model_config attribute (not written by Keras's model.save)")
        }
        let config = try KerasFiles.json(Data(configText.utf8), name: "\(path) model_config")
        let architecture = try KerasModelConfig.architecture(config, path: path)
        guard try root.isGroup("model_weights") else {
            throw IOError.invalidFile(path: path, format: "Keras .h5 model file", reason: "it has no model_weights group")
        }
        let source = KerasWeightSource.legacy(try root.group("model_weights"), file: path)
        let model = try KerasModelConfig.build(architecture, path: path, seed: options.seed, budget: source.budget)
        if options.loadWeights { try source.load(into: model, strict: true) }
        var restored = false
        var warnings: [String] = []
        if options.compile, let text = try root.stringAttribute("training_config") {
            let c = try KerasFiles.json(Data(text.utf8), name: "\(path) training_config")
            let (compiled, w) = KerasModelConfig.compile(c, into: model)
            warnings = w
            if compiled, options.loadWeights, let optimizer = model.optimizer, try root.isGroup("optimizer_weights") {
                let group = try root.group("optimizer_weights")
                let names = try group.stringArrayAttribute("weight_names") ?? []
                restored = try KerasOptimizerState.restore(optimizer, model: model, count: names.count, path: "\(path) optimizer_weights",
                                                           integer: { try group.readInteger(names[$0]) },
                                                           tensor: { try group.readFloats(names[$0]) })
            }
        }
        let version = try root.stringAttribute("keras_version")
        let classNames = try root.stringArrayAttribute("class_names").flatMap { $0.count <= 1 << 16 ? $0 : nil }
        return KerasModelFile(model: model, format: .h5, kerasVersion: version, name: architecture.name,
                              restoredOptimizerState: restored, warnings: warnings, classNames: classNames)
    }
}

extension Model {
    /// Keras `model.save(path)`: the whole model — architecture, weights, compile config and
    /// optimizer state — as a `.keras` archive, or as a legacy `.h5` file when `path` ends in
    /// `.h5`/`.hdf5`. Written atomically (the one output-file rule). Keras's `load_model` reads both.
    /// `classNames` go into the file's metadata (Keras ignores them) for `predict` to name classes.
    public func save(to path: String, classNames: [String]? = nil) throws {
        let lower = path.lowercased()
        if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") {
            try AtomicFile.write(KerasFileWriter.legacyH5(self, classNames: classNames), to: path)
        } else if lower.hasSuffix(".keras") {
            try AtomicFile.write(KerasFileWriter.kerasArchive(self, classNames: classNames), to: path)
        } else {
            throw NNError.invalidArgument("save(to: \(path)): the path must end in .keras (Keras 3's format) or .h5 (legacy); weights alone go to saveWeights(to:) (safetensors)")
        }
    }

    /// Keras `model.load_weights(path, by_name=True)` for weights files Keras wrote: the legacy
    /// weights-only `.h5` that `keras.applications` publishes (MobileNet's `…_tf_no_top.h5`), Keras 3
    /// `.weights.h5`, or the weights inside a whole-model `.h5`/`.keras` file. Layers are matched by
    /// name; a layer of this model the file lacks keeps its weights (a new head). A matched layer
    /// whose shapes differ is an error, or with `skipMismatch` left as is and listed. Throws when no
    /// layer matches. Nothing changes unless every check passes.
    @discardableResult
    public func loadKerasWeights(from path: String, skipMismatch: Bool = false) throws -> (loaded: [String], kept: [String]) {
        let data = try InputFile.read(path)
        let kind = KerasFiles.kind(of: data)
        guard kind == .zip || kind == .hdf5, Isolation.enabled else {
            return try loadKerasWeights(data: data, path: path, skipMismatch: skipMismatch)
        }
        // Loaded into the child's copy of this model (see `Isolation`), which sends back every
        // parameter as safetensors, decoded and checked here like any weights file.
        let answer = try Isolation.run(path: path, format: "Keras weights file", bytes: data.count) {
            do {
                let (loaded, kept) = try loadKerasWeights(data: data, path: path, skipMismatch: skipMismatch)
                let info: JSONValue = .object([("loaded", .array(loaded.map { .string($0) })), ("kept", .array(kept.map { .string($0) }))])
                let tensors = try SafeTensors.encode(namedParameters.map { ($0.name, $0.parameter.value) })
                return Frames.join([Data(info.text.utf8), tensors])
            } catch {
                throw TransportedError(error)
            }
        }
        let parts = try Frames.split(answer, count: 2, path: path)
        let info = try KerasFiles.json(parts[0], name: path)
        try loadWeights(try SafeTensors.decode(Data(parts[1]), path: path), path: path)
        return (info["loaded"]?.arrayValue?.compactMap(\.stringValue) ?? [], info["kept"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// `loadKerasWeights` in this process: what the reader process runs.
    private func loadKerasWeights(data: Data, path: String, skipMismatch: Bool) throws -> (loaded: [String], kept: [String]) {
        let source: KerasWeightSource
        var holder: HDF5File?
        switch KerasFiles.kind(of: data) {
        case .zip:
            let entries = try ZipArchive.read(data, path: path, maxTotalBytes: KerasFiles.inflateLimit(data.count))
            guard let weights = entries.first(where: { $0.name == "model.weights.h5" }) else {
                throw IOError.invalidFile(path: path, format: "Keras .keras archive", reason: "it has no model.weights.h5")
            }
            let file = try HDF5File.open(image: weights.data, name: "\(path)/model.weights.h5")
            holder = file
            source = .keras3(try file.root.isGroup("layers") ? file.root.group("layers") : nil, file: "\(path)/model.weights.h5",
                             keys: KerasWeightSource.keras3Keys(self))
        case .hdf5:
            let file = try HDF5File.open(image: data, name: path)
            holder = file
            let root = file.root
            if try root.isGroup("model_weights") {
                source = .legacy(try root.group("model_weights"), file: path)
            } else if try root.stringArrayAttribute("layer_names") != nil {
                source = .legacy(root, file: path)
            } else if try root.isGroup("layers") {
                source = .keras3(try root.group("layers"), file: path, keys: KerasWeightSource.keras3Keys(self))
            } else {
                throw IOError.invalidFile(path: path, format: "Keras weights file", reason: "the HDF5 file has neither layer_names, model_weights nor layers")
            }
        case .safetensors:
            throw IOError.invalidFile(path: path, format: "Keras weights file", reason: "this is a safetensors file; load it with loadWeights(from:) or loadBaseWeights(from:)")
        case .other:
            throw IOError.invalidFile(path: path, format: "Keras weights file", reason: "it is neither an HDF5 .h5 file nor a .keras archive")
        }
        defer { withExtendedLifetime(holder) {} }
        return try source.load(into: self, strict: false, skipMismatch: skipMismatch)
    }
}

/// Recognizing files by their first bytes, and reading their JSON.
enum KerasFiles {
    enum Kind {
        case zip, hdf5, safetensors, other
        var format: KerasModelFile.Format { self == .hdf5 ? .h5 : .keras }
    }

    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    static func kind(of data: Data) -> Kind {
        if ZipArchive.looksLikeZip(data.prefix(4)) { return .zip }
        // HDF5's superblock may sit at 0, 512, 1024, 2048, … (a user block before it); Keras's is at 0.
        var offset = 0
        while offset + 8 <= data.count, offset <= 1 << 20 {
            if Array(data[data.startIndex + offset ..< data.startIndex + offset + 8]) == hdf5Signature { return .hdf5 }
            offset = offset == 0 ? 512 : offset * 2
        }
        if data.count >= 9, data[data.startIndex + 8] == UInt8(ascii: "{") { return .safetensors }
        return .other
    }

    /// The most a `.keras` archive may inflate to: Keras stores its members uncompressed and float
    /// weights hardly compress, so 16× the archive (at least 64 MiB) is generous for any real file
    /// while a small decompression bomb stays small.
    static func inflateLimit(_ archiveBytes: Int) -> Int {
        min(ZipArchive.defaultMaxTotalBytes, max(64 << 20, archiveBytes.multipliedReportingOverflow(by: 16).partialValue))
    }

    static func json(_ data: Data, name: String) throws -> JSONValue {
        guard data.count <= 256 << 20 else {
            throw IOError.invalidFile(path: name, format: "JSON config", reason: "\(data.count) bytes is larger than any model config (at most 256 MiB)")
        }
        do {
            return try JSONReader.parse(Array(data))
        } catch {
            throw IOError.invalidFile(path: name, format: "JSON config", reason: "\(error)")
        }
    }
}

/// Where a file keeps each layer's weights, and loading them into a model's parameters, in Keras's
/// variable order (kernel, bias; gamma, beta, moving mean, moving variance), which is the order the
/// engine's layers register their parameters in.
enum KerasWeightSource {
    /// `.keras` / Keras 3 `.weights.h5`: `layers/<key>/vars/0, 1, …` (the group may be absent when
    /// no layer has weights), where `keys` maps each layer's name to its key (see
    /// `KerasLayers.weightKeys`). Keras 3 matches layers by position in the model, not by name.
    case keras3(HDF5Group?, file: String, keys: [String: String])
    /// Legacy `.h5`: a group per layer with a `weight_names` attribute naming its datasets.
    case legacy(HDF5Group, file: String)

    var file: String {
        switch self {
        case let .keras3(_, file, _), let .legacy(_, file): return file
        }
    }

    /// Each layer's Keras 3 weights key, by layer name, for layers listed in Keras's order.
    static func keras3Keys(_ layers: [Layer]) -> [String: String] {
        keras3Keys(names: layers.map(\.name), classNames: layers.map { KerasLayers.className(of: $0) ?? $0.typeName })
    }

    static func keras3Keys(names: [String], classNames: [String]) -> [String: String] {
        Dictionary(zip(names, KerasLayers.weightKeys(classNames: classNames)), uniquingKeysWith: { a, _ in a })
    }

    /// The keys of a model's layers: a Sequential's in order; a graph's in Keras's order, where its
    /// InputLayers count too (`input_layer`, `input_layer_1`, …), as Keras numbers a Functional model.
    static func keras3Keys(_ model: Model) -> [String: String] {
        guard !(model is Sequential) else { return keras3Keys(model.layers) }
        let order = KerasModelConfig.kerasOrder(of: model), inputs = model.inputShapes.count
        return keras3Keys(names: order.map(model.producerName(ofValue:)),
                          classNames: order.map { $0 < inputs ? "InputLayer" : KerasLayers.className(of: model.layers[$0 - inputs]) ?? model.layers[$0 - inputs].typeName })
    }

    /// The keys of a config's layers (see `keras3Keys(_ model:)`).
    static func keras3Keys(_ a: KerasModelConfig.Architecture) -> [String: String] {
        guard let graph = a.graph else { return keras3Keys(a.layers.map(\.layer)) }
        let inputs = a.inputs.count
        return keras3Keys(names: graph.order.map { $0 < inputs ? a.inputs[$0].name : a.layers[$0 - inputs].layer.name },
                          classNames: graph.order.map { $0 < inputs ? "InputLayer" : KerasLayers.className(of: a.layers[$0 - inputs].layer) ?? "?" })
    }

    /// A layer's variables in the file (name and reader, in order), or nil when the file has none
    /// for that layer.
    func variables(of layer: String) throws -> [(name: String, read: () throws -> Tensor)]? {
        switch self {
        case let .keras3(group, _, keys):
            let key = keys[layer] ?? layer
            guard let group, try group.isGroup("\(key)/vars") else { return nil }
            let vars = try group.group("\(key)/vars")
            let names = try vars.childNames().filter { Int($0) != nil }.sorted { Int($0)! < Int($1)! }
            guard names.map({ Int($0)! }) == Array(0..<names.count) else {
                throw IOError.invalidFile(path: file, format: "Keras weights file", reason: "layer '\(layer)' has variables \(names.prefix(8)) instead of 0, 1, …")
            }
            return names.map { n in ("vars/\(n)", { try vars.readFloats(n) }) }
        case let .legacy(group, _):
            if let names = try group.stringArrayAttribute("layer_names"), !names.contains(layer) { return nil }
            guard try group.isGroup(layer) else { return nil }
            let g = try group.group(layer)
            let names = try g.stringArrayAttribute("weight_names") ?? []
            return names.map { n in (n, { try g.readFloats(n) }) }
        }
    }

    /// Each layer's parameter budget: the elements its variables hold in the file (times two for
    /// the gradients), so a config cannot make a layer allocate more than its weights can fill.
    func budget(_ layer: String) -> (elements: Int, reason: String)? {
        let reason = "more than its weights in \(file) can fill"
        // Small layers always build, so the loader then names what is wrong with their weights (a
        // missing variable, a shape, an integer dataset); only large ones are held to the file.
        guard let vars = try? variables(of: layer) else { return (Self.minimumBudget, reason) }
        var total = 0
        for v in vars {
            // Shapes only: the reader checks sizes before it reads. `elementCount` reads no data.
            guard let count = try? elementCount(layer: layer, variable: v.name) else { return (Self.minimumBudget, reason) }
            total = total.addingReportingOverflow(count).partialValue
        }
        return (max(total.multipliedReportingOverflow(by: 2).partialValue, Self.minimumBudget), reason)
    }

    /// What any layer may allocate whatever the file holds: 2^20 elements (4 MiB).
    static let minimumBudget = 1 << 20

    private func elementCount(layer: String, variable: String) throws -> Int {
        switch self {
        case let .keras3(group, _, keys): return try group!.group(keys[layer] ?? layer).elementCount(variable)
        case let .legacy(group, _): return try group.group(layer).elementCount(variable)
        }
    }

    /// Loads every layer's variables. `strict` (a whole-model file): every layer with parameters
    /// must be in the file with exactly its variables. Otherwise layers are matched by name and the
    /// model's others keep their values. Shapes and finiteness are checked for everything before
    /// any parameter changes.
    @discardableResult
    func load(into model: Model, strict: Bool, skipMismatch: Bool = false) throws -> (loaded: [String], kept: [String]) {
        var updates: [(Parameter, Tensor)] = []
        var loaded: [String] = [], kept: [String] = []
        var checked: [(name: String, tensor: Tensor)] = []
        for layer in model.layers {
            let params = layer.parameters
            guard let vars = try variables(of: layer.name) else {
                if strict && !params.isEmpty {
                    throw IOError.mismatch(path: file, reason: "layer '\(layer.name)' (\(layer.typeName)) has no weights in the file")
                }
                kept.append(layer.name)
                continue
            }
            if params.isEmpty && vars.isEmpty { continue }
            guard vars.count == params.count else {
                let reason = "layer '\(layer.name)' (\(layer.typeName)) has \(vars.count) variables in the file but \(params.count) in the model (\(params.map(\.name).joined(separator: ", ")))"
                if skipMismatch { kept.append(layer.name); continue }
                throw IOError.mismatch(path: file, reason: reason)
            }
            var layerUpdates: [(Parameter, Tensor)] = []
            var mismatch: String?
            for (p, v) in zip(params, vars) {
                let t: Tensor
                do { t = try v.read() } catch {
                    throw IOError.invalidFile(path: file, format: "Keras weights file", reason: "layer '\(layer.name)' (\(layer.typeName)) \(p.name) (\(v.name)): \(error)")
                }
                if t.shape != p.value.shape {
                    mismatch = "layer '\(layer.name)' (\(layer.typeName)) \(p.name) has shape \(t.shape) in the file (\(v.name)) but \(p.value.shape) in the model"
                    break
                }
                layerUpdates.append((p, t))
                checked.append(("\(layer.name).\(p.name)", t))
            }
            if let mismatch {
                if skipMismatch { kept.append(layer.name); continue }
                throw IOError.mismatch(path: file, reason: mismatch)
            }
            updates += layerUpdates
            loaded.append(layer.name)
        }
        if !strict && updates.isEmpty && !model.layers.allSatisfy({ $0.parameters.isEmpty }) {
            throw IOError.mismatch(path: file, reason: "no layer of the model (\(model.layers.prefix(4).map(\.name).joined(separator: ", ")), …) has weights in the file under its name")
        }
        try SafeTensors.requireFinite(checked, path: file)
        for (p, t) in updates { p.value.assign(t) }
        return (loaded, kept)
    }
}

/// Keras's optimizer variables: `iteration` (int64), `learning_rate`, then the slots of every
/// trainable variable in `model.trainable_variables` order: Adam's momentum and velocity per
/// variable, SGD's momentum, RMSprop's velocity.
enum KerasOptimizerState {
    /// Restores `optimizer` from `count` saved variables; returns false (leaving the fresh state)
    /// when the count does not fit this model, as Keras skips such state with a warning.
    static func restore(_ optimizer: Optimizer, model: Model, count: Int, path: String,
                        integer: (Int) throws -> Int64, tensor: (Int) throws -> Tensor) throws -> Bool {
        let params = model.trainableParameters
        let slotCount = optimizer.slotNames.count
        guard count >= 2, count == 2 + params.count * slotCount else { return false }
        let iterations = try integer(0)
        let learningRate = try tensor(1)
        guard learningRate.count == 1 else {
            throw IOError.invalidFile(path: path, format: "Keras optimizer state", reason: "learning_rate has shape \(learningRate.shape)")
        }
        var slots: [(Tensor, Tensor)] = []
        var checked: [(name: String, tensor: Tensor)] = []
        for (i, p) in params.enumerated() {
            let state = optimizer.state(for: p)
            for s in 0..<slotCount {
                // Adam interleaves per variable (m, v, m, v, …); RMSprop and SGD have one slot each.
                let t = try tensor(2 + i * slotCount + s)
                guard t.shape == p.value.shape else {
                    throw IOError.mismatch(path: path, reason: "optimizer variable \(2 + i * slotCount + s) has shape \(t.shape) but its parameter \(p.name) has \(p.value.shape)")
                }
                slots.append((state[s], t))
                checked.append(("optimizer variable \(2 + i * slotCount + s)", t))
            }
        }
        try SafeTensors.requireFinite(checked + [("learning_rate", learningRate)], path: path)
        try optimizer.restoreIterations(Int(clamping: iterations))
        optimizer.learningRate = learningRate[flat: 0]
        for (slot, t) in slots { slot.assign(t) }
        try optimizer.validateState()
        return true
    }

    /// The variables to save, in Keras's order (iteration first, as an int64): the slots follow
    /// the model's layers in Keras's order (`KerasFileWriter.kerasLayers`).
    static func variables(_ optimizer: Optimizer, model: Model) -> (iterations: Int64, learningRate: Tensor, slots: [(name: String, tensor: Tensor)]) {
        var slots: [(name: String, tensor: Tensor)] = []
        let kerasSlot = ["m": "momentum", "v": "velocity", "momentum": "momentum", "velocity": "velocity"]
        for layer in KerasFileWriter.kerasLayers(model) where layer.trainable {
            for p in layer.parameters where p.trainable {
                for (name, t) in zip(optimizer.slotNames, optimizer.state(for: p)) {
                    slots.append(("\(layer.name)_\(p.name)_\(kerasSlot[name] ?? name)", t))
                }
            }
        }
        return (Int64(optimizer.iterations), Tensor(shape: [], elements: [optimizer.learningRate]), slots)
    }
}

/// Writing Keras's two formats.
enum KerasFileWriter {
    static let kerasVersion = "3.15.1"

    /// The model's layers as Keras lists them: a Sequential's in order, a graph's in Keras's
    /// order (see `KerasModelConfig.kerasOrder`), without the InputLayers.
    static func kerasLayers(_ model: Model) -> [Layer] {
        guard !(model is Sequential) else { return model.layers }
        let inputs = model.inputShapes.count
        return KerasModelConfig.kerasOrder(of: model).filter { $0 >= inputs }.map { model.layers[$0 - inputs] }
    }

    /// What Keras lists in a model's weights files, in order: each layer's name and parameters; a
    /// graph's InputLayers included (they have a group), a Sequential's not.
    private static func weightEntries(_ model: Model) -> [(name: String, parameters: [Parameter])] {
        guard !(model is Sequential) else { return model.layers.map { ($0.name, $0.parameters) } }
        let inputs = model.inputShapes.count
        return KerasModelConfig.kerasOrder(of: model).map { v in
            (model.producerName(ofValue: v), v < inputs ? [] : model.layers[v - inputs].parameters)
        }
    }

    /// `metadata.json`, `config.json`, `model.weights.h5` in a zip without compression, as Keras writes.
    static func kerasArchive(_ model: Model, classNames: [String]? = nil) throws -> Data {
        var config = try KerasModelConfig.config(of: model)
        if let compile = try KerasModelConfig.compileConfig(of: model) { config.append(("compile_config", compile)) }
        let date = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        var metadata: JSONValue = .object([("keras_version", .string(kerasVersion)), ("date_saved", .string(date)),
                                           ("saved_by", .string("NN (Swift CNN engine)"))])
        if let classNames, case var .object(members) = metadata {
            members.append(("class_names", .array(classNames.map { .string($0) })))
            metadata = .object(members)
        }
        let h5 = try HDF5Writer()
        try h5.createGroup("layers")
        let keys = KerasWeightSource.keras3Keys(model)
        for (name, parameters) in weightEntries(model) {
            let group = "layers/\(keys[name]!)/vars"
            try h5.createGroup(group)
            try h5.setStringAttribute("name", name, on: group)
            for (i, p) in parameters.enumerated() { try h5.writeFloats("\(group)/\(i)", p.value) }
        }
        if let optimizer = model.optimizer {
            try h5.createGroup("optimizer/vars")
            try h5.setStringAttribute("name", optimizer.name, on: "optimizer/vars")
            let (iterations, lr, slots) = KerasOptimizerState.variables(optimizer, model: model)
            try h5.writeInteger("optimizer/vars/0", iterations)
            try h5.writeFloats("optimizer/vars/1", lr)
            for (i, s) in slots.enumerated() { try h5.writeFloats("optimizer/vars/\(i + 2)", s.tensor) }
        }
        try h5.createGroup("vars")
        try h5.setStringAttribute("name", model is Sequential ? "sequential" : model.name, on: "vars")
        return try ZipArchive.write([("metadata.json", Data(metadata.text.utf8)), ("config.json", Data(JSONValue.object(config).text.utf8)),
                                     ("model.weights.h5", h5.fileImage())])
    }

    /// A legacy `.h5` as Keras's `model.save("m.h5")` writes it.
    static func legacyH5(_ model: Model, classNames: [String]? = nil) throws -> Data {
        let h5 = try HDF5Writer()
        if let classNames { try h5.setStringArrayAttribute("class_names", classNames, on: "/") }
        var config = try KerasModelConfig.config(of: model)
        config.removeAll { $0.key == "build_config" }
        try h5.setStringAttribute("backend", "tensorflow", on: "/")
        try h5.setStringAttribute("keras_version", kerasVersion, on: "/")
        try h5.setStringAttribute("model_config", JSONValue.object(config).text, on: "/")
        if let compile = try KerasModelConfig.compileConfig(of: model) {
            // The legacy training config names the optimizer `optimizer_config`, without module keys.
            var members: [(key: String, value: JSONValue)] = []
            if case let .object(m) = compile {
                for (k, v) in m {
                    if k == "optimizer" {
                        if !v.isNull { members.append(("optimizer_config", .object([("class_name", v["class_name"]!), ("config", v["config"]!)]))) }
                    } else { members.append((k, v)) }
                }
            }
            try h5.setStringAttribute("training_config", JSONValue.object(members).text, on: "/")
        }
        try h5.createGroup("model_weights")
        try h5.setStringAttribute("backend", "tensorflow", on: "model_weights")
        try h5.setStringAttribute("keras_version", kerasVersion, on: "model_weights")
        let entries = weightEntries(model)
        try h5.setStringArrayAttribute("layer_names", entries.map(\.name), on: "model_weights")
        // A Sequential's variables are named under the model (`sequential/conv2d/kernel`), a
        // Functional model's under the layer alone (`conv_a/kernel`), as Keras names them.
        let prefix = model is Sequential ? "sequential/" : ""
        for (layer, parameters) in entries {
            let base = "model_weights/\(layer)"
            try h5.createGroup(base)
            let names = parameters.map { "\(prefix)\(layer)/\($0.name)" }
            try h5.setStringArrayAttribute("weight_names", names, on: base)
            for (name, p) in zip(names, parameters) { try h5.writeFloats("\(base)/\(name)", p.value) }
        }
        try h5.createGroup("model_weights/top_level_model_weights")
        try h5.setStringArrayAttribute("weight_names", [], on: "model_weights/top_level_model_weights")
        if let optimizer = model.optimizer {
            let (iterations, lr, slots) = KerasOptimizerState.variables(optimizer, model: model)
            let o = optimizer.name
            let names = ["\(o)/iteration", "\(o)/learning_rate"] + slots.map { "\(o)/\(model is Sequential ? "sequential_" : "")\($0.name)" }
            try h5.createGroup("optimizer_weights/\(o)")
            try h5.setStringArrayAttribute("weight_names", names, on: "optimizer_weights")
            try h5.writeInteger("optimizer_weights/\(names[0])", iterations)
            try h5.writeFloats("optimizer_weights/\(names[1])", lr)
            for (name, s) in zip(names.dropFirst(2), slots) { try h5.writeFloats("optimizer_weights/\(name)", s.tensor) }
        }
        return try h5.fileImage()
    }
}
