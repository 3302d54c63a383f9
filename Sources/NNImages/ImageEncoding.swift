import CPNG
import CTurboJPEG
import Foundation
import NN

extension DecodedImage {
    /// The image as a PNG file's bytes (libpng's simplified API: no `longjmp`), 8-bit gray, gray +
    /// alpha, RGB or RGBA as its channels say.
    public func pngData() throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(width)
        png.height = UInt32(height)
        // PNG_FORMAT_GRAY, _GA, _RGB, _RGBA are macros Swift does not import: their flags.
        png.format = (channels >= 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (channels % 2 == 0 ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        defer { png_image_free(&png) }
        var size: png_alloc_size_t = 0
        let ok = pixels.withUnsafeBytes { p in
            png_image_write_to_memory(&png, nil, &size, 0, p.baseAddress, Int32(width * channels), nil)
        }
        guard ok != 0, size > 0 else { throw NNError.invalidArgument("cannot encode a \(width)×\(height)×\(channels) PNG: \(message(png))") }
        var out = Data(count: Int(size))
        let written = out.withUnsafeMutableBytes { o in
            pixels.withUnsafeBytes { p in
                png_image_write_to_memory(&png, o.baseAddress, &size, 0, p.baseAddress, Int32(width * channels), nil)
            }
        }
        guard written != 0 else { throw NNError.invalidArgument("cannot encode a \(width)×\(height)×\(channels) PNG: \(message(png))") }
        return out.prefix(Int(size))
    }

    /// The image as a baseline JPEG file's bytes (TurboJPEG), gray or RGB (alpha is dropped),
    /// 4:2:0 chroma for colour as most cameras write, at `quality` 1...100.
    public func jpegData(quality: Int = 90) throws -> Data {
        guard (1...100).contains(quality) else { throw NNError.invalidArgument("JPEG quality must be 1...100, got \(quality)") }
        let rgb = channels == 1 || channels == 3 ? self : converted(to: channels == 2 ? 1 : 3)
        guard let handle = tjInitCompress() else { throw NNError.invalidArgument("cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let gray = rgb.channels == 1
        let status = rgb.pixels.withUnsafeBufferPointer { p in
            tjCompress2(handle, p.baseAddress, Int32(width), 0, Int32(height), Int32((gray ? TJPF_GRAY : TJPF_RGB).rawValue),
                        &buffer, &size, Int32((gray ? TJSAMP_GRAY : TJSAMP_420).rawValue), Int32(quality), 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else {
            throw NNError.invalidArgument("cannot encode a \(width)×\(height) JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Data(bytes: buffer, count: Int(size))
    }

    private func message(_ png: png_image) -> String {
        var m = png.message
        return withUnsafeBytes(of: &m) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
