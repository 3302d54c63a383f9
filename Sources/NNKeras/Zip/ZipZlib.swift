import NN
import CZlib
import Foundation

/// zlib for zip entries: raw deflate streams (no zlib or gzip wrapper, `-MAX_WBITS`) and CRC-32.
/// Every stream lives on the heap (zlib keeps a pointer back to it) and is freed on every path.
enum ZipZlib {
    /// zlib takes lengths as 32-bit counts: longer buffers go through in pieces.
    private static let piece = Int(UInt32.max)

    /// CRC-32 (the zip and gzip one) of `data`.
    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw -> UInt32 in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return 0 }
            var crc = CZlib.crc32(0, nil, 0)
            var offset = 0
            while offset < raw.count {
                let n = min(piece, raw.count - offset)
                crc = CZlib.crc32(crc, base + offset, uInt(n))
                offset += n
            }
            return UInt32(truncatingIfNeeded: crc)
        }
    }

    /// Inflates the raw deflate stream `input` into exactly `size` bytes. Throws `fail(reason)` when
    /// the stream is corrupt, ends early, would produce a byte more than `size` (inflating stops
    /// there: at most one byte beyond `size` is ever produced, into a scratch byte), produces fewer,
    /// or is followed by more input.
    static func inflate(_ input: UnsafeRawBufferPointer, size: Int, fail: (String) -> Error) throws -> Data {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let rc = inflateInit2_(stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw fail("zlib's inflateInit2 failed with code \(rc)") }
        defer { inflateEnd(stream) }

        let inputBase = input.bindMemory(to: UInt8.self).baseAddress
        var output = Data(count: size)
        var scratch: UInt8 = 0
        try output.withUnsafeMutableBytes { out in
            let outputBase = out.bindMemory(to: UInt8.self).baseAddress
            try withUnsafeMutablePointer(to: &scratch) { scratchPointer in
                while true {
                    let consumed = Int(stream.pointee.total_in), produced = Int(stream.pointee.total_out)
                    stream.pointee.next_in = inputBase.map { UnsafeMutablePointer(mutating: $0 + consumed) }
                    stream.pointee.avail_in = UInt32(min(piece, input.count - consumed))
                    if produced < size {
                        stream.pointee.next_out = outputBase! + produced
                        stream.pointee.avail_out = UInt32(min(piece, size - produced))
                    } else {
                        // Full: one more byte would be one too many.
                        stream.pointee.next_out = scratchPointer
                        stream.pointee.avail_out = 1
                    }
                    let status = CZlib.inflate(stream, Z_NO_FLUSH)
                    guard Int(stream.pointee.total_out) <= size else {
                        throw fail("its data inflates to more than the \(size) bytes it declares")
                    }
                    switch status {
                    case Z_STREAM_END:
                        return
                    case Z_OK:
                        continue
                    case Z_BUF_ERROR:
                        // No progress with output room left: the input ran out.
                        throw fail("its deflate data is truncated (it ends before the stream does)")
                    default:
                        let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error code \(status)"
                        throw fail("its deflate data is corrupt (\(message))")
                    }
                }
            }
        }
        let produced = Int(stream.pointee.total_out), consumed = Int(stream.pointee.total_in)
        guard produced == size else {
            throw fail("its data inflates to \(produced) bytes, not the \(size) it declares")
        }
        guard consumed == input.count else {
            throw fail("its compressed size is \(input.count) bytes but the deflate stream ends after \(consumed)")
        }
        return output
    }

    /// `data` as a raw deflate stream (zlib's default level).
    static func deflate(_ data: Data) throws -> Data {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let rc = deflateInit2_(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw NNError.invalidArgument("zip archive: zlib's deflateInit2 failed with code \(rc)") }
        defer { deflateEnd(stream) }

        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        try data.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress
            var status = Z_OK
            repeat {
                let consumed = Int(stream.pointee.total_in)
                stream.pointee.next_in = base.map { UnsafeMutablePointer(mutating: $0 + consumed) }
                stream.pointee.avail_in = UInt32(min(piece, raw.count - consumed))
                let flush = consumed + Int(stream.pointee.avail_in) == raw.count ? Z_FINISH : Z_NO_FLUSH
                let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(out.count)
                    status = CZlib.deflate(stream, flush)
                    return out.count - Int(stream.pointee.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw NNError.invalidArgument("zip archive: deflate failed with code \(status)")
                }
                output.append(contentsOf: chunk[0..<produced])
            } while status != Z_STREAM_END
        }
        return output
    }
}
