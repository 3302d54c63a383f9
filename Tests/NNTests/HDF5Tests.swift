import Foundation
import XCTest
import NN
@testable import NNKeras

/// The libhdf5 wrapper (NNKeras/HDF5): what `HDF5Writer` writes reads back through `HDF5File` with the
/// same groups, values and attributes; a file h5py wrote reads as h5py reads it; and hostile or broken
/// input (not HDF5, truncated, wrong types, external links, decompression bombs, FIFOs) is an error
/// naming the file and the object, never a crash or a hang.
final class HDF5Tests: TemporaryDirectoryTestCase {

    // MARK: Helpers

    /// A file with Keras 3's weights layout: two layers' vars, an optimizer, root attributes.
    func kerasLikeImage() throws -> Data {
        let writer = try HDF5Writer()
        try writer.createGroup("layers/conv2d/vars")
        try writer.setStringAttribute("name", "conv2d", on: "layers/conv2d/vars")
        try writer.writeFloats("layers/conv2d/vars/0", Tensor(shape: [2, 2, 1, 3], elements: (0..<12).map { Float($0) / 4 - 1 }))
        try writer.writeFloats("layers/conv2d/vars/1", Tensor(shape: [3], elements: [0.5, -0.25, 1e-7]))
        try writer.createGroup("layers/flatten/vars")
        try writer.writeInteger("optimizer/vars/0", 1234)
        try writer.writeFloats("optimizer/vars/1", Tensor(shape: [], elements: [0.001]))
        try writer.writeFloats("optimizer/vars/2", Tensor(shape: [0, 4]))
        try writer.setStringAttribute("model_config", #"{"class_name": "Sequential", "note": "αβγ"}"#, on: "/")
        try writer.setStringArrayAttribute("layer_names", ["conv2d", "flatten"], on: "/layers")
        try writer.setStringArrayAttribute("weight_names", [], on: "layers/flatten")
        return try writer.fileImage()
    }

    /// Asserts `body` throws an error whose message holds every one of `words`.
    func assertFails(_ words: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any?) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            for word in words {
                XCTAssertTrue(message.contains(word), "'\(message)' should contain '\(word)'", file: file, line: line)
            }
        }
    }

    /// The h5py fixture's bytes, rebuilt from its non-zero runs.
    func h5pyFixture() -> Data {
        var data = Data(count: Self.h5pyFixtureSize)
        for run in Self.h5pyFixtureRuns {
            let bytes = Data(base64Encoded: run.base64)!
            data.replaceSubrange(run.offset..<(run.offset + bytes.count), with: bytes)
        }
        return data
    }

    // MARK: Round trip

    func testWriterFileReadsBackWithGroupsTensorsIntegersAndStrings() throws {
        let file = try HDF5File.open(image: kerasLikeImage(), name: "m.keras/model.weights.h5")
        let root = file.root
        XCTAssertEqual(root.path, "/")
        XCTAssertEqual(try root.childNames(), ["layers", "optimizer"])
        XCTAssertEqual(try root.group("layers").childNames(), ["conv2d", "flatten"])
        XCTAssertTrue(try root.isGroup("layers/conv2d/vars"))
        XCTAssertFalse(try root.isDataset("layers/conv2d/vars"))
        XCTAssertTrue(try root.isDataset("layers/conv2d/vars/0"))
        XCTAssertFalse(try root.isGroup("layers/conv2d/vars/0"))
        XCTAssertFalse(try root.isGroup("layers/nothing/vars"))

        let vars = try root.group("layers/conv2d/vars")
        XCTAssertEqual(vars.path, "/layers/conv2d/vars")
        XCTAssertEqual(try vars.childNames(), ["0", "1"])
        XCTAssertEqual(try vars.stringAttribute("name"), "conv2d")
        let kernel = try vars.readFloats("0")
        XCTAssertEqual(kernel.shape, [2, 2, 1, 3])
        XCTAssertEqual(kernel.elements, (0..<12).map { Float($0) / 4 - 1 })
        XCTAssertEqual(try vars.readFloats("1").elements, [0.5, -0.25, 1e-7])
        XCTAssertEqual(try root.group("layers/flatten/vars").childNames(), [])

        let optimizer = try root.group("optimizer/vars")
        XCTAssertEqual(try optimizer.readInteger("0"), 1234)
        let rate = try optimizer.readFloats("1")
        XCTAssertEqual(rate.shape, [])
        XCTAssertEqual(rate.elements, [0.001])
        XCTAssertEqual(try optimizer.readFloats("2").shape, [0, 4])

        XCTAssertEqual(try root.stringAttribute("model_config"), #"{"class_name": "Sequential", "note": "αβγ"}"#)
        XCTAssertEqual(try root.group("layers").stringArrayAttribute("layer_names"), ["conv2d", "flatten"])
        XCTAssertEqual(try root.group("layers/flatten").stringArrayAttribute("weight_names"), [])
        XCTAssertNil(try root.stringAttribute("training_config"))
        XCTAssertNil(try root.stringArrayAttribute("layer_names"))
    }

    func testWriterFileOnDiskOpensByPath() throws {
        let path = dir + "/weights.h5"
        try AtomicFile.write(try kerasLikeImage(), to: path)
        let file = try HDF5File.open(path: path)
        XCTAssertEqual(try file.root.group("optimizer/vars").readInteger("0"), 1234)
        XCTAssertEqual(try file.root.readFloats("layers/conv2d/vars/1").shape, [3])
    }

    func testEmptyStringArrayIsWrittenAsEmptyFloat64ArrayAndStringsAreReplaced() throws {
        let writer = try HDF5Writer()
        try writer.createGroup("g")
        try writer.setStringArrayAttribute("weight_names", [], on: "g")
        try writer.setStringAttribute("s", "first", on: "g")
        try writer.setStringAttribute("s", "second", on: "g")
        try writer.setStringArrayAttribute("a", ["x", "", "y z"], on: "g")
        let group = try HDF5File.open(image: writer.fileImage(), name: "empty.h5").root.group("g")
        XCTAssertEqual(try group.stringArrayAttribute("weight_names"), [])
        // It is an array of floats, as Keras expects, so it is not one string.
        assertFails(["empty.h5", "weight_names", "64-bit float"]) { try group.stringAttribute("weight_names") }
        XCTAssertEqual(try group.stringAttribute("s"), "second")
        XCTAssertEqual(try group.stringArrayAttribute("a"), ["x", "", "y z"])
        assertFails(["'a'", "3 strings"]) { try group.stringAttribute("a") }
    }

    func testWriterRefusesTakenNamesNULsAndUseAfterFinish() throws {
        let writer = try HDF5Writer()
        try writer.writeFloats("a/b", Tensor(shape: [1], elements: [1]))
        assertFails(["/a/b", "taken"]) { try writer.writeFloats("a/b", Tensor(shape: [1])) }
        assertFails(["/a/b", "dataset"]) { try writer.createGroup("a/b") }
        assertFails(["NUL"]) { try writer.setStringAttribute("x", "a\u{0}b", on: "a") }
        assertFails(["/nowhere"]) { try writer.setStringAttribute("x", "y", on: "nowhere") }
        // An object header holds at most 64 KB of attributes; a longer list is an error, not a crash.
        assertFails(["'names'", "'/a'", "64 KB"]) {
            try writer.setStringArrayAttribute("names", (0..<5000).map { "layer_\($0)" }, on: "a")
        }
        try writer.createGroup("a")  // an existing group is kept
        let image = try writer.fileImage()
        XCTAssertEqual(try writer.fileImage(), image)
        assertFails(["finished"]) { try writer.createGroup("c") }
    }

    /// libhdf5 treats open files with the same name as one file; each image must stay its own.
    func testTwoImagesOpenTogetherStayDistinct() throws {
        func image(_ value: Float) throws -> Data {
            let writer = try HDF5Writer()
            try writer.writeFloats("v", Tensor(shape: [1], elements: [value]))
            return try writer.fileImage()
        }
        let first = try HDF5File.open(image: image(1), name: "same.h5")
        let second = try HDF5File.open(image: image(2), name: "same.h5")
        XCTAssertEqual(try first.root.readFloats("v").elements, [1])
        XCTAssertEqual(try second.root.readFloats("v").elements, [2])
    }

    /// Every call goes through one lock: reads from several threads at once give the right values.
    func testConcurrentReadsAreSerialized() throws {
        let image = try kerasLikeImage()
        let failures = NSLock()
        var failed = 0
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                let file = try HDF5File.open(image: image, name: "thread\(i).h5")
                for _ in 0..<20 {
                    let v = try file.root.readFloats("layers/conv2d/vars/1").elements
                    let n = try file.root.group("optimizer/vars").readInteger("0")
                    if v != [0.5, -0.25, 1e-7] || n != 1234 { failures.lock(); failed += 1; failures.unlock() }
                }
            } catch {
                failures.lock(); failed += 1; failures.unlock()
            }
        }
        XCTAssertEqual(failed, 0)
    }

    /// Every file, group, dataset and attribute opened is closed,
    /// on success and on every error path.
    func testNoIdentifierIsLeft() throws {
        let image = try kerasLikeImage()
        let fixture = h5pyFixture()
        let before = HDF5Library.openIdentifierCounts()
        do {
            let root = try HDF5File.open(image: image, name: "m.h5").root
            _ = try root.childNames()
            _ = try root.readFloats("layers/conv2d/vars/0")
            _ = try root.readInteger("optimizer/vars/0")
            _ = try root.stringAttribute("model_config")
            _ = try root.group("layers").stringArrayAttribute("layer_names")
            _ = try? root.readFloats("optimizer/vars/0")
            _ = try? root.readInteger("layers/conv2d/vars/0")
            _ = try? root.group("nothing")
            let h5py = try HDF5File.open(image: fixture, name: "h5py.h5").root
            for name in try h5py.childNames() {
                _ = try? h5py.readFloats(name)
                _ = try? h5py.readInteger(name)
                _ = try? h5py.isGroup(name)
            }
            for name in ["keras_version", "fixed", "number", "vlenarray", "absent"] {
                _ = try? h5py.stringAttribute(name)
                _ = try? h5py.stringArrayAttribute(name)
            }
            _ = try? HDF5File.open(image: image.prefix(image.count / 2), name: "cut.h5").root.readFloats("layers/conv2d/vars/0")
            let writer = try HDF5Writer()
            try writer.writeFloats("a/b", Tensor(shape: [2], elements: [1, 2]))
            try writer.setStringArrayAttribute("names", ["x"], on: "a")
            _ = try? writer.writeFloats("a/b", Tensor(shape: [1]))
            _ = try writer.fileImage()
            _ = try HDF5Writer()  // dropped unfinished
        }
        XCTAssertEqual(HDF5Library.openIdentifierCounts(), before)
    }

    // MARK: Files h5py wrote

    func testH5pyFileReadsLikeH5py() throws {
        let root = try HDF5File.open(image: h5pyFixture(), name: "h5py.h5").root
        let f64 = try root.readFloats("f64")
        XCTAssertEqual(f64.shape, [2, 3])
        XCTAssertEqual(f64.elements, [1.5, -2.25, 3.0, 4.0, 5.0, Float(1e-3)])
        XCTAssertEqual(try root.readFloats("f16").elements, [0.5, -1.0, 65504.0])
        XCTAssertEqual(try root.readFloats("f32be").elements, [1, 2])
        XCTAssertEqual(try root.readFloats("gz").elements, (0..<100).map(Float.init))
        XCTAssertEqual(try root.readFloats("scalar").shape, [])
        XCTAssertEqual(try root.readFloats("scalar").elements, [2.5])
        XCTAssertEqual(try root.readInteger("iteration"), 42)
        XCTAssertEqual(try root.readInteger("one"), 7)
        XCTAssertEqual(try root.stringAttribute("keras_version"), "3.15.0")
        XCTAssertEqual(try root.stringAttribute("model_config"), #"{"class_name": "Sequential"}"#)
        XCTAssertEqual(try root.stringAttribute("fixed"), "ascii-fixed")
        XCTAssertEqual(try root.stringArrayAttribute("vlenarray"), ["α", "b"])
        let weights = try root.group("model_weights")
        XCTAssertEqual(try weights.stringArrayAttribute("layer_names"), ["conv2d", "flatten"])
        XCTAssertEqual(try weights.group("conv2d").stringArrayAttribute("weight_names"),
                       ["sequential/conv2d/kernel", "sequential/conv2d/bias"])
        XCTAssertEqual(try weights.group("flatten").stringArrayAttribute("weight_names"), [])
        // A soft link to a group is followed; one that leads nowhere is absent.
        XCTAssertTrue(try root.isGroup("soft"))
        XCTAssertFalse(try root.isGroup("dangling"))
        XCTAssertFalse(try root.isDataset("dangling"))
        XCTAssertEqual(try root.childNames(), ["dangling", "external", "f16", "f32be", "f64", "gz", "i32", "iteration",
                                                "model_weights", "one", "scalar", "soft", "sparse", "text"])
    }

    func testH5pyFileWrongTypesAndBombsAreRefusedNamingTheDataset() throws {
        let root = try HDF5File.open(image: h5pyFixture(), name: "h5py.h5").root
        assertFails(["h5py.h5", "'/i32'", "32-bit integer", "not floating-point"]) { try root.readFloats("i32") }
        assertFails(["h5py.h5", "'/text'", "string"]) { try root.readFloats("text") }
        assertFails(["'/f64'", "64-bit float", "not integers"]) { try root.readInteger("f64") }
        assertFails(["'/i32'", "shape [3]", "not one integer"]) { try root.readInteger("i32") }
        assertFails(["'number'", "64-bit integer", "not a string"]) { try root.stringAttribute("number") }
        assertFails(["'number'", "not strings"]) { try root.stringArrayAttribute("number") }
        // 64 MB of unallocated chunks would decode from 0 bytes of storage.
        assertFails(["h5py.h5", "'/sparse'", "decode"]) { try root.readFloats("sparse") }
        assertFails(["'/model_weights'", "group"]) { try root.readFloats("model_weights") }
        assertFails(["'/f64'", "dataset, not a group"]) { try root.group("f64") }
    }

    /// An external link must never make libhdf5 open another file: here its target is a FIFO, which
    /// would block the open forever.
    func testExternalLinkIsNotFollowed() throws {
        let fifo = "/tmp/nnkeras-hdf5-test-fifo"
        let made = mkfifo(fifo, 0o600) == 0
        defer { if made { unlink(fifo) } }
        let root = try HDF5File.open(image: h5pyFixture(), name: "h5py.h5").root
        XCTAssertFalse(try root.isGroup("external"))
        XCTAssertFalse(try root.isDataset("external"))
        assertFails(["h5py.h5", "'/external'"]) { try root.readFloats("external") }
        assertFails(["h5py.h5", "'/external'"]) { try root.group("external") }
    }

    // MARK: Broken input

    func testBytesThatAreNotHDF5AreRefused() throws {
        var generator = RandomGenerator(seed: 11)
        let random = Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        assertFails(["random.h5", "HDF5 file", "signature"]) { try HDF5File.open(image: random, name: "random.h5") }
        assertFails(["empty.h5", "empty"]) { try HDF5File.open(image: Data(), name: "empty.h5") }
        let image = try kerasLikeImage()
        assertFails(["cut.h5", "HDF5 file"]) {
            let file = try HDF5File.open(image: image.prefix(image.count / 2), name: "cut.h5")
            // Some truncations still open (the superblock is intact); reading must then fail.
            return try file.root.readFloats("layers/conv2d/vars/0")
        }
        let path = dir + "/random.h5"
        try random.write(to: URL(fileURLWithPath: path))
        assertFails([path, "HDF5 file"]) { try HDF5File.open(path: path) }
        assertFails([dir + "/absent.h5", "no such file"]) { try HDF5File.open(path: dir + "/absent.h5") }
    }

    func testEveryTruncationFailsCleanly() throws {
        let image = try kerasLikeImage()
        for length in stride(from: 0, to: image.count, by: max(1, image.count / 64)) {
            do {
                let root = try HDF5File.open(image: image.prefix(length), name: "cut.h5").root
                _ = try root.readFloats("layers/conv2d/vars/0")
                XCTFail("a file cut to \(length) of \(image.count) bytes read whole")
            } catch let error as IOError {
                XCTAssertTrue("\(error)".contains("cut.h5"))
            }
        }
    }

    /// libhdf5 loops forever on a global heap whose free-space object has size 0 (found by fuzzing);
    /// the heap is checked first and the variable-length string is refused instead.
    func testMalformedGlobalHeapIsRefusedBeforeLibHDF5LoopsOnIt() throws {
        var image = [UInt8](try kerasLikeImage())
        let signature = Array("GCOL".utf8)
        let heap = try XCTUnwrap((0...(image.count - 4)).first { Array(image[$0..<($0 + 4)]) == signature })
        var p = heap + 16, freeSpace: Int?
        while p + 16 <= image.count, freeSpace == nil {
            let index = Int(image[p]) | Int(image[p + 1]) << 8
            let size = (0..<8).reduce(0) { $0 | Int(image[p + 8 + $1]) << (8 * $1) }
            if index == 0 { freeSpace = p } else { p += 16 + (size + 7) / 8 * 8 }
        }
        let free = try XCTUnwrap(freeSpace)
        XCTAssertNil(HDF5File.globalHeapProblem(in: Data(image)))
        for i in 0..<8 { image[free + 8 + i] = 0 }
        XCTAssertNotNil(HDF5File.globalHeapProblem(in: Data(image)))
        let root = try HDF5File.open(image: Data(image), name: "heap.h5").root
        assertFails(["heap.h5", "model_config", "global heap at byte \(heap)"]) { try root.stringAttribute("model_config") }
        // Everything outside the heap still reads.
        XCTAssertEqual(try root.readFloats("layers/conv2d/vars/1").elements, [0.5, -0.25, 1e-7])
    }

    func testMissingNamesAreAbsentOrErrorsNamingTheFullPath() throws {
        let root = try HDF5File.open(image: kerasLikeImage(), name: "m.h5").root
        assertFails(["m.h5", "no group '/layers/dense'"]) { try root.group("layers/dense") }
        let layers = try root.group("layers")
        assertFails(["m.h5", "'/layers/conv2d/vars/7'"]) { try layers.readFloats("conv2d/vars/7") }
        assertFails(["m.h5", "'/layers/a/b/c'"]) { try layers.readInteger("a/b/c") }
        assertFails(["m.h5", "not a relative object path"]) { try layers.readFloats("/layers") }
        assertFails(["m.h5", "not a relative object path"]) { try layers.isGroup("a//b") }
        XCTAssertFalse(try layers.isDataset("x/y/z"))
        XCTAssertNil(try layers.stringAttribute("absent"))
        XCTAssertNil(try layers.stringArrayAttribute("absent"))
    }

    func testIntegerDatasetReadAsFloatsNamesTheDataset() throws {
        let writer = try HDF5Writer()
        try writer.writeInteger("optimizer/vars/0", 7)
        let vars = try HDF5File.open(image: writer.fileImage(), name: "opt.h5").root.group("optimizer/vars")
        assertFails(["opt.h5", "'/optimizer/vars/0'", "64-bit integer"]) { try vars.readFloats("0") }
    }

    func testDirectoryAndFIFOPathsAreRefusedWithoutBlocking() throws {
        assertFails([dir, "directory"]) { try HDF5File.open(path: dir) }
        let fifo = dir + "/pipe.h5"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertFails([fifo, "FIFO"]) { try HDF5File.open(path: fifo) }
    }
}

