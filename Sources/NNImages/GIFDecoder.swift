import Foundation
import NN

/// GIF, first frame only (as Keras loads it: `decode_image(expand_animations=False)`), as RGB on
/// the logical screen's size. Pixels outside the first frame and transparent pixels are black (0).
enum GIFDecoder {
    private struct Frame {
        var screenWidth: Int, screenHeight: Int
        var left = 0, top = 0, width = 0, height = 0, interlaced = false
        var palette: [UInt8] = [], transparent: Int = -1
        var codeSize = 0
        var dataStart = 0  // offset of the first data sub-block
    }

    static func header(_ data: Data, name: String) throws -> ImageHeader {
        try data.withUnsafeBytes { b in
            let f = try firstFrame(b, name: name)
            return ImageHeader(format: .gif, width: f.screenWidth, height: f.screenHeight, channels: 3)
        }
    }

    static func decode(_ data: Data, name: String) throws -> DecodedImage {
        var buffer: [UInt8] = []
        let (w, h, c) = try decode(data, name: name, into: &buffer)
        return DecodedImage(width: w, height: h, channels: c, pixels: buffer)
    }

    static func decode(_ data: Data, name: String, into buffer: inout [UInt8]) throws -> (Int, Int, Int) {
        try data.withUnsafeBytes { b in
            let f = try firstFrame(b, name: name)
            let w = f.screenWidth, h = f.screenHeight
            resize(&buffer, to: w * h * 3)
            buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            var rowOrder: [Int] = []
            if f.interlaced {
                for (start, step) in [(0, 8), (4, 8), (2, 4), (1, 2)] { rowOrder += Array(stride(from: start, to: f.height, by: step)) }
            }
            var produced = 0
            let total = f.width * f.height
            try buffer.withUnsafeMutableBufferPointer { out in
                try lzw(b, from: f.dataStart, codeSize: f.codeSize, name: name) { index in
                    guard produced < total else { return false }
                    let fy = produced / f.width, fx = produced % f.width
                    produced += 1
                    let y = f.top + (f.interlaced ? rowOrder[fy] : fy), x = f.left + fx
                    guard y < h, x < w, index != f.transparent, 3 * index + 2 < f.palette.count else { return true }
                    let d = out.baseAddress! + (y * w + x) * 3
                    d[0] = f.palette[3 * index]; d[1] = f.palette[3 * index + 1]; d[2] = f.palette[3 * index + 2]
                    return true
                }
            }
            guard produced == total else {
                throw invalid(name, "its first frame is truncated (\(produced) of \(total) pixels)")
            }
            return (w, h, 3)
        }
    }

    /// Walks the blocks up to the first image descriptor.
    private static func firstFrame(_ b: UnsafeRawBufferPointer, name: String) throws -> Frame {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        guard b.count >= 13 else { throw invalid(name, "it is truncated (\(b.count) bytes)") }
        var f = Frame(screenWidth: u16(6), screenHeight: u16(8))
        try ImageFile.checkSize(width: f.screenWidth, height: f.screenHeight, channels: 3, format: .gif, name: name)
        var i = 13
        if b[10] & 0x80 != 0 {
            let size = 3 << (Int(b[10] & 7) + 1)
            guard i + size <= b.count else { throw invalid(name, "it is truncated in its colour table") }
            f.palette = Array(b[i..<(i + size)])
            i += size
        }
        while i < b.count {
            switch b[i] {
            case 0x21:  // extension: label, then sub-blocks
                guard i + 2 < b.count else { throw invalid(name, "it is truncated in an extension") }
                if b[i + 1] == 0xF9, i + 7 < b.count, b[i + 2] >= 4, b[i + 3] & 1 != 0 { f.transparent = Int(b[i + 6]) }
                i = try skipSubBlocks(b, from: i + 2, name: name)
            case 0x2C:
                guard i + 10 <= b.count else { throw invalid(name, "it is truncated in an image descriptor") }
                f.left = u16(i + 1); f.top = u16(i + 3); f.width = u16(i + 5); f.height = u16(i + 7)
                let flags = b[i + 9]
                f.interlaced = flags & 0x40 != 0
                i += 10
                if flags & 0x80 != 0 {
                    let size = 3 << (Int(flags & 7) + 1)
                    guard i + size <= b.count else { throw invalid(name, "it is truncated in a colour table") }
                    f.palette = Array(b[i..<(i + size)])
                    i += size
                }
                guard i < b.count else { throw invalid(name, "it is truncated before its pixels") }
                f.codeSize = Int(b[i])
                guard (2...11).contains(f.codeSize) else { throw invalid(name, "LZW code size \(f.codeSize) is out of range") }
                guard f.width > 0, f.height > 0 else { throw invalid(name, "its first frame has no pixels (\(f.width)×\(f.height))") }
                f.dataStart = i + 1
                return f
            case 0x3B: throw invalid(name, "it has no image")
            default: throw invalid(name, "unknown block 0x\(String(b[i], radix: 16)) at byte \(i)")
            }
        }
        throw invalid(name, "it is truncated before its first image")
    }

