import NN
import Foundation

extension ZipArchive {
    /// The DOS date every entry gets: 1980-01-01 00:00:00, the earliest a zip can say. A fixed
    /// timestamp makes the same entries give the same bytes (reproducible model files).
    static let dosDate = (1 << 5) | 1
    static let dosTime = 0

    /// Writes an archive (method 0 "stored" when `compress` is false, 8 "deflate" otherwise; a
    /// directory entry, named with a trailing `/`, is always stored), with CRC-32 and sizes in each
    /// local header (no data descriptors), the fixed timestamp 1980-01-01 00:00:00, Unix
    /// permissions 0644 (0755 for directories), and UTF-8 names flagged as such when not ASCII.
    /// Python's zipfile and `unzip -t` accept the result.
    ///
    /// Throws `NNError.invalidArgument` for a name `read` would refuse, a duplicate name, more than
    /// `maxEntries` entries, or what would need zip64 (an entry or the archive at 4 GiB or more),
    /// which this writer does not produce.
    package static func write(_ entries: [(name: String, data: Data)], compress: Bool = false) throws -> Data {
        func refuse(_ reason: String) -> NNError { .invalidArgument("zip archive: \(reason)") }
        guard entries.count <= maxEntries else {
            throw refuse("\(entries.count) entries, more than the \(maxEntries) a zip without zip64 holds")
        }
        let limit = 0xFFFF_FFFF  // a 32-bit field at its maximum means "see zip64"
        var archive = Data()
        var central = Data()
        var names = Set<String>()
        for (name, data) in entries {
            if let problem = nameProblem(name) { throw refuse("entry '\(shown(name))' \(problem)") }
            guard names.insert(name).inserted else { throw refuse("entry '\(shown(name))' appears more than once") }
            let nameBytes = Array(name.utf8)
            guard nameBytes.count <= 0xFFFF else { throw refuse("entry '\(shown(name))' has a name longer than 65,535 bytes") }
            guard data.count < limit else {
                throw refuse("entry '\(shown(name))' holds \(data.count) bytes; 4 GiB and more would need zip64, which this writer does not write")
            }
            let directory = name.hasSuffix("/")
            let method = compress && !directory ? 8 : 0
            let body = method == 8 ? try ZipZlib.deflate(data) : data
            guard body.count < limit, archive.count < limit else {
                throw refuse("the archive reaches 4 GiB at entry '\(shown(name))'; that would need zip64, which this writer does not write")
            }
            let offset = archive.count
            let crc = ZipZlib.crc32(data)
            let flags = name.utf8.allSatisfy { $0 < 0x80 } ? 0 : 0x0800
            // Version 2.0: deflate and directories.
            let versionNeeded = 20

            archive.appendLE32(0x0403_4b50)
            archive.appendLE16(versionNeeded)
            archive.appendLE16(flags)
            archive.appendLE16(method)
            archive.appendLE16(dosTime)
            archive.appendLE16(dosDate)
            archive.appendLE32(crc)
            archive.appendLE32(UInt32(body.count))
            archive.appendLE32(UInt32(data.count))
            archive.appendLE16(nameBytes.count)
            archive.appendLE16(0)
            archive.append(contentsOf: nameBytes)
            archive.append(body)

            central.appendLE32(0x0201_4b50)
            central.appendLE16(3 << 8 | versionNeeded)  // made by: Unix, so the permissions count
            central.appendLE16(versionNeeded)
            central.appendLE16(flags)
            central.appendLE16(method)
            central.appendLE16(dosTime)
            central.appendLE16(dosDate)
            central.appendLE32(crc)
            central.appendLE32(UInt32(body.count))
            central.appendLE32(UInt32(data.count))
            central.appendLE16(nameBytes.count)
            central.appendLE16(0)  // extra
            central.appendLE16(0)  // comment
            central.appendLE16(0)  // disk
            central.appendLE16(0)  // internal attributes
            // External attributes: the Unix mode above, MS-DOS's directory bit below.
            central.appendLE32(directory ? UInt32(0o40755) << 16 | 0x10 : UInt32(0o100644) << 16)
            central.appendLE32(UInt32(offset))
            central.append(contentsOf: nameBytes)
        }
        guard archive.count < limit, central.count < limit, archive.count + central.count < limit else {
            throw refuse("the archive reaches 4 GiB; that would need zip64, which this writer does not write")
        }
        let directoryOffset = archive.count
        archive.append(central)
        archive.appendLE32(0x0605_4b50)
        archive.appendLE16(0)  // this disk
        archive.appendLE16(0)  // the central directory's disk
        archive.appendLE16(entries.count)
        archive.appendLE16(entries.count)
        archive.appendLE32(UInt32(central.count))
        archive.appendLE32(UInt32(directoryOffset))
        archive.appendLE16(0)  // comment
        return archive
    }
}

private extension Data {
    mutating func appendLE16(_ value: Int) {
        append(contentsOf: [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)])
    }

    mutating func appendLE32(_ value: UInt32) {
        append(contentsOf: [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)])
    }
}
