import Foundation

/// The one output-file rule; every file the engine and `cnn` write goes through it.
///
/// - Symbolic links are followed (the whole chain; a dangling link names the file to create), and
///   the real target is written, so a link stays a link and its target gets the new bytes.
/// - A regular file (or a new one) is replaced atomically: the bytes go to a temporary file
///   `.NAME.tmp-PID-RANDOM` next to the real target, are flushed to disk, renamed over it, and the
///   directory is flushed; a reader, or a crash, sees either the old file or the complete new one.
///   An existing file's permission bits (and, as root, its owner) are kept; a new file gets
///   0644 minus the umask.
/// - A character device or FIFO (`/dev/null`, a named pipe) is opened and written in place, as
///   `cp` or `tee` would; `/dev/stdout`, `/dev/stderr` and `/dev/fd/N` write to this process's
///   descriptor at its current offset, as a shell redirection does. None of them is ever replaced.
///   A FIFO with no reader blocks until one opens it, as it does for `cp`.
/// - A directory, socket or block device is refused with a message naming the path.
/// - Temporary files left by a killed writer (their PID no longer runs) are removed when the same
///   name is written again.
public enum AtomicFile {
    /// Where the bytes for a path go, after symbolic links are followed.
    package enum Destination: Equatable {
        /// A regular file, or none yet: replaced atomically. The path is the real target.
        case file(String)
        /// An existing character device or FIFO (or a `/proc` link to one): written in place.
        case stream(String)
        /// A descriptor of this process (`/dev/stdout`, `/dev/fd/N`): written at its offset.
        case descriptor(Int32)
    }

