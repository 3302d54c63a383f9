import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Bad input the other suites do not already cover (issue 8), each with the message it must give:
/// labels and counts that do not fit the model in `fit`/`evaluate`, the data directory hint, gzip
/// damaged in its header, weight files whose header lies, and a loss that turns non-finite late.
final class BadInputTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nn-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// Asserts that `body` throws and that the message holds every fragment.
    private func assertMessage<R>(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                                  _ body: () throws -> R) {
        do {
            _ = try body()
            XCTFail("no error thrown; expected one mentioning \(fragments)", file: file, line: line)
        } catch {
            let message = "\(error)"
            for f in fragments {
                XCTAssertTrue(message.contains(f), "\"\(message)\" lacks \"\(f)\"", file: file, line: line)
            }
        }
    }

    /// 4 features → 3 classes, sparse labels.
    private func classifier() throws -> Model {
        let m = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: .softmax)], seed: 3)
        m.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        return m
    }

    private func bits(_ m: Model) -> [[UInt32]] { m.namedParameters.map { $0.parameter.value.elements.map(\.bitPattern) } }

    // MARK: Labels and counts in fit

    /// A label outside the model's classes is reported before any step, naming the sample (not a
    /// row of a shuffled batch) and the number of classes; the weights stay as they were.
    func testFitRejectsLabelsOutsideTheClasses() throws {
        let m = try classifier()
        let before = bits(m)
        let x = Tensor(shape: [8, 4], repeating: 0.5)
        for (bad, shown) in [(Float(7), "label 7 "), (3, "label 3 "), (-1, "label -1 "), (1.5, "label 1.5 "), (.nan, "label nan ")] {
            let y = Tensor(shape: [8], elements: [0, 1, 2, 0, 1, bad, 2, 0])
            assertMessage(["training", shown, "of sample 5", "0..<3", "3 outputs", "sparse_categorical_crossentropy"]) {
                try m.fit(x: x, y: y, batchSize: 4, epochs: 1, verbose: .silent)
            }
        }
        XCTAssertEqual(bits(m), before, "a rejected fit changed the weights")

        let good = Tensor(shape: [8], elements: [0, 1, 2, 0, 1, 2, 2, 0])
        let badValidation = (x.rows(0..<2), Tensor(shape: [2], elements: [1, 9]))
        assertMessage(["validation label 9 of sample 1", "0..<3"]) {
            try m.fit(x: x, y: good, epochs: 1, validationData: badValidation, verbose: .silent)
        }
        assertMessage(["evaluation label 9 of sample 1"]) { try m.evaluate(x: badValidation.0, y: badValidation.1) }
        XCTAssertEqual(bits(m), before)
        XCTAssertNoThrow(try m.fit(x: x, y: good, epochs: 1, verbose: .silent))
    }

    func testFitRejectsDifferentImageAndLabelCounts() throws {
        let m = try classifier()
        let x = Tensor(shape: [10, 4]), y = Tensor(shape: [9])
        assertMessage(["training data has 10 inputs but 9 targets", "[9]"]) { try m.fit(x: x, y: y, verbose: .silent) }
        let validation = (Tensor(shape: [4, 4]), Tensor(shape: [3]))
        assertMessage(["validation data has 4 inputs but 3 targets"]) {
            try m.fit(x: x, y: Tensor(shape: [10]), validationData: validation, verbose: .silent)
        }
        assertMessage(["evaluation data has 4 inputs but 3 targets"]) { try m.evaluate(x: validation.0, y: validation.1) }
    }

    // MARK: Data directories

    /// The packaged directory exists but lacks a file: the message names the directory, the file
    /// (raw or .gz) and how to install the package.
    func testPackagedDirectoryLackingAFileGivesTheInstallHint() throws {
        let packaged = path("fashion-mnist")
        try FileManager.default.createDirectory(atPath: packaged, withIntermediateDirectories: true)
        try IDXFile.write([UInt8](repeating: 0, count: 28 * 28), dimensions: [1, 28, 28], to: packaged + "/train-images-idx3-ubyte.gz", gzip: true)
        assertMessage([packaged, "lacks train-labels-idx1-ubyte (or train-labels-idx1-ubyte.gz)",
                       "install it with: apt-get install dataset-fashion-mnist"]) {
            try DataSets.load(directory: packaged + "/", classNames: nil, packagedDirectory: packaged)
        }
        // A path that is a file, not a directory, says so.
        assertMessage([packaged + "/train-images-idx3-ubyte.gz", "the data directory is not a directory"]) {
            try DataSets.load(directory: packaged + "/train-images-idx3-ubyte.gz")
        }
    }

    // MARK: Gzip damaged in its header

    func testGzipDamagedInItsHeader() throws {
        let p = path("labels.gz")
        try IDXFile.write([1, 2, 3], dimensions: [3], to: p, gzip: true)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))

        var method = good
        method[2] = 7  // compression method: only 8 (deflate) exists
        try Data(method).write(to: URL(fileURLWithPath: p))
        assertMessage([p, "corrupt gzip data", "unknown compression method"]) { try IDXFile.read(p) }

        var flags = good
        flags[3] = 0xE0  // reserved flag bits
        try Data(flags).write(to: URL(fileURLWithPath: p))
        assertMessage([p, "corrupt gzip data", "unknown header flags set"]) { try IDXFile.read(p) }

        // Only the magic, and a header cut before the deflate data: nothing decompresses.
        for cut in [2, 6] {
            try Data(good.prefix(cut)).write(to: URL(fileURLWithPath: p))
            assertMessage([p, "truncated IDX header: expected 4 bytes, found 0"]) { try IDXFile.read(p) }
        }
        // The same bytes decoded from memory give the same errors, naming the given path.
        assertMessage(["mem.gz", "unknown compression method"]) { try IDXFile.decode(method, path: "mem.gz") }
    }

    // MARK: Weight files whose header lies

    /// Raw safetensors bytes: an 8-byte little-endian header length, the header, the data.
    private func safetensors(_ header: String, data: [UInt8]) -> Data {
        var d = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    private func assertCorrupt(_ header: String, data: [UInt8] = [0, 0, 0, 0], _ fragments: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        assertMessage(["not a valid safetensors file"] + fragments, file: file, line: line) {
            try SafeTensors.decode(safetensors(header, data: data), path: "w.safetensors")
        }
    }

    private func tensor(_ name: String, shape: String = "[1]", offsets: String = "[0,4]") -> String {
        #""\#(name)":{"dtype":"F32","shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    func testHeaderWhoseOffsetsLie() {
        assertCorrupt("{\(tensor("a")),\(tensor("b"))}", ["tensor 'b' overlaps the previous tensor"])
        assertCorrupt("{\(tensor("a", offsets: "[4,8]"))}", data: [UInt8](repeating: 0, count: 8), ["gap before tensor 'a' at byte 0"])
        assertCorrupt("{\(tensor("a", offsets: "[0.0,4.0]"))}", ["tensor 'a' has invalid data_offsets [0.0, 4.0]", "integers"])
        assertCorrupt("{\(tensor("a", offsets: "[4e0,8]"))}", ["invalid data_offsets [4e0, 8]"])
        assertCorrupt("{\(tensor("a", offsets: "[-4,0]"))}", ["invalid data_offsets [-4, 0]"])
        assertCorrupt("{\(tensor("a", offsets: "[0,4,8]"))}", ["tensor 'a' lacks a pair of data_offsets"])
        assertCorrupt("{\(tensor("a", offsets: "[0,18446744073709551616]"))}", ["invalid data_offsets [0, 18446744073709551616]"])
        assertCorrupt("{\(tensor("a", offsets: "[0,9223372036854775807]"))}", ["claims bytes 0..<9223372036854775807", "4 bytes"])
    }

    func testHeaderWhoseShapeLies() {
        assertCorrupt("{\(tensor("a", shape: "[true]"))}", ["tensor 'a' has an invalid shape [true]"])
        assertCorrupt("{\(tensor("a", shape: "[1.0]"))}", ["invalid shape [1.0]"])
        assertCorrupt("{\(tensor("a", shape: "[-1]"))}", ["invalid shape [-1]"])
        assertCorrupt("{\(tensor("a", shape: "4"))}", ["tensor 'a' lacks a shape array"])
        assertCorrupt("{\(tensor("a", shape: "[4611686018427387904]"))}", ["tensor 'a' has a shape [4611686018427387904] larger than the file"])
        assertCorrupt("{\(tensor("a", shape: "[4611686018427387904,4]"))}", ["tensor 'a' has a shape [4611686018427387904, 4] whose size overflows"])
        // A million dimensions: refused by count, without a million-element message.
        let ones = "[" + [String](repeating: "1", count: 1_000_000).joined(separator: ",") + "]"
        XCTAssertThrowsError(try SafeTensors.decode(safetensors("{\(tensor("a", shape: ones))}", data: [0, 0, 0, 0]))) { error in
            XCTAssertTrue("\(error)".contains("tensor 'a' has 1000000 dimensions, more than 64"), "\(error)")
            XCTAssertLessThan("\(error)".count, 200)
        }
        // A zero dimension makes an empty tensor whatever the others claim.
        XCTAssertEqual(try SafeTensors.decode(safetensors("{\(tensor("a", shape: "[1000000000000,0]", offsets: "[0,0]"))}", data: []))["a"]?.shape,
                       [1_000_000_000_000, 0])
    }

    func testHeaderThatIsNotStrictJSON() {
        assertCorrupt("{\(tensor("a")),\(tensor("a"))}", ["duplicate key \"a\" at byte"])
        assertCorrupt(#"{"__metadata__":{"k":"1","k":"2"}}"#, data: [], ["duplicate key \"k\""])
        assertCorrupt(#"{"__metadata__":{"k":1}}"#, data: [], ["__metadata__ value for 'k' is 1, not a string"])
        assertCorrupt(#"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, ["tensor 'a' has dtype 32, not a string"])
        assertCorrupt("{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}", data: [],
                      ["not a JSON object", "nesting deeper than 64 levels"])
        assertCorrupt(#"{"a":1} {}"#, data: [], ["not a JSON object", "unexpected '{' after the value at byte 8"])
        assertCorrupt(#"{"\ud800":1}"#, data: [], ["high surrogate"])
        assertCorrupt("{\"a\u{1}\":1}", data: [], ["control character"])
        assertCorrupt(#"{'a':1}"#, data: [], ["expected a string key"])
        assertCorrupt("[1,2]", data: [], ["not a JSON object: it is [1, 2]"])
        // Escapes, non-ASCII names and padding spaces are fine.
        let file = try? SafeTensors.decode(safetensors("{\(tensor(#"\u00e9\ud83d\ude00\n\/"#))}    ", data: [0, 0, 0x80, 0x3F]))
        XCTAssertEqual(file?["é😀\n/"]?.elements, [1])
    }

    /// A lying header fails `loadWeights` with the file named, and leaves the model untouched.
    func testLoadingALyingFileChangesNothing() throws {
        let m = try classifier()
        let before = bits(m)
        let header = "{\(tensor("dense.kernel", shape: "[4,3]", offsets: "[0,48]")),\(tensor("dense.bias", shape: "[3]", offsets: "[40,52]"))}"
        let p = path("lie.safetensors")
        try safetensors(header, data: [UInt8](repeating: 0, count: 52)).write(to: URL(fileURLWithPath: p))
        assertMessage([p, "tensor 'dense.bias' overlaps the previous tensor"]) { try m.loadWeights(from: p) }
        XCTAssertEqual(bits(m), before)
    }

    // MARK: A loss that turns non-finite after the first epoch

    /// Corrupts one input at the start of a given epoch.
    private final class Poison: Callback {
        let epoch: Int, apply: () -> Void
        init(epoch: Int, _ apply: @escaping () -> Void) { self.epoch = epoch; self.apply = apply }
        func onEpochBegin(_ epoch: Int, model: Model) throws { if epoch == self.epoch { apply() } }
    }

    /// NaN inputs (NaN loss) or a target of 1e30 (infinite loss) arriving in epoch 2, batch 2: fit
    /// throws naming both, the history keeps epoch 1, and the weights are those after epoch 2's first batch.
    func testNonFiniteLossInALaterEpochKeepsTheLastGoodWeights() throws {
        for (poisonInput, expected) in [(true, "loss became nan at epoch 2, batch 2"), (false, "loss became inf at epoch 2, batch 2")] {
            func build() throws -> Model {
                let m = try Sequential(inputShape: [2], layers: [Dense(units: 3, activation: .tanh), Dense(units: 1)], seed: 5)
                m.compile(optimizer: SGD(learningRate: 0.01), loss: MeanSquaredError())  // stateless steps
                return m
            }
            let x = Tensor(shape: [8, 2], elements: (0..<16).map { Float($0) / 16 })
            let y = Tensor(shape: [8, 1], elements: (0..<8).map { Float($0) / 8 })
            let clean = (x.copy(), y.copy())
            let model = try build()
            let poison = Poison(epoch: 1) { if poisonInput { x[flat: 2 * 5] = .nan } else { y[flat: 5] = 1e30 } }
            do {
                try model.fit(x: x, y: y, batchSize: 4, epochs: 3, shuffle: false, callbacks: [poison], verbose: .silent)
                XCTFail("fit did not stop")
            } catch let e as NonFiniteLossError {
                XCTAssertTrue(e.description.hasPrefix(expected), e.description)
                XCTAssertTrue(e.description.contains("weights of the last good batch were kept"), e.description)
                XCTAssertEqual(e.history.epochs.map(\.epoch), [1])
            }
            // The reference takes the same good steps on clean data: epoch 1, then epoch 2's first batch.
            let reference = try build()
            try reference.fit(x: clean.0, y: clean.1, batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
            try reference.fit(x: clean.0.rows(0..<4), y: clean.1.rows(0..<4), batchSize: 4, epochs: 1, shuffle: false, verbose: .silent)
            XCTAssertEqual(bits(model), bits(reference), expected)
        }
    }
}
