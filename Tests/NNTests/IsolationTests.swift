import XCTest
import Foundation
@testable import NN
@testable import NNKeras

/// libhdf5 reads untrusted files in a child process (`Isolation`): whatever the child does — crash,
/// hang, throw — the caller gets an error naming the file, with the error's own type.
final class IsolationTests: XCTestCase {
    func testAChildThatCrashesIsAnErrorNamingTheFile() {
        XCTAssertThrowsError(try Isolation.run(path: "evil.h5", format: "Keras model file", bytes: 1) {
            raise(SIGSEGV)
            return Data()
        }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("evil.h5") && text.contains("died") && text.contains("signal 11"), text)
        }
    }

    func testAChildThatHangsIsKilledAtTheTimeLimit() {
        let started = Date()
        XCTAssertThrowsError(try Isolation.run(path: "loop.h5", format: "Keras model file", bytes: 1, seconds: 1) {
            while true { sleep(1) }
        }) { error in
            XCTAssertTrue("\(error)".contains("loop.h5") && "\(error)".contains("longer than 1 s"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    func testErrorsKeepTheirTypeAcrossTheProcessBoundary() {
        XCTAssertThrowsError(try Isolation.run(path: "m.keras", format: "Keras model file", bytes: 1) {
            throw TransportedError(KerasFileError.unsupported(path: "m.keras", problems: ["layer 'x' (LSTM): no", "two"]))
        }) { error in
            XCTAssertEqual(error as? KerasFileError, .unsupported(path: "m.keras", problems: ["layer 'x' (LSTM): no", "two"]))
        }
        XCTAssertThrowsError(try Isolation.run(path: "m.keras", format: "Keras model file", bytes: 1) {
            throw TransportedError(IOError.invalidFile(path: "m.keras", format: "zip archive", reason: "bad"))
        }) { error in
            XCTAssertEqual(error as? IOError, .invalidFile(path: "m.keras", format: "zip archive", reason: "bad"))
        }
        let answer = try? Isolation.run(path: "m.keras", format: "Keras model file", bytes: 1) { Data([1, 2, 3]) }
        XCTAssertEqual(answer, Data([1, 2, 3]))
    }

    /// The same Keras file read in a child process and in this one gives the same model, bit for bit.
    func testIsolatedAndInProcessReadsAgree() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/keras/seq_all.h5").path
        let isolated = try KerasModelFile.read(fixture)
        Isolation.enabled = false
        defer { Isolation.enabled = true }
        let inProcess = try KerasModelFile.read(fixture)
        XCTAssertEqual(isolated.model.layers.map(\.name), inProcess.model.layers.map(\.name))
        XCTAssertEqual(isolated.name, inProcess.name)
        XCTAssertEqual(isolated.format, .h5)
        XCTAssertEqual(isolated.kerasVersion, inProcess.kerasVersion)
        XCTAssertEqual(isolated.restoredOptimizerState, inProcess.restoredOptimizerState)
        for ((name, a), (_, b)) in zip(isolated.model.namedParameters, inProcess.model.namedParameters) {
            XCTAssertEqual(a.value.elements.map(\.bitPattern), b.value.elements.map(\.bitPattern), name)
        }
        XCTAssertEqual(isolated.model.optimizer?.iterations, inProcess.model.optimizer?.iterations)
    }
}
