import Foundation
import NN
#if canImport(Glibc)
import Glibc
#endif

/// Runs the reading of an untrusted HDF5 file in a child process, so that libhdf5's own bugs on
/// hostile files cannot take the program down. Debian's libhdf5 1.10.8 has several that the
/// fuzzer reaches and no wrapper can prevent — out-of-bounds reads decoding attribute messages,
/// bad frees iterating dense groups, copies past global heap objects, loops, allocations of
/// hundreds of gigabytes — while the file format itself cannot be checked without re-implementing
/// libhdf5. The child (a `fork` of this process, so it has the model and the bytes already) does
/// the whole read and sends back what it read in a form this engine writes and reads itself; the
/// parent never hands libhdf5 the untrusted bytes. A crash, an allocation failure or a hang in the
/// child becomes an error naming the file.
enum Isolation {
    /// Whether reads run in a child process. Tests may turn it off to run the same code in-process.
    nonisolated(unsafe) static var enabled = true

    /// The child's time limit: generous for any real file (a 17 MB MobileNet reads in well under a
    /// second), short enough that a hang is reported rather than waited on. The fuzz targets set
    /// `timeLimitOverride` below libFuzzer's own per-input limit.
    static func timeLimit(bytes: Int) -> Double { timeLimitOverride ?? (60 + Double(bytes) / 10e6) }
    nonisolated(unsafe) static var timeLimitOverride: Double?

    /// `body`'s bytes, computed in a child process. A thrown error in the child comes back as its
    /// message (an `IOError` naming `path`); a child that dies or overruns the time limit is an
    /// `IOError` too.
    static func run(path: String, format: String, bytes: Int, seconds: Double? = nil, _ body: () throws -> Data) throws -> Data {
        guard enabled else { return try body() }
        let limit = seconds ?? timeLimit(bytes: bytes)
        guard let (pid, readEnd, writeEnd) = HDF5Library.forkWithPipe() else {
            throw IOError.cannotRead(path: path, reason: "cannot start the reader process: \(String(cString: strerror(errno)))")
        }
        if pid == 0 { child(fd: writeEnd, body) }
        let (data, timedOut) = readAll(readEnd, seconds: limit)
        close(readEnd)
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            throw IOError.invalidFile(path: path, format: format, reason: "reading it took longer than \(Int(limit.rounded(.up))) s; libhdf5 loops on some corrupt files")
        }
        let signaled = status & 0x7F
        if signaled != 0 {
            throw IOError.invalidFile(path: path, format: format, reason: "the reader process died (signal \(signaled)) while libhdf5 read it; the file is most likely corrupt")
        }
        guard let tag = data.first else {
            throw IOError.invalidFile(path: path, format: format, reason: "the reader process ended without an answer (exit status \((status >> 8) & 0xFF)): the file is corrupt")
        }
        let payload = data.dropFirst()
        if tag == 0 { return Data(payload) }
        if tag == 2, let json = try? JSONReader.parse(Array(payload)) { throw TransportedError.rebuild(json) }
        throw IsolatedError(message: String(decoding: payload, as: UTF8.self))
    }

    /// The child: runs `body`, writes a tag byte (0 = bytes follow, 1 = an error's message) and the
    /// payload, and exits without running the parent's cleanup.
    private static func child(fd: Int32, _ body: () throws -> Data) -> Never {
        // A crash ends the child at once, for the parent to report: no inherited handler (a test
        // runner's, a sanitizer's, Swift's backtracer) may catch it and carry on or print.
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Glibc.signal(signal, SIG_DFL) }
        var out: Data
        do {
            out = Data([0])
            out.append(try body())
        } catch let error as TransportedError {
            out = Data([2])
            out.append(Data(error.json.text.utf8))
        } catch {
            out = Data([1])
            out.append(Data("\(error)".utf8))
        }
        out.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; break }
                offset += n
            }
        }
        close(fd)
        _exit(0)
    }

    /// Everything from `fd` until it closes, or what came before `seconds` passed.
    private static func readAll(_ fd: Int32, seconds: Double) -> (Data, timedOut: Bool) {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return (data, true) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left * 1000, 1000)))
            if ready < 0 { if errno == EINTR { continue }; return (data, false) }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return (data, false) }
            if n == 0 { return (data, false) }
            data.append(contentsOf: buffer[0..<n])
        }
    }
}

/// An error the reader process threw, as its message (the child's errors name the file already).
struct IsolatedError: Error, CustomStringConvertible, LocalizedError {
    let message: String
    var description: String { message }
    var errorDescription: String? { message }
}

/// Length-prefixed parts of one payload (a small JSON header, then an archive or a tensor file).
enum Frames {
    static func join(_ parts: [Data]) -> Data {
        var out = Data()
        for p in parts {
            var n = UInt64(p.count).littleEndian
            withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
            out.append(p)
        }
        return out
    }

    static func split(_ data: Data, count: Int, path: String) throws -> [Data] {
        var parts: [Data] = [], offset = data.startIndex
        for _ in 0..<count {
            guard data.endIndex - offset >= 8 else { throw IOError.cannotRead(path: path, reason: "the reader process's answer is cut short") }
            let n = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[offset + $1]) << (8 * UInt64($1)) }
            offset += 8
            guard n <= UInt64(data.endIndex - offset) else { throw IOError.cannotRead(path: path, reason: "the reader process's answer is cut short") }
            parts.append(data[offset..<(offset + Int(n))])
            offset += Int(n)
        }
        return parts
    }
}

/// An error thrown in the reader process, carried to the parent as JSON and rebuilt there as the
/// same type (`IOError`, `KerasFileError`, `NNError`), so callers can still tell them apart.
struct TransportedError: Error {
    let json: JSONValue

    init(_ error: Error) {
        func object(_ kind: String, _ members: [(String, String)]) -> JSONValue {
            .object([("kind", .string(kind))] + members.map { ($0.0, .string($0.1)) })
        }
        switch error {
        case let e as TransportedError: json = e.json
        case let IOError.cannotWrite(path, reason): json = object("cannotWrite", [("path", path), ("reason", reason)])
        case let IOError.cannotRead(path, reason): json = object("cannotRead", [("path", path), ("reason", reason)])
        case let IOError.corrupt(path, reason): json = object("corrupt", [("path", path), ("reason", reason)])
        case let IOError.mismatch(path, reason): json = object("mismatch", [("path", path), ("reason", reason)])
        case let IOError.invalidFile(path, format, reason): json = object("invalidFile", [("path", path), ("format", format), ("reason", reason)])
        case let KerasFileError.unsupported(path, problems):
            json = .object([("kind", .string("unsupported")), ("path", .string(path)), ("problems", .array(problems.map { .string($0) }))])
        default: json = object("other", [("message", "\(error)")])
        }
    }

    static func rebuild(_ json: JSONValue) -> Error {
        func s(_ key: String) -> String { json[key]?.stringValue ?? "" }
        switch s("kind") {
        case "cannotWrite": return IOError.cannotWrite(path: s("path"), reason: s("reason"))
        case "cannotRead": return IOError.cannotRead(path: s("path"), reason: s("reason"))
        case "corrupt": return IOError.corrupt(path: s("path"), reason: s("reason"))
        case "mismatch": return IOError.mismatch(path: s("path"), reason: s("reason"))
        case "invalidFile": return IOError.invalidFile(path: s("path"), format: s("format"), reason: s("reason"))
        case "unsupported":
            return KerasFileError.unsupported(path: s("path"), problems: json["problems"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        default: return NNError.invalidArgument(s("message"))
        }
    }
}
