import CPNG
import Foundation
import NN

/// PNG through libpng's simplified API. libpng's classic API reports errors by `longjmp`, which
/// Swift frames cannot survive; the simplified API catches them inside libpng and returns 0 with
/// a message, so a corrupt file is an error, never a crash. It handles every bit depth, gray,
/// gray + alpha, RGB, RGBA, palette (with tRNS), and interlaced files.
///
/// Differences from TensorFlow's `decode_png` (which uses the classic API): 16-bit samples become
/// `round(v / 257)` here and `v >> 8` in TensorFlow (at most 1 level apart); a file with a gAMA
/// chunk other than sRGB's is converted to sRGB here, while TensorFlow ignores gAMA.
enum PNGDecoder {
    /// The file's own channels as the simplified API reports them (tRNS counts as alpha).
    static func header(_ data: Data, name: String) throws -> ImageHeader {
        try data.withUnsafeBytes { bytes in
            var png = png_image()
            png.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&png) }
            try begin(&png, bytes, name: name)
            let header = ImageHeader(format: .png, width: Int(png.width), height: Int(png.height), channels: channels(of: png.format))
            try ImageFile.checkSize(width: header.width, height: header.height, channels: header.channels, format: .png, name: name)
            return header
        }
    }

    static func decode(_ data: Data, name: String) throws -> DecodedImage {
        var buffer: [UInt8] = []
        let (w, h, c) = try decode(data, name: name, into: &buffer)
        return DecodedImage(width: w, height: h, channels: c, pixels: buffer)
    }

    /// Decodes into `buffer` (resized to fit, its capacity reused) and returns (width, height, channels).
    /// Both libpng calls run inside one `withUnsafeBytes`: libpng keeps the pointer between them.
    static func decode(_ data: Data, name: String, into buffer: inout [UInt8]) throws -> (Int, Int, Int) {
        try data.withUnsafeBytes { bytes in
            var png = png_image()
            png.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&png) }
            try begin(&png, bytes, name: name)
            let width = Int(png.width), height = Int(png.height), c = channels(of: png.format)
            try ImageFile.checkSize(width: width, height: height, channels: c, format: .png, name: name)
            // 8 bits a channel, the file's own channels; 16-bit files without gamma information
            // are taken as sRGB-encoded (as TensorFlow does), not linear, so they are only rescaled.
            png.format &= UInt32(PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLOR)
            png.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            resize(&buffer, to: width * height * c)
            let ok = buffer.withUnsafeMutableBytes { out in
                png_image_finish_read(&png, nil, out.baseAddress, Int32(width * c), nil)
            }
            guard ok != 0 else { throw failure(&png, name: name) }
            return (width, height, c)
        }
    }

    private static func begin(_ png: inout png_image, _ bytes: UnsafeRawBufferPointer, name: String) throws {
        guard bytes.count >= 8 else {
            throw IOError.invalidFile(path: name, format: "PNG image", reason: "it is truncated (\(bytes.count) bytes)")
        }
        guard png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count) != 0 else {
            throw failure(&png, name: name)
        }
    }

    private static func channels(of format: UInt32) -> Int {
        (format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0 ? 3 : 1) + (format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0 ? 1 : 0)
    }

    private static func failure(_ png: inout png_image, name: String) -> IOError {
        let message = withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return IOError.invalidFile(path: name, format: "PNG image", reason: "libpng: \(message.isEmpty ? "unknown error" : message)")
    }
}

/// Sets `buffer.count` to `count` without shrinking its capacity (so a reused buffer stops allocating).
@inline(__always)
func resize(_ buffer: inout [UInt8], to count: Int) {
    if buffer.count > count {
        buffer.removeLast(buffer.count - count)
    } else if buffer.count < count {
        buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
    }
}
