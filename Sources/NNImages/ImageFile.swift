import Foundation
import NN

/// One decoded picture: `height` rows of `width` pixels, `channels` bytes each (1 gray, 2 gray +
/// alpha, 3 RGB, 4 RGBA), row-major, top row first, 8 bits a channel.
public struct DecodedImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition((1...4).contains(channels), "an image has 1 to 4 channels, got \(channels)")
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes do not fill \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The byte at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> UInt8 { pixels[(y * width + x) * channels + c] }
}

/// The image formats Keras's `image_dataset_from_directory` accepts.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png, jpeg, bmp, gif

    /// The name errors use ("PNG image"), as `IOError.invalidFile`'s `format`.
    public var displayName: String {
        switch self {
        case .png: return "PNG image"
        case .jpeg: return "JPEG image"
        case .bmp: return "BMP image"
        case .gif: return "GIF image"
        }
    }

    /// The format the leading bytes announce, nil for none of the four. Files are told apart by
    /// content, never by name: a PNG saved as `.jpg` still decodes.
    public static func sniff<C: Collection>(_ bytes: C) -> ImageFormat? where C.Element == UInt8 {
        let b = Array(bytes.prefix(8))
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if b.starts(with: Array("GIF87a".utf8)) || b.starts(with: Array("GIF89a".utf8)) { return .gif }
        if b.starts(with: [0x42, 0x4D]) { return .bmp }
        return nil
    }
}

/// What a file's header says, read without decoding the pixels (an `ImageFolder` checks every
/// file this way when it is opened, so a bad file is named before training starts).
public struct ImageHeader: Equatable, Sendable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// The channels the file decodes to by itself (`ImageFile.decode` without `channels`).
    public var channels: Int
}

/// Decoding image files: PNG (libpng), JPEG (libjpeg-turbo), BMP and GIF (first frame), with
/// the conventions of TensorFlow's `tf.io.decode_image`, which Keras's
/// `image_dataset_from_directory` uses: 8 bits a channel; 16-bit PNG samples scaled to 8 bits;
/// `channels` converts as `decode_image(channels:)` does (gray replicated to RGB, alpha dropped or
/// added opaque, colour to gray with libpng's/libjpeg's weights). Every failure is an
/// `IOError.invalidFile` naming the file; hostile input never crashes and never allocates more
/// than its header's checked size.
public enum ImageFile {
    /// Largest image decoded: 2^28 pixels (a 16384×16384 photo). A header may claim up to
    /// 2^31 × 2^31 pixels; that is refused before anything is allocated.
    public static let maxPixels = 1 << 28

    /// Decodes the file at `path` (any of the four formats, told by content).
    public static func decode(path: String, channels: Int? = nil) throws -> DecodedImage {
        try decode(data: try read(path), name: path, channels: channels)
    }

    /// Decodes `data`; `name` (a path) is what errors call it. `channels` (1, 2, 3 or 4) converts
    /// the result, nil keeps the file's own.
    public static func decode(data: Data, name: String, channels: Int? = nil) throws -> DecodedImage {
        if let channels, !(1...4).contains(channels) {
            throw NNError.invalidArgument("decoding \(name): channels must be 1, 2, 3 or 4, got \(channels)")
        }
        let format = try detect(data, name: name)
        let image: DecodedImage
        switch format {
        case .png: image = try PNGDecoder.decode(data, name: name)
        case .jpeg:
            let decoder = try JPEGDecoder(name: name)
            image = try decoder.decode(data, name: name, gray: channels == 1 || channels == 2)
        case .bmp: image = try BMPDecoder.decode(data, name: name)
        case .gif: image = try GIFDecoder.decode(data, name: name)
        }
        guard let channels, channels != image.channels else { return image }
        return image.converted(to: channels)
    }

