import Foundation

/// The safetensors format (Hugging Face; PyTorch and NumPy read it): an 8-byte little-endian header
/// length, a JSON header mapping each tensor name to its dtype, shape and byte range, then the raw
/// little-endian data. We write F32 only and read F32 only.
///
/// The reader trusts nothing in the file: the header length, every offset and every shape are checked
/// against the file's real size before anything is allocated or copied.
public enum SafeTensors {
    /// Encodes named tensors (in the given order) with optional string metadata.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, t) in tensors {
            guard header[name] == nil, name != "__metadata__" else {
                throw NNError.invalidArgument("safetensors: duplicate tensor name '\(name)'")
            }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.count * 4]]
            offset += t.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, t) in tensors {
            t.withUnsafeBufferPointer { p in
                // Float32 is little-endian on every platform Swift on Linux runs on; convert anyway.
                for v in p { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { data.append(contentsOf: $0) } }
            }
        }
        return data
    }

    /// Writes the tensors atomically to `path`.
    public static func save(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata), to: path)
    }

    /// A decoded file: tensors by name, in file order, and its metadata.
    public struct File {
        /// The tensors, in the order the file lists them.
        public let tensors: [(name: String, tensor: Tensor)]
        /// The header's `__metadata__` strings (empty when the file has none).
        public let metadata: [String: String]
        /// The tensor called `name`, or nil.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    /// Reads and decodes the safetensors file at `path` (`IOError` when it is missing or invalid).
    public static func load(_ path: String) throws -> File {
        // A FIFO, a device or a directory is refused at once (`InputFile`), never read or waited on.
        return try decode(InputFile.read(path), path: path)
    }

    /// Throws naming the first tensor (in the given order) that holds NaN or ±inf, with the flat
    /// index of its first such element. Weights loading and checkpoint restore call it before they
    /// change anything, so non-finite weights are refused instead of evaluating to NaN silently.
    public static func requireFinite(_ tensors: [(name: String, tensor: Tensor)], path: String) throws {
        for (name, t) in tensors {
            if let i = t.firstNonFiniteIndex {
                throw IOError.cannotRead(path: path, reason: "tensor '\(name)' holds \(t[flat: i]) at flat index \(i); weights must be finite")
            }
        }
    }

    /// What a file in another well-known format appears to be, said instead of a meaningless
    /// header length (a `.keras` archive's first bytes read as 7,741,253,907,690,769,232).
    static func otherFormat(_ data: Data) -> String? {
        let b = [UInt8](data.prefix(8))
        if b.starts(with: [0x50, 0x4B, 0x03, 0x04]) || b.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return "this is a zip archive, as a Keras .keras model is; load it with loadModel(from:) from NNKeras (cnn: --model-file)"
        }
        if b == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] {
            return "this is an HDF5 file, as a Keras .h5 model or weights file is; load a whole model with loadModel(from:) (cnn: --model-file), weights with loadKerasWeights(from:) (NNKeras)"
        }
        if b.starts(with: [0x1F, 0x8B]) { return "this is a gzip file; decompress it first" }
        return nil
    }

    /// The most dimensions a tensor may have: far above any real model, low enough that a hostile
    /// shape cannot make error messages or shape arrays huge.
    public static let maxRank = 64

    /// The longest JSON header accepted (the reference implementation's limit).
    public static let maxHeaderLength = 100_000_000

    /// Decodes safetensors bytes; `path` only names the source in errors. Every size and offset in
    /// the file is checked against the file's real length before anything is allocated.
    public static func decode(_ data: Data, path: String = "<data>") throws -> File {
        func corrupt(_ reason: String) -> IOError { .corrupt(path: path, reason: reason) }
        let base = data.startIndex  // `data` may be a slice
        if let other = otherFormat(data) { throw corrupt(other) }
        guard data.count >= 8 else { throw corrupt("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[base + $1]) << (8 * UInt64($1)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw corrupt("header length \(headerLength) exceeds the file's \(data.count - 8) remaining bytes")
        }
        guard headerLength <= UInt64(maxHeaderLength) else { throw corrupt("header length \(headerLength) is over \(maxHeaderLength) bytes") }
        let header: [(key: String, value: JSONValue)]
        do {
            let json = try JSONReader.parse([UInt8](data[(base + 8)..<(base + 8 + Int(headerLength))]))
            guard case let .object(members) = json else { throw JSONSyntaxError(message: "it is \(json.summary)", offset: 0) }
            header = members
        } catch let error as JSONSyntaxError {
            throw corrupt("header is not a JSON object: \(error)")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = data.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard case let .object(members) = value else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in members {
                    guard case let .string(s) = v else { throw corrupt("__metadata__ value for '\(k)' is \(v.summary), not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try entry(name, value, dataLength: dataLength, corrupt: corrupt))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw corrupt(e.begin < expected ? "tensor '\(e.name)' overlaps the previous tensor" : "gap before tensor '\(e.name)' at byte \(expected)")
            }
            expected = e.end
        }
        guard expected == dataLength else { throw corrupt("data section has \(dataLength - expected) bytes after the last tensor") }
        let tensors: [(name: String, tensor: Tensor)] = data.withUnsafeBytes { raw in
            entries.map { e in
                let t = Tensor(shape: e.shape)
                let p = t.pointer
                for i in 0..<t.count {
                    let bits = raw.loadUnaligned(fromByteOffset: dataStart + e.begin + 4 * i, as: UInt32.self)
                    p[i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                return (e.name, t)
            }
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// One tensor's header entry, checked: F32, a shape of at most `maxRank` non-negative integers,
    /// and integer data_offsets inside the data section spanning exactly the shape's bytes.
    private static func entry(_ name: String, _ value: JSONValue, dataLength: Int,
                              corrupt: (String) -> IOError) throws -> (name: String, shape: [Int], begin: Int, end: Int) {
        guard case let .object(fields) = value else { throw corrupt("entry '\(name)' is \(value.summary), not an object") }
        func field(_ key: String) -> JSONValue? { fields.first { $0.key == key }?.value }
        guard let dtypeValue = field("dtype") else { throw corrupt("tensor '\(name)' has no dtype") }
        guard case let .string(dtype) = dtypeValue else { throw corrupt("tensor '\(name)' has dtype \(dtypeValue.summary), not a string") }
        guard dtype == "F32" else { throw corrupt("tensor '\(name)' has dtype \(dtypeValue.summary); only F32 is supported") }
        guard case let .array(shapeValues) = field("shape") else { throw corrupt("tensor '\(name)' lacks a shape array") }
        guard shapeValues.count <= maxRank else {
            throw corrupt("tensor '\(name)' has \(shapeValues.count) dimensions, more than \(maxRank)")
        }
        let shape = try shapeValues.map { v -> Int in
            guard case let .integer(n) = v, n >= 0 else {
                throw corrupt("tensor '\(name)' has an invalid shape \(JSONValue.array(shapeValues).summary): dimensions are non-negative integers")
            }
            return n
        }
        guard case let .array(offsets) = field("data_offsets"), offsets.count == 2 else {
            throw corrupt("tensor '\(name)' lacks a pair of data_offsets")
        }
        guard case let .integer(begin) = offsets[0], case let .integer(end) = offsets[1], begin >= 0, begin <= end else {
            throw corrupt("tensor '\(name)' has invalid data_offsets \(JSONValue.array(offsets).summary): they are integers with 0 <= begin <= end")
        }
        guard end <= dataLength else {
            throw corrupt("tensor '\(name)' claims bytes \(begin)..<\(end) but the data section has \(dataLength) bytes")
        }
        // Every dimension is multiplied in when a tensor is made, even when a zero one makes it
        // empty, so the non-zero ones must not overflow either.
        var product = 1
        for d in shape where d > 0 {
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow else { throw corrupt("tensor '\(name)' has a shape \(shape) whose size overflows") }
            product = p
        }
        let elements = shape.contains(0) ? 0 : product
        guard elements <= dataLength / 4 else { throw corrupt("tensor '\(name)' has a shape \(shape) larger than the file") }
        guard elements * 4 == end - begin else {
            throw corrupt("tensor '\(name)' of shape \(shape) needs \(elements * 4) bytes but data_offsets span \(end - begin)")
        }
        return (name, shape, begin, end)
    }
}

extension Model {
    /// Saves every parameter (`layer.kernel`, `layer.moving_mean`, …) in safetensors, atomically.
    public func saveWeights(to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.save(namedParameters.map { ($0.name, $0.parameter.value) }, metadata: metadata, to: path)
    }

    /// Loads weights saved by `saveWeights`. Strict by default: every model parameter must be in the
    /// file with the same shape, and the file may hold nothing else. With `skipMissing`, tensors
    /// the model lacks are ignored and model parameters the file lacks keep their values (a new head);
    /// shapes must still agree for every name both have. Nothing is changed unless all checks pass.
    public func loadWeights(from path: String, skipMissing: Bool = false) throws {
        try loadWeights(SafeTensors.load(path), path: path, skipMissing: skipMissing)
    }

    /// `loadWeights(from:)` on a decoded file; `path` only names it in errors.
    package func loadWeights(_ file: SafeTensors.File, path: String, skipMissing: Bool = false) throws {
        var updates: [(Parameter, Tensor)] = []
        var loaded: [(name: String, tensor: Tensor)] = []
        var fileNames = Set(file.tensors.map(\.name))
        for (name, p) in namedParameters {
            guard let t = file[name] else {
                if skipMissing { continue }
                throw IOError.mismatch(path: path, reason: "tensor '\(name)' (shape \(p.value.shape)) is missing from the file")
            }
            guard t.shape == p.value.shape else {
                throw IOError.mismatch(path: path, reason: "tensor '\(name)' has shape \(t.shape) in the file but \(p.value.shape) in the model")
            }
            updates.append((p, t))
            loaded.append((name, t))
            fileNames.remove(name)
        }
        // Checked before any parameter changes: NaN/Inf weights would evaluate to "loss: nan" with exit 0.
        try SafeTensors.requireFinite(loaded, path: path)
        if !skipMissing, let extra = fileNames.sorted().first {
            throw IOError.mismatch(path: path, reason: "the file has tensor '\(extra)', which the model does not have")
        }
        for (p, t) in updates { p.value.assign(t) }
    }
}
