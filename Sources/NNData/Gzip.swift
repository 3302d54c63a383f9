import NN
import CZlib
import Foundation

/// Streams the decompressed bytes of a gzip file (or buffer) through zlib's inflate, a chunk at a time,
/// so a reader can stop as soon as it has what the file's header justifies (no gzopen, no unbounded buffer).
final class GzipReader {
    let path: String
    /// True once the last gzip member ended with a verified CRC and length and no input is left.
    private(set) var finished = false
    private let source: ChunkReader
    private let stream: UnsafeMutablePointer<z_stream>
    private var input: [UInt8] = []
    private var inputExhausted = false
    private static let inputChunk = 1 << 16
    private static let outputChunk = 1 << 20
    private static let zeros = [UInt8](repeating: 0, count: outputChunk)

    init(path: String, input: @escaping ChunkReader) throws {
        self.path = path
        self.source = input
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 16 + MAX_WBITS: expect a gzip header and trailer, not a zlib one.
        let rc = inflateInit2_(stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw DataError.corruptGzip(path: path, message: "inflateInit2 failed with code \(rc)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Appends up to `count` decompressed bytes to `buffer`; fewer only where the data ends. The buffer
    /// grows by at most one output chunk beyond what actually arrives.
    func read(_ count: Int, into buffer: inout [UInt8]) throws {
        var remaining = count
        while remaining > 0 && !finished {
            let chunk = min(remaining, Self.outputChunk)
            let start = buffer.count
            buffer.append(contentsOf: Self.zeros[0..<chunk])  // a bulk copy, fast even unoptimized
            let produced = try buffer.withUnsafeMutableBufferPointer { try inflate(into: $0.baseAddress! + start, count: chunk) }
            buffer.removeLast(chunk - produced)
            remaining -= produced
            if produced < chunk { break }  // end of stream or of input
        }
    }

    /// Inflates into `out` until it is full, the stream ends, or the compressed input runs out.
    private func inflate(into out: UnsafeMutablePointer<UInt8>, count: Int) throws -> Int {
        stream.pointee.next_out = out
        stream.pointee.avail_out = UInt32(count)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 {
                try refill()
                if inputExhausted { break }
            }
            let rc = input.withUnsafeMutableBufferPointer { buf -> Int32 in
                // Re-point next_in at the (stable) array storage for this call; keep its offset.
                let consumed = buf.count - Int(stream.pointee.avail_in)
                stream.pointee.next_in = buf.baseAddress! + consumed
                return CZlib.inflate(stream, Z_NO_FLUSH)
            }
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                // A gzip file may hold several members back to back; the data ends with the last one.
                if stream.pointee.avail_in == 0 { try refill() }
                if inputExhausted {
                    finished = true
                    return count - Int(stream.pointee.avail_out)
                }
                guard input[input.count - Int(stream.pointee.avail_in)] == 0x1f else {
                    throw DataError.corruptGzip(path: path, message: "unexpected bytes after the end of the gzip stream")
                }
                inflateReset(stream)
            case Z_BUF_ERROR:
                if stream.pointee.avail_in == 0 { continue }  // needs more input
                throw DataError.corruptGzip(path: path, message: zlibMessage(rc))
            default:
                throw DataError.corruptGzip(path: path, message: zlibMessage(rc))
            }
        }
        return count - Int(stream.pointee.avail_out)
    }

    /// Reads the next piece of compressed input; sets `inputExhausted` at the end of the file.
    private func refill() throws {
        let data = try source(Self.inputChunk)
        guard !data.isEmpty else {
            inputExhausted = true
            return
        }
        input = data
        stream.pointee.avail_in = UInt32(input.count)
    }

    private func zlibMessage(_ rc: Int32) -> String {
        if let msg = stream.pointee.msg { return String(cString: msg) }
        return "zlib error code \(rc)"
    }
}

/// Compresses `bytes` into a gzip stream (deflate with a gzip header, so `gunzip` and Python's
/// `gzip` read it too). `path` only names the file in errors.
func gzipCompress(_ bytes: [UInt8], path: String) throws -> [UInt8] {
    var stream = z_stream()
    let rc = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                           Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else { throw DataError.writeFailed(path: path, reason: "deflateInit2 failed with code \(rc)") }
    defer { deflateEnd(&stream) }

    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 18)
    let maxPiece = 1 << 30  // avail_in is 32-bit: feed large inputs in pieces
    var offset = 0
    var bytes = bytes
    try bytes.withUnsafeMutableBufferPointer { src in
        repeat {
            let piece = min(maxPiece, src.count - offset)
            stream.next_in = src.baseAddress.map { $0 + offset }
            stream.avail_in = UInt32(piece)
            offset += piece
            let flush = offset == src.count ? Z_FINISH : Z_NO_FLUSH
            var status: Int32 = Z_OK
            repeat {
                let produced = try chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    status = deflate(&stream, flush)
                    guard status != Z_STREAM_ERROR else {
                        throw DataError.writeFailed(path: path, reason: "deflate failed")
                    }
                    return out.count - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
            } while stream.avail_out == 0
            if flush == Z_FINISH && status != Z_STREAM_END {
                throw DataError.writeFailed(path: path, reason: "deflate did not finish (code \(status))")
            }
        } while offset < src.count
    }
    return output
}