    private static func skipSubBlocks(_ b: UnsafeRawBufferPointer, from start: Int, name: String) throws -> Int {
        var i = start
        while i < b.count {
            let n = Int(b[i])
            i += 1 + n
            if n == 0 { return i }
        }
        throw invalid(name, "it is truncated inside a block")
    }

    /// GIF's variable-width LZW over the sub-blocks at `start`; `emit` gets each colour index and
    /// returns false once the frame is full.
    private static func lzw(_ b: UnsafeRawBufferPointer, from start: Int, codeSize: Int, name: String,
                            emit: (Int) -> Bool) throws {
        let clear = 1 << codeSize, end = clear + 1
        var prefix = [Int](repeating: -1, count: 4096), suffix = [UInt8](repeating: 0, count: 4096)
        var first = [UInt8](repeating: 0, count: 4096)
        for c in 0..<clear { suffix[c] = UInt8(truncatingIfNeeded: c); first[c] = UInt8(truncatingIfNeeded: c) }
        var stack = [UInt8](repeating: 0, count: 4097)
        var width = codeSize + 1, next = end + 1, previous = -1
        var bits = 0, accumulator = 0
        var i = start, blockLeft = 0
        while true {
            // Refill from the sub-blocks until a whole code is buffered.
            while bits < width {
                if blockLeft == 0 {
                    guard i < b.count else { return }
                    blockLeft = Int(b[i]); i += 1
                    if blockLeft == 0 { return }
                }
                guard i < b.count else { return }
                accumulator |= Int(b[i]) << bits
                bits += 8; i += 1; blockLeft -= 1
            }
            let code = accumulator & ((1 << width) - 1)
            accumulator >>= width; bits -= width
            if code == clear { width = codeSize + 1; next = end + 1; previous = -1; continue }
            if code == end { return }
            guard code <= next, code < 4096, previous >= 0 || code < clear else {
                throw invalid(name, "its LZW data is corrupt (code \(code), next \(next))")
            }
            var top = 0, c = code
            if code == next {  // the KwKwK case: previous string plus its own first byte
                guard previous >= 0 else { throw invalid(name, "its LZW data is corrupt") }
                stack[top] = first[previous]; top += 1
                c = previous
            }
            while c >= clear {
                guard top < 4096 else { throw invalid(name, "its LZW data is corrupt") }
                stack[top] = suffix[c]; top += 1
                c = prefix[c]
                guard c >= 0 else { throw invalid(name, "its LZW data is corrupt") }
            }
            stack[top] = suffix[c]; top += 1
            if previous >= 0, next < 4096 {
                prefix[next] = previous
                suffix[next] = suffix[c]
                first[next] = first[previous]
                next += 1
                if next == 1 << width, width < 12 { width += 1 }
            }
            previous = code
            while top > 0 {
                top -= 1
                if !emit(Int(stack[top])) { return }
            }
        }
    }

    private static func invalid(_ name: String, _ reason: String) -> IOError {
        IOError.invalidFile(path: name, format: "GIF image", reason: reason)
    }
}