extension HDF5Tests {
    /// h5py 3.14 (HDF5 1.14.6) wrote this file (the script is in the commit message that added it); it is stored as its
    /// non-zero byte runs, base64, to keep the source short.
    static let h5pyFixtureSize = 17346
    static let h5pyFixtureRuns: [(offset: Int, base64: String)] = [
        (0, "iUhERg0KGgoAAAAAAAgIAAQAEAAAAAAAAAAAAAAAAAD//////////8JDAAAAAAAA//////////8AAAAAAAAAAGAAAAAAAAAAAQAAAAAAAACIAAAAAAAAAKgCAAAAAAAAAQAKAAEAAAAYAAAAAAAAABAAEAAAAAAAIAMAAAAAAACYAQAAAAAAAFRSRUUAAAIA/////////////////////wAAAAAAAAAAABgAAAAAAAAwAAAAAAAAADAyAAAAAAAAWA=="),
        (680, "SEVBUAAAAACwAAAAAAAAAAEAAAAAAAAAYC8AAAAAAAACABgAAAAAAAAAuD4AAAAAAABKPwAAAAAAAAAAAAAAAAoACAABAAAAAAAAAAAAAAAAABA="),
        (800, "EAAQAAAAAADIAgAAAAAAAEgAAAAAAAAADABIAAAAAAABAA4AFAAIAGtlcmFzX3ZlcnNpb24AAAAZAQEAEAAAABAAAAABAAAAAAAIAAAAAAABAAAAAAAAAAYAAAAACAAAAAAAAAEAAAAMAEgAAAAAAAEADQAUAAgAbW9kZWxfY29uZmlnAAAAABkBAQAQAAAAEAAAAAEAAAAAAAgAAAAAAAEAAAAAAAAAHAAAAAAIAAAAAAAAAgAAAAwAMAAAAAAAAQAGAAgACABmaXhlZAAAABMBAAALAAAAAQAAAAAAAABhc2NpaS1maXhlZAAAAAAADAAwAAAAAAABAAcADAAIAG51bWJlcgAAEAgAAAgAAAAAAEAAAAAAAAEAAAAAAAAAAwAAAAAAAAAMAGgAAAAAAAEACgAUABgAdmxlbmFycmF5AAAAAAAAABkBAQAQAAAAEAAAAAEAAAAAAAgAAAAAAAEBAQAAAAAAAgAAAAAAAAACAAAAAAAAAAIAAAAACAAAAAAAAAQAAAABAAAAAAgAAAAAAAADAAAAAQADAAEAAAAYAAAAAAAAABAAEAAAAAAAeAcAAAAAAACIAAAAAAAAAFRSRUUAAAEA/////////////////////wAAAAAAAAAACBwAAAAAAAAQ"),
        (1792, "SEVBUAAAAABYAAAAAAAAABgAAAAAAAAAIAcAAAAAAAAAAAAAAAAAAGNvbnYyZAAAZmxhdHRlbgABAAAAAAAAAEA="),
        (1912, "EQAQAAAAAADgBAAAAAAAAAAHAAAAAAAADABoAAAAAAABAAwAFAAYAGxheWVyX25hbWVzAAAAAAAZAQAAEAAAABAAAAABAAAAAAAIAAAAAAABAQEAAAAAAAIAAAAAAAAAAgAAAAAAAAAGAAAAAAgAAAAAAAAGAAAABwAAAAAIAAAAAAAABQAAAEdDT0wBAAAAABAAAAAAAAABAAAAAAAAAAYAAAAAAAAAMy4xNS4wAAACAAAAAAAAABwAAAAAAAAAeyJjbGFzc19uYW1lIjogIlNlcXVlbnRpYWwifQAAAAADAAAAAAAAAAEAAAAAAAAAYgAAAAAAAAAEAAAAAAAAAAIAAAAAAAAAzrEAAAAAAAAFAAAAAAAAAAcAAAAAAAAAZmxhdHRlbgAGAAAAAAAAAAYAAAAAAAAAY29udjJkAAAHAAAAAAAAABYAAAAAAAAAc2VxdWVudGlhbC9jb252MmQvYmlhcwAACAAAAAAAAAAYAAAAAAAAAHNlcXVlbnRpYWwvY29udjJkL2tlcm5lbAkAAAAAAAAACwAAAAAAAABub3QgbnVtYmVycwAAAAAAAAAAAAAAAADYDg=="),
        (6144, "U05PRAEABgCQAAAAAAAAAP//////////AgAAAAAAAACgAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAQKg=="),
        (6232, "KAAAAAAAAAAgKw=="),
        (6272, "GAAAAAAAAAAAIQ=="),
        (6312, "YAAAAAAAAAB4Mw=="),
        (6352, "MAAAAAAAAAAwLA=="),
        (6472, "AQADAAEAAAAYAAAAAAAAABAAEAAAAAAAUB0AAAAAAACIAAAAAAAAAFRSRUUAAAAA/////////////////////w=="),
        (7056, "SEVBUAAAAABYAAAAAAAAAAgAAAAAAAAAsBsAAAAAAAAAAAAAAAAAAAEAAAAAAAAAUA=="),
        (7176, "U05PRAEAAgAIAAAAAAAAAEgZAAAAAAAAAQAAAAAAAABwGQAAAAAAAJAbAAAAAAAAEAAAAAAAAADYHQAAAAAAAAEAAAAAAAAAAB4AAAAAAAAgIA=="),
        (7504, "EQAQAAAAAABwGQAAAAAAAJAbAAAAAAAADABoAAAAAAABAA0AFAAYAHdlaWdodF9uYW1lcwAAAAAZAQAAEAAAABAAAAABAAAAAAAIAAAAAAABAQEAAAAAAAIAAAAAAAAAAgAAAAAAAAAYAAAAAAgAAAAAAAAIAAAAFgAAAAAIAAAAAAAABwAAAAEAAwABAAAAGAAAAAAAAAAQABAAAAAAAJggAAAAAAAAaAAAAAAAAABUUkVFAAAAAP////////////////////8="),
        (8224, "SEVBUAAAAABYAAAAAAAAAAgAAAAAAAAAQCAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAUA=="),
        (8344, "EQAQAAAAAAAAHgAAAAAAACAgAAAAAAAADABIAAAAAAABAA0AFAAYAHdlaWdodF9uYW1lcwAAAAARID8ACAAAAAAAQAA0CwA0/wMAAAAAAAABAQE="),
        (8448, "AQAFAAEAAAAAAQAAAAAAAAEAKAAAAAAAAQIBAAAAAAACAAAAAAAAAAMAAAAAAAAAAgAAAAAAAAADAAAAAAAAAAMAGAABAAAAESA/AAgAAAAAAEAANAsANP8DAAAAAAAABQAIAAEAAAACAgIBAAAAAAgAGAAAAAAAAwEQIgAAAAAAADAAAAAAAAAAAAAAAAAAAAB4"),
        (8726, "+D8AAAAAAAACwAAAAAAAAAhAAAAAAAAAEEAAAAAAAAAUQPyp8dJNYlA/ADgAvP97P4AAAEAAAAABAAAAAgAAAAMAAAAqAAAAAAAAAAcAAAAAAAAAAAAAAAAABEALAAAAAAgAAAAAAAAJAAAAeF4VxCFIQ2EAhdE/GAyGBYNhYcFgMCwYDMKew2AwLBgMhgXDgmHBYDA8RMYYIkNEhsh4iIwhIkPGGEPGQ0QWjcZFo3FxZ5fv3BAWiwsuEjEJKVPCbggZcuSJKFGmSkydJi0SuvQYkjLhh1+m/PHPjFAMYYllVsiwyhpZcqyzwSZ5tthmh4g99jmgxCFHHFPmhAqnVDnjnAtiLrmiRp0G19zQ5JY77mnxwCNtEp54pkOXF155o8c7fQYMGfHBmJRPvvguzgFi60kM"),
        (10768, "AQAFAAEAAAAAAQAAAAAAAAEAGAAAAAAAAQEBAAAAAAADAAAAAAAAAAMAAAAAAAAAAwAYAAEAAAARIA8AAgAAAAAAEAAKBQAKDwAAAAAAAAAFAAgAAQAAAAICAgEAAAAACAAYAAAAAAADAUAiAAAAAAAABgAAAAAAAAAAAAAAAAAAAIg="),
        (11040, "AQAFAAEAAAAAAQAAAAAAAAEAGAAAAAAAAQEBAAAAAAACAAAAAAAAAAIAAAAAAAAAAwAYAAEAAAARIR8ABAAAAAAAIAAXCAAXfwAAAAAAAAAFAAgAAQAAAAICAgEAAAAACAAYAAAAAAADAUYiAAAAAAAACAAAAAAAAAAAAAAAAAAAAIg="),
        (11312, "AQAFAAEAAAAAAQAAAAAAAAEAGAAAAAAAAQEBAAAAAAADAAAAAAAAAAMAAAAAAAAAAwAQAAEAAAAQCAAABAAAAAAAIAAAAAAABQAIAAEAAAACAgIBAAAAAAgAGAAAAAAAAwFOIgAAAAAAAAwAAAAAAAAAAAAAAAAAAACQ"),
        (11584, "AQAFAAEAAAAAAQAAAAAAAAEACAAAAAAAAQAAAAAAAAADABAAAQAAABAIAAAIAAAAAABAAAAAAAAFAAgAAQAAAAICAgEAAAAACAAYAAAAAAADAVoiAAAAAAAACAAAAAAAAAAAAAAAAAAAAKA="),
        (11856, "AQAFAAEAAAAAAQAAAAAAAAEAGAAAAAAAAQEBAAAAAAABAAAAAAAAAAEAAAAAAAAAAwAQAAEAAAAQCAAACAAAAAAAQAAAAAAABQAIAAEAAAACAgIBAAAAAAgAGAAAAAAAAwFiIgAAAAAAAAgAAAAAAAAAAAAAAAAAAACQ"),
        (12136, "bW9kZWxfd2VpZ2h0cwAAAGY2NAAAAAAAZjE2AAAAAABmMzJiZQAAAGkzMgAAAAAAaXRlcmF0aW9uAAAAAAAAAG9uZQAAAAAAc2NhbGFyAAB0ZXh0AAAAAGd6AAAAAAAAc3BhcnNlAABzb2Z0AAAAAC9tb2RlbF93ZWlnaHRzL2NvbnYyZAAAAGRhbmdsaW5nAAAAAAAAAAAvbm93aGVyZQAAAAAAAAAAAQAFAAEAAAAAAQAAAAAAAAEACAAAAAAAAQAAAAAAAAADABgAAQAAABEgPwAIAAAAAABAADQLADT/AwAAAAAAAAUACAABAAAAAgICAQAAAAAIABgAAAAAAAMBaiIAAAAAAAAIAAAAAAAAAAAAAAAAAAAAmA=="),
        (12576, "AQAFAAEAAAAAAQAAAAAAAAEACAAAAAAAAQAAAAAAAAADABgAAQAAABkBAQAQAAAAEAAAAAEAAAAAAAgAAAAAAAUACAABAAAAAgIAAQAAAAAIABgAAAAAAAMBciIAAAAAAAAQAAAAAAAAAAAAAAAAAAAAmA=="),
        (12848, "U05PRAEABwA4AAAAAAAAAEAt"),
        (12896, "CAAAAAAAAAC4BAAAAAAAAAEAAAAAAAAA4AQAAAAAAAAABwAAAAAAAEgAAAAAAAAAUC4="),
        (12976, "UAAAAAAAAAAQMA=="),
        (13016, "cAAAAAAAAAD//////////wIAAAAAAAAAeAAAAAAAAAAAAAAAAAAAAGgAAAAAAAAAuDw="),
        (13096, "WAAAAAAAAAAgMQ=="),
        (13176, "AQAGAAEAAAAAAQAAAAAAAAEAGAAAAAAAAQEBAAAAAABkAAAAAAAAAGQAAAAAAAAAAwAYAAEAAAARIB8ABAAAAAAAIAAXCAAXfwAAAAAAAAAFAAgAAQAAAAIDAgEAAAAACwAgAAEAAAABAQAAAAAAAAEACAABAAEAZGVmbGF0ZQAEAAAAAAAAAAgAGAAAAAAAAwICiDQAAAAAAABkAAAABAAAAAAAAAAAAABg"),
        (13448, "VFJFRQEAAQD/////////////////////yQ=="),
        (13496, "giIAAAAAAAAAAAAAAAAAAGQAAAAAAAAABA=="),
        (15544, "AQAFAAEAAAAAAQAAAAAAAAEAKAAAAAAAAQIBAAAAAAAAEAAAAAAAAAAQAAAAAAAAABAAAAAAAAAAEAAAAAAAAAMAGAABAAAAESAfAAQAAAAAACAAFwgAF38AAAAAAAAABQAIAAEAAAACAwIBAAAAAAgAGAAAAAAAAwID//////////8AEAAAABAAAAQAAAAAAAB4"),
        (15816, "RlNTRQBwPwAAAAAAAAHWAAAqAQAAAClIgMQ="),
        (16056, "RlJIUAAHAAAAAgAQAAAAAAAAAAAAAP//////////1gAAAAAAAABwPwAAAAAAAAACAAAAAAAAAAIAAAAAAAAAAAAAAAAAAA4="),
        (16166, "BAAAAgAAAAAAAAAAAQAAAAAAIAABAMJBAAAAAAAAAAAq5qzoQlRIRAAFAAIAAAsAAABkKMI/AAAAAAAADgAOAAAAAAAAANC0y31GU0hEAADWAAAAAAAAAAEAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAQAUAB4ACAAAAABAAAAAADIPQAAAAAAABoAAAAAAAAAGgAAAAAAAAD3ENc/QlRMRgAFEXHyEwArAAAADgBm/H8jAJ4AAAAOAHIccDAA3AAAABEAYB0YQAByAAAAFADsEEdWAFcAAAANAE5yU20AvQAAAB8AfhiedwCsAAAAEQAk9Y2HAIYAAAAYABXoRYkAOQAAABAABdRljQBJAAAADgDR/O2SABUAAAAWAMMraMkA7QAAAA8A5UHwygBkAAAADgC65XrsAPwAAAAuADRoIZA="),
        (16834, "RkhEQgC4PgAAAAAAAAAAAADhfSviAQgBCGRhbmdsaW5nCAAvbm93aGVyZQEAA2YxNhAqAAAAAAAAAQAFZjMyYmUgKwAAAAAAAAEAA2Y2NAAhAAAAAAAAAQACZ3p4MwAAAAAAAAEAA2kzMjAsAAAAAAAAAQAJaXRlcmF0aW9uQC0AAAAAAAABAA1tb2RlbF93ZWlnaHRzuAQAAAAAAAABAANvbmVQLgAAAAAAAAEABnNjYWxhchAwAAAAAAAAAQgBBHNvZnQVAC9tb2RlbF93ZWlnaHRzL2NvbnYyZAEABnNwYXJzZbg8AAAAAAAAAQAEdGV4dCAxAAAAAAAAAQhACGV4dGVybmFsIAAAL3RtcC9ubmtlcmFzLWhkZjUtdGVzdC1maWZvAC94"),
    ]
}
