import NN
import CPNG
import Foundation

/// PNG encoding and decoding through libpng's simplified API (libpng ≥ 1.6): 8-bit grayscale or
/// RGB, no alpha. The report writes every figure with it; tests read the files back with it.
package enum PNG {
    /// The PNG bytes of `image`.
    package static func encode(_ image: RasterImage) throws -> Data {
        guard image.width > 0, image.height > 0 else {
            throw PNGError.invalidImage("cannot encode an empty \(image.width)×\(image.height) image")
        }
        var png = header(for: image)
        let stride = Int32(image.width * image.channels)
        return try image.pixels.withUnsafeBytes { pixels -> Data in
            // First call measures, second call writes (libpng's documented two-pass use).
            var size: png_alloc_size_t = 0
            guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, stride, nil) != 0 else {
                throw PNGError.libpng(message(of: &png))
            }
            var out = Data(count: Int(size))
            let ok = out.withUnsafeMutableBytes { buffer in
                png_image_write_to_memory(&png, buffer.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
            }
            guard ok != 0 else { throw PNGError.libpng(message(of: &png)) }
            out.count = Int(size)
            return out
        }
    }

    /// Decodes PNG bytes to 8-bit grayscale (gray files) or RGB (colour files); an alpha channel is
    /// composited onto white.
    package static func decode(_ data: Data) throws -> RasterImage {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        let began = data.withUnsafeBytes { bytes in
            png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count)
        }
        guard began != 0 else { throw PNGError.libpng(message(of: &png)) }
        let color = png.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let channels = color ? 3 : 1
        png.format = color ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        let width = Int(png.width), height = Int(png.height)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        var white = png_color(red: 255, green: 255, blue: 255)
        let ok = pixels.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&png, &white, buffer.baseAddress, Int32(width * channels), nil)
        }
        guard ok != 0 else {
            png_image_free(&png)
            throw PNGError.libpng(message(of: &png))
        }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Encodes `image` and writes it atomically to `path`.
    package static func write(_ image: RasterImage, to path: String) throws {
        try AtomicFile.write(try encode(image), to: path)
    }

    /// Reads and decodes the PNG file at `path`.
    package static func read(_ path: String) throws -> RasterImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IOError.cannotRead(path: path, reason: "no such file or it is not readable")
        }
        do { return try decode(data) } catch let error as PNGError {
            throw IOError.cannotRead(path: path, reason: error.description)
        }
    }

    private static func header(for image: RasterImage) -> png_image {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        return png
    }

    /// libpng's message buffer (a fixed C char array) as a String.
    private static func message(of png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// A PNG could not be written or read.
package enum PNGError: Error, CustomStringConvertible, Equatable {
    case invalidImage(String)
    case libpng(String)

    package var description: String {
        switch self {
        case let .invalidImage(m): return m
        case let .libpng(m): return "libpng: \(m)"
        }
    }
}
