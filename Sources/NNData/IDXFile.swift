import NN
import Foundation

/// An IDX file (the MNIST format) of unsigned bytes: its dimensions and its data in row-major order.
///
/// Layout: two zero bytes, a type byte (0x08 = unsigned byte), a dimension count, one big-endian
/// UInt32 per dimension, then the data. Files may be gzipped; that is detected from the content
/// (the 1f 8b magic), not the name. The header is never trusted: its dimensions must describe
/// exactly the bytes that follow, and nothing larger than `byteLimit` is ever buffered.
public struct IDXFile {
    /// Where the file was read from (names it in errors).
    public let path: String
    /// The size of each axis, outermost first (`[60000, 28, 28]` for MNIST images).
    public let dimensions: [Int]
    /// The data, row-major, one byte per element.
    public let bytes: [UInt8]

    /// The most data bytes `read` accepts by default: far above any MNIST-like set, and small enough
    /// that a forged header cannot make us allocate without bound.
    public static let defaultByteLimit = 1 << 30

    /// The IDX type code for unsigned bytes, the only element type supported.
    static let unsignedByteType: UInt8 = 0x08

    /// Reads and validates an IDX file, raw or gzipped. The file is streamed: only what its header
    /// justifies (and the file's size can back) is ever buffered.
    public static func read(_ path: String, byteLimit: Int = defaultByteLimit) throws -> IDXFile {
        try parse(ByteSource(path: path), byteLimit: byteLimit)
    }

    /// Validates the bytes of an IDX file held in memory, raw or gzipped; `path` only names the
    /// source in errors. `read` runs the same parser on a file, so fuzzing this fuzzes `read`.
    public static func decode(_ bytes: [UInt8], path: String = "<data>", byteLimit: Int = defaultByteLimit) throws -> IDXFile {
        try parse(ByteSource(bytes: bytes, path: path), byteLimit: byteLimit)
    }

    /// The parser `read` and `decode` share: header, dimensions, then exactly the data they describe.
    private static func parse(_ source: ByteSource, byteLimit: Int) throws -> IDXFile {
        let path = source.path
        var header: [UInt8] = []
        try source.read(4, into: &header)
        if header.prefix(2).contains(where: { $0 != 0 }) {
            throw DataError.badMagic(path: path, found: header)
        }
        guard header.count == 4 else { throw DataError.truncatedHeader(path: path, expected: 4, found: header.count) }
        guard header[2] == unsignedByteType else { throw DataError.unsupportedType(path: path, code: header[2]) }
        let rank = Int(header[3])
        guard rank > 0 else { throw DataError.noDimensions(path: path) }

        let headerSize = 4 + 4 * rank
        try source.read(4 * rank, into: &header)
        guard header.count == headerSize else {
            throw DataError.truncatedHeader(path: path, expected: headerSize, found: header.count)
        }
        let dimensions = (0..<rank).map { axis -> Int in
            let o = 4 + 4 * axis
            return Int(header[o]) << 24 | Int(header[o + 1]) << 16 | Int(header[o + 2]) << 8 | Int(header[o + 3])
        }
        // (Below Int.max too: one byte more than the header describes is read to detect trailing data.)
        guard let expected = checkedProduct(dimensions), expected <= byteLimit, expected < Int.max else {
            throw DataError.tooLarge(path: path, dimensions: dimensions, limit: byteLimit)
        }

        // Ask for one byte more than the header describes: getting it means trailing bytes.
        var data: [UInt8] = []
        data.reserveCapacity(min(expected + 1, source.sizeBound))
        try source.read(expected + 1, into: &data)
        if data.count < expected {
            throw DataError.truncated(path: path, dimensions: dimensions, expected: expected, found: data.count)
        }
        if data.count > expected {
            throw DataError.trailingBytes(path: path, dimensions: dimensions, expected: expected)
        }
        if source.isGzip && !source.finished { throw DataError.truncatedGzip(path: path) }
        return IDXFile(path: path, dimensions: dimensions, bytes: data)
    }

