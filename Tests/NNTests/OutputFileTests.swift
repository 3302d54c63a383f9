import Foundation
import XCTest
@testable import NN
@testable import NNReport

/// The one output-file rule (`AtomicFile`) and the report's all-at-once directory write: devices,
/// FIFOs and descriptors are written in place, never replaced; directories, sockets refused;
/// symbolic links followed and kept; modes kept; stale temporaries of dead writers cleaned;
/// output paths checked before work; a report never half written or mixed with an older one.
final class OutputFileTests: TemporaryDirectoryTestCase {

    private func kind(_ path: String, follow: Bool = false) -> mode_t? {
        var st = stat()
        guard (follow ? stat(path, &st) : lstat(path, &st)) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }

    private func mode(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        return st.st_mode & 0o777
    }

    private func read(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    private func assertRefused(_ path: String, _ words: [String], file: StaticString = #filePath, line: UInt = #line,
                               _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(path), "\(message) should name \(path)", file: file, line: line)
            for w in words { XCTAssertTrue(message.contains(w), "\(message) should say \(w)", file: file, line: line) }
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        }
    }

    /// A temporary name `.NAME.tmp-PID-…` left next to `path` by this test's writes.
    private func temporaries(of name: String, in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("." + name + ".tmp-") }
    }

    // MARK: Regular files

    func testRegularFileIsReplacedAndNoTemporaryRemains() throws {
        let p = dir + "/w.txt"
        try AtomicFile.write(Data("one".utf8), to: p)
        try AtomicFile.write(Data("two".utf8), to: p)
        XCTAssertEqual(try read(p), "two")
        XCTAssertEqual(try temporaries(of: "w.txt", in: dir), [])
    }

    func testNewFileGets0644MinusUmask() throws {
        let old = umask(0o027)
        defer { umask(old) }
        let p = dir + "/new.txt"
        try AtomicFile.write(Data("x".utf8), to: p)
        XCTAssertEqual(mode(p), 0o640)
    }

    func testExistingFileKeepsItsMode() throws {
        let p = dir + "/secret.json"
        try Data("old".utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(chmod(p, 0o600), 0)
        try AtomicFile.write(Data("new".utf8), to: p)
        XCTAssertEqual(mode(p), 0o600)
        XCTAssertEqual(try read(p), "new")
    }

    func testMissingDirectoryNamesThePath() {
        let p = dir + "/no/such/w.safetensors"
        assertRefused(p, ["does not exist"]) { try AtomicFile.write(Data("x".utf8), to: p) }
    }

    // MARK: Devices, FIFOs, descriptors

    func testDevNullStaysACharacterDevice() throws {
        XCTAssertEqual(kind("/dev/null"), S_IFCHR)
        try AtomicFile.write(Data("discarded".utf8), to: "/dev/null")
        XCTAssertEqual(kind("/dev/null"), S_IFCHR, "/dev/null must not become a regular file")
        try AtomicFile.checkWritable("/dev/null")
        XCTAssertEqual(try temporaries(of: "null", in: "/dev"), [])
    }

    func testSymlinkToDevNullKeepsBoth() throws {
        let link = dir + "/discard"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        try AtomicFile.write(Data("x".utf8), to: link)
        XCTAssertEqual(kind(link), S_IFLNK)
        XCTAssertEqual(kind("/dev/null"), S_IFCHR)
    }

    func testFIFOIsWrittenThroughToItsReader() throws {
        let fifo = dir + "/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let payload = String(repeating: "history ", count: 20_000)  // more than a pipe buffer
        final class Box: @unchecked Sendable { var data = Data() }
        let received = Box()
        let finished = DispatchSemaphore(value: 0)
        let reader = Thread {
            defer { finished.signal() }
            let fd = open(fifo, O_RDONLY)
            guard fd >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = Foundation.read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                received.data.append(contentsOf: buffer[0..<n])
            }
            close(fd)
        }
        reader.start()
        try AtomicFile.write(Data(payload.utf8), to: fifo)
        XCTAssertEqual(finished.wait(timeout: .now() + 30), .success, "the reader saw end of file")
        XCTAssertEqual(String(decoding: received.data, as: UTF8.self), payload)
        XCTAssertEqual(kind(fifo), S_IFIFO, "the FIFO must stay a FIFO")
        XCTAssertEqual(try temporaries(of: "pipe", in: dir), [])
    }

    /// `--history-json` through a symbolic link to `/dev/fd/N` (what `/dev/stdout` is when stdout
    /// is a pipe): the bytes reach the pipe, the link stays.
    func testSymlinkToADescriptorWritesThePipe() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let link = dir + "/out.json"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/fd/\(fds[1])")
        XCTAssertEqual(try AtomicFile.destination(of: link), .descriptor(fds[1]))
        try AtomicFile.checkWritable(link)
        try AtomicFile.write(Data("{\"loss\":[1]}".utf8), to: link)
        try AtomicFile.write(Data("\n".utf8), to: "/proc/self/fd/\(fds[1])")
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = Foundation.read(fds[0], &buffer, buffer.count)
        XCTAssertEqual(String(decoding: buffer[0..<max(n, 0)], as: UTF8.self), "{\"loss\":[1]}\n")
        XCTAssertEqual(kind(link), S_IFLNK)
        XCTAssertEqual(try AtomicFile.destination(of: "/dev/stdout"), .descriptor(1))
    }

    // MARK: Refused targets

    func testDirectoryTargetIsRefusedAndKept() throws {
        let target = dir + "/weights"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target + "/inside"))
        assertRefused(target, ["a directory", "not replacing"]) { try AtomicFile.write(Data("x".utf8), to: target) }
        assertRefused(target, ["a directory"]) { try AtomicFile.checkWritable(target) }
        XCTAssertEqual(kind(target), S_IFDIR)
        XCTAssertEqual(try read(target + "/inside"), "keep")
    }

    func testSocketTargetIsRefused() throws {
        let path = dir + "/s.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try XCTSkipIf(bound != 0 || path.utf8.count >= 100, "cannot bind a socket in \(dir!)")
        assertRefused(path, ["a socket"]) { try AtomicFile.write(Data("x".utf8), to: path) }
        XCTAssertEqual(kind(path), S_IFSOCK)
    }

    // MARK: Symbolic links

    func testSymlinkIsKeptAndItsTargetUpdated() throws {
        let real = dir + "/real.safetensors", link = dir + "/link.safetensors"
        try Data("old".utf8).write(to: URL(fileURLWithPath: real))
        XCTAssertEqual(chmod(real, 0o640), 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.safetensors")
        // A chain: link2 → link → real.
        let link2 = dir + "/link2"
        try FileManager.default.createSymbolicLink(atPath: link2, withDestinationPath: link)
        try AtomicFile.write(Data("new".utf8), to: link2)
        XCTAssertEqual(kind(link2), S_IFLNK)
        XCTAssertEqual(kind(link), S_IFLNK)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), "real.safetensors")
        XCTAssertEqual(try read(real), "new")
        XCTAssertEqual(mode(real), 0o640)
        XCTAssertEqual(try temporaries(of: "real.safetensors", in: dir), [])
        XCTAssertEqual(try temporaries(of: "link2", in: dir), [])
    }

    func testDanglingSymlinkCreatesItsTarget() throws {
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        let link = dir + "/dangling"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "sub/created.json")
        try AtomicFile.checkWritable(link)
        try AtomicFile.write(Data("made".utf8), to: link)
        XCTAssertEqual(kind(link), S_IFLNK)
        XCTAssertEqual(try read(dir + "/sub/created.json"), "made")
    }

    func testSymlinkLoopIsRefused() throws {
        let a = dir + "/a", b = dir + "/b"
        try FileManager.default.createSymbolicLink(atPath: a, withDestinationPath: b)
        try FileManager.default.createSymbolicLink(atPath: b, withDestinationPath: a)
        assertRefused(a, ["symbolic links"]) { try AtomicFile.write(Data("x".utf8), to: a) }
        XCTAssertEqual(kind(a), S_IFLNK)
    }

    // MARK: Stale temporaries

    func testStaleTemporaryOfADeadWriterIsRemovedALiveOnesKept() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        let deadPID = process.processIdentifier
        XCTAssertTrue(kill(deadPID, 0) != 0 && errno == ESRCH, "the child has been reaped")
        let dead = dir + "/.w.json.tmp-\(deadPID)-12345", live = dir + "/.w.json.tmp-\(getpid())-6789"
        let other = dir + "/.other.json.tmp-\(deadPID)-1"
        for p in [dead, live, other] { try Data("partial".utf8).write(to: URL(fileURLWithPath: p)) }
        try AtomicFile.write(Data("{}".utf8), to: dir + "/w.json")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead), "a dead writer's temporary is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a live writer's temporary is kept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: other), "another name's temporary is not ours to clean")
        XCTAssertEqual(try read(dir + "/w.json"), "{}")
    }

    // MARK: checkWritable

    func testCheckWritableOnAMissingDirectory() {
        let p = dir + "/missing/h.json"
        assertRefused(p, ["does not exist"]) { try AtomicFile.checkWritable(p) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing"))
    }

    func testCheckWritableOnAnUnwritableDirectory() throws {
        let p: String
        if geteuid() == 0 {
            // Root writes through permission bits; /proc refuses new files even to root.
            p = "/proc/nn-output-file-test.json"
        } else {
            XCTAssertEqual(chmod(dir, 0o555), 0)
            p = dir + "/h.json"
        }
        assertRefused(p, []) { try AtomicFile.checkWritable(p) }
    }

    func testCheckWritableOnADirectoryTarget() {
        assertRefused(dir, ["a directory"]) { try AtomicFile.checkWritable(dir) }
    }

    func testCheckWritableLeavesNothingBehind() throws {
        try AtomicFile.checkWritable(dir + "/fine.json")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    // MARK: sameTarget

    func testSameTargetThroughASymlinkAndDotDot() throws {
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: false)
        let file = dir + "/w.safetensors"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: file)
        XCTAssertTrue(AtomicFile.sameTarget(file, dir + "/link"))
        XCTAssertTrue(AtomicFile.sameTarget(file, dir + "/a/../w.safetensors"))
        // Files that do not exist yet: the same directory and name.
        XCTAssertTrue(AtomicFile.sameTarget(dir + "/new.json", dir + "/a/../new.json"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/newlink", withDestinationPath: "new.json")
        XCTAssertTrue(AtomicFile.sameTarget(dir + "/newlink", dir + "/new.json"), "a dangling link names its target")
        XCTAssertFalse(AtomicFile.sameTarget(file, dir + "/new.json"))
        XCTAssertFalse(AtomicFile.sameTarget(dir + "/a/new.json", dir + "/new.json"))
        XCTAssertFalse(AtomicFile.sameTarget("/dev/null", "/dev/null"), "two outputs to /dev/null lose nothing")
    }

    func testSameTargetAndIsInsideForDirectories() throws {
        let report = dir + "/report"
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: dir + "/r", withDestinationPath: "report")
        XCTAssertTrue(AtomicFile.sameTarget(dir + "/r", report + "/"))
        XCTAssertTrue(AtomicFile.isInside(dir + "/r/index.html", directory: report))
        XCTAssertTrue(AtomicFile.isInside(report + "/../report/w.safetensors", directory: dir + "/r"))
        XCTAssertFalse(AtomicFile.isInside(dir + "/report-2/w.safetensors", directory: report))
        XCTAssertFalse(AtomicFile.isInside(dir + "/w.safetensors", directory: report))
    }

    // MARK: The report directory

    func testReportRefusesTheCurrentDirectory() throws {
        let out = dir + "/cwd-report"
        try TrainingReport.writeFiles(files(["index.html"], tag: "old"), to: out)
        let saved = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(out))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        assertRefused(".", ["current directory"]) { try TrainingReport.checkDestination(".") }
        assertRefused(out, ["current directory"]) { try TrainingReport.writeFiles(files(["index.html"], tag: "new"), to: out) }
        XCTAssertEqual(try read(out + "/index.html"), "old index.html")
    }

    private func files(_ names: [String], tag: String) -> [(name: String, data: Data)] {
        names.map { (name: $0, data: Data("\(tag) \($0)".utf8)) }
    }

    private func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func testReportSwapLeavesNoStaleFiles() throws {
        let out = dir + "/made/report"   // parents created
        try TrainingReport.writeFiles(files(["index.html", "accuracy.png", "mistakes.png"], tag: "old"), to: out)
        XCTAssertEqual(try listing(out), ["accuracy.png", "index.html", "mistakes.png"])
        XCTAssertEqual(chmod(out, 0o750), 0)
        try TrainingReport.writeFiles(files(["index.html", "accuracy.png"], tag: "new"), to: out)
        XCTAssertEqual(try listing(out), ["accuracy.png", "index.html"], "the older report's mistakes.png is gone")
        XCTAssertEqual(try read(out + "/index.html"), "new index.html")
        XCTAssertEqual(mode(out), 0o750, "the directory keeps its mode")
        XCTAssertEqual(try listing(dir + "/made"), ["report"], "no temporary directory remains")
    }

    func testSwapWithoutAtomicExchangeRenamesTheOldAwayAndRemovesIt() throws {
        let out = dir + "/report"
        for (tag, names) in [("old", ["index.html", "a.png", "stale.png"]), ("new", ["index.html", "a.png"])] {
            try AtomicFile.writeDirectory(files(names, tag: tag), to: out, replaceable: TrainingReport.isReportFile,
                                          atomicExchange: false)
        }
        XCTAssertEqual(try listing(out), ["a.png", "index.html"])
        XCTAssertEqual(try read(out + "/a.png"), "new a.png")
        XCTAssertEqual(try listing(dir), ["report"], "neither the old content nor a temporary remains")
    }

    func testBlockDeviceIsRefused() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        guard let device = names.sorted().map({ "/dev/" + $0 }).first(where: { kind($0) == S_IFBLK }) else {
            throw XCTSkip("no block device in /dev")
        }
        assertRefused(device, ["a block device"]) { try AtomicFile.checkWritable(device) }
        assertRefused(device, ["a block device"]) { try AtomicFile.write(Data(), to: device) }
        XCTAssertEqual(kind(device), S_IFBLK)
    }

    func testInterruptedReportLeavesTheOlderOneWhole() throws {
        let out = dir + "/report"
        try TrainingReport.writeFiles(files(["index.html", "a.png"], tag: "old"), to: out)
        // The third file cannot be created (as a full disk would fail a write): nothing changes.
        XCTAssertThrowsError(try TrainingReport.writeFiles(files(["b.png", "index.html", "no/such.png"], tag: "new"), to: out)) {
            XCTAssertTrue("\($0)".contains(out), "\($0)")
        }
        XCTAssertEqual(try listing(out), ["a.png", "index.html"])
        XCTAssertEqual(try read(out + "/index.html"), "old index.html")
        XCTAssertEqual(try listing(dir), ["report"], "no temporary directory remains")
        // And a first report that fails leaves nothing under the final name.
        let fresh = dir + "/fresh"
        XCTAssertThrowsError(try TrainingReport.writeFiles(files(["a.png", "no/such.png", "index.html"], tag: "new"), to: fresh))
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh))
        XCTAssertEqual(try listing(dir), ["report"])
    }

    func testReportRefusesADirectoryWithOtherFiles() throws {
        let out = dir + "/mine"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        try Data("old".utf8).write(to: URL(fileURLWithPath: out + "/index.html"))
        assertRefused(out, ["notes.txt"]) { try TrainingReport.checkDestination(out) }
        assertRefused(out, ["notes.txt"]) { try TrainingReport.writeFiles(files(["index.html"], tag: "new"), to: out) }
        XCTAssertEqual(try read(out + "/notes.txt"), "notes")
        XCTAssertEqual(try read(out + "/index.html"), "old")
        let file = dir + "/plain"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        assertRefused(file, ["not a directory"]) { try TrainingReport.checkDestination(file) }
    }

    func testReportThroughASymlinkKeepsTheLink() throws {
        let real = dir + "/real-report", link = dir + "/report"
        try TrainingReport.writeFiles(files(["index.html", "old.png"], tag: "old"), to: real)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real-report")
        try TrainingReport.writeFiles(files(["index.html"], tag: "new"), to: link)
        XCTAssertEqual(kind(link), S_IFLNK)
        XCTAssertEqual(try listing(real), ["index.html"])
        XCTAssertEqual(try read(link + "/index.html"), "new index.html")
    }
}
