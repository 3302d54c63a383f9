import Foundation
import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The data layer: IDX reading and writing (raw and gzipped), hostile-input errors, Dataset
/// operations, the Batcher, and the installed Fashion-MNIST.
final class DataTests: TemporaryDirectoryTestCase {

    // MARK: Helpers

    func path(_ name: String) -> String { dir + "/" + name }

    /// Deterministic pixels that are not trivially compressible, so gzip streams have real length.
    func pixels(_ count: Int) -> [UInt8] {
        var g = RandomGenerator(seed: 7)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    /// Writes an images/labels pair with `n` 4×3 images and labels `i % 10`.
    func writePair(n: Int, gzip: Bool = false, labelCount: Int? = nil) throws -> (images: String, labels: String) {
        let images = path("images\(gzip ? ".gz" : "")"), labels = path("labels\(gzip ? ".gz" : "")")
        try IDXFile.write(pixels(n * 12), dimensions: [n, 4, 3], to: images, gzip: gzip)
        let m = labelCount ?? n
        try IDXFile.write((0..<m).map { UInt8($0 % 10) }, dimensions: [m], to: labels, gzip: gzip)
        return (images, labels)
    }

    /// A dataset whose label i is i (class i of n) and whose image i is filled with Float(i).
    func indexDataset(_ n: Int, sample: [Int] = [2, 2, 1]) -> Dataset {
        let rowSize = sample.reduce(1, *)
        let images = Tensor(shape: [n] + sample, elements: (0..<n).flatMap { i in [Float](repeating: Float(i), count: rowSize) })
        let labels = Tensor(shape: [n], elements: (0..<n).map(Float.init))
        return Dataset(images: images, labels: labels, classNames: (0..<n).map(String.init))
    }

    /// A dataset of `n` samples with labels `i % 10`.
    func cyclicDataset(_ n: Int) -> Dataset {
        let images = Tensor(shape: [n, 1, 1, 1], elements: (0..<n).map(Float.init))
        let labels = Tensor(shape: [n], elements: (0..<n).map { Float($0 % 10) })
        return Dataset(images: images, labels: labels, classNames: DataSets.digitClassNames)
    }

    /// Asserts `body` throws a `DataError` whose message contains every string in `parts`.
    func assertDataError(_ parts: [String], file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected a DataError containing \(parts)", file: file, line: line)
        } catch let error as DataError {
            for part in parts {
                XCTAssertTrue(error.description.contains(part), "\"\(error)\" lacks \"\(part)\"", file: file, line: line)
            }
            XCTAssertEqual(error.localizedDescription, error.description, file: file, line: line)
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
    }

    func bytes(_ p: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: p))) }
    func put(_ b: [UInt8], _ p: String) throws { try Data(b).write(to: URL(fileURLWithPath: p)) }

    // MARK: IDX

    func testRoundTripRawAndGzip() throws {
        let data = pixels(5 * 7 * 3)
        for gzip in [false, true] {
            let p = path("round-\(gzip)")  // no .gz name either way: detection is by content
            try IDXFile.write(data, dimensions: [5, 7, 3], to: p, gzip: gzip)
            let head = try bytes(p).prefix(2)
            XCTAssertEqual(Array(head) == [0x1f, 0x8b], gzip)
            let idx = try IDXFile.read(p)
            XCTAssertEqual(idx.dimensions, [5, 7, 3])
            XCTAssertEqual(idx.bytes, data)
            XCTAssertEqual(idx.path, p)
        }
        // A raw file named .gz is read as raw.
        try IDXFile.write([1, 2, 3], dimensions: [3], to: path("raw.gz"))
        XCTAssertEqual(try IDXFile.read(path("raw.gz")).bytes, [1, 2, 3])
        // Header bytes are big-endian.
        XCTAssertEqual(try bytes(path("raw.gz")), [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])
        // Written through AtomicFile: a missing directory is a DataError naming the file.
        XCTAssertThrowsError(try IDXFile.write([1], dimensions: [1], to: path("missing/x.idx"))) {
            guard case .writeFailed(let p, let reason) = $0 as? DataError else { return XCTFail("\($0)") }
            XCTAssertEqual(p, path("missing/x.idx"))
            XCTAssertTrue(reason.contains("does not exist"), reason)
        }
    }

    func testGzipOutputIsStandard() throws {
        // Python's gzip must read what we write (skipped where python3 is absent).
        let p = path("std.gz")
        try IDXFile.write(pixels(100), dimensions: [10, 10], to: p, gzip: true)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import gzip,sys; sys.stdout.write(str(len(gzip.open(sys.argv[1]).read())))", p]
        let pipe = Pipe()
        python.standardOutput = pipe
        python.standardError = Pipe()
        try python.run()
        python.waitUntilExit()
        guard python.terminationStatus == 0 else { throw XCTSkip("python3 not available") }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(out, "112")  // 4 + 2·4 header bytes + 100 data bytes
    }

    func testMissingFile() {
        assertDataError([path("nope"), "no such file"]) { _ = try IDXFile.read(path("nope")) }
    }

    func testWrongMagic() throws {
        try put(Array("hello world".utf8), path("text"))
        assertDataError([path("text"), "not an IDX file", "0x68 0x65"]) { _ = try IDXFile.read(path("text")) }
    }

    func testUnsupportedTypeAndZeroDimensions() throws {
        try put([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], path("float"))
        assertDataError([path("float"), "0x0d", "32-bit float", "only 0x08"]) { _ = try IDXFile.read(path("float")) }
        try put([0, 0, 8, 0], path("rank0"))
        assertDataError([path("rank0"), "0 dimensions"]) { _ = try IDXFile.read(path("rank0")) }
        try put([0, 0, 8, 2, 0, 0], path("shorthead"))
        assertDataError([path("shorthead"), "truncated IDX header", "expected 12 bytes, found 6"]) {
            _ = try IDXFile.read(path("shorthead"))
        }
    }

    func testTruncatedAndTrailingRaw() throws {
        let p = path("cut")
        try IDXFile.write(pixels(60), dimensions: [3, 4, 5], to: p)
        let full = try bytes(p)
        try put(Array(full.dropLast(7)), p)
        assertDataError([p, "truncated", "expected 60 bytes of data, found 53"]) { _ = try IDXFile.read(p) }
        try put(full + [9, 9], p)
        assertDataError([p, "trailing bytes", "60 bytes"]) { _ = try IDXFile.read(p) }
    }

    func testTruncatedGzip() throws {
        let p = path("cut.gz")
        try IDXFile.write(pixels(4000), dimensions: [40, 100], to: p, gzip: true)
        let full = try bytes(p)
        // Cut in the middle of the deflate stream: the data comes up short.
        try put(Array(full.prefix(full.count / 2)), p)
        assertDataError([p, "truncated", "expected 4000 bytes of data, found"]) { _ = try IDXFile.read(p) }
        // Cut only the 8-byte trailer (CRC and length): all data arrives, but it is unverified.
        try put(Array(full.dropLast(4)), p)
        assertDataError([p, "truncated gzip stream"]) { _ = try IDXFile.read(p) }
    }

    func testCorruptGzip() throws {
        let p = path("bad.gz")
        let compressible = (0..<4000).map { UInt8(($0 / 7) % 50) }  // Huffman-coded, not stored, blocks
        try IDXFile.write(compressible, dimensions: [4000], to: p, gzip: true)
        var data = try bytes(p)
        for i in stride(from: data.count / 2, to: data.count / 2 + 8, by: 1) { data[i] ^= 0xA5 }
        try put(data, p)
        assertDataError([p, "corrupt gzip data"]) { _ = try IDXFile.read(p) }
        // A flipped byte in the checksum alone is caught too (zlib: "incorrect data check").
        try IDXFile.write(pixels(4000), dimensions: [4000], to: p, gzip: true)
        var crc = try bytes(p)
        crc[crc.count - 6] ^= 0xFF
        try put(crc, p)
        assertDataError([p, "corrupt gzip data", "incorrect data check"]) { _ = try IDXFile.read(p) }
        // Garbage after the stream is named as such; a second gzip member is read on.
        try IDXFile.write(pixels(10), dimensions: [10], to: p, gzip: true)
        let member = try bytes(p)
        try put(member + [7, 7, 7], p)
        assertDataError([p, "after the end of the gzip stream"]) { _ = try IDXFile.read(p) }
        try put(member + (try gzipCompress([], path: p)), p)
        XCTAssertEqual(try IDXFile.read(p).bytes, pixels(10))
    }

    func testHugeHeaderFailsFast() throws {
        // Dimensions whose product overflows Int, raw and gzipped.
        let header: [UInt8] = [0, 0, 8, 3] + [UInt8](repeating: 0xFF, count: 12)
        try put(header + [1, 2, 3], path("overflow"))
        assertDataError([path("overflow"), "claims dimensions [4294967295, 4294967295, 4294967295]"]) {
            _ = try IDXFile.read(path("overflow"))
        }
        // 100000 × 100000 × 100: no overflow, but far above the limit.
        let big: [UInt8] = [0, 0, 8, 3, 0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 0, 0, 0, 100]
        try put(try gzipCompress(big + [0], path: "t"), path("big.gz"))
        assertDataError([path("big.gz"), "limit"]) { _ = try IDXFile.read(path("big.gz")) }
        // Under the limit (800 MB) but backed by 3 bytes: reports the real count, quickly.
        let lie: [UInt8] = [0, 0, 8, 2, 0, 0, 0x27, 0x10, 0, 1, 0x38, 0x80]  // [10000, 80000]
        try put(try gzipCompress(lie + [1, 2, 3], path: "t"), path("lie.gz"))
        let start = Date()
        assertDataError([path("lie.gz"), "expected 800000000 bytes of data, found 3"]) { _ = try IDXFile.read(path("lie.gz")) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        // An explicit smaller limit applies too.
        try IDXFile.write(pixels(100), dimensions: [100], to: path("small"))
        assertDataError(["limit"]) { _ = try IDXFile.read(path("small"), byteLimit: 99) }
        XCTAssertEqual(try IDXFile.read(path("small"), byteLimit: 100).bytes.count, 100)
    }

    func testWriterRejectsMismatchedDimensions() {
        assertDataError([path("x"), "[2, 3]", "5 bytes"]) { try IDXFile.write([1, 2, 3, 4, 5], dimensions: [2, 3], to: path("x")) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x")))
    }

    // MARK: Dataset

    func testDatasetShapesAndScaling() throws {
        for gzip in [false, true] {
            let files = try writePair(n: 6, gzip: gzip)
            let ds = try Dataset(imagesFile: files.images, labelsFile: files.labels)
            XCTAssertEqual(ds.images.shape, [6, 4, 3, 1])
            XCTAssertEqual(ds.sampleShape, [4, 3, 1])
            XCTAssertEqual(ds.count, 6)
            XCTAssertEqual(ds.labels.elements, [0, 1, 2, 3, 4, 5])
            XCTAssertEqual(ds.classNames, ["0", "1", "2", "3", "4", "5"])
            let raw = pixels(72)
            for i in [0, 5, 71] { XCTAssertEqual(ds.images[flat: i], Float(raw[i]) / 255, accuracy: 1e-6) }
        }
        try IDXFile.write([0, 51, 255, 255, 0, 51], dimensions: [1, 1, 2, 3], to: path("rgb"))
        try IDXFile.write([1], dimensions: [1], to: path("rgbLabels"))
        let rgb = try Dataset(imagesFile: path("rgb"), labelsFile: path("rgbLabels"), classNames: ["a", "b"])
        XCTAssertEqual(rgb.images.shape, [1, 1, 2, 3])
        XCTAssertEqual(rgb.images.elements, [0, 0.2, 1, 1, 0, 0.2])
        XCTAssertEqual(rgb.classNames, ["a", "b"])
    }

    func testCountMismatchAndLabelRange() throws {
        let files = try writePair(n: 6, labelCount: 5)
        assertDataError([files.images, files.labels, "6 images", "5 labels"]) {
            _ = try Dataset(imagesFile: files.images, labelsFile: files.labels)
        }
        let ok = try writePair(n: 6)
        assertDataError([ok.labels, "label 3 at index 3", "(3)"]) {
            _ = try Dataset(imagesFile: ok.images, labelsFile: ok.labels, classNames: ["a", "b", "c"])
        }
        assertDataError([ok.images, "labels must be one-dimensional"]) {
            _ = try Dataset(imagesFile: ok.images, labelsFile: ok.images)
        }
    }

    func testOneHot() {
        let ds = cyclicDataset(4)
        let y = ds.oneHot()
        XCTAssertEqual(y.shape, [4, 10])
        for i in 0..<4 {
            for c in 0..<10 { XCTAssertEqual(y[i, c], c == i ? 1 : 0) }
        }
        XCTAssertEqual(ds.oneHot(classes: 4).shape, [4, 4])
    }

    func testSplitTakesTheLastFraction() throws {
        let ds = indexDataset(10)
        let (train, validation) = try ds.split(validationFraction: 0.2)
        XCTAssertEqual(train.labels.elements, (0..<8).map(Float.init))
        XCTAssertEqual(validation.labels.elements, [8, 9])
        XCTAssertEqual(validation.images[0, 0, 0, 0], 8)
        let big = cyclicDataset(60000)
        let parts = try big.split(validationFraction: 0.1)
        XCTAssertEqual(parts.train.count, 54000)
        XCTAssertEqual(parts.validation.count, 6000)
        XCTAssertEqual(try cyclicDataset(7).split(validationFraction: 0.5).train.count, 3)  // floor(3.5)
        for bad in [0.0, 1.0, -0.1, 0.99] {  // 0.99 of 10 leaves no training sample
            XCTAssertThrowsError(try ds.split(validationFraction: bad), "fraction \(bad)")
        }
    }

    func testSeededShuffleIsReproduciblePermutation() {
        let ds = indexDataset(50)
        let a = ds.shuffled(seed: 42), b = ds.shuffled(seed: 42), c = ds.shuffled(seed: 43)
        XCTAssertEqual(a.labels.elements, b.labels.elements)
        XCTAssertNotEqual(a.labels.elements, c.labels.elements)
        XCTAssertNotEqual(a.labels.elements, ds.labels.elements)
        XCTAssertEqual(a.labels.elements.sorted(), ds.labels.elements)
        for i in 0..<50 { XCTAssertEqual(a.images[i, 1, 1, 0], a.labels[flat: i]) }  // rows move with labels
        XCTAssertEqual(ds.labels[flat: 3], 3)  // the source is untouched
    }

    func testSubsetPrefixFilterTake() {
        let ds = cyclicDataset(100)
        XCTAssertEqual(ds.subset([5, 2, 5]).images.elements, [5, 2, 5])
        XCTAssertEqual(ds.prefix(3).labels.elements, [0, 1, 2])
        XCTAssertEqual(ds.prefix(1000).count, 100)

        let upper = ds.filter(classes: [5, 6, 7, 8, 9], relabel: true)
        XCTAssertEqual(upper.count, 50)
        XCTAssertEqual(upper.classNames, ["5", "6", "7", "8", "9"])
        XCTAssertEqual(Set(upper.labels.elements), [0, 1, 2, 3, 4])
        XCTAssertEqual(upper.images[0, 0, 0, 0], 5)  // first kept sample is #5, now class 0
        XCTAssertEqual(upper.label(0), 0)
        let kept = ds.filter(classes: [7, 2])
        XCTAssertEqual(Set(kept.labels.elements), [2, 7])
        XCTAssertEqual(kept.classNames.count, 10)
        XCTAssertEqual(ds.filter(classes: [7, 2], relabel: true).label(0), 1)  // class 2 → position 1

        let few = ds.take(perClass: 3, seed: 1)
        XCTAssertEqual(few.classCounts, [Int](repeating: 3, count: 10))
        XCTAssertEqual(few.images.elements, few.images.elements.sorted())  // original order kept
        XCTAssertEqual(few.labels.elements, ds.take(perClass: 3, seed: 1).labels.elements)
        XCTAssertEqual(ds.take(perClass: 50, seed: 1).count, 100)
    }

    // MARK: Batcher

    func testBatcherCoversEverySampleOncePerEpochAndReusesBuffers() throws {
        let ds = indexDataset(10)
        let batcher = try Batcher(dataset: ds, batchSize: 4, shuffleSeed: 9)
        XCTAssertEqual(batcher.batchCount, 3)
        var orders: [[Float]] = []
        for _ in 0..<2 {
            var seen: [Float] = []
            var sizes: [Int] = []
            for (x, y) in batcher.epoch() {
                XCTAssertEqual(x.pointer, batcher.images.pointer)
                XCTAssertEqual(y.pointer, batcher.labels.pointer)
                XCTAssertEqual(x.shape, [y.count, 2, 2, 1])
                for i in 0..<y.count { XCTAssertEqual(x[i, 1, 0, 0], y[flat: i]) }
                sizes.append(y.count)
                seen += y.elements
            }
            XCTAssertEqual(sizes, [4, 4, 2])
            XCTAssertEqual(seen.sorted(), (0..<10).map(Float.init))
            orders.append(seen)
        }
        XCTAssertNotEqual(orders[0], orders[1], "each epoch reshuffles")
        let again = try Batcher(dataset: ds, batchSize: 4, shuffleSeed: 9)
        XCTAssertEqual(again.epoch().flatMap { $0.labels.elements }, orders[0], "seeded order is reproducible")
        let ordered = try Batcher(dataset: ds, batchSize: 3)
        XCTAssertEqual(ordered.epoch().flatMap { $0.labels.elements }, (0..<10).map(Float.init))
        XCTAssertEqual(ordered.epoch().map { $0.labels.count }, [3, 3, 3, 1])
    }

    // MARK: Directories

    func testLoadDirectoryErrors() throws {
        let missing = path("no-such-dir")
        assertDataError([missing, "does not exist", "install it with: apt-get install dataset-fashion-mnist"]) {
            _ = try DataSets.load(directory: missing, classNames: nil, packagedDirectory: missing)
        }
        assertDataError([missing, "does not exist"]) { _ = try DataSets.load(directory: missing) }
        do {
            _ = try DataSets.load(directory: missing)
        } catch {
            XCTAssertFalse("\(error)".contains("apt-get"), "the hint is only for the packaged directory")
        }

        // A directory with the training pair only, one gzipped, one raw.
        let mnist = path("mnist")
        try FileManager.default.createDirectory(atPath: mnist, withIntermediateDirectories: true)
        try IDXFile.write(pixels(2 * 28 * 28), dimensions: [2, 28, 28], to: mnist + "/train-images-idx3-ubyte.gz", gzip: true)
        try IDXFile.write([3, 9], dimensions: [2], to: mnist + "/train-labels-idx1-ubyte")
        assertDataError([mnist, "t10k-images-idx3-ubyte"]) { _ = try DataSets.load(directory: mnist) }

        try IDXFile.write(pixels(28 * 28), dimensions: [1, 28, 28], to: mnist + "/t10k-images-idx3-ubyte")
        try IDXFile.write([0], dimensions: [1], to: mnist + "/t10k-labels-idx1-ubyte.gz", gzip: true)
        let (train, test) = try DataSets.load(directory: mnist)
        XCTAssertEqual(train.images.shape, [2, 28, 28, 1])
        XCTAssertEqual(test.count, 1)
        XCTAssertEqual(train.classNames, DataSets.digitClassNames)
        let named = try DataSets.load(directory: mnist, classNames: DataSets.fashionMNISTClassNames)
        XCTAssertEqual(named.train.classNames[9], "Ankle boot")
    }

    func testRealFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: DataSets.fashionMNISTDirectory) else {
            throw XCTSkip("\(DataSets.fashionMNISTDirectory) is absent (apt-get install dataset-fashion-mnist)")
        }
        let (train, test) = try DataSets.load()
        XCTAssertEqual(train.images.shape, [60000, 28, 28, 1])
        XCTAssertEqual(test.images.shape, [10000, 28, 28, 1])
        XCTAssertEqual(train.classNames, DataSets.fashionMNISTClassNames)
        XCTAssertEqual(train.classCounts, [Int](repeating: 6000, count: 10))
        XCTAssertEqual(test.classCounts, [Int](repeating: 1000, count: 10))
        let labels = train.labels.elements + test.labels.elements
        XCTAssertTrue(labels.allSatisfy { $0 >= 0 && $0 <= 9 && $0 == $0.rounded() })
        let pixels = test.images.elements
        XCTAssertEqual(pixels.min(), 0)
        XCTAssertEqual(pixels.max(), 1)
    }
}