    /// A file another process holds an advisory lock on (`flock`, e.g. a running training's
    /// checkpoint lock) is in use: replacing it would give the next process a fresh, unlocked file.
    private static func refuseLocked(_ real: String, reportedAs path: String) throws {
        let fd = open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }  // no file yet (or not openable: the write says why)
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK {
                throw IOError.cannotWrite(path: path, reason: "another process holds a lock on it (in use); not replacing it")
            }
        } else {
            flock(fd, LOCK_UN)
        }
    }

    /// Writes `data` to `path` by the rule above; throws `IOError.cannotWrite` naming the path.
    public static func write(_ data: Data, to path: String) throws {
        switch try destination(of: path) {
        case let .file(real):
            try refuseLocked(real, reportedAs: path)
            try replace(real, with: data, reportedAs: path)
        case let .stream(real): try writeInPlace(real, data, reportedAs: path)
        case let .descriptor(fd):
            // Anything already printed through stdio must come first.
            fflush(nil)
            try writeAll(fd, data, path: path)
        }
    }

    /// Applies the rule to `path` without writing it, so a command can refuse a bad output path
    /// before any work instead of losing the work afterwards: the target is not a directory,
    /// socket or block device; a file's directory exists and a file can be created in it (tried
    /// with an empty temporary file, which catches read-only file systems and root as well);
    /// a device or FIFO is writable; a descriptor is open for writing.
    package static func checkWritable(_ path: String) throws {
        switch try destination(of: path) {
        case let .file(real):
            try refuseLocked(real, reportedAs: path)
            let directory = parent(of: real)
            try requireDirectory(directory, for: path)
            guard access(directory, W_OK | X_OK) == 0 else {
                throw IOError.cannotWrite(path: path, reason: "directory \(directory) is not writable (\(errorText(errno)))")
            }
            let probe = temporaryName(for: real)
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else {
                throw IOError.cannotWrite(path: path, reason: "cannot create a file in \(directory) (\(errorText(errno)))")
            }
            close(fd)
            unlink(probe)
        case let .stream(real):
            guard access(real, W_OK) == 0 else { throw IOError.cannotWrite(path: path, reason: errorText(errno)) }
        case let .descriptor(fd):
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0 else { throw IOError.cannotWrite(path: path, reason: "descriptor \(fd) is not open") }
            guard flags & O_ACCMODE != O_RDONLY else {
                throw IOError.cannotWrite(path: path, reason: "descriptor \(fd) is open for reading only")
            }
        }
    }

    /// Whether two output paths name the same file or directory, so one output would silently
    /// overwrite the other: after following symbolic links, two existing paths are the same when
    /// their device and inode are; paths not there yet when their directories' real paths and
    /// names are (so `a/../b` is `b`). Character devices and FIFOs, and this process's
    /// descriptors (`/dev/stdout`), are never "the same file" here: writing two outputs to
    /// `/dev/null` or one pipe loses nothing.
    package static func sameTarget(_ a: String, _ b: String) -> Bool {
        guard let ra = followLinks(a), let rb = followLinks(b) else { return false }
        var sa = stat(), sb = stat()
        let ea = stat(ra, &sa) == 0, eb = stat(rb, &sb) == 0
        if ea && eb {
            let kind = sa.st_mode & S_IFMT
            if kind == S_IFCHR || kind == S_IFIFO { return false }
            return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
        }
        if ea != eb { return false }
        return canonical(ra) == canonical(rb)
    }

    /// Whether the output `path` lies inside `directory` (symbolic links followed, `..` resolved),
    /// so that replacing the directory as a whole (a report) would delete that output.
    package static func isInside(_ path: String, directory: String) -> Bool {
        guard let rp = followLinks(path), let rd = followLinks(directory) else { return false }
        var d = canonical(rd)
        if let resolved = realpath(rd, nil) { d = String(cString: resolved); free(resolved) }
        let p = canonical(rp)
        return p.hasPrefix(d.hasSuffix("/") ? d : d + "/")
    }

    /// `path` with its symbolic-link chain followed (the path itself when it is none); nil for a
    /// loop or a descriptor of this process, which name no file to compare.
    private static func followLinks(_ path: String) -> String? {
        guard !path.isEmpty else { return nil }
        var current = path
        for _ in 0..<40 {
            if descriptorNumber(current) != nil { return nil }
            var st = stat()
            guard lstat(current, &st) == 0, st.st_mode & S_IFMT == S_IFLNK else { return current }
            guard let target = readLink(current) else { return nil }
            current = target.hasPrefix("/") ? target : parent(of: current) + "/" + target
        }
        return nil
    }

    // MARK: The rule

    /// Follows `path`'s symbolic links and classifies what is there; throws for what the rule
    /// refuses (directory, socket, block device, a link loop, an unreadable link).
    package static func destination(of path: String) throws -> Destination {
        guard !path.isEmpty else { throw IOError.cannotWrite(path: path, reason: "the path is empty") }
        var current = path
        for _ in 0..<40 {
            if let fd = descriptorNumber(current) { return .descriptor(fd) }
            var st = stat()
            guard lstat(current, &st) == 0 else {
                let e = errno
                guard e == ENOENT else { throw IOError.cannotWrite(path: path, reason: errorText(e)) }
                if current.hasSuffix("/") {
                    throw IOError.cannotWrite(path: path, reason: "it names a directory, which does not exist")
                }
                return .file(current)
            }
            if st.st_mode & S_IFMT == S_IFLNK {
                guard let target = readLink(current) else {
                    throw IOError.cannotWrite(path: path, reason: "cannot read the symbolic link \(current): \(errorText(errno))")
                }
                let next = target.hasPrefix("/") ? target : parent(of: current) + "/" + target
                var nst = stat(), lst = stat()
                if lstat(next, &nst) != 0 && errno == ENOENT && stat(current, &lst) == 0 {
                    // A kernel "magic" link (/proc/PID/fd/N → "pipe:[…]"): its text names nothing,
                    // but the kernel opens what it points to, so write through the link itself.
                    return try classify(current, lst, path: path, magic: true)
                }
                current = next
                continue
            }
            return try classify(current, st, path: path, magic: false)
        }
        throw IOError.cannotWrite(path: path, reason: "too many levels of symbolic links")
    }

    private static func classify(_ real: String, _ st: stat, path: String, magic: Bool) throws -> Destination {
        let what: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: return magic ? .stream(real) : .file(real)
        case S_IFCHR, S_IFIFO: return .stream(real)
        case S_IFDIR: what = "a directory"
        case S_IFSOCK: what = "a socket"
        case S_IFBLK: what = "a block device"
        default: what = "not a regular file"
        }
        let via = real == path ? "" : " (\(real))"
        throw IOError.cannotWrite(path: path, reason: "it is \(what)\(via); not replacing it")
    }

    /// The descriptor a path names the way the shell treats it: `/dev/stdin|stdout|stderr`,
    /// `/dev/fd/N`, `/proc/self/fd/N`, `/proc/<our pid>/fd/N`. Writing there must reach this
    /// process's descriptor (a pipe's link text is "pipe:[…]", which names no file).
    private static func descriptorNumber(_ path: String) -> Int32? {
        var p = path
        while p.contains("//") { p = p.replacingOccurrences(of: "//", with: "/") }
        switch p {
        case "/dev/stdin": return 0
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default: break
        }
        for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", "/proc/\(getpid())/fd/"] where p.hasPrefix(prefix) {
            let rest = p.dropFirst(prefix.count)
            if !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int32(rest) { return n }
        }
        return nil
    }

    /// Writes a regular file atomically next to its real target, keeping an existing file's mode.
    private static func replace(_ real: String, with data: Data, reportedAs path: String) throws {
        let directory = parent(of: real)
        try requireDirectory(directory, for: path)
        removeStaleTemporaries(of: real)
        var old = stat()
        let exists = stat(real, &old) == 0
        let temp = temporaryName(for: real)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOError.cannotWrite(path: path, reason: errorText(errno)) }
        var ok = false
        defer { if !ok { unlink(temp) } }
        do {
            if exists {
                // The new file takes the old one's place, so it takes its permissions (and owner).
                if geteuid() == 0 { _ = fchown(fd, old.st_uid, old.st_gid) }
                _ = fchmod(fd, old.st_mode & 0o7777)
            }
            try writeAll(fd, data, path: path)
            guard fsync(fd) == 0 else { throw IOError.cannotWrite(path: path, reason: "fsync: \(errorText(errno))") }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temp, real) == 0 else {
            throw IOError.cannotWrite(path: path, reason: "rename: \(errorText(errno))")
        }
        ok = true
        syncDirectory(directory)
    }

    /// Writes a device or FIFO in place: no temporary file, no rename, nothing created.
    private static func writeInPlace(_ real: String, _ data: Data, reportedAs path: String) throws {
        let fd = open(real, O_WRONLY | O_TRUNC | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError.cannotWrite(path: path, reason: errorText(errno)) }
        defer { close(fd) }
        try writeAll(fd, data, path: path)
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw IOError.cannotWrite(path: path, reason: errorText(errno))
                }
                done += n
            }
        }
    }

    // MARK: Temporary files

    /// `.NAME.tmp-PID-RANDOM` next to `real`: hidden, recognisable, and naming its writer.
    package static func temporaryName(for real: String) -> String {
        parent(of: real) + "/" + temporaryPrefix(for: real) + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    private static func temporaryPrefix(for real: String) -> String {
        "." + URL(fileURLWithPath: real).lastPathComponent + ".tmp-"
    }

    /// Removes `.NAME.tmp-PID-*` next to `real` (files or directories) whose PID no longer runs:
    /// what a killed writer left. A live process's temporaries (a concurrent writer) are kept.
    package static func removeStaleTemporaries(of real: String) {
        let directory = parent(of: real), prefix = temporaryPrefix(for: real)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
        }
    }

    // MARK: A directory of files

    /// Writes `files` (names relative to `path`; with `subfolders`, names such as "train/Bag/7.png"
    /// make their folders) as the whole content of the directory `path`, so that the
    /// directory holds either its old content or all of the new one, never a mix or a part: the
    /// files go into a fresh temporary directory next to it, which is then swapped in (an atomic
    /// exchange where the kernel has one, else old renamed away, new renamed in, old removed).
    /// Symbolic links to the directory are followed and kept; missing parents are created. An
    /// existing directory is replaced only when every entry in it is a regular file for which
    /// `replaceable` says yes, so a user's other files are never deleted.
    /// `atomicExchange: false` forces the rename-away path (tests; file systems without exchange).
    package static func writeDirectory(_ files: [(name: String, data: Data)], to path: String,
                                       replaceable: (String) -> Bool, subfolders: Bool = false,
                                       atomicExchange: Bool = true) throws {
        let real = try checkDirectory(path, replaceable: replaceable)
        let parentDirectory = parent(of: real)
        do {
            try FileManager.default.createDirectory(atPath: parentDirectory, withIntermediateDirectories: true)
        } catch {
            throw IOError.cannotWrite(path: path, reason: "cannot create \(parentDirectory): \(error.localizedDescription)")
        }
        removeStaleTemporaries(of: real)
        let temp = temporaryName(for: real)
        var old = stat()
        let exists = stat(real, &old) == 0
        guard mkdir(temp, 0o755) == 0 else {
            throw IOError.cannotWrite(path: path, reason: "cannot create a directory in \(parentDirectory): \(errorText(errno))")
        }
        var done = false
        defer { if !done { try? FileManager.default.removeItem(atPath: temp) } }
        if exists { _ = chmod(temp, old.st_mode & 0o7777) }
        var made: Set<String> = []
        for file in files {
            // A name may have subfolders ("train/Bag/7.png"), made inside the temporary directory.
            let parts = file.name.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.name.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
                throw IOError.cannotWrite(path: path + "/" + file.name, reason: "a file name inside the directory must be relative, without '.' or '..'")
            }
            var folder = temp
            for part in subfolders ? parts.dropLast() : [] {
                folder += "/" + part
                if made.insert(folder).inserted, mkdir(folder, 0o755) != 0, errno != EEXIST {
                    throw IOError.cannotWrite(path: path + "/" + file.name, reason: "mkdir: \(errorText(errno))")
                }
            }
            let fd = open(temp + "/" + file.name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw IOError.cannotWrite(path: path + "/" + file.name, reason: errorText(errno)) }
            do {
                try writeAll(fd, file.data, path: path + "/" + file.name)
            } catch {
                close(fd)
                throw error
            }
            close(fd)
        }
        // Every file on disk before the rename: one sync() rather than an fsync per file (a folder
        // of 70,000 images would otherwise take minutes; Glibc's module lacks syncfs).
        sync()
        for folder in made { syncDirectory(folder) }
        syncDirectory(temp)
        if !exists {
            guard rename(temp, real) == 0 else { throw IOError.cannotWrite(path: path, reason: "rename: \(errorText(errno))") }
        } else if atomicExchange && exchange(temp, real) {
            // `temp` now holds the old content.
            try? FileManager.default.removeItem(atPath: temp)
        } else {
            let aside = temporaryName(for: real)
            guard rename(real, aside) == 0 else { throw IOError.cannotWrite(path: path, reason: "rename: \(errorText(errno))") }
            guard rename(temp, real) == 0 else {
                let reason = errorText(errno)
                _ = rename(aside, real)
                throw IOError.cannotWrite(path: path, reason: "rename: \(reason)")
            }
            try? FileManager.default.removeItem(atPath: aside)
        }
        done = true
        syncDirectory(parentDirectory)
    }

    /// The checks of `writeDirectory` without writing; returns the real directory path (symbolic
    /// links followed). Refuses a path that is not a directory, or one holding anything that
    /// `replaceable` does not accept, naming it.
    @discardableResult
    package static func checkDirectory(_ path: String, replaceable: (String) -> Bool) throws -> String {
        guard !path.isEmpty else { throw IOError.cannotWrite(path: path, reason: "the path is empty") }
        var current = path
        while current.count > 1 && current.hasSuffix("/") { current.removeLast() }
        var hops = 0
        while true {
            var st = stat()
            guard lstat(current, &st) == 0 else {
                let e = errno
                guard e == ENOENT else { throw IOError.cannotWrite(path: path, reason: errorText(e)) }
                try requireWritableAncestor(of: current, for: path)
                return current
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                hops += 1
                guard hops < 40, let target = readLink(current) else {
                    throw IOError.cannotWrite(path: path, reason: "cannot follow the symbolic link \(current)")
                }
                current = target.hasPrefix("/") ? target : parent(of: current) + "/" + target
            case S_IFDIR:
                let names = (try? FileManager.default.contentsOfDirectory(atPath: current)) ?? []
                let foreign = names.sorted().filter { name in
                    var est = stat()
                    return lstat(current + "/" + name, &est) != 0 || est.st_mode & S_IFMT != S_IFREG || !replaceable(name)
                }
                if !foreign.isEmpty {
                    let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", …" : "")
                    throw IOError.cannotWrite(path: path, reason: "the directory holds \(shown), which it would replace; choose an empty or new directory")
                }
                // Work on the real directory: "." or "x/.." must not be renamed as such.
                if let resolved = realpath(current, nil) { current = String(cString: resolved); free(resolved) }
                if current == "/" { throw IOError.cannotWrite(path: path, reason: "it is the root directory") }
                if let cwd = FileManager.default.currentDirectoryPath.removingSuffixSlash(),
                   cwd == current || cwd.hasPrefix(current + "/") {
                    throw IOError.cannotWrite(path: path, reason: "it is or holds the current directory, which replacing it would remove")
                }
                try requireWritableAncestor(of: current, for: path)
                return current
            default:
                throw IOError.cannotWrite(path: path, reason: "it exists and is not a directory; not replacing it")
            }
        }
    }

    /// The nearest existing ancestor of `path` must be a directory this process can create
    /// entries in: the new directory (or its temporary twin) is made there.
    private static func requireWritableAncestor(of path: String, for reported: String) throws {
        var directory = parent(of: path)
        var st = stat()
        while stat(directory, &st) != 0 {
            guard errno == ENOENT, directory != "/", directory != "." else { break }
            directory = parent(of: directory)
        }
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw IOError.cannotWrite(path: reported, reason: "\(directory) is not a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw IOError.cannotWrite(path: reported, reason: "directory \(directory) is not writable (\(errorText(errno)))")
        }
    }

    /// Swaps two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`), found at run time so the
    /// code builds where glibc does not declare it; false when unavailable or unsupported.
    private static func exchange(_ a: String, _ b: String) -> Bool {
        #if os(Linux)
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return false }
        let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
        let atFDCWD: Int32 = -100, renameExchange: UInt32 = 1 << 1
        return renameat2(atFDCWD, a, atFDCWD, b, renameExchange) == 0
        #else
        return false
        #endif
    }

    // MARK: Paths

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let head = String(path[..<slash])
        return head.isEmpty ? "/" : head
    }

    private static func requireDirectory(_ directory: String, for path: String) throws {
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw IOError.cannotWrite(path: path, reason: "directory \(directory) does not exist")
        }
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        buffer[n] = 0
        return String(cString: buffer)
    }

    /// The real directory (realpath) plus the name; the plain standardized path when the
    /// directory does not exist either.
    private static func canonical(_ path: String) -> String {
        let directory = parent(of: path), name = URL(fileURLWithPath: path).lastPathComponent
        if let resolved = realpath(directory, nil) {
            defer { free(resolved) }
            return String(cString: resolved) + "/" + name
        }
        return URL(fileURLWithPath: path).standardized.path
    }

    private static func syncDirectory(_ directory: String) {
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}

private extension String {
    /// The path without a trailing slash (nil for an empty path).
    func removingSuffixSlash() -> String? {
        guard !isEmpty else { return nil }
        var s = self
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        return s
    }
}

/// Errors reading or writing model files; each names the file.
public enum IOError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case mismatch(path: String, reason: String)
    /// A file of another format than safetensors that is not what it should be: `format` names what
    /// was expected ("Keras .keras archive", "HDF5 file", "PNG image").
    case invalidFile(path: String, format: String, reason: String)

    /// The message; it names the file.
    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): return "cannot write \(path): \(reason)"
        case let .cannotRead(path, reason): return "cannot read \(path): \(reason)"
        case let .corrupt(path, reason): return "\(path) is not a valid safetensors file: \(reason)"
        case let .mismatch(path, reason): return "weights in \(path) do not fit the model: \(reason)"
        case let .invalidFile(path, format, reason): return "\(path) is not a valid \(format): \(reason)"
        }
    }
}

extension IOError: LocalizedError {
    /// The same text as `description`, for `localizedDescription`.
    public var errorDescription: String? { description }
}