    /// Writes `bytes` as an IDX file of unsigned bytes, gzipped (deflate with a gzip header) if asked.
    /// The file appears atomically and durably (`AtomicFile`): a reader, or a crash, sees either the
    /// old file or the whole new one.
    public static func write(_ bytes: [UInt8], dimensions: [Int], to path: String, gzip: Bool = false) throws {
        guard (1...255).contains(dimensions.count) else {
            throw DataError.invalidShape(path: path, dimensions: dimensions, reason: "an IDX file has 1 to 255 dimensions")
        }
        guard dimensions.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }) else {
            throw DataError.invalidShape(path: path, dimensions: dimensions, reason: "each dimension must fit in a UInt32")
        }
        guard checkedProduct(dimensions) == bytes.count else {
            throw DataError.invalidShape(path: path, dimensions: dimensions,
                                         reason: "they describe a different count than the \(bytes.count) bytes given")
        }
        var content: [UInt8] = [0, 0, unsignedByteType, UInt8(dimensions.count)]
        content.reserveCapacity(content.count + 4 * dimensions.count + bytes.count)
        for d in dimensions {
            content += [UInt8(truncatingIfNeeded: d >> 24), UInt8(truncatingIfNeeded: d >> 16),
                        UInt8(truncatingIfNeeded: d >> 8), UInt8(truncatingIfNeeded: d)]
        }
        content += bytes
        if gzip { content = try gzipCompress(content, path: path) }
        try writeAtomically(content, to: path)
    }

    /// A readable name for an IDX type code, for error messages.
    static func typeName(_ code: UInt8) -> String {
        switch code {
        case 0x08: return "unsigned byte"
        case 0x09: return "signed byte"
        case 0x0B: return "16-bit integer"
        case 0x0C: return "32-bit integer"
        case 0x0D: return "32-bit float"
        case 0x0E: return "64-bit float"
        default: return "unknown type"
        }
    }
}

/// The product of the dimensions, or nil if it overflows `Int` (a forged header).
func checkedProduct(_ dimensions: [Int]) -> Int? {
    var product = 1
    for d in dimensions {
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        product = p
    }
    return product
}

/// Writes through `AtomicFile` (the one output-file rule: temporary file, fsync, rename, fsync of the
/// directory), reporting a failure as this module's `DataError`.
private func writeAtomically(_ content: [UInt8], to path: String) throws {
    do {
        try AtomicFile.write(Data(content), to: path)
    } catch let IOError.cannotWrite(_, reason) {
        throw DataError.writeFailed(path: path, reason: reason)
    }
}

/// Reads up to `maxCount` more bytes of raw input; an empty result means the input has ended.
typealias ChunkReader = (_ maxCount: Int) throws -> [UInt8]

/// The bytes of a file (or a buffer) in order: as stored, or gunzipped when it starts with the gzip magic.
private final class ByteSource {
    let path: String
    private let input: ChunkReader
    private let gzip: GzipReader?
    /// The most data bytes the input could yield (its size, or its size times deflate's maximum
    /// ratio of about 1032:1), so a reservation never exceeds what the input can justify.
    let sizeBound: Int

    var isGzip: Bool { gzip != nil }
    /// For gzip, whether the stream ended with a verified checksum; raw input always ends cleanly.
    var finished: Bool { gzip?.finished ?? true }

    /// Streams the file at `path`; the handle closes when the source is released.
    convenience init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.fileNotFound(path: path)
        }
        // Opened without blocking and refused unless a regular file: a FIFO with no writer would
        // hang here for ever, `/dev/zero` would stream zeros without end.
        let file: FileHandle
        do { file = try InputFile.open(path) } catch let IOError.cannotRead(_, reason) {
            throw DataError.unreadable(path: path, reason: reason)
        }
        let size: Int, magic: Data
        do {
            size = Int(try file.seekToEnd())
            try file.seek(toOffset: 0)
            magic = try file.read(upToCount: 2) ?? Data()
            try file.seek(toOffset: 0)
        } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
        let input: ChunkReader = { maxCount in
            do { return [UInt8](try file.read(upToCount: maxCount) ?? Data()) } catch {
                throw DataError.unreadable(path: path, reason: error.localizedDescription)
            }
        }
        try self.init(path: path, size: size, isGzip: magic.elementsEqual([0x1f, 0x8b]), input: input)
    }

    /// Reads `bytes` from memory.
    convenience init(bytes: [UInt8], path: String) throws {
        var position = 0
        let input: ChunkReader = { maxCount in
            let end = position + min(maxCount, bytes.count - position)
            defer { position = end }
            return Array(bytes[position..<end])
        }
        try self.init(path: path, size: bytes.count, isGzip: bytes.starts(with: [0x1f, 0x8b]), input: input)
    }

    private init(path: String, size: Int, isGzip: Bool, input: @escaping ChunkReader) throws {
        self.path = path
        self.input = input
        if isGzip {
            gzip = try GzipReader(path: path, input: input)
            sizeBound = size.multipliedReportingOverflow(by: 1032).partialValue + (1 << 20)
        } else {
            gzip = nil
            sizeBound = size
        }
    }

    /// Appends up to `count` bytes to `buffer`; fewer only where the data ends.
    func read(_ count: Int, into buffer: inout [UInt8]) throws {
        if let gzip { return try gzip.read(count, into: &buffer) }
        var remaining = count
        while remaining > 0 {
            let chunk = try input(min(remaining, 1 << 20))
            if chunk.isEmpty { return }
            buffer.append(contentsOf: chunk)
            remaining -= chunk.count
        }
    }
}
