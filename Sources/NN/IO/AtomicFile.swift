import Foundation

/// Writes a file so that a reader (or a crash) sees either the old file or the complete new one:
/// the bytes go to a temporary file in the same directory, are flushed to disk, then renamed over
/// the destination.
public enum AtomicFile {
    /// Writes `data` to `path` atomically; throws `IOError.cannotWrite` naming the path.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw IOError.cannotWrite(path: path, reason: "directory \(directory) does not exist")
        }
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw IOError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        var ok = false
        defer { if !ok { unlink(temp) } }
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw IOError.cannotWrite(path: path, reason: reason)
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno)); close(fd)
            throw IOError.cannotWrite(path: path, reason: "fsync: \(reason)")
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            throw IOError.cannotWrite(path: path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        ok = true
        // Make the rename itself durable.
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// Errors reading or writing model files; each names the file.
public enum IOError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case mismatch(path: String, reason: String)

    /// The message; it names the file.
    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): return "cannot write \(path): \(reason)"
        case let .cannotRead(path, reason): return "cannot read \(path): \(reason)"
        case let .corrupt(path, reason): return "\(path) is not a valid safetensors file: \(reason)"
        case let .mismatch(path, reason): return "weights in \(path) do not fit the model: \(reason)"
        }
    }
}

extension IOError: LocalizedError {
    /// The same text as `description`, for `localizedDescription`.
    public var errorDescription: String? { description }
}
