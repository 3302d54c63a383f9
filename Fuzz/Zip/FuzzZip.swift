// libFuzzer target for the zip reader behind Keras `.keras` archives. Built by scripts/fuzz into the
// one fuzz binary with the engine's sources, so it calls the reader directly (no `import NN`).
//
// Each input is read as an archive with a small total limit. Whatever it holds must either be
// refused with `IOError.invalidFile` or read; what was read must write back and read again to the
// same entries (stored and deflated), which drives the writer and inflate with valid streams too.
import Foundation

/// The `zip` target (see Fuzz/Main/FuzzMain.swift).
func fuzzZip(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let archive = Data(bytes: data, count: size)
    let limit = 64 << 20  // keeps each run fast and small; the limit check itself is what is exercised
    let entries: [ZipArchive.Entry]
    do {
        entries = try ZipArchive.read(archive, path: "fuzz", maxTotalBytes: limit)
    } catch let error as IOError {
        guard case .invalidFile(path: "fuzz", format: "zip archive", _) = error else {
            fatalError("zip reading threw another IOError: \(error)")
        }
        return 0
    } catch {
        fatalError("zip reading threw a non-IOError: \(error)")
    }
    guard entries.reduce(0, { $0 + $1.data.count }) <= limit else { fatalError("read more than the limit") }
    // Every name read is one the writer accepts (the same rules), so the round trip must succeed;
    // except one too long once in UTF-8 (code page 437 bytes take up to 3 bytes each).
    guard entries.allSatisfy({ $0.name.utf8.count <= 0xFFFF }) else { return 0 }
    for compress in [false, true] {
        do {
            let again = try ZipArchive.read(try ZipArchive.write(entries.map { ($0.name, $0.data) }, compress: compress),
                                            path: "fuzz", maxTotalBytes: limit)
            guard again == entries else { fatalError("written and read again, the entries differ (compress: \(compress))") }
        } catch {
            fatalError("an archive read could not be written and read again (compress: \(compress)): \(error)")
        }
    }
    return 0
}
