import ArgumentParser
import Foundation
import NN

/// Every output path of a command, checked before any data is loaded or any training starts, so a
/// typo in `--save` fails in a second instead of after minutes of training (issue 13). The rule
/// itself is `AtomicFile`'s (`checkWritable`, `sameTarget`: `/dev/null` and `/dev/stdout` are
/// fine, links are followed); this adds the flag names and the directory outputs.
package enum OutputPaths {
    /// What a flag names: a file we replace atomically, or a directory we write files into.
    package enum Kind { case file, directory }

    /// One output: the flag that named it (for messages), the path, and its kind.
    package struct Output {
        package var flag: String
        package var path: String
        package var kind: Kind
        package init(_ flag: String, _ path: String?, _ kind: Kind = .file) {
            self.flag = flag
            self.path = path ?? ""
            self.kind = kind
        }
    }

    /// Checks each given output (those with an empty path are skipped) and that no two name the
    /// same file after resolving symlinks. Throws a one-line error naming the flag(s) and path.
    package static func check(_ outputs: [Output]) throws {
        let given = outputs.filter { !$0.path.isEmpty }
        var seen: [Output] = []
        for output in given {
            switch output.kind {
            case .file: try checkFile(output)
            case .directory: try checkDirectory(output)
            }
            if let other = seen.first(where: { sameTarget($0.path, output.path) }) {
                throw NNError.invalidArgument("\(other.flag) \(other.path) and \(output.flag) \(output.path) name the same file; one would overwrite the other")
            }
            seen.append(output)
        }
    }

    /// A file output: not a directory, in an existing directory we may create files in.
    static func checkFile(_ output: Output) throws {
        let path = output.path
        if isDirectory(path) { throw NNError.invalidArgument("\(output.flag) \(path) is a directory; give a file path") }
        let parent = parentDirectory(of: path)
        guard exists(parent) else { throw NNError.invalidArgument("\(output.flag) \(path): the directory \(parent) does not exist") }
        guard isDirectory(parent) else { throw NNError.invalidArgument("\(output.flag) \(path): \(parent) is not a directory") }
        do { try AtomicFile.checkWritable(path) } catch { throw NNError.invalidArgument("\(output.flag): \(error)") }
    }

    /// A directory output: writable if it exists, else its nearest existing ancestor must be a
    /// writable directory (the report creates the missing levels).
    static func checkDirectory(_ output: Output) throws {
        let path = output.path
        if exists(path) {
            guard isDirectory(path) else { throw NNError.invalidArgument("\(output.flag) \(path) is a file, not a directory") }
            guard access(path, W_OK | X_OK) == 0 else { throw NNError.invalidArgument("\(output.flag) \(path): the directory is not writable") }
            return
        }
        var ancestor = parentDirectory(of: path)
        while !exists(ancestor) && ancestor != "/" && ancestor != "." { ancestor = parentDirectory(of: ancestor) }
        guard isDirectory(ancestor) else { throw NNError.invalidArgument("\(output.flag) \(path): \(ancestor) is not a directory") }
        guard access(ancestor, W_OK | X_OK) == 0 else {
            throw NNError.invalidArgument("\(output.flag) \(path): the directory \(ancestor) is not writable")
        }
    }

    /// True when `a` and `b` are the same file after resolving symlinks, whether or not they exist
    /// yet (`AtomicFile.sameTarget`: two `/dev/null`s are not "the same").
    package static func sameTarget(_ a: String, _ b: String) -> Bool { AtomicFile.sameTarget(a, b) }

    /// The canonical path: realpath of the file when it exists, else realpath of its directory
    /// plus its name (where a checkpoint's lock file goes, so two links to one checkpoint share it).
    static func resolved(_ path: String) -> String {
        if let real = realPath(path) { return real }
        let name = (path as NSString).lastPathComponent
        let parent = parentDirectory(of: path)
        return (realPath(parent) ?? parent) + "/" + name
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The directory part of `path` ("." for a bare name, "/" at the root). Plain string work:
    /// NSString's deletingLastPathComponent trapped on one-character relative paths.
    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Whether `path` is a regular file holding a training checkpoint (`nn-checkpoint-1` in its
    /// safetensors header, read without blocking).
    static func isCheckpoint(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        var head = [UInt8](repeating: 0, count: 64 << 10)
        let n = read(fd, &head, head.count)
        guard n > 8 else { return false }
        return String(decoding: head[8..<n], as: UTF8.self).contains("nn-checkpoint-1")
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
