import NN
import Foundation

/// Zip archives, the container of Keras 3 `.keras` model files (`config.json`, `metadata.json`,
/// `model.weights.h5`). Python's zipfile writes them stored (method 0) by default; other tools
/// deflate (method 8). Those two methods are all Keras needs, and all this reads and writes.
///
/// The reader is for untrusted files: every offset and size is checked against the archive's real
/// length before anything is read, the declared sizes are bounded before anything is allocated, and
/// every entry is inflated to exactly its declared size and CRC-checked (see `read`).
package enum ZipArchive {
    /// One member: its name and its bytes, inflated and CRC-checked.
    package struct Entry: Equatable, Sendable {
        package let name: String
        package let data: Data

        package init(name: String, data: Data) {
            self.name = name
            self.data = data
        }
    }

    /// The most entries an archive may hold: a zip without zip64 cannot count more, and a model
    /// archive holds a handful.
    package static let maxEntries = 65_535

    /// The default bound on the total declared uncompressed size: the core's limit for a file read
    /// whole (half this machine's memory), and never more than 8 GiB. The entries are held in memory
    /// next to the archive itself, so a larger total could not be held anyway.
    package static let defaultMaxTotalBytes = Int(min(InputFile.readLimit, 8 << 30))

    /// Deflate cannot expand better than 1032:1 (one 258-byte match per 2 bits), so an entry that
    /// declares more is a lie, whatever its total.
    package static let maxDeflateRatio = 1032

    /// How far from the end the end-of-central-directory record is searched for: its 22 bytes plus
    /// the longest comment (65,535 bytes).
    static let endSearchLength = 22 + 65_535

    /// Parses a whole archive held in memory (the caller read it with the core's `InputFile.read`).
    /// `path` names the file in errors. Entries in central-directory order.
    ///
    /// Throws `IOError.invalidFile(format: "zip archive")`, naming the entry, for: no
    /// end-of-central-directory record in the last 65,557 bytes; offsets or sizes beyond the file;
    /// a local header that disagrees with the central directory (name, method, flags' encryption
    /// bit, and CRC and sizes unless a data descriptor defers them); entries whose data overlaps;
    /// names that are empty, absolute, hold `.`, `..` or empty components, backslashes or NUL;
    /// duplicate names; encryption; methods other than 0 and 8; a stored entry whose sizes differ;
    /// a deflated one declaring more than 1032 × its compressed size; declared sizes totalling more
    /// than `maxTotalBytes`; data that inflates to any other size than declared (inflating stops at
    /// the first byte too many); trailing bytes after a deflate stream; a CRC mismatch; more than
    /// `maxEntries` entries; multi-disk archives. Zip64 archives (end record, locator and the
    /// extra fields, which Python writes for members of 4 GiB and more) are read.
    package static func read(_ archive: Data, path: String, maxTotalBytes: Int = defaultMaxTotalBytes) throws -> [Entry] {
        try archive.withUnsafeBytes { raw in
            try ZipReader(bytes: raw, path: path, maxTotalBytes: maxTotalBytes).entries()
        }
    }

    /// True when the bytes start like a zip (PK\x03\x04 or an empty archive's PK\x05\x06): for
    /// "this is a Keras .keras archive" hints elsewhere.
    package static func looksLikeZip(_ prefix: Data) -> Bool {
        guard prefix.count >= 4 else { return false }
        let b = Array(prefix.prefix(4))
        return b[0] == 0x50 && b[1] == 0x4b && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))
    }

    // MARK: Names

    /// Why `name` may not name an entry, or nil when it may. An entry name is a relative path with
    /// `/` separators that stays inside the directory it is extracted to; a trailing `/` marks a
    /// directory entry.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "has an empty name" }
        if name.unicodeScalars.contains("\0") { return "has a name containing a NUL character" }
        if name.contains("\\") { return "has a name containing a backslash" }
        if name.hasPrefix("/") { return "has an absolute name" }
        let scalars = Array(name.unicodeScalars.prefix(2))
        if scalars.count == 2, scalars[1] == ":", scalars[0].isASCII, scalars[0].properties.isAlphabetic {
            return "has an absolute name (a drive letter)"
        }
        var components = name.split(separator: "/", omittingEmptySubsequences: false)
        if name.hasSuffix("/") { components.removeLast() }
        if components.contains("..") { return "has a name with a '..' component" }
        if components.contains(".") { return "has a name with a '.' component" }
        if components.contains("") { return "has a name with an empty component ('//')" }
        return nil
    }

    /// A name as errors show it: control characters escaped, at most 120 characters.
    static func shown(_ name: String) -> String {
        var text = ""
        for scalar in name.unicodeScalars.prefix(120) {
            if scalar.properties.generalCategory == .control || scalar == "'" {
                text += scalar == "'" ? "\\'" : "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                text.unicodeScalars.append(scalar)
            }
        }
        return name.unicodeScalars.count > 120 ? text + "…" : text
    }

    /// What compression method `method` is, for errors about the ones not supported.
    static func methodName(_ method: Int) -> String {
        switch method {
        case 0: return "stored"
        case 1: return "shrunk"
        case 6: return "imploded"
        case 8: return "deflate"
        case 9: return "deflate64"
        case 12: return "bzip2"
        case 14: return "LZMA"
        case 93: return "Zstandard"
        case 95: return "xz"
        case 98: return "PPMd"
        case 99: return "AES-encrypted"
        default: return "unknown"
        }
    }
}
