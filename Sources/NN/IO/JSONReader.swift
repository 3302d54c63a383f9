import Foundation

/// A strict JSON parser (RFC 8259) for the safetensors header, where Foundation's is too lenient:
/// a duplicate key is an error instead of silently replacing the first, integers stay integers
/// (`4.0` and `true` are not sizes), nesting is bounded so no input can exhaust the stack, and
/// objects keep their keys in file order so errors name the first bad entry every time.
package enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// A number written without a fraction or exponent that fits in `Int`.
    case integer(Int)
    /// Any other number, as written.
    case number(String)
    case bool(Bool)
    case null

    /// A short description for error messages: scalars as written, a short array with its items
    /// (nested containers elided), anything longer by its kind and size.
    package var summary: String {
        switch self {
        case .object: return "an object"
        case let .array(items):
            guard items.count <= 8 else { return "an array of \(items.count) values" }
            let shown = items.map { item -> String in
                switch item {
                case .array: return "[…]"
                case .object: return "{…}"
                default: return item.summary
                }
            }
            return "[\(shown.joined(separator: ", "))]"
        case let .string(s): return s.count <= 40 ? "\"\(s)\"" : "a string of \(s.count) characters"
        case let .integer(n): return String(n)
        case let .number(text): return text.count <= 40 ? text : "a \(text.count)-digit number"
        case let .bool(b): return String(b)
        case .null: return "null"
        }
    }
}

/// Where and why the header is not valid JSON.
package struct JSONSyntaxError: Error, CustomStringConvertible {
    package let message: String
    package let offset: Int
    package var description: String { "\(message) at byte \(offset)" }
}

package struct JSONReader {
    /// Deeper nesting than any safetensors header has (it needs 3 levels).
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    /// Parses one JSON value filling all of `bytes` (surrounding whitespace allowed).
    package static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw reader.error("unexpected \(reader.shown) after the value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func value(depth: Int) throws -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected \(shown)")
        }
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        var keys = Set<String>()
        skipWhitespace()
        if consume("}") { return .object(members) }
        repeat {
            skipWhitespace()
            let keyOffset = position
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key, found \(shown)") }
            let key = try string()
            guard keys.insert(key).inserted else {
                throw JSONSyntaxError(message: "duplicate key \"\(key.count <= 40 ? key : String(key.prefix(40)) + "…")\"", offset: keyOffset)
            }
            skipWhitespace()
            guard consume(":") else { throw error("expected ':' after a key, found \(shown)") }
            members.append((key, try value(depth: depth)))
            skipWhitespace()
        } while consume(",")
        guard consume("}") else { throw error("expected ',' or '}' in an object, found \(shown)") }
        return .object(members)
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if consume("]") { return .array(items) }
        repeat {
            items.append(try value(depth: depth))
            skipWhitespace()
        } while consume(",")
        guard consume("]") else { throw error("expected ',' or ']' in an array, found \(shown)") }
        return .array(items)
    }

    /// A string starting at the opening quote; escapes decoded, UTF-8 validated.
    private mutating func string() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let c = bytes[position]
            position += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(bytes: utf8, encoding: .utf8) else { throw error("a string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                try escape(into: &utf8)
            case 0..<0x20:
                position -= 1
                throw error("unescaped control character in a string")
            default:
                utf8.append(c)
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws {
        guard position < bytes.count else { throw error("unterminated string") }
        let c = bytes[position]
        position += 1
        let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
        if let s = simple[c] { utf8.append(s); return }
        guard c == UInt8(ascii: "u") else { position -= 1; throw error("invalid escape \\\(shown)") }
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard consume("\\"), consume("u") else { throw error("a high surrogate without its low surrogate") }
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate without its low surrogate") }
            scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw error("a lone low surrogate") }
        utf8.append(contentsOf: Array(String(Character(u)).utf8))
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let d = Character(Unicode.Scalar(bytes[position])).hexDigitValue else { throw error("a \\u escape needs four hex digits") }
            v = v << 4 | UInt32(d)
            position += 1
        }
        return v
    }

    private mutating func number() throws -> JSONValue {
        let start = position
        var isInteger = true
        _ = consume("-")
        guard position < bytes.count, isDigit(bytes[position]) else { throw error("a number needs digits") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) { throw error("a number with a leading zero") }
        } else {
            skipDigits()
        }
        if consume(".") {
            isInteger = false
            guard position < bytes.count, isDigit(bytes[position]) else { throw error("a number needs digits after '.'") }
            skipDigits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if !consume("+") { _ = consume("-") }
            guard position < bytes.count, isDigit(bytes[position]) else { throw error("a number needs digits in its exponent") }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let n = Int(text) { return .integer(n) }
        return .number(text)
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard position + w.count <= bytes.count, Array(bytes[position..<position + w.count]) == w else {
            throw error("unexpected \(shown)")
        }
        position += w.count
    }

    private mutating func consume(_ c: Unicode.Scalar) -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: c) else { return false }
        position += 1
        return true
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    /// The byte at the current position, printable, for messages.
    private var shown: String {
        guard position < bytes.count else { return "end of input" }
        let c = bytes[position]
        return (0x21..<0x7F).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : String(format: "byte 0x%02x", c)
    }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: position) }
}

// MARK: - Opening input files

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way the engine opens a file it reads (weights, histories, data files): the open never
/// blocks and only a regular file is accepted. A FIFO with no writer would block `open` for ever,
/// and `/dev/zero` or a directory would read without end or fail obscurely, so the path is opened
/// with `O_NONBLOCK`, then `fstat` (of what was opened, not of the name) decides.
package enum InputFile {
    /// An open read handle on the regular file at `path`; `IOError.cannotRead` naming the path otherwise.
    package static func open(_ path: String) throws -> FileHandle {
        let fd = path.withCString { Foundation.open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else {
            let code = errno
            throw IOError.cannotRead(path: path, reason: code == ENOENT ? "no such file" : String(cString: strerror(code)))
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw IOError.cannotRead(path: path, reason: String(cString: strerror(code)))
        }
        let kind = UInt32(info.st_mode) & 0o170000
        guard kind == 0o100000 else {
            close(fd)
            throw IOError.cannotRead(path: path, reason: "it is \(describe(kind: kind)), not a regular file")
        }
        // A regular file never blocks; reads go back to the ordinary blocking mode.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// The largest file read whole: half this machine's memory. A (possibly sparse) file claiming
    /// more would exhaust memory before any of its content could be checked.
    package static var readLimit: UInt64 { max(1 << 30, ProcessInfo.processInfo.physicalMemory / 2) }

    /// The whole regular file at `path`, refused when larger than `readLimit`.
    package static func read(_ path: String) throws -> Data {
        let handle = try open(path)
        var info = stat()
        if fstat(handle.fileDescriptor, &info) == 0, info.st_size > 0, UInt64(info.st_size) > readLimit {
            throw IOError.cannotRead(path: path, reason: "it holds \(info.st_size) bytes, more than half this machine's memory (\(readLimit) bytes)")
        }
        do { return try handle.readToEnd() ?? Data() } catch {
            throw IOError.cannotRead(path: path, reason: error.localizedDescription)
        }
    }

    /// "a FIFO", "a directory", … for the `st_mode` file-type bits.
    static func describe(kind: UInt32) -> String {
        switch kind {
        case 0o010000: return "a FIFO"
        case 0o020000: return "a character device"
        case 0o040000: return "a directory"
        case 0o060000: return "a block device"
        case 0o140000: return "a socket"
        default: return "a special file"
        }
    }
}
