import XCTest
import Foundation
import NN
@testable import NNKeras

/// The zip reader and writer behind `.keras` archives: round trips, archives made by Python's
/// zipfile (committed as bytes, so no Python runs here), and hostile archives patched byte by byte,
/// each refused with a message naming the entry and the problem.
final class ZipTests: XCTestCase {
    private let sample: [(name: String, data: Data)] = [
        ("metadata.json", Data(#"{"keras_version": "3.5.0"}"#.utf8)),
        ("config.json", Data(String(repeating: #"{"class_name": "Dense"}"#, count: 20).utf8)),
        ("empty.txt", Data()),
        ("assets/", Data()),
        ("assets/näme.bin", Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) })),
        ("model.weights.h5", Data(count: 50_000)),
    ]

    // MARK: Round trips

    func testRoundTripStoredAndDeflated() throws {
        for compress in [false, true] {
            let archive = try ZipArchive.write(sample, compress: compress)
            XCTAssertTrue(ZipArchive.looksLikeZip(archive))
            let entries = try ZipArchive.read(archive, path: "a.keras")
            XCTAssertEqual(entries.map(\.name), sample.map(\.name))
            XCTAssertEqual(entries.map(\.data), sample.map(\.data))
            // Stored: the data verbatim; deflated: the zeros shrink.
            if compress { XCTAssertLessThan(archive.count, 10_000) } else { XCTAssertGreaterThan(archive.count, 53_000) }
        }
    }

    func testEmptyEntriesAndEmptyArchive() throws {
        for compress in [false, true] {
            let archive = try ZipArchive.write([("a", Data()), ("b", Data())], compress: compress)
            XCTAssertEqual(try ZipArchive.read(archive, path: "e.zip"),
                           [.init(name: "a", data: Data()), .init(name: "b", data: Data())])
        }
        // A deflated empty entry written as no bytes at all (not the 2-byte empty stream) is empty.
        var bare = try ZipArchive.write([("a", Data())], compress: true)
        let layout = Layout(bare)
        XCTAssertEqual(u32(bare, layout.central[0] + 20), 2)
        bare.removeSubrange(layout.local[0] + 31..<layout.local[0] + 33)
        put32(&bare, layout.central[0] - 2 + 20, 0)
        put32(&bare, layout.local[0] + 18, 0)
        put32(&bare, bare.count - 22 + 16, UInt32(layout.centralOffset - 2))
        XCTAssertEqual(try ZipArchive.read(bare, path: "e.zip"), [.init(name: "a", data: Data())])
        let empty = try ZipArchive.write([])
        XCTAssertEqual(empty.count, 22)
        XCTAssertTrue(ZipArchive.looksLikeZip(empty))
        XCTAssertEqual(try ZipArchive.read(empty, path: "e.zip"), [])
    }

    func testWriterIsReproducibleWithAFixedTimestamp() throws {
        let a = try ZipArchive.write(sample, compress: true), b = try ZipArchive.write(sample, compress: true)
        XCTAssertEqual(a, b)
        // Local header: time 0, date 1980-01-01.
        XCTAssertEqual(u16(a, 10), 0)
        XCTAssertEqual(u16(a, 12), 1 << 5 | 1)
        // A non-ASCII name is flagged UTF-8 (bit 11); an ASCII one is not.
        let layout = Layout(a)
        XCTAssertEqual(u16(a, layout.central[4] + 8) & 0x800, 0x800)
        XCTAssertEqual(u16(a, layout.central[0] + 8) & 0x800, 0)
    }

    func testLooksLikeZip() {
        XCTAssertTrue(ZipArchive.looksLikeZip(Data([0x50, 0x4b, 3, 4, 20])))
        XCTAssertTrue(ZipArchive.looksLikeZip(Data([0x50, 0x4b, 5, 6])))
        XCTAssertFalse(ZipArchive.looksLikeZip(Data([0x50, 0x4b, 3])))
        XCTAssertFalse(ZipArchive.looksLikeZip(Data([0x89, 0x48, 0x44, 0x46])))  // HDF5
        XCTAssertFalse(ZipArchive.looksLikeZip(Data()))
        let slice = Data([0, 0x50, 0x4b, 3, 4]).dropFirst()  // a Data slice: indices start at 1
        XCTAssertTrue(ZipArchive.looksLikeZip(slice))
    }

    func testWriterRefusesWhatTheReaderWould() {
        for (name, fragment) in [("", "empty name"), ("/etc/passwd", "absolute"), ("C:x", "drive letter"),
                                 ("a/../b", "'..'"), ("a\\b", "backslash"), ("a\0b", "NUL"), ("a//b", "empty component"),
                                 ("./a", "'.'")] {
            XCTAssertThrowsError(try ZipArchive.write([(name, Data())])) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
        XCTAssertThrowsError(try ZipArchive.write([("a", Data()), ("a", Data([1]))])) { error in
            XCTAssertTrue("\(error)".contains("'a' appears more than once"), "\(error)")
        }
    }

    // MARK: Archives made by Python's zipfile

    /// Made once with Python 3's zipfile (`writestr`, date 2024-05-06): metadata.json (63 bytes),
    /// config.json (162), a directory entry assets/, model.weights.h5 (456: 0...255 then 200 zeros).
    private let pythonEntries: [ZipArchive.Entry] = [
        .init(name: "metadata.json", data: Data(#"{"keras_version": "3.5.0", "date_saved": "2024-01-01@00:00:00"}"#.utf8)),
        .init(name: "config.json", data: Data(String(repeating: #"{"class_name": "Sequential", "config": {"layers": []}}"#, count: 3).utf8)),
        .init(name: "assets/", data: Data()),
        .init(name: "model.weights.h5", data: Data((0..<256).map { UInt8($0) } + [UInt8](repeating: 0, count: 200))),
    ]

    func testReadsPythonArchives() throws {
        for (label, archive) in [("stored", PythonZip.stored), ("deflated", PythonZip.deflated),
                                 ("zip64 local headers (force_zip64)", PythonZip.localZip64),
                                 ("zip64 end record and extra fields", PythonZip.zip64),
                                 ("data descriptors (an unseekable output)", PythonZip.streamed)] {
            let data = try XCTUnwrap(Data(base64Encoded: archive, options: .ignoreUnknownCharacters), label)
            XCTAssertTrue(ZipArchive.looksLikeZip(data), label)
            XCTAssertEqual(try ZipArchive.read(data, path: label), pythonEntries, label)
        }
    }

    func testToleratesACommentAndBytesAfterTheArchive() throws {
        var archive = try ZipArchive.write(sample)
        let count = archive.count
        archive.replaceSubrange(count - 2..<count, with: [5, 0])
        archive.append(contentsOf: Array("hello".utf8))
        XCTAssertEqual(try ZipArchive.read(archive, path: "c.zip").map(\.data), sample.map(\.data))
        archive.append(contentsOf: Array("trailing".utf8))
        XCTAssertEqual(try ZipArchive.read(archive, path: "c.zip").map(\.data), sample.map(\.data))
    }

    // MARK: Hostile archives: structure

    func testNoEndRecord() throws {
        assertRefused(Data(), "too few for an end-of-central-directory record")
        assertRefused(Data(repeating: 0x41, count: 1000), "no end-of-central-directory record in its last 65557 bytes")
        // The record must lie within the last 65,557 bytes: here it is pushed out by filler.
        var archive = try ZipArchive.write(sample)
        archive.append(Data(repeating: 0, count: 65_600))
        assertRefused(archive, "no end-of-central-directory record")
        // Truncated: the end record cut off.
        let whole = try ZipArchive.write(sample)
        assertRefused(whole.prefix(whole.count - 5), "no end-of-central-directory record")
    }

    func testOffsetsBeyondTheFile() throws {
        let archive = try ZipArchive.write(sample)
        let layout = Layout(archive)
        var a = archive
        put32(&a, layout.end + 16, UInt32(archive.count))  // central directory offset
        assertRefused(a, "central directory", "lies beyond")
        a = archive
        put32(&a, layout.end + 12, 0x7FFF_FFFF)  // central directory size
        assertRefused(a, "central directory", "lies beyond")
        a = archive
        put32(&a, layout.central[1] + 42, 0x7FFF_0000)  // config.json's local header offset
        assertRefused(a, "entry 'config.json': no local header at offset 2147418112")
        a = archive
        put32(&a, layout.central[5] + 20, 60_000)  // compressed size, central and local
        put32(&a, layout.central[5] + 24, 60_000)
        put32(&a, layout.local[5] + 18, 60_000)
        put32(&a, layout.local[5] + 22, 60_000)
        assertRefused(a, "entry 'model.weights.h5'", "run past the start of the central directory")
        a = archive
        put16(&a, layout.central[5] + 28, 60_000)  // name length past the directory
        assertRefused(a, "central directory record 6 of 6", "runs past the end of the central directory")
        a = archive
        put16(&a, layout.end + 8, 5)  // the end record counts 5 entries (of 6 on this disk)
        assertRefused(a, "multi-disk")
        put16(&a, layout.end + 10, 5)
        assertRefused(a, "central directory holds", "its 5 records take")
        a = archive
        put16(&a, layout.end + 8, 7)
        put16(&a, layout.end + 10, 7)
        assertRefused(a, "central directory record 7 of 7", "missing or truncated")
        a = archive
        put16(&a, layout.end + 8, 60_000)
        put16(&a, layout.end + 10, 60_000)
        assertRefused(a, "too few for the 60000 entries")
    }

    func testMultiDisk() throws {
        let archive = try ZipArchive.write(sample)
        let layout = Layout(archive)
        var a = archive
        put16(&a, layout.end + 4, 1)
        assertRefused(a, "spans several disks")
        a = archive
        put16(&a, layout.central[2] + 34, 2)
        assertRefused(a, "entry 'empty.txt' starts on disk 2")
    }

    func testLocalHeaderDisagreements() throws {
        let archive = try ZipArchive.write(sample, compress: true)
        let layout = Layout(archive)
        var a = archive
        a[layout.local[0] + 30] = UInt8(ascii: "M")  // "Metadata.json"
        assertRefused(a, "entry 'metadata.json': its local header names it 'Metadata.json'")
        a = archive
        put16(&a, layout.local[1] + 8, 0)
        assertRefused(a, "entry 'config.json': its local header says compression method 0, the central directory 8")
        a = archive
        put32(&a, layout.local[1] + 22, 12)
        assertRefused(a, "entry 'config.json': its local header says", "uncompressed bytes, the central directory")
        a = archive
        put32(&a, layout.local[1] + 18, 12)
        assertRefused(a, "entry 'config.json': its local header says 12 compressed")
        a = archive
        put32(&a, layout.local[1] + 14, 0xDEAD_BEEF)
        assertRefused(a, "entry 'config.json': its local header says CRC-32 0xdeadbeef")
        // A data descriptor (flag bit 3) defers CRC and sizes: zeros in the local header are fine.
        a = archive
        put16(&a, layout.local[1] + 6, 8)
        for field in [14, 18, 22] { put32(&a, layout.local[1] + field, 0) }
        XCTAssertEqual(try ZipArchive.read(a, path: "dd.zip").map(\.data), sample.map(\.data))
        // Encryption in the local header alone.
        a = archive
        put16(&a, layout.local[1] + 6, 1)
        assertRefused(a, "entry 'config.json' is encrypted")
    }

    func testOverlappingEntries() throws {
        // Two central records pointing at one local header (the names must then agree, so the
        // directory names the same bytes twice under one name... which duplicates): point
        // config.json's record into metadata.json's data instead.
        let archive = try ZipArchive.write(sample)
        let layout = Layout(archive)
        var a = archive
        put32(&a, layout.central[1] + 42, UInt32(layout.local[0]))
        assertRefused(a, "entry 'config.json': its local header names it 'metadata.json'")
        // A local header copied inside another entry's data, and pointed at: bytes shared.
        let inner = try ZipArchive.write([("x", Data(repeating: 7, count: 100))])
        let innerLayout = Layout(inner)
        let innerLocal = inner[innerLayout.local[0]..<innerLayout.centralOffset]
        var hostile = try ZipArchive.write([("outer", Data(innerLocal)), ("x", Data(repeating: 7, count: 100))])
        let hostileLayout = Layout(hostile)
        put32(&hostile, hostileLayout.central[1] + 42, UInt32(hostileLayout.local[0] + 30 + 5))
        assertRefused(hostile, "entry 'x' overlaps entry 'outer'")
    }

    // MARK: Hostile archives: names

    func testBadNames() throws {
        for (name, fragment) in [("/x", "has an absolute name"), ("..", "has a name with a '..' component"),
                                 ("a\\", "backslash"), ("a\0", "NUL"), ("C:", "drive letter"), ("./", "'.'"),
                                 ("//", "absolute")] {
            var a = try ZipArchive.write([("ok", Data([1, 2, 3]))])
            let layout = Layout(a)
            for at in [layout.local[0] + 30, layout.central[0] + 46] {
                a.replaceSubrange(at..<at + 2, with: Array(name.utf8))
            }
            assertRefused(a, "entry '", fragment)
        }
        // The empty name: length 0, the two name bytes left as padding in the extra field.
        var a = try ZipArchive.write([("ok", Data([1, 2, 3]))])
        let layout = Layout(a)
        put16(&a, layout.local[0] + 26, 0)
        put16(&a, layout.local[0] + 28, 2)
        put16(&a, layout.central[0] + 28, 0)
        put16(&a, layout.central[0] + 30, 2)
        assertRefused(a, "entry 1 of 1 has an empty name")
        // Invalid UTF-8 under the UTF-8 flag.
        a = try ZipArchive.write([("ok", Data([1, 2, 3]))])
        put16(&a, layout.central[0] + 8, 0x800)
        a[layout.central[0] + 46] = 0xFF
        assertRefused(a, "central directory record 1 of 1", "not valid UTF-8")
        // Without the flag the name is code page 437 (as Python reads it), and control
        // characters are escaped in messages.
        a = try ZipArchive.write([("ok", Data([1, 2, 3]))])
        for at in [layout.local[0] + 30, layout.central[0] + 46] { a.replaceSubrange(at..<at + 2, with: [0x82, 0x01]) }
        XCTAssertEqual(try ZipArchive.read(a, path: "cp437.zip").first?.name, "é\u{1}")
        a[layout.central[0] + 47] = 0x02
        assertRefused(a, "its local header names it", "\\u{1}")
    }

    func testDuplicateNames() throws {
        var a = try ZipArchive.write([("a", Data([1])), ("b", Data([1]))])
        let layout = Layout(a)
        a[layout.local[1] + 30] = UInt8(ascii: "a")
        a[layout.central[1] + 46] = UInt8(ascii: "a")
        assertRefused(a, "entry 'a' appears more than once")
    }

    // MARK: Hostile archives: methods, sizes, CRC

    func testEncryptedAndUnsupportedMethods() throws {
        let archive = try ZipArchive.write(sample, compress: true)
        let layout = Layout(archive)
        var a = archive
        put16(&a, layout.central[1] + 8, 1)
        put16(&a, layout.local[1] + 6, 1)
        assertRefused(a, "entry 'config.json' is encrypted")
        for (method, name) in [(12, "bzip2"), (14, "LZMA"), (93, "Zstandard"), (9, "deflate64"), (77, "unknown")] {
            a = archive
            put16(&a, layout.central[1] + 10, method)
            put16(&a, layout.local[1] + 8, method)
            assertRefused(a, "entry 'config.json' uses compression method \(method) (\(name)); only 0 (stored) and 8 (deflate)")
        }
    }

    /// Patches an entry's declared uncompressed size in both headers.
    private func declareSize(_ archive: inout Data, _ layout: Layout, entry: Int, _ size: UInt32) {
        put32(&archive, layout.central[entry] + 24, size)
        put32(&archive, layout.local[entry] + 22, size)
    }

    private func declareCompressedSize(_ archive: inout Data, _ layout: Layout, entry: Int, _ size: UInt32) {
        put32(&archive, layout.central[entry] + 20, size)
        put32(&archive, layout.local[entry] + 18, size)
    }

    func testSizesThatLie() throws {
        let archive = try ZipArchive.write(sample, compress: true)
        let layout = Layout(archive)
        let size = UInt32(sample[1].data.count)
        var a = archive
        declareSize(&a, layout, entry: 1, size - 1)
        assertRefused(a, "entry 'config.json': its data inflates to more than the \(size - 1) bytes it declares")
        a = archive
        declareSize(&a, layout, entry: 1, size + 1)
        assertRefused(a, "entry 'config.json': its data inflates to \(size) bytes, not the \(size + 1) it declares")
        a = archive
        declareSize(&a, layout, entry: 1, 0)
        assertRefused(a, "entry 'config.json': its data inflates to more than the 0 bytes")
        // Stored: both sizes must agree.
        let stored = try ZipArchive.write(sample)
        let storedLayout = Layout(stored)
        a = stored
        declareSize(&a, storedLayout, entry: 1, 10)
        assertRefused(a, "entry 'config.json' is stored but declares \(size) compressed and 10 uncompressed bytes")
        // Compressed bytes after the deflate stream's end (the compressed size lies): the next
        // entry's header is swallowed, so take the last entry and give it the end's padding.
        let last = sample.count - 1
        let compressed = u32(archive, layout.central[last] + 20)
        a = archive
        a.insert(contentsOf: [0, 0, 0], at: layout.centralOffset)
        let shifted = Layout(a, centralOffset: layout.centralOffset + 3)
        put32(&a, shifted.end + 16, UInt32(layout.centralOffset + 3))
        declareCompressedSize(&a, shifted, entry: last, compressed + 3)
        assertRefused(a, "entry 'model.weights.h5': its compressed size is \(compressed + 3) bytes but the deflate stream ends after \(compressed)")
        // Truncated deflate data: the compressed size says less than the stream needs.
        a = archive
        declareCompressedSize(&a, layout, entry: last, compressed - 10)
        assertRefused(a, "entry 'model.weights.h5': its deflate data is truncated")
    }

    func testCorruptDeflateData() throws {
        let archive = try ZipArchive.write(sample, compress: true)
        let layout = Layout(archive)
        var a = archive
        a[layout.local[1] + 30 + 11] = 0xFF  // the first deflate byte: block type 3 (invalid)
        assertRefused(a, "entry 'config.json': its deflate data is corrupt")
    }

    func testCRCMismatch() throws {
        for compress in [false, true] {
            var a = try ZipArchive.write(sample, compress: compress)
            let layout = Layout(a)
            let crc = u32(a, layout.central[4] + 16)
            put32(&a, layout.central[4] + 16, crc ^ 1)
            put32(&a, layout.local[4] + 14, crc ^ 1)
            assertRefused(a, "entry 'assets/näme.bin': CRC-32 mismatch")
            // The data changed, the CRC not.
            a = try ZipArchive.write(sample, compress: compress)
            if !compress {
                a[layout.local[4] + 30 + Array("assets/näme.bin".utf8).count + 100] ^= 0x40
                assertRefused(a, "entry 'assets/näme.bin': CRC-32 mismatch")
            }
        }
    }

    func testDecompressionBombs() throws {
        // 50,000 zeros deflate to ~60 bytes: within the ratio, over a small total limit.
        let archive = try ZipArchive.write(sample, compress: true)
        assertRefused(archive, "more than 20000 uncompressed bytes in total", "entry 'model.weights.h5' declares 50000",
                      maxTotalBytes: 20_000)
        XCTAssertEqual(try ZipArchive.read(archive, path: "ok.zip", maxTotalBytes: 60_000).count, sample.count)
        // A declared size deflate cannot reach from its compressed size; huge sizes refused before
        // anything is allocated.
        let layout = Layout(archive)
        var a = archive
        let compressed = u32(archive, layout.central[1] + 20)
        declareSize(&a, layout, entry: 1, compressed * 1033)
        assertRefused(a, "entry 'config.json' declares \(compressed * 1033) uncompressed bytes from \(compressed) compressed, more than deflate's 1032:1")
        a = archive
        declareSize(&a, layout, entry: 5, 0xFFFF_FFFE)
        assertRefused(a, "entry 'model.weights.h5' declares 4294967294 uncompressed bytes")
        // Sizes at the 32-bit maximum mean "see zip64", which is missing.
        a = archive
        declareSize(&a, layout, entry: 5, 0xFFFF_FFFF)
        assertRefused(a, "entry 'model.weights.h5' has 32-bit sizes or offset at their maximum but no zip64 extra field")
    }

    // MARK: Zip64

    func testHostileZip64() throws {
        let data = try XCTUnwrap(Data(base64Encoded: PythonZip.zip64, options: .ignoreUnknownCharacters))
        let end = data.count - 22
        let locator = end - 20
        XCTAssertEqual(u32(data, locator), 0x0706_4b50)
        let record = Int(u32(data, locator + 8))
        var a = data
        put32(&a, record + 32, 70_000)  // total entries (low half of the 64-bit field)
        put32(&a, record + 24, 70_000)
        assertRefused(a, "declares 70000 entries, more than the 65535 accepted")
        a = data
        put32(&a, record + 36, 1)  // total entries ≥ 2^32, on this disk not
        assertRefused(a, "multi-disk")
        a = data
        put32(&a, locator + 8, UInt32(record + 1))
        assertRefused(a, "zip64 end-of-central-directory locator points to offset \(record + 1)")
        a = data
        put32(&a, record + 52, 1)  // central directory offset ≥ 2^32
        assertRefused(a, "its central directory", "lies beyond")
        // An entry's zip64 field too short for its maximal values.
        let directoryOffset = Int(u32(data, record + 48))
        a = data
        put16(&a, directoryOffset + 46 + 13 + 2, 8)  // metadata.json's zip64 field: 16 bytes → 8
        assertRefused(a, "entry 'metadata.json' has a zip64 extra field too short")
        // The local zip64 field's sizes disagree with the central directory's.
        a = data
        a[30 + 13 + 4] ^= 1  // metadata.json's local zip64 uncompressed size (after id and length)
        assertRefused(a, "entry 'metadata.json': its local header says")
    }

    // MARK: Robustness

    /// Seeded random mutations of valid archives must each be read or refused with an
    /// `IOError.invalidFile` (what the fuzz target checks at scale).
    func testMutatedArchivesAreReadOrRefused() throws {
        var rng = RandomGenerator(seed: 7)
        var bases = [try ZipArchive.write(sample), try ZipArchive.write(sample, compress: true)]
        for text in [PythonZip.stored, PythonZip.deflated, PythonZip.zip64, PythonZip.localZip64, PythonZip.streamed] {
            bases.append(try XCTUnwrap(Data(base64Encoded: text, options: .ignoreUnknownCharacters)))
        }
        var refused = 0, read = 0
        for round in 0..<3000 {
            var a = bases[round % bases.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(a.count))
                switch rng.next() % 4 {
                case 0: a[a.startIndex + at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: a[a.startIndex + at] = [0, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                case 2: a = a.prefix(at)
                default: a.insert(UInt8(truncatingIfNeeded: rng.next()), at: a.startIndex + at)
                }
                if a.isEmpty { break }
            }
            do {
                _ = try ZipArchive.read(a, path: "m.zip", maxTotalBytes: 1 << 20)
                read += 1
            } catch let error as IOError {
                guard case .invalidFile(path: "m.zip", format: "zip archive", _) = error else { return XCTFail("\(error)") }
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 1000)
        XCTAssertGreaterThan(read, 0)
    }

    // MARK: Helpers

    private func assertRefused(_ archive: Data, _ fragments: String..., maxTotalBytes: Int = ZipArchive.defaultMaxTotalBytes,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ZipArchive.read(archive, path: "hostile.keras", maxTotalBytes: maxTotalBytes),
                             file: file, line: line) { error in
            guard case let IOError.invalidFile(path, format, reason) = error else {
                return XCTFail("not IOError.invalidFile: \(error)", file: file, line: line)
            }
            XCTAssertEqual(path, "hostile.keras", file: file, line: line)
            XCTAssertEqual(format, "zip archive", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("hostile.keras is not a valid zip archive: "), file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(reason.contains(fragment), "“\(reason)” lacks “\(fragment)”", file: file, line: line)
            }
        }
    }

    /// Where the headers of an archive without extra fields or comment lie (the writer's output).
    private struct Layout {
        let end: Int
        let centralOffset: Int
        var local: [Int] = []
        var central: [Int] = []

        init(_ a: Data, centralOffset: Int? = nil) {
            end = a.count - 22
            self.centralOffset = centralOffset ?? Int(ZipTests.u32(a, end + 16))
            var p = self.centralOffset
            for _ in 0..<ZipTests.u16(a, end + 10) {
                central.append(p)
                local.append(Int(ZipTests.u32(a, p + 42)))
                p += 46 + ZipTests.u16(a, p + 28) + ZipTests.u16(a, p + 30) + ZipTests.u16(a, p + 32)
            }
        }
    }

    static func u16(_ a: Data, _ at: Int) -> Int { Int(a[a.startIndex + at]) | Int(a[a.startIndex + at + 1]) << 8 }
    static func u32(_ a: Data, _ at: Int) -> UInt32 { UInt32(u16(a, at)) | UInt32(u16(a, at + 2)) << 16 }
    private func u16(_ a: Data, _ at: Int) -> Int { Self.u16(a, at) }
    private func u32(_ a: Data, _ at: Int) -> UInt32 { Self.u32(a, at) }
    private func put16(_ a: inout Data, _ at: Int, _ v: Int) {
        a[a.startIndex + at] = UInt8(v & 0xFF)
        a[a.startIndex + at + 1] = UInt8(v >> 8 & 0xFF)
    }
    private func put32(_ a: inout Data, _ at: Int, _ v: UInt32) {
        put16(&a, at, Int(v & 0xFFFF))
        put16(&a, at + 2, Int(v >> 16))
    }
}

/// Archives written by Python 3's zipfile, base64 (see `testReadsPythonArchives`): ZIP_STORED and
/// ZIP_DEFLATED with `writestr`; `open(..., "w", force_zip64=True)` (zip64 fields in the local
/// headers only, as Keras's large weights files get); and deflated with zipfile.ZIP64_LIMIT = 16
/// and ZIP_FILECOUNT_LIMIT = 2 patched, so that the central directory's zip64 extra fields and the
/// zip64 end record and locator are written for these small members too; and deflated to an
/// unseekable stream, so that every entry has a data descriptor (flag bit 3, zeros in its local header).
private enum PythonZip {
    static let stored = """
        UEsDBBQAAAAAAAU5plhB5D05PwAAAD8AAAANAAAAbWV0YWRhdGEuanNvbnsia2VyYXNfdmVyc2lvbiI6ICIzLjUuMCIsICJkYXRl
        X3NhdmVkIjogIjIwMjQtMDEtMDFAMDA6MDA6MDAifVBLAwQUAAAAAAAFOaZYR41mE6IAAACiAAAACwAAAGNvbmZpZy5qc29ueyJj
        bGFzc19uYW1lIjogIlNlcXVlbnRpYWwiLCAiY29uZmlnIjogeyJsYXllcnMiOiBbXX19eyJjbGFzc19uYW1lIjogIlNlcXVlbnRp
        YWwiLCAiY29uZmlnIjogeyJsYXllcnMiOiBbXX19eyJjbGFzc19uYW1lIjogIlNlcXVlbnRpYWwiLCAiY29uZmlnIjogeyJsYXll
        cnMiOiBbXX19UEsDBBQAAAAAAAU5plgAAAAAAAAAAAAAAAAHAAAAYXNzZXRzL1BLAwQUAAAAAAAFOaZYXfsevMgBAADIAQAAEAAA
        AG1vZGVsLndlaWdodHMuaDUAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5
        Ojs8PT4/QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOE
        hYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr/AwcLDxMXGx8jJysvMzc7P
        0NHS09TV1tfY2drb3N3e3+Dh4uPk5ebn6Onq6+zt7u/w8fLz9PX29/j5+vv8/f7/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAABQSwECFAMUAAAAAAAFOaZYQeQ9OT8AAAA/AAAADQAAAAAAAAAAAAAAgAEAAAAAbWV0YWRh
        dGEuanNvblBLAQIUAxQAAAAAAAU5plhHjWYTogAAAKIAAAALAAAAAAAAAAAAAACAAWoAAABjb25maWcuanNvblBLAQIUAxQAAAAA
        AAU5plgAAAAAAAAAAAAAAAAHAAAAAAAAAAAAAACAATUBAABhc3NldHMvUEsBAhQDFAAAAAAABTmmWF37HrzIAQAAyAEAABAAAAAA
        AAAAAAAAAIABWgEAAG1vZGVsLndlaWdodHMuaDVQSwUGAAAAAAQABADnAAAAUAMAAAAA
        """
    static let deflated = """
        UEsDBBQAAAAIAAU5plhB5D05OgAAAD8AAAANAAAAbWV0YWRhdGEuanNvbqtWyk4tSiyOL0stKs7Mz1OyUlAy1jPVM1DSUVBKSSxJ
        jS9OLEtNAQkbGRiZ6BoYApGDgYEVGCnVAgBQSwMEFAAAAAgABTmmWEeNZhM5AAAAogAAAAsAAABjb25maWcuanNvbqtWSs5JLC6O
        z0vMTVWyUlAKTi0sTc0ryUzMUdJRUErOz0vLTAeKVyvlJFamFhUDmdGxtbXVdNQFAFBLAwQUAAAAAAAFOaZYAAAAAAAAAAAAAAAA
        BwAAAGFzc2V0cy9QSwMEFAAAAAgABTmmWF37HrwTAQAAyAEAABAAAABtb2RlbC53ZWlnaHRzLmg1Y2BkYmZhZWPn4OTi5uHl4xcQ
        FBIWERUTl5CUkpaRlZNXUFRSVlFVU9fQ1NLW0dXTNzA0MjYxNTO3sLSytrG1s3dwdHJ2cXVz9/D08vbx9fMPCAwKDgkNC4+IjIqO
        iY2LT0hMSk5JTUvPyMzKzsnNyy8oLCouKS0rr6isqq6pratvaGxqbmlta+/o7Oru6e3rnzBx0uQpU6dNnzFz1uw5c+fNX7Bw0eIl
        S5ctX7Fy1eo1a9et37Bx0+YtW7dt37Fz1+49e/ftP3Dw0OEjR48dP3Hy1OkzZ8+dv3Dx0uUrV69dv3Hz1u07d+/df/Dw0eMnT589
        f/Hy1es3b9+9//Dx0+cvX799//Hz1+8/f//9ZxgmAABQSwECFAMUAAAACAAFOaZYQeQ9OToAAAA/AAAADQAAAAAAAAAAAAAAgAEA
        AAAAbWV0YWRhdGEuanNvblBLAQIUAxQAAAAIAAU5plhHjWYTOQAAAKIAAAALAAAAAAAAAAAAAACAAWUAAABjb25maWcuanNvblBL
        AQIUAxQAAAAAAAU5plgAAAAAAAAAAAAAAAAHAAAAAAAAAAAAAACAAccAAABhc3NldHMvUEsBAhQDFAAAAAgABTmmWF37HrwTAQAA
        yAEAABAAAAAAAAAAAAAAAIAB7AAAAG1vZGVsLndlaWdodHMuaDVQSwUGAAAAAAQABADnAAAALQIAAAAA
        """
    static let localZip64 = """
        UEsDBC0AAAAAAAU5plhB5D05//////////8NABQAbWV0YWRhdGEuanNvbgEAEAA/AAAAAAAAAD8AAAAAAAAAeyJrZXJhc192ZXJz
        aW9uIjogIjMuNS4wIiwgImRhdGVfc2F2ZWQiOiAiMjAyNC0wMS0wMUAwMDowMDowMCJ9UEsDBC0AAAAAAAU5plhHjWYT////////
        //8LABQAY29uZmlnLmpzb24BABAAogAAAAAAAACiAAAAAAAAAHsiY2xhc3NfbmFtZSI6ICJTZXF1ZW50aWFsIiwgImNvbmZpZyI6
        IHsibGF5ZXJzIjogW119fXsiY2xhc3NfbmFtZSI6ICJTZXF1ZW50aWFsIiwgImNvbmZpZyI6IHsibGF5ZXJzIjogW119fXsiY2xh
        c3NfbmFtZSI6ICJTZXF1ZW50aWFsIiwgImNvbmZpZyI6IHsibGF5ZXJzIjogW119fVBLAwQtAAAAAAAFOaZYAAAAAP//////////
        BwAUAGFzc2V0cy8BABAAAAAAAAAAAAAAAAAAAAAAAFBLAwQtAAAAAAAFOaZYXfsevP//////////EAAUAG1vZGVsLndlaWdodHMu
        aDUBABAAyAEAAAAAAADIAQAAAAAAAAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0
        NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/
        gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWmp6ipqqusra6vsLGys7S1tre4ubq7vL2+v8DBwsPExcbHyMnK
        y8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8AAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQItAy0AAAAAAAU5plhB5D05PwAAAD8AAAANAAAAAAAAAAAAAACAAQAAAABt
        ZXRhZGF0YS5qc29uUEsBAi0DLQAAAAAABTmmWEeNZhOiAAAAogAAAAsAAAAAAAAAAAAAAIABfgAAAGNvbmZpZy5qc29uUEsBAi0D
        LQAAAAAABTmmWAAAAAAAAAAAAAAAAAcAAAAAAAAAAAAAAIABXQEAAGFzc2V0cy9QSwECLQMtAAAAAAAFOaZYXfsevMgBAADIAQAA
        EAAAAAAAAAAAAAAAgAGWAQAAbW9kZWwud2VpZ2h0cy5oNVBLBQYAAAAABAAEAOcAAACgAwAAAAA=
        """
    static let zip64 = """
        UEsDBC0AAAAIAAU5plhB5D05//////////8NABQAbWV0YWRhdGEuanNvbgEAEAA/AAAAAAAAADoAAAAAAAAAq1bKTi1KLI4vSy0q
        zszPU7JSUDLWM9UzUNJRUEpJLEmNL04sS00BCRsZGJnoGhgCkYOBgRUYKdUCAFBLAwQtAAAACAAFOaZYR41mE///////////CwAU
        AGNvbmZpZy5qc29uAQAQAKIAAAAAAAAAOQAAAAAAAACrVkrOSSwujs9LzE1VslJQCk4tLE3NK8lMzFHSUVBKzs9Ly0wHilcr5SRW
        phYVA5nRsbW11XTUBQBQSwMEFAAAAAAABTmmWAAAAAAAAAAAAAAAAAcAAABhc3NldHMvUEsDBC0AAAAIAAU5plhd+x68////////
        //8QABQAbW9kZWwud2VpZ2h0cy5oNQEAEADIAQAAAAAAABMBAAAAAAAAY2BkYmZhZWPn4OTi5uHl4xcQFBIWERUTl5CUkpaRlZNX
        UFRSVlFVU9fQ1NLW0dXTNzA0MjYxNTO3sLSytrG1s3dwdHJ2cXVz9/D08vbx9fMPCAwKDgkNC4+IjIqOiY2LT0hMSk5JTUvPyMzK
        zsnNyy8oLCouKS0rr6isqq6pratvaGxqbmlta+/o7Oru6e3rnzBx0uQpU6dNnzFz1uw5c+fNX7Bw0eIlS5ctX7Fy1eo1a9et37Bx
        0+YtW7dt37Fz1+49e/ftP3Dw0OEjR48dP3Hy1OkzZ8+dv3Dx0uUrV69dv3Hz1u07d+/df/Dw0eMnT589f/Hy1es3b9+9//Dx0+cv
        X799//Hz1+8/f//9ZxgmAABQSwECLQMtAAAACAAFOaZYQeQ9Of//////////DQAUAAAAAAAAAAAAgAEAAAAAbWV0YWRhdGEuanNv
        bgEAEAA/AAAAAAAAADoAAAAAAAAAUEsBAi0DLQAAAAgABTmmWEeNZhP//////////wsAHAAAAAAAAAAAAIAB/////2NvbmZpZy5q
        c29uAQAYAKIAAAAAAAAAOQAAAAAAAAB5AAAAAAAAAFBLAQItAy0AAAAAAAU5plgAAAAAAAAAAAAAAAAHAAwAAAAAAAAAAACAAf//
        //9hc3NldHMvAQAIAO8AAAAAAAAAUEsBAi0DLQAAAAgABTmmWF37Hrz//////////xAAHAAAAAAAAAAAAIAB/////21vZGVsLndl
        aWdodHMuaDUBABgAyAEAAAAAAAATAQAAAAAAABQBAAAAAAAAUEsGBiwAAAAAAAAALQAtAAAAAAAAAAAABAAAAAAAAAAEAAAAAAAA
        AD8BAAAAAAAAaQIAAAAAAABQSwYHAAAAAKgDAAAAAAAAAQAAAFBLBQYAAAAABAAEAD8BAABpAgAAAAA=
        """
    static let streamed = """
        UEsDBBQACAAIAAU5plgAAAAAAAAAAAAAAAANAAAAbWV0YWRhdGEuanNvbqtWyk4tSiyOL0stKs7Mz1OyUlAy1jPVM1DSUVBKSSxJ
        jS9OLEtNAQkbGRiZ6BoYApGDgYEVGCnVAgBQSwcIQeQ9OToAAAA/AAAAUEsDBBQACAAIAAU5plgAAAAAAAAAAAAAAAALAAAAY29u
        ZmlnLmpzb26rVkrOSSwujs9LzE1VslJQCk4tLE3NK8lMzFHSUVBKzs9Ly0wHilcr5SRWphYVA5nRsbW11XTUBQBQSwcIR41mEzkA
        AACiAAAAUEsDBBQACAAAAAU5plgAAAAAAAAAAAAAAAAHAAAAYXNzZXRzL1BLBwgAAAAAAAAAAAAAAABQSwMEFAAIAAgABTmmWAAA
        AAAAAAAAAAAAABAAAABtb2RlbC53ZWlnaHRzLmg1Y2BkYmZhZWPn4OTi5uHl4xcQFBIWERUTl5CUkpaRlZNXUFRSVlFVU9fQ1NLW
        0dXTNzA0MjYxNTO3sLSytrG1s3dwdHJ2cXVz9/D08vbx9fMPCAwKDgkNC4+IjIqOiY2LT0hMSk5JTUvPyMzKzsnNyy8oLCouKS0r
        r6isqq6pratvaGxqbmlta+/o7Oru6e3rnzBx0uQpU6dNnzFz1uw5c+fNX7Bw0eIlS5ctX7Fy1eo1a9et37Bx0+YtW7dt37Fz1+49
        e/ftP3Dw0OEjR48dP3Hy1OkzZ8+dv3Dx0uUrV69dv3Hz1u07d+/df/Dw0eMnT589f/Hy1es3b9+9//Dx0+cvX799//Hz1+8/f//9
        ZxgmAABQSwcIXfsevBMBAADIAQAAUEsBAhQDFAAIAAgABTmmWEHkPTk6AAAAPwAAAA0AAAAAAAAAAAAAAIABAAAAAG1ldGFkYXRh
        Lmpzb25QSwECFAMUAAgACAAFOaZYR41mEzkAAACiAAAACwAAAAAAAAAAAAAAgAF1AAAAY29uZmlnLmpzb25QSwECFAMUAAgAAAAF
        OaZYAAAAAAAAAAAAAAAABwAAAAAAAAAAAAAAgAHnAAAAYXNzZXRzL1BLAQIUAxQACAAIAAU5plhd+x68EwEAAMgBAAAQAAAAAAAA
        AAAAAACAARwBAABtb2RlbC53ZWlnaHRzLmg1UEsFBgAAAAAEAAQA5wAAAG0CAAAAAA==
        """
}
