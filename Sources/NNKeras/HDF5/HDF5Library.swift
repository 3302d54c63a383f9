import CHDF5
import Foundation
import NN

/// The one gate to libhdf5. Debian's libhdf5 is a serial build, not thread-safe, so every call into it
/// (reads, writes, closes in `deinit`) runs while this lock is held. The first use also silences
/// libhdf5's own error printing (failures become our errors), turns off filter plugins (a file must
/// not make us `dlopen` a library) and makes the link access list that refuses external links.
enum HDF5Library {
    /// Recursive, so a helper that already holds the lock can call another that takes it.
    nonisolated(unsafe) private static var lock = NSRecursiveLock()

    /// Makes a pipe and forks while holding the lock (no other thread is then inside libhdf5, and no
    /// other reader's fork can inherit this pipe), and in the child replaces the lock: the held one
    /// belongs to a thread id the child no longer has. Both ends are close-on-exec. Returns the
    /// pid with the parent's read end, or 0 with the child's write end; nil when either call fails.
    static func forkWithPipe() -> (pid: pid_t, read: Int32, write: Int32)? {
        lock.lock()
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { lock.unlock(); return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid = Glibc.fork()
        if pid == 0 {
            lock = NSRecursiveLock()
            close(fds[0])
            return (0, -1, fds[1])
        }
        // The parent's write end is closed before the lock is released: a reader forked after this
        // one must not inherit it, or this one would wait for that child's end to see its own.
        close(fds[1])
        lock.unlock()
        if pid < 0 { close(fds[0]); return nil }
        return (pid, fds[0], -1)
    }
    nonisolated(unsafe) private static var isSetUp = false
    nonisolated(unsafe) private static var linkAccess: hid_t = -1
    nonisolated(unsafe) private static var imageCounter = 0

    /// The format named in every error (`IOError.invalidFile`).
    static let format = "HDF5 file"

    /// The longest string attribute read (bytes): far above any Keras model config.
    static let maxStringBytes = 64 << 20
    /// The most strings in one string-array attribute (and links listed in one group).
    static let maxStringCount = 1 << 20
    /// The largest compressed (filtered) chunk decoded, in bytes: h5py's automatic chunks are at most
    /// 1 MiB. libhdf5's deflate filter grows its output until the stream ends (a chunk stored in n
    /// bytes may inflate to ~1032 n), so this and the stored-size check per chunk bound that to ~1 GB.
    static let maxChunkBytes: UInt64 = 1 << 20
    /// A filtered (compressed) or chunked dataset may decode to at most this many times its storage.
    static let maxExpansion: UInt64 = 1024

    /// Runs `body` holding the lock, after the one-time setup.
    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        if !isSetUp {
            isSetUp = true
            _ = H5open()
            _ = H5Eset_auto2(nn_h5e_default(), nil, nil)
            _ = H5PLset_loading_state(0)
            linkAccess = nn_h5_create_safe_link_access()
        }
        return try body()
    }

    /// The link access list used for every lookup by name: external links are refused (a hostile
    /// file could otherwise make libhdf5 open a FIFO or a private file by name). Call while locked.
    static var safeLinkAccess: hid_t { linkAccess >= 0 ? linkAccess : nn_h5p_default() }

    /// A name for the core (in-memory) driver that is unique while the process runs (libhdf5 treats
    /// two open files with the same name as one file) and that can never exist on disk: nothing can
    /// be below /dev/null, so the driver's "does this file exist" probe never opens anything.
    static func uniqueImageName() -> String {
        imageCounter += 1
        return "/dev/null/nnkeras-hdf5-\(getpid())-\(imageCounter)"
    }

    /// The innermost message on libhdf5's error stack (where it first noticed the problem), or "".
    static func innermostError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { nn_h5_innermost_error($0.baseAddress, $0.count) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The error for file `name`: `reason`, followed by libhdf5's innermost message when asked for and
    /// there is one.
    static func error(_ name: String, _ reason: String, libraryMessage: Bool = false) -> IOError {
        var text = reason
        if libraryMessage {
            let inner = innermostError()
            if !inner.isEmpty { text += " (libhdf5: \(inner))" }
        }
        return .invalidFile(path: name, format: format, reason: text)
    }

    /// How many files, groups, datasets, attributes and named types libhdf5 holds open, in that order
    /// (libhdf5 1.10 cannot count its other identifiers): tests compare it before and after to prove
    /// every one was closed.
    static func openIdentifierCounts() -> [Int] {
        locked {
            [H5F_OBJ_FILE, H5F_OBJ_GROUP, H5F_OBJ_DATASET, H5F_OBJ_ATTR, H5F_OBJ_DATATYPE].map { kind in
                Int(H5Fget_obj_count(hid_t(nn_h5f_obj_all()), UInt32(kind)))
            }
        }
    }

    /// A readable name of an HDF5 datatype for error messages ("64-bit integer", "string", …).
    static func describe(type: hid_t) -> String {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_INTEGER: return "\(size * 8)-bit integer"
        case H5T_FLOAT: return "\(size * 8)-bit float"
        case H5T_STRING: return "string"
        case H5T_COMPOUND: return "compound"
        case H5T_ENUM: return "enum"
        case H5T_ARRAY: return "array type"
        case H5T_VLEN: return "variable-length sequence"
        case H5T_REFERENCE: return "reference"
        case H5T_OPAQUE: return "opaque"
        case H5T_BITFIELD: return "bitfield"
        case H5T_TIME: return "time"
        default: return "unknown type"
        }
    }
}

/// Closes an HDF5 identifier of any kind (file, group, dataset, attribute, type, space, list).
/// Call while locked; negative identifiers (failed opens) are ignored.
func hdf5Close(_ id: hid_t) {
    guard id >= 0 else { return }
    switch H5Iget_type(id) {
    case H5I_FILE: _ = H5Fclose(id)
    case H5I_GROUP: _ = H5Gclose(id)
    case H5I_DATASET: _ = H5Dclose(id)
    case H5I_ATTR: _ = H5Aclose(id)
    case H5I_DATATYPE: _ = H5Tclose(id)
    case H5I_DATASPACE: _ = H5Sclose(id)
    case H5I_GENPROP_LST: _ = H5Pclose(id)
    default: _ = H5Oclose(id)
    }
}

/// `path` joined with `name` ("/" + "a" → "/a", "/a" + "b/c" → "/a/b/c"), or nil when `name` is
/// empty, absolute, or has an empty component ("a//b"), which would silently mean another object.
func hdf5Join(_ path: String, _ name: String) -> String? {
    guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix("/"), !name.contains("//"),
          !name.utf8.contains(0) else { return nil }
    return path == "/" ? "/" + name : path + "/" + name
}
