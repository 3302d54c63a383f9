import NN
import Foundation

/// The checks behind `ZipArchive.read`, over the archive's bytes in place (nothing is copied
/// before it has been bounded).
struct ZipReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    let maxTotalBytes: Int

    /// One central-directory record, after its zip64 extra field has been applied.
    private struct Record {
        let index: Int
        let name: String
        let nameRange: Range<Int>
        let flags: Int
        let method: Int
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localOffset: Int
        /// Where the (compressed) data lies; set from the local header.
        var data: Range<Int> = 0..<0
        var label: String { "entry '\(ZipArchive.shown(name))'" }
    }

    private struct Directory {
        let count: Int
        let offset: Int
        let size: Int
        /// Where what follows the central directory starts: the (zip64) end record.
        let limit: Int
    }

    private static let localSignature: UInt32 = 0x0403_4b50
    private static let centralSignature: UInt32 = 0x0201_4b50
    private static let endSignature: UInt32 = 0x0605_4b50
    private static let zip64EndSignature: UInt32 = 0x0606_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50

    func entries() throws -> [ZipArchive.Entry] {
        let directory = try self.directory()
        var records = try centralDirectory(directory)
        try checkSizes(records)
        for i in records.indices { records[i].data = try localData(records[i], directory: directory) }
        try checkOverlaps(records)
        return try records.map { record in
            let input = UnsafeRawBufferPointer(rebasing: bytes[record.data])
            let data: Data
            if record.method == 0 {
                data = Data(input)
            } else if record.size == 0 && record.compressedSize == 0 {
                data = Data()  // some writers store an empty deflated entry as no bytes at all
            } else {
                data = try ZipZlib.inflate(input, size: record.size) { fail("\(record.label): \($0)") }
            }
            let crc = ZipZlib.crc32(data)
            guard crc == record.crc else {
                throw fail("\(record.label): CRC-32 mismatch (the data gives \(hex(crc)), the directory says \(hex(record.crc)))")
            }
            return ZipArchive.Entry(name: record.name, data: data)
        }
    }

    private func fail(_ reason: String) -> IOError {
        .invalidFile(path: path, format: "zip archive", reason: reason)
    }

    // MARK: Little-endian fields (callers check bounds first)

    private func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    private func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    private func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }

    /// Whether `count` bytes at `offset` lie inside `0..<limit`.
    private func fits(_ offset: Int, _ count: Int, within limit: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= limit && count <= limit - offset
    }

    /// A 64-bit size or offset as an Int; anything past the file is refused by the caller's bounds
    /// check, so clamping cannot let a value through.
    private func int(_ value: UInt64) -> Int { value > UInt64(Int.max) ? Int.max : Int(value) }

    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16, uppercase: false) }

    // MARK: End of central directory

    /// The end-of-central-directory record's offset: searched backwards through the last 65,557
    /// bytes; a record whose comment ends exactly at the end of the file is preferred, else the last
    /// one whose comment fits (bytes appended after an archive are tolerated, as Python does).
    private func endRecord() throws -> Int {
        let count = bytes.count
        guard count >= 22 else {
            throw fail("it holds \(count) bytes, too few for an end-of-central-directory record (not a zip archive, or truncated)")
        }
        let lowest = max(0, count - ZipArchive.endSearchLength)
        var fallback: Int?
        var i = count - 22
        while i >= lowest {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4b && bytes[i + 2] == 5 && bytes[i + 3] == 6 {
                let commentEnd = i + 22 + u16(i + 20)
                if commentEnd == count { return i }
                if fallback == nil && commentEnd <= count { fallback = i }
            }
            i -= 1
        }
        if let fallback { return fallback }
        throw fail("no end-of-central-directory record in its last \(ZipArchive.endSearchLength) bytes (not a zip archive, or truncated)")
    }

    private func directory() throws -> Directory {
        let end = try endRecord()
        let multiDisk = "it spans several disks (multi-disk archives are not supported)"
        let locator = end - 20
        if locator >= 0 && u32(locator) == Self.zip64LocatorSignature {
            guard u32(locator + 4) == 0, u32(locator + 16) <= 1 else { throw fail(multiDisk) }
            let offset = int(u64(locator + 8))
            guard fits(offset, 56, within: locator), u32(offset) == Self.zip64EndSignature else {
                throw fail("its zip64 end-of-central-directory locator points to offset \(offset), where there is no zip64 end-of-central-directory record")
            }
            let onDisk = u64(offset + 24), total = u64(offset + 32)
            guard u32(offset + 16) == 0, u32(offset + 20) == 0, onDisk == total else { throw fail(multiDisk) }
            return try bounded(count: total, offset: u64(offset + 48), size: u64(offset + 40), limit: offset)
        }
        let onDisk = u16(end + 8), total = u16(end + 10)
        guard u16(end + 4) == 0, u16(end + 6) == 0, onDisk == total else { throw fail(multiDisk) }
        return try bounded(count: UInt64(total), offset: UInt64(u32(end + 16)), size: UInt64(u32(end + 12)), limit: end)
    }

    private func bounded(count: UInt64, offset: UInt64, size: UInt64, limit: Int) throws -> Directory {
        guard count <= UInt64(ZipArchive.maxEntries) else {
            throw fail("it declares \(count) entries, more than the \(ZipArchive.maxEntries) accepted")
        }
        let offset = int(offset), size = int(size)
        guard fits(offset, size, within: limit) else {
            throw fail("its central directory (\(size) bytes at offset \(offset)) lies beyond the \(limit) bytes before its end record")
        }
        guard size >= 46 * Int(count) else {
            throw fail("its central directory holds \(size) bytes, too few for the \(count) entries it declares")
        }
        return Directory(count: Int(count), offset: offset, size: size, limit: limit)
    }

    // MARK: Central directory

    private func centralDirectory(_ directory: Directory) throws -> [Record] {
        let end = directory.offset + directory.size
        var records: [Record] = []
        records.reserveCapacity(directory.count)
        var names = Set<String>()
        var p = directory.offset
        for index in 0..<directory.count {
            let position = "central directory record \(index + 1) of \(directory.count) (offset \(p))"
            guard fits(p, 46, within: end), u32(p) == Self.centralSignature else {
                throw fail("\(position) is missing or truncated")
            }
            let flags = u16(p + 8), method = u16(p + 10)
            let nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32)
            let nameStart = p + 46, extraStart = nameStart + nameLength
            let next = extraStart + extraLength + commentLength
            guard next <= end else { throw fail("\(position) runs past the end of the central directory") }
            let nameRange = nameStart..<extraStart
            let name = try decodeName(nameRange, utf8: flags & 0x800 != 0, position: position)
            let label = name.isEmpty ? "entry \(index + 1) of \(directory.count)" : "entry '\(ZipArchive.shown(name))'"
            if let problem = ZipArchive.nameProblem(name) { throw fail("\(label) \(problem)") }

            // Zip64: each 32-bit (16-bit) field at its maximum has its real value in extra field 1,
            // in this order.
            var size = UInt64(u32(p + 24)), compressedSize = UInt64(u32(p + 20))
            var localOffset = UInt64(u32(p + 42)), disk = UInt64(u16(p + 34))
            if size == 0xFFFF_FFFF || compressedSize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF || disk == 0xFFFF {
                guard let zip64 = extraField(1, in: extraStart..<extraStart + extraLength) else {
                    throw fail("\(label) has 32-bit sizes or offset at their maximum but no zip64 extra field")
                }
                var q = zip64.lowerBound
                func take(_ width: Int) throws -> UInt64 {
                    guard q + width <= zip64.upperBound else { throw fail("\(label) has a zip64 extra field too short for the values it must hold") }
                    defer { q += width }
                    return width == 8 ? u64(q) : UInt64(u32(q))
                }
                if size == 0xFFFF_FFFF { size = try take(8) }
                if compressedSize == 0xFFFF_FFFF { compressedSize = try take(8) }
                if localOffset == 0xFFFF_FFFF { localOffset = try take(8) }
                if disk == 0xFFFF { disk = try take(4) }
            }
            guard disk == 0 else { throw fail("\(label) starts on disk \(disk) (multi-disk archives are not supported)") }
            guard flags & 0x0001 == 0, flags & 0x0040 == 0 else {
                throw fail("\(label) is encrypted (encrypted archives are not supported)")
            }
            guard method == 0 || method == 8 else {
                throw fail("\(label) uses compression method \(method) (\(ZipArchive.methodName(method))); only 0 (stored) and 8 (deflate) are supported")
            }
            guard names.insert(name).inserted else { throw fail("\(label) appears more than once") }
            records.append(Record(index: index, name: name, nameRange: nameRange, flags: flags, method: method,
                                  crc: u32(p + 16), compressedSize: int(compressedSize), size: int(size),
                                  localOffset: int(localOffset)))
            p = next
        }
        guard p == end else {
            throw fail("its central directory holds \(directory.size) bytes but its \(directory.count) records take \(p - directory.offset)")
        }
        return records
    }

    /// The data of extra field `id` within `range` (a sequence of id, length, data), or nil. A
    /// trailing piece too short for a field is ignored (some tools pad the extra field).
    private func extraField(_ id: Int, in range: Range<Int>) -> Range<Int>? {
        var q = range.lowerBound
        while q + 4 <= range.upperBound {
            let length = u16(q + 2)
            guard q + 4 + length <= range.upperBound else { return nil }
            if u16(q) == id { return q + 4..<q + 4 + length }
            q += 4 + length
        }
        return nil
    }

    /// UTF-8 when flag bit 11 says so (and then it must be valid), else code page 437, as the zip
    /// specification and Python's zipfile have it (ASCII is the same in both).
    private func decodeName(_ range: Range<Int>, utf8: Bool, position: String) throws -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        if utf8 {
            guard let name = String(validating: raw, as: UTF8.self) else {
                throw fail("\(position) has a name that is not valid UTF-8 although its flags say UTF-8")
            }
            return name
        }
        var name = ""
        name.unicodeScalars.reserveCapacity(raw.count)
        for byte in raw {
            name.unicodeScalars.append(byte < 0x80 ? Unicode.Scalar(byte) : Self.codePage437[Int(byte) - 0x80])
        }
        return name
    }

    /// Code page 437's bytes 0x80...0xFF.
    private static let codePage437: [Unicode.Scalar] = Array(
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}".unicodeScalars)

    // MARK: Sizes

    /// Bounds every declared size before anything is inflated or allocated.
    private func checkSizes(_ records: [Record]) throws {
        var total = 0
        for record in records {
            if record.method == 0 {
                guard record.size == record.compressedSize else {
                    throw fail("\(record.label) is stored but declares \(record.compressedSize) compressed and \(record.size) uncompressed bytes")
                }
            } else {
                let (most, overflow) = record.compressedSize.multipliedReportingOverflow(by: ZipArchive.maxDeflateRatio)
                guard overflow || record.size <= most else {
                    throw fail("\(record.label) declares \(record.size) uncompressed bytes from \(record.compressedSize) compressed, more than deflate's \(ZipArchive.maxDeflateRatio):1 allows")
                }
            }
            guard record.size <= maxTotalBytes - total else {
                throw fail("its entries declare more than \(maxTotalBytes) uncompressed bytes in total, the limit (\(record.label) declares \(record.size)); a decompression bomb?")
            }
            total += record.size
        }
    }

    // MARK: Local headers

    /// Checks `record`'s local header against the central directory; returns where its data lies.
    private func localData(_ record: Record, directory: Directory) throws -> Range<Int> {
        let label = record.label
        let p = record.localOffset
        guard fits(p, 30, within: directory.offset), u32(p) == Self.localSignature else {
            throw fail("\(label): no local header at offset \(p) (before the central directory at \(directory.offset))")
        }
        let flags = u16(p + 6), method = u16(p + 8)
        let nameLength = u16(p + 26), extraLength = u16(p + 28)
        let nameStart = p + 30, extraStart = nameStart + nameLength, dataStart = extraStart + extraLength
        guard dataStart <= directory.offset else {
            throw fail("\(label): its local header at offset \(p) runs into the central directory")
        }
        guard bytes[nameStart..<extraStart].elementsEqual(bytes[record.nameRange]) else {
            let local = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<extraStart]), as: UTF8.self)
            throw fail("\(label): its local header names it '\(ZipArchive.shown(local))'")
        }
        guard method == record.method else {
            throw fail("\(label): its local header says compression method \(method), the central directory \(record.method)")
        }
        guard flags & 0x0041 == 0 else { throw fail("\(label) is encrypted (encrypted archives are not supported)") }
        // Bit 3: CRC and sizes follow the data (a data descriptor); the local header's are zero then.
        if flags & 0x0008 == 0 {
            var size = UInt64(u32(p + 22)), compressedSize = UInt64(u32(p + 18))
            if size == 0xFFFF_FFFF || compressedSize == 0xFFFF_FFFF {
                // A local zip64 field holds both sizes, always.
                guard let zip64 = extraField(1, in: extraStart..<dataStart), zip64.count >= 16 else {
                    throw fail("\(label): its local header has 32-bit sizes at their maximum but no zip64 extra field with both sizes")
                }
                size = u64(zip64.lowerBound)
                compressedSize = u64(zip64.lowerBound + 8)
            }
            guard u32(p + 14) == record.crc else {
                throw fail("\(label): its local header says CRC-32 \(hex(u32(p + 14))), the central directory \(hex(record.crc))")
            }
            guard size == UInt64(record.size), compressedSize == UInt64(record.compressedSize) else {
                throw fail("\(label): its local header says \(compressedSize) compressed and \(size) uncompressed bytes, the central directory \(record.compressedSize) and \(record.size)")
            }
        }
        guard fits(dataStart, record.compressedSize, within: directory.offset) else {
            throw fail("\(label): its \(record.compressedSize) bytes of data at offset \(dataStart) run past the start of the central directory (\(directory.offset))")
        }
        return dataStart..<dataStart + record.compressedSize
    }

    /// No two entries may share bytes: overlapping entries are how a small archive declares many
    /// large members (a "non-recursive" zip bomb), and no writer makes them.
    private func checkOverlaps(_ records: [Record]) throws {
        let spans = records.sorted { $0.localOffset < $1.localOffset }
        for (a, b) in zip(spans, spans.dropFirst()) where b.localOffset < a.data.upperBound {
            throw fail("\(b.label) overlaps \(a.label) (its local header at offset \(b.localOffset) lies inside the other's bytes)")
        }
    }
}
