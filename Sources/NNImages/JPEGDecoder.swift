import CTurboJPEG
import Foundation
import NN

/// JPEG through libjpeg-turbo's TurboJPEG API, which returns errors as -1 (no `longjmp` reaches
/// Swift). Baseline, progressive, arithmetic, grayscale, CMYK and YCCK (converted to RGB as
/// TensorFlow does). The fast integer DCT (`TJFLAG_FASTDCT`) and fancy upsampling are TensorFlow's
/// `decode_jpeg` defaults (its `dct_method=""` is `INTEGER_FAST`; the accurate DCT differs by up
/// to 4 levels), so the pixels are the bytes TensorFlow gives (both are libjpeg-turbo).
/// One handle per decoder; a decoder is used by one thread at a time.
final class JPEGDecoder {
    private let handle: tjhandle

    init(name: String) throws {
        guard let handle = tjInitDecompress() else {
            throw IOError.invalidFile(path: name, format: "JPEG image", reason: "libjpeg-turbo could not start a decompressor")
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Size and channels (1 for grayscale files, 3 otherwise).
    func header(_ data: Data, name: String) throws -> ImageHeader {
        try data.withUnsafeBytes { bytes in
            let (w, h, colorspace) = try readHeader(bytes, name: name)
            let channels = colorspace == Int32(TJCS_GRAY.rawValue) ? 1 : 3
            try ImageFile.checkSize(width: w, height: h, channels: max(channels, 4), format: .jpeg, name: name)
            return ImageHeader(format: .jpeg, width: w, height: h, channels: channels)
        }
    }

    func decode(_ data: Data, name: String, gray: Bool) throws -> DecodedImage {
        var buffer: [UInt8] = []
        let (w, h, c) = try decode(data, name: name, gray: gray, into: &buffer)
        return DecodedImage(width: w, height: h, channels: c, pixels: buffer)
    }

    /// Decodes into `buffer` (capacity reused); `gray` asks libjpeg for its luma channel, which is
    /// what TensorFlow's `decode_jpeg(channels: 1)` returns for a colour file.
    func decode(_ data: Data, name: String, gray: Bool, into buffer: inout [UInt8]) throws -> (Int, Int, Int) {
        try data.withUnsafeBytes { bytes in
            let (w, h, colorspace) = try readHeader(bytes, name: name)
            try ImageFile.checkSize(width: w, height: h, channels: 4, format: .jpeg, name: name)
            let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
            let fileGray = colorspace == Int32(TJCS_GRAY.rawValue)
            let outChannels = cmyk ? 4 : (gray || fileGray ? 1 : 3)
            let format = cmyk ? TJPF_CMYK : (outChannels == 1 ? TJPF_GRAY : TJPF_RGB)
            resize(&buffer, to: w * h * outChannels)
            let status = buffer.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                              out.baseAddress, Int32(w), 0, Int32(h), format.rawValue, TJFLAG_FASTDCT)
            }
            if status != 0 { try checkWarning(name: name) }
            guard cmyk else { return (w, h, outChannels) }
            Self.cmykToRGB(&buffer, pixels: w * h, adobe: Self.hasAdobeMarker(bytes))
            if gray {
                buffer.withUnsafeMutableBufferPointer { p in
                    for i in 0..<(w * h) { p[i] = ColorConversion.gray(p[3 * i], p[3 * i + 1], p[3 * i + 2]) }
                }
                resize(&buffer, to: w * h)
                return (w, h, 1)
            }
            return (w, h, 3)
        }
    }

    private func readHeader(_ bytes: UnsafeRawBufferPointer, name: String) throws -> (Int, Int, Int32) {
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard bytes.count > 2,
              tjDecompressHeader3(handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                                  &w, &h, &subsampling, &colorspace) == 0 else {
            throw IOError.invalidFile(path: name, format: "JPEG image", reason: "libjpeg-turbo: \(message()) (in the header)")
        }
        return (Int(w), Int(h), colorspace)
    }

    /// libjpeg-turbo reports a damaged but decodable stream as a warning. "Premature end of JPEG
    /// file" (a truncated download) is an error, as in TensorFlow; others (extraneous bytes
    /// between markers, which cameras write) are accepted, as TensorFlow does.
    private func checkWarning(name: String) throws {
        let text = message()
        if tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) && !text.contains("Premature end") { return }
        throw IOError.invalidFile(path: name, format: "JPEG image", reason: "libjpeg-turbo: \(text)")
    }

    private func message() -> String {
        guard let c = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: c)
    }

    /// TensorFlow's CMYK to RGB (jpeg_mem.cc): Adobe files store inverted CMYK (r = k·c / 255),
    /// others plain CMYK (r = (255 − k)(255 − c) / 255). Packs 4-byte pixels into 3-byte ones in place.
    static func cmykToRGB(_ buffer: inout [UInt8], pixels: Int, adobe: Bool) {
        buffer.withUnsafeMutableBufferPointer { p in
            for i in 0..<pixels {
                let c = Int(p[4 * i]), m = Int(p[4 * i + 1]), y = Int(p[4 * i + 2]), k = Int(p[4 * i + 3])
                let r, g, b: Int
                if adobe {
                    (r, g, b) = (k * c / 255, k * m / 255, k * y / 255)
                } else {
                    (r, g, b) = ((255 - k) * (255 - c) / 255, (255 - k) * (255 - m) / 255, (255 - k) * (255 - y) / 255)
                }
                p[3 * i] = UInt8(r)
                p[3 * i + 1] = UInt8(g)
                p[3 * i + 2] = UInt8(b)
            }
        }
        resize(&buffer, to: pixels * 3)
    }

    /// Whether an APP14 "Adobe" segment precedes the first scan (libjpeg's `saw_Adobe_marker`).
    static func hasAdobeMarker(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return false }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0xDA || marker == 0xD9 { return false }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if marker == 0xEE, length >= 7, i + 9 <= b.count,
               b[i + 4] == 0x41, b[i + 5] == 0x64, b[i + 6] == 0x6F, b[i + 7] == 0x62, b[i + 8] == 0x65 {
                return true
            }
            i += 2 + length
        }
        return false
    }
}
