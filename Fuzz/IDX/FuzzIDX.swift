// libFuzzer target for the IDX reader (raw and gzipped). Built by scripts/fuzz into the one fuzz
// binary with the engine's sources, so it calls the engine's internal API directly (no `import NN`).
//
// Each input is decoded as given (raw, or gzip when it starts with 1f 8b). A raw input is also
// gzipped and decoded again: both must give the same result or the same error, which drives the
// fuzzer through the gzip path with valid streams, not only with ones broken by mutation.

/// The `idx` target (see Fuzz/Main/FuzzMain.swift).
func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    let limit = 1 << 24  // keeps each run fast; the limit check itself is what is exercised
    let raw = outcome { try IDXFile.decode(bytes, path: "fuzz", byteLimit: limit) }
    let isGzip = bytes.starts(with: [0x1f, 0x8b])
    if case let .success(file) = raw {
        check(file, rawSize: isGzip ? nil : size)
    }
    if !isGzip {
        let zipped = outcome { try IDXFile.decode(try gzipCompress(bytes, path: "fuzz"), path: "fuzz", byteLimit: limit) }
        guard zipped == raw else { fatalError("raw and gzipped decoding differ: \(raw) vs \(zipped)") }
    }
    return 0
}

/// What a decode produced, comparable across the raw and gzipped paths.
private enum Outcome: Equatable {
    case success(IDXFile)
    case failure(DataError)

    static func == (a: Outcome, b: Outcome) -> Bool {
        switch (a, b) {
        case let (.success(x), .success(y)): return x.dimensions == y.dimensions && x.bytes == y.bytes
        case let (.failure(x), .failure(y)): return x == y
        default: return false
        }
    }
}

private func outcome(_ body: () throws -> IDXFile) -> Outcome {
    do { return .success(try body()) } catch let error as DataError {
        return .failure(error)
    } catch {
        fatalError("IDX decoding threw a non-DataError: \(error)")
    }
}

/// A decoded file's dimensions describe exactly its bytes, which a raw input must have held.
private func check(_ file: IDXFile, rawSize: Int?) {
    guard checkedProduct(file.dimensions) == file.bytes.count,
          rawSize.map({ file.bytes.count + 4 + 4 * file.dimensions.count == $0 }) ?? true else {
        fatalError("decoded \(file.dimensions) with \(file.bytes.count) bytes from \(rawSize ?? -1) raw bytes")
    }
}
