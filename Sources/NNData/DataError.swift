import NN
import Foundation

/// What went wrong reading, writing or preparing data. Every message starts with the file or
/// directory the user controls, so a bad path or a damaged download is obvious from the text alone.
public enum DataError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case badMagic(path: String, found: [UInt8])
    case unsupportedType(path: String, code: UInt8)
    case noDimensions(path: String)
    case tooLarge(path: String, dimensions: [Int], limit: Int)
    case truncatedHeader(path: String, expected: Int, found: Int)
    case truncated(path: String, dimensions: [Int], expected: Int, found: Int)
    case trailingBytes(path: String, dimensions: [Int], expected: Int)
    case corruptGzip(path: String, message: String)
    case truncatedGzip(path: String)
    case writeFailed(path: String, reason: String)
    case invalidShape(path: String, dimensions: [Int], reason: String)
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)
    case missingDirectory(path: String, hint: String?)
    case missingFile(directory: String, file: String, hint: String?)
    /// The data directory's path names a file (or something else that is not a directory).
    case notADirectory(path: String)

    /// The message; it starts with the file or directory concerned.
    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "\(path): no such file"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .badMagic(path, found):
            let shown = found.map { String(format: "0x%02x", $0) }.joined(separator: " ")
            return "\(path): not an IDX file: it starts with \(shown.isEmpty ? "nothing" : shown), "
                + "an IDX file starts with 0x00 0x00, a type byte and a dimension count"
        case let .unsupportedType(path, code):
            return "\(path): unsupported IDX element type \(String(format: "0x%02x", code)) "
                + "(\(IDXFile.typeName(code))); only 0x08 (unsigned byte) is supported"
        case let .noDimensions(path):
            return "\(path): the IDX header declares 0 dimensions"
        case let .tooLarge(path, dims, limit):
            return "\(path): the IDX header claims dimensions \(dims), more than the \(limit)-byte limit "
                + "(a damaged or hostile header?)"
        case let .truncatedHeader(path, expected, found):
            return "\(path): truncated IDX header: expected \(expected) bytes, found \(found)"
        case let .truncated(path, dims, expected, found):
            return "\(path): truncated: expected \(expected) bytes of data, found \(found) "
                + "(the header's dimensions are \(dims))"
        case let .trailingBytes(path, dims, expected):
            return "\(path): trailing bytes: the header's dimensions \(dims) describe \(expected) bytes "
                + "of data, but the file holds more"
        case let .corruptGzip(path, message):
            return "\(path): corrupt gzip data: \(message)"
        case let .truncatedGzip(path):
            return "\(path): truncated gzip stream: it ends before its end marker and checksum"
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        case let .invalidShape(path, dims, reason):
            return "\(path): dimensions \(dims): \(reason)"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "image and label counts differ: \(imagesPath) holds \(images) images, "
                + "\(labelsPath) holds \(labels) labels"
        case let .labelOutOfRange(path, index, label, classes):
            return "\(path): label \(label) at index \(index) is not below the number of classes (\(classes))"
        case let .missingDirectory(path, hint):
            return "\(path): data directory does not exist" + (hint.map { "; \($0)" } ?? "")
        case let .notADirectory(path):
            return "\(path): the data directory is not a directory (it names a file)"
        case let .missingFile(directory, file, hint):
            return "\(directory): data directory lacks \(file) (or \(file).gz)" + (hint.map { "; \($0)" } ?? "")
        }
    }

    /// The same text as `description`, for `localizedDescription`.
    public var errorDescription: String? { description }
}
