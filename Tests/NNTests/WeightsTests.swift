import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Weight files: round trip, the safetensors layout read by hand, BatchNormalization statistics,
/// every way a file can be wrong (with the message it gives), atomicity and partial loading.
final class WeightsTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nn-weights-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// conv2d [3,3,1,4] + [4] → batch_normalization 4×[4] → max-pool → flatten → dense [16, 3] + [3].
    private func model(seed: UInt64, head: Layer? = nil) throws -> Model {
        let m = try Sequential(inputShape: [6, 6, 1], layers: [
            Conv2D(filters: 4, kernelSize: 3, activation: .relu),
            BatchNormalization(),
            MaxPooling2D(poolSize: 2),
            Flatten(),
            head ?? Dense(units: 3, activation: .softmax),
        ], seed: seed)
        m.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return m
    }

    private func images(_ n: Int, seed: UInt64) -> (Tensor, Tensor) {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor(shape: [n, 6, 6, 1]), y = Tensor(shape: [n])
        for i in 0..<x.count { x[flat: i] = rng.nextUniform() }
        for i in 0..<n { y[flat: i] = Float(i % 3) }
        return (x, y)
    }

    private func snapshot(_ m: Model) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: m.namedParameters.map { ($0.name, $0.parameter.value.elements.map(\.bitPattern)) })
    }

    private func assertLoadFails(_ m: Model, _ file: String, containing parts: [String],
                                 skipMissing: Bool = false, line: UInt = #line) {
        let before = snapshot(m)
        XCTAssertThrowsError(try m.loadWeights(from: file, skipMissing: skipMissing), line: line) { error in
            let message = "\(error)"
            for p in parts { XCTAssertTrue(message.contains(p), "message lacks '\(p)': \(message)", line: line) }
        }
        XCTAssertEqual(snapshot(m), before, "a failed load changed the weights", line: line)
    }

    /// Raw safetensors bytes from a JSON header string and a data section.
    private func rawFile(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
        var d = Data()
        var length = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    // MARK: Round trip

    func testSaveLoadGivesBitIdenticalPredictions() throws {
        let (x, y) = images(12, seed: 1)
        let trained = try model(seed: 1)
        try trained.fit(x: x, y: y, batchSize: 4, epochs: 2, verbose: .silent)
        try trained.saveWeights(to: path("w.safetensors"))
        let fresh = try model(seed: 2)
        XCTAssertNotEqual(try fresh.predict(x).elements, try trained.predict(x).elements)
        try fresh.loadWeights(from: path("w.safetensors"))
        XCTAssertEqual(try fresh.predict(x).elements.map(\.bitPattern), try trained.predict(x).elements.map(\.bitPattern))
        XCTAssertEqual(snapshot(fresh), snapshot(trained))
    }

    /// The file read by hand: 8-byte little-endian header length, a JSON object of
    /// {name: {dtype, shape, data_offsets}}, tensors back to back, values little-endian Float32.
    func testFileIsValidSafetensors() throws {
        let m = try model(seed: 3)
        try m.saveWeights(to: path("w.safetensors"), metadata: ["model": "tiny"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("w.safetensors"))))
        let n = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        XCTAssertEqual((8 + Int(n)) % 8, 0, "data section starts 8-byte aligned")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + Int(n))])) as? [String: Any])
        XCTAssertEqual(header["__metadata__"] as? [String: String], ["model": "tiny"])

        let expected: [(String, [Int])] = [
            ("conv2d.kernel", [3, 3, 1, 4]), ("conv2d.bias", [4]),
            ("batch_normalization.gamma", [4]), ("batch_normalization.beta", [4]),
            ("batch_normalization.moving_mean", [4]), ("batch_normalization.moving_variance", [4]),
            ("dense.kernel", [16, 3]), ("dense.bias", [3]),
        ]
        XCTAssertEqual(Set(header.keys), Set(expected.map(\.0) + ["__metadata__"]))
        let dataStart = 8 + Int(n)
        var ranges: [(Int, Int)] = []
        for (name, shape) in expected {
            let info = try XCTUnwrap(header[name] as? [String: Any], name)
            XCTAssertEqual(info["dtype"] as? String, "F32", name)
            XCTAssertEqual(info["shape"] as? [Int], shape, name)
            let offsets = try XCTUnwrap(info["data_offsets"] as? [Int], name)
            XCTAssertEqual(offsets.count, 2)
            XCTAssertEqual(offsets[1] - offsets[0], shape.reduce(1, *) * 4, name)
            ranges.append((offsets[0], offsets[1]))
            // The bytes at the offsets are the parameter's values.
            let values = m.namedParameters.first { $0.name == name }!.parameter.value.elements
            for (i, v) in values.enumerated() {
                let o = dataStart + offsets[0] + 4 * i
                let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
                XCTAssertEqual(bits, v.bitPattern, "\(name)[\(i)]")
            }
        }
        // Contiguous, starting at 0, covering the data section exactly.
        ranges.sort { $0.0 < $1.0 }
        XCTAssertEqual(ranges.first?.0, 0)
        for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.1, b.0) }
        XCTAssertEqual(ranges.last?.1, bytes.count - dataStart)

        let decoded = try SafeTensors.load(path("w.safetensors"))
        XCTAssertEqual(decoded.metadata, ["model": "tiny"])
        XCTAssertEqual(decoded["conv2d.kernel"]?.shape, [3, 3, 1, 4])
    }

    func testEncodeDecodeRoundTrip() throws {
        let a = Tensor(shape: [2, 3], elements: [1, -2, 3.5, .infinity, -0, 1e-30])
        let b = Tensor(shape: [0])
        let c = Tensor(shape: [], elements: [7])
        let data = try SafeTensors.encode([("a", a), ("b", b), ("c", c)])
        let file = try SafeTensors.decode(data)
        XCTAssertEqual(file["a"]?.elements.map(\.bitPattern), a.elements.map(\.bitPattern))
        XCTAssertEqual(file["b"]?.shape, [0])
        XCTAssertEqual(file["c"]?.elements, [7])
        XCTAssertThrowsError(try SafeTensors.encode([("a", a), ("a", b)])) { error in
            XCTAssertTrue("\(error)".contains("duplicate"), "\(error)")
        }
    }

    func testBatchNormStatisticsAreSaved() throws {
        let (x, y) = images(12, seed: 4)
        let trained = try model(seed: 4)
        try trained.fit(x: x, y: y, batchSize: 4, epochs: 1, verbose: .silent)
        let bn = trained.layers[1] as! BatchNormalization
        XCTAssertTrue(bn.movingMean.value.elements.contains { $0 != 0 }, "training moved the mean")
        XCTAssertTrue(bn.movingVariance.value.elements.contains { $0 != 1 }, "training moved the variance")
        try trained.saveWeights(to: path("bn.safetensors"))
        let file = try SafeTensors.load(path("bn.safetensors"))
        XCTAssertEqual(file["batch_normalization.moving_mean"]?.elements, bn.movingMean.value.elements)
        XCTAssertEqual(file["batch_normalization.moving_variance"]?.elements, bn.movingVariance.value.elements)
        let fresh = try model(seed: 5)
        try fresh.loadWeights(from: path("bn.safetensors"))
        let freshBN = fresh.layers[1] as! BatchNormalization
        XCTAssertEqual(freshBN.movingMean.value.elements, bn.movingMean.value.elements)
        XCTAssertEqual(freshBN.movingVariance.value.elements, bn.movingVariance.value.elements)
    }

    // MARK: Mismatches between file and model

    /// Tensors of another model (different values) so that a partial load would be visible.
    private func otherTensors() throws -> [(name: String, tensor: Tensor)] {
        try model(seed: 77).namedParameters.map { ($0.name, $0.parameter.value.copy()) }
    }

    func testMissingTensor() throws {
        let m = try model(seed: 6)
        try SafeTensors.save(try otherTensors().filter { $0.name != "dense.bias" }, to: path("missing.safetensors"))
        assertLoadFails(m, path("missing.safetensors"), containing: ["dense.bias", "missing", path("missing.safetensors")])
    }

    func testExtraTensor() throws {
        let m = try model(seed: 6)
        try SafeTensors.save(try otherTensors() + [("dense_9.kernel", Tensor(shape: [2]))], to: path("extra.safetensors"))
        assertLoadFails(m, path("extra.safetensors"), containing: ["dense_9.kernel", "does not have"])
    }

    /// The mis-shaped tensor comes last, so an implementation that assigned as it went would have
    /// changed the earlier ones: the model must be untouched.
    func testMisShapedTensor() throws {
        let m = try model(seed: 6)
        let tensors = try otherTensors().map { $0.name == "dense.bias" ? ($0.name, Tensor(shape: [4])) : $0 }
        try SafeTensors.save(tensors, to: path("shape.safetensors"))
        assertLoadFails(m, path("shape.safetensors"), containing: ["dense.bias", "[4]", "[3]"])
        assertLoadFails(m, path("shape.safetensors"), containing: ["dense.bias"], skipMissing: true)
    }

    func testMissingFile() throws {
        let m = try model(seed: 6)
        assertLoadFails(m, path("nope.safetensors"), containing: [path("nope.safetensors"), "no such file"])
    }

    // MARK: Corrupt files

    private func writeRaw(_ data: Data, _ name: String) throws -> String {
        let p = path(name)
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }

    func testHeaderLengthBeyondFile() throws {
        let m = try model(seed: 6)
        let p = try writeRaw(rawFile(header: "{}", data: [], declaredLength: 1_000), "long.safetensors")
        assertLoadFails(m, p, containing: [p, "header length 1000", "exceeds"])
        let huge = try writeRaw(rawFile(header: "{}", data: [], declaredLength: UInt64.max), "huge.safetensors")
        assertLoadFails(m, huge, containing: ["header length"])
    }

    func testOffsetsBeyondData() throws {
        let m = try model(seed: 6)
        let p = try writeRaw(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), "offsets.safetensors")
        assertLoadFails(m, p, containing: ["'a'", "0..<8", "4 bytes"])
        XCTAssertThrowsError(try SafeTensors.decode(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: [0, 0, 0, 0]))) { error in
            XCTAssertTrue("\(error)".contains("data_offsets"), "\(error)")
        }
        XCTAssertThrowsError(try SafeTensors.decode(rawFile(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 16)))) { error in
            XCTAssertTrue("\(error)".contains("needs 12 bytes"), "\(error)")
        }
        XCTAssertThrowsError(try SafeTensors.decode(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0, 9]))) { error in
            XCTAssertTrue("\(error)".contains("after the last tensor"), "\(error)")
        }
    }

    func testTruncatedFile() throws {
        let m = try model(seed: 6)
        try m.saveWeights(to: path("full.safetensors"))
        let full = try Data(contentsOf: URL(fileURLWithPath: path("full.safetensors")))
        let cut = try writeRaw(full.prefix(full.count - 10), "cut.safetensors")
        assertLoadFails(m, cut, containing: [cut, "data section has"])
        let tiny = try writeRaw(full.prefix(5), "tiny.safetensors")
        assertLoadFails(m, tiny, containing: [tiny, "5 bytes"])
        let headerOnly = try writeRaw(full.prefix(40), "header.safetensors")
        assertLoadFails(m, headerOnly, containing: [headerOnly, "header length"])
    }

    func testNotJSON() throws {
        let m = try model(seed: 6)
        let p = try writeRaw(rawFile(header: "hello!!!", data: []), "text.safetensors")
        assertLoadFails(m, p, containing: [p, "not a JSON object"])
        let array = try writeRaw(rawFile(header: "[1, 2]  ", data: []), "array.safetensors")
        assertLoadFails(m, array, containing: ["not a JSON object"])
    }

    func testNonF32Dtype() throws {
        let m = try model(seed: 6)
        let p = try writeRaw(rawFile(header: #"{"conv2d.bias":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)), "f16.safetensors")
        assertLoadFails(m, p, containing: ["conv2d.bias", "F16", "F32"])
    }

    // MARK: Partial loading and atomic writes

    /// A model with a different head loads the shared layers and keeps its own head.
    func testSkipMissingLoadsSharedLayers() throws {
        let source = try model(seed: 8)
        try source.saveWeights(to: path("base.safetensors"))
        let target = try model(seed: 9, head: Dense(units: 5, activation: .softmax, name: "new_head"))
        let headBefore = target.layer(named: "new_head")!.parameters.map { $0.value.elements }
        assertLoadFails(target, path("base.safetensors"), containing: ["new_head.kernel", "missing"])
        try target.loadWeights(from: path("base.safetensors"), skipMissing: true)
        let src = snapshot(source), tgt = snapshot(target)
        for name in ["conv2d.kernel", "conv2d.bias", "batch_normalization.gamma", "batch_normalization.moving_variance"] {
            XCTAssertEqual(tgt[name], src[name], name)
        }
        XCTAssertEqual(target.layer(named: "new_head")!.parameters.map { $0.value.elements }, headBefore)
        XCTAssertEqual(try target.predict(images(2, seed: 1).0).shape, [2, 5])
    }

    func testSavingOverExistingFileLeavesNoTemporaryFiles() throws {
        let m = try model(seed: 10)
        try m.saveWeights(to: path("w.safetensors"))
        let first = try Data(contentsOf: URL(fileURLWithPath: path("w.safetensors")))
        for (_, p) in m.namedParameters { p.value.fill(0.5) }
        try m.saveWeights(to: path("w.safetensors"))
        try m.saveWeights(to: path("w.safetensors"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["w.safetensors"])
        let second = try Data(contentsOf: URL(fileURLWithPath: path("w.safetensors")))
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(try SafeTensors.load(path("w.safetensors")).tensors.allSatisfy { $0.tensor.elements.allSatisfy { $0 == 0.5 } })
        // A missing directory fails with a message naming it, and leaves nothing behind.
        XCTAssertThrowsError(try m.saveWeights(to: directory + "/missing/w.safetensors")) { error in
            XCTAssertTrue("\(error)".contains(directory + "/missing"), "\(error)")
        }
    }
}
