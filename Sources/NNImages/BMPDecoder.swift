import Foundation
import NN

/// Windows BMP, uncompressed: 1, 4 and 8 bits a pixel with a palette (to RGB), 16 and 32 bits
/// with bit-field masks, 24 bits (RGB), 32 bits (RGBA: the fourth byte is alpha, as TensorFlow's
/// `decode_bmp` keeps it). Run-length encoded files are refused with a message saying so.
enum BMPDecoder {
    private struct Layout {
        var width: Int, height: Int, topDown: Bool, bitsPerPixel: Int, compression: Int
        var pixelOffset: Int, headerSize: Int, paletteCount: Int
        var masks: [UInt32]  // r, g, b, a (a may be 0)
        var channels: Int { bitsPerPixel == 32 || (masks.count == 4 && masks[3] != 0) ? 4 : 3 }
    }

    static func header(_ data: Data, name: String) throws -> ImageHeader {
        try data.withUnsafeBytes { b in
            let l = try layout(b, name: name)
            return ImageHeader(format: .bmp, width: l.width, height: l.height, channels: l.channels)
        }
    }

    static func decode(_ data: Data, name: String) throws -> DecodedImage {
        var buffer: [UInt8] = []
        let (w, h, c) = try decode(data, name: name, into: &buffer)
        return DecodedImage(width: w, height: h, channels: c, pixels: buffer)
    }

    static func decode(_ data: Data, name: String, into buffer: inout [UInt8]) throws -> (Int, Int, Int) {
        try data.withUnsafeBytes { b in
            let l = try layout(b, name: name)
            let stride = (l.width * l.bitsPerPixel + 31) / 32 * 4
            guard l.pixelOffset >= 14 + l.headerSize, l.pixelOffset <= b.count,
                  (b.count - l.pixelOffset) / stride >= l.height else {
                throw invalid(name, "it is truncated: \(l.height) rows of \(stride) bytes do not fit after byte \(l.pixelOffset) of \(b.count)")
            }
            var palette = [UInt8](repeating: 0, count: 256 * 3)
            if l.bitsPerPixel <= 8 {
                let entry = l.headerSize == 12 ? 3 : 4
                let start = 14 + l.headerSize
                let count = min(l.paletteCount, 1 << l.bitsPerPixel, max(0, (l.pixelOffset - start) / entry))
                for i in 0..<count {
                    palette[3 * i] = b[start + i * entry + 2]
                    palette[3 * i + 1] = b[start + i * entry + 1]
                    palette[3 * i + 2] = b[start + i * entry]
                }
            }
            let c = l.channels
            resize(&buffer, to: l.width * l.height * c)
            buffer.withUnsafeMutableBufferPointer { out in
                for y in 0..<l.height {
                    let row = b.baseAddress!.assumingMemoryBound(to: UInt8.self) + l.pixelOffset + (l.topDown ? y : l.height - 1 - y) * stride
                    let o = out.baseAddress! + y * l.width * c
                    for x in 0..<l.width {
                        let d = o + x * c
                        switch l.bitsPerPixel {
                        case 1, 4, 8:
                            let bit = x * l.bitsPerPixel
                            let index = Int(row[bit / 8] >> (8 - l.bitsPerPixel - bit % 8)) & ((1 << l.bitsPerPixel) - 1)
                            d[0] = palette[3 * index]; d[1] = palette[3 * index + 1]; d[2] = palette[3 * index + 2]
                        case 24:
                            d[0] = row[3 * x + 2]; d[1] = row[3 * x + 1]; d[2] = row[3 * x]
                        default:
                            let bytes = l.bitsPerPixel / 8
                            var v: UInt32 = 0
                            for k in 0..<bytes { v |= UInt32(row[bytes * x + k]) << (8 * k) }
                            for k in 0..<c { d[k] = k < l.masks.count && l.masks[k] != 0 ? extract(v, l.masks[k]) : 255 }
                        }
                    }
                }
            }
            return (l.width, l.height, c)
        }
    }

    /// The field of `value` under `mask`, scaled to 8 bits.
    private static func extract(_ value: UInt32, _ mask: UInt32) -> UInt8 {
        let shift = mask.trailingZeroBitCount
        let bits = (mask >> shift).trailingZeroBitCount == 32 ? 0 : (~(mask >> shift)).trailingZeroBitCount
        guard bits > 0 else { return 0 }
        let maxValue = (UInt64(1) << UInt64(bits)) - 1
        // The field is the mask's lowest run of ones: a hostile mask with gaps (0b1011) must not
        // give a value above the field's maximum (found by the fuzzer: it overflowed UInt8).
        let v = UInt64((value & mask) >> shift) & maxValue
        return UInt8((v * 255 + maxValue / 2) / maxValue)
    }

    private static func layout(_ b: UnsafeRawBufferPointer, name: String) throws -> Layout {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        guard b.count >= 26 else { throw invalid(name, "it is truncated (\(b.count) bytes, a header needs at least 26)") }
        let headerSize = Int(u32(14))
        guard [12, 40, 52, 56, 64, 108, 124].contains(headerSize), b.count >= 14 + headerSize else {
            throw invalid(name, "its header size \(headerSize) is not a BMP header size, or the file is truncated")
        }
        var l = Layout(width: 0, height: 0, topDown: false, bitsPerPixel: 0, compression: 0,
                       pixelOffset: Int(u32(10)), headerSize: headerSize, paletteCount: 0, masks: [])
        if headerSize == 12 {
            l.width = u16(18); l.height = u16(20); l.bitsPerPixel = u16(24)
            l.paletteCount = 1 << min(l.bitsPerPixel, 8)
        } else {
            l.width = Int(Int32(bitPattern: u32(18)))
            let h = Int(Int32(bitPattern: u32(22)))
            l.topDown = h < 0
            l.height = abs(h)
            l.bitsPerPixel = u16(28)
            l.compression = Int(u32(30))
            let used = Int(u32(46))
            l.paletteCount = used == 0 ? 1 << min(l.bitsPerPixel, 8) : used
        }
        guard [1, 4, 8, 16, 24, 32].contains(l.bitsPerPixel) else {
            throw invalid(name, "\(l.bitsPerPixel) bits a pixel is not a BMP pixel size")
        }
        switch (l.compression, l.bitsPerPixel) {
        case (0, 16): l.masks = [0x7C00, 0x03E0, 0x001F]
        case (0, 32): l.masks = [0x00FF_0000, 0x0000_FF00, 0x0000_00FF, 0xFF00_0000]
        case (0, _): break
        case (3, 16), (3, 32), (6, 16), (6, 32):
            // Masks follow a 40-byte header, or sit inside a larger one.
            guard b.count >= 14 + 40 + 12 else { throw invalid(name, "it is truncated in its colour masks") }
            l.masks = [u32(54), u32(58), u32(62)]
            if headerSize >= 56 || l.compression == 6 { l.masks.append(b.count >= 70 ? u32(66) : 0) }
        case (1, _), (2, _):
            throw invalid(name, "run-length encoded BMP files are not supported; save it as PNG or an uncompressed BMP")
        default:
            throw invalid(name, "compression \(l.compression) with \(l.bitsPerPixel) bits a pixel is not supported")
        }
        if l.bitsPerPixel == 32, l.masks.count == 3 { l.masks.append(0) }
        try ImageFile.checkSize(width: l.width, height: l.height, channels: 4, format: .bmp, name: name)
        return l
    }

    private static func invalid(_ name: String, _ reason: String) -> IOError {
        IOError.invalidFile(path: name, format: "BMP image", reason: reason)
    }
}
