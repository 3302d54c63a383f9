import Foundation
import NN

/// An advisory lock on `--checkpoint PATH`, held for the whole run so two runs never write one
/// checkpoint (last writer would win). The lock is on `PATH.lock`, not on the checkpoint: atomic
/// saves replace the checkpoint's inode, which would silently drop a lock held on it. The lock
/// file holds the holder's PID and start time for the refusal message; it is left in place after
/// the run (unlinking a lock file races with a run that has just opened it).
package final class CheckpointLock {
    package let path: String
    private let fd: Int32

    /// Takes the lock or throws naming the holder. The lock is released when the process exits.
    package init(checkpoint: String) throws {
        var st = stat()
        if stat(checkpoint, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            throw NNError.invalidArgument("--checkpoint \(checkpoint) is not a regular file (a checkpoint must be a file that can be resumed)")
        }
        // Next to the real file, so runs reaching one checkpoint through different links collide.
        path = OutputPaths.resolved(checkpoint) + ".lock"
        // Never through a symlink (a planted PATH.lock link would have us truncate its target), and
        // only a regular file.
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        var lockStat = stat()
        if fd >= 0 && (fstat(fd, &lockStat) != 0 || (lockStat.st_mode & S_IFMT) != S_IFREG) {
            close(fd)
            throw NNError.invalidArgument("--checkpoint \(checkpoint): the lock file \(path) is not a regular file")
        }
        guard fd >= 0 else {
            throw NNError.invalidArgument("--checkpoint \(checkpoint): cannot create the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.contents(of: fd).trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw NNError.invalidArgument("--checkpoint \(checkpoint) is in use by another run (\(holder.isEmpty ? "holder unknown" : holder)); lock file \(path)")
        }
        let started = ISO8601DateFormatter().string(from: Date())
        let text = "pid \(getpid()), started \(started)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }

    private static func contents(of fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }
}