    /// The header of `data` (format, size, channels), checked against the size limits.
    public static func header(data: Data, name: String) throws -> ImageHeader {
        let format = try detect(data, name: name)
        switch format {
        case .png: return try PNGDecoder.header(data, name: name)
        case .jpeg:
            let decoder = try JPEGDecoder(name: name)
            return try decoder.header(data, name: name)
        case .bmp: return try BMPDecoder.header(data, name: name)
        case .gif: return try GIFDecoder.header(data, name: name)
        }
    }

    /// The header of the file at `path`. Only its first 64 KB are read unless the header lies
    /// beyond them (a JPEG's EXIF block can be long), so checking a folder of photos is cheap.
    public static func header(path: String) throws -> ImageHeader {
        let handle = try InputFile.open(path)
        let prefix: Data
        do { prefix = try handle.read(upToCount: 1 << 16) ?? Data() } catch {
            throw IOError.cannotRead(path: path, reason: error.localizedDescription)
        }
        do { return try header(data: prefix, name: path) } catch {
            guard prefix.count == 1 << 16 else { throw error }
            return try header(data: try read(path), name: path)
        }
    }

    /// The whole file (a regular file, at most `InputFile.readLimit` bytes).
    static func read(_ path: String) throws -> Data { try InputFile.read(path) }

    /// The format of `data`, or an error saying what the file appears to be instead.
    static func detect(_ data: Data, name: String) throws -> ImageFormat {
        if let format = ImageFormat.sniff(data) { return format }
        throw IOError.invalidFile(path: name, format: "image", reason: "it is not a PNG, JPEG, BMP or GIF image; it appears to be \(describeContent(data))")
    }

    /// A short guess at what non-image bytes are, for error messages.
    static func describeContent(_ data: Data) -> String {
        if data.isEmpty { return "empty (0 bytes)" }
        let head = Array(data.prefix(512))
        let signatures: [([UInt8], String)] = [
            ([0x25, 0x50, 0x44, 0x46], "a PDF document"), ([0x50, 0x4B, 0x03, 0x04], "a ZIP archive"),
            ([0x1F, 0x8B], "gzip-compressed data"), ([0x52, 0x49, 0x46, 0x46], "a RIFF file (WebP, WAV or AVI)"),
            ([0x49, 0x49, 0x2A, 0x00], "a TIFF image"), ([0x4D, 0x4D, 0x00, 0x2A], "a TIFF image"),
            ([0x89, 0x48, 0x44, 0x46], "an HDF5 file"), ([0x00, 0x00, 0x01, 0x00], "an ICO icon"),
        ]
        for (magic, what) in signatures where head.starts(with: magic) { return what }
        if head.count >= 12, Array(head[4..<8]) == Array("ftyp".utf8) {
            return "an ISO media file (HEIC/AVIF photo or MP4 video)"
        }
        let text = head.allSatisfy { $0 == 9 || $0 == 10 || $0 == 13 || (0x20..<0x7F).contains($0) || $0 >= 0x80 }
        if text {
            let first = String(decoding: head.prefix(24), as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return "text (starting \"\(first)\")"
        }
        return "binary data of an unknown format (first bytes \(head.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))"
    }

    /// Refuses sizes that are zero or past the limits before any pixel buffer exists.
    static func checkSize(width: Int, height: Int, channels: Int, format: ImageFormat, name: String) throws {
        guard width > 0, height > 0 else {
            throw IOError.invalidFile(path: name, format: format.displayName, reason: "it has no pixels (\(width)×\(height))")
        }
        let pixels = width.multipliedReportingOverflow(by: height)
        guard !pixels.overflow, pixels.partialValue <= maxPixels else {
            throw IOError.invalidFile(path: name, format: format.displayName,
                                      reason: "its \(width)×\(height) pixels exceed the limit of \(maxPixels) pixels")
        }
        do { _ = try Tensor.validatedElementCount([height, width, channels], what: "image") } catch {
            throw IOError.invalidFile(path: name, format: format.displayName, reason: "\(error)")
        }
    }
}
