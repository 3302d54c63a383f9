import XCTest
import Foundation
@testable import NN
@testable import NNImages

/// A `Batcher` over a source that prefers prefetching copies the next batch on its own thread: the
/// batches, the training run and its results must be exactly those of copying in place, and a file
/// that stops decoding mid-run must end `fit` with an error naming it.
final class PrefetchTests: TemporaryDirectoryTestCase {
    /// A tensor that asks to be prefetched and counts the threads it is copied on.
    final class PrefetchedTensor: SampleSource, @unchecked Sendable {
        let base: Tensor
        let lock = NSLock()
        var copyThreads = Set<String>()
        init(_ base: Tensor) { self.base = base }
        var sampleCount: Int { base.sampleCount }
        var sampleShape: [Int] { base.sampleShape }
        var prefersPrefetch: Bool { true }
        func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>) {
            lock.lock(); copyThreads.insert(Thread.isMainThread ? "main" : "\(pthread_self())"); lock.unlock()
            base.copySamples(indices, to: destination)
        }
        func samples(_ range: Range<Int>) -> PrefetchedTensor { PrefetchedTensor(base.samples(range)) }
        func subset(_ indices: [Int]) -> PrefetchedTensor { PrefetchedTensor(base.subset(indices)) }
        var tensor: Tensor { base }
    }

    func testPrefetchedBatchesEqualInPlaceBatchesAcrossShuffledEpochs() throws {
        var data = TestData(seed: 3)
        let x = data.tensor([23, 4, 3])
        let y = labelTensor(data.labels(23, classes: 3))
        let source = PrefetchedTensor(x)
        let plain = try Batcher(x: x, y: y, batchSize: 5)
        let prefetched = try Batcher(x: source, y: y, batchSize: 5)
        var rngA = RandomGenerator(seed: 9), rngB = RandomGenerator(seed: 9)
        for _ in 0..<3 {
            plain.shuffle(using: &rngA)
            prefetched.shuffle(using: &rngB)
            var previous: Tensor?
            for b in 0..<plain.batchCount {
                let (xa, ya) = plain.batch(b)
                let (xb, yb) = prefetched.batch(b)
                XCTAssertEqual(xa.shape, xb.shape)
                XCTAssertEqual(xa.elements, xb.elements, "batch \(b)")
                XCTAssertEqual(ya.elements, yb.elements, "batch \(b)")
                // Consecutive batches alternate between the two pairs of buffers.
                if let previous, xb.shape == previous.shape { XCTAssertNotEqual(xb.pointer, previous.pointer) }
                previous = xb
            }
            // Out of order (a user's own loop): still the right samples.
            XCTAssertEqual(prefetched.batch(2).images.elements, plain.batch(2).images.elements)
            XCTAssertEqual(prefetched.batch(0).images.elements, plain.batch(0).images.elements)
        }
        XCTAssertTrue(source.copyThreads.count >= 2, "copied only on \(source.copyThreads)")
    }

    func testTrainingOnAPrefetchedSourceIsBitIdentical() throws {
        var data = TestData(seed: 4)
        let x = data.tensor([40, 6, 6, 1])
        let y = labelTensor(data.labels(40, classes: 2))
        func run(_ source: any SampleSource) throws -> ([Float], Float) {
            let model = try Sequential(inputShape: [6, 6, 1], layers: [
                Conv2D(filters: 3, kernelSize: 3, activation: .relu), Flatten(), Dropout(rate: 0.3),
                Dense(units: 2, activation: .softmax),
            ], seed: 5)
            model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            try model.fit(x: source, y: y, batchSize: 7, epochs: 3, verbose: .silent)
            let loss = try model.evaluate(x: source, y: y, batchSize: 6).loss
            return (model.namedParameters.flatMap { $0.parameter.value.elements }, loss)
        }
        let (a, lossA) = try run(x)
        let (b, lossB) = try run(PrefetchedTensor(x))
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertEqual(lossA.bitPattern, lossB.bitPattern)
    }

    /// An image that stops decoding after the folder was opened ends `fit` (and `predict`) with an
    /// error naming the file, instead of training on a zero image.
    func testImageBrokenMidRunEndsFitNamingTheFile() throws {
        for c in ["cat", "dog"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/\(c)", withIntermediateDirectories: true)
            for i in 0..<6 {
                let pixels = [UInt8](repeating: UInt8(c == "cat" ? 10 + i : 200 - i), count: 4 * 4 * 3)
                try encodePNG(width: 4, height: 4, channels: 3, pixels: pixels).write(to: URL(fileURLWithPath: "\(dir!)/\(c)/\(i).png"))
            }
        }
        let folder = try ImageFolder(directory: dir, imageSize: (4, 4), seed: 1)
        XCTAssertTrue(folder.prefersPrefetch)
        let broken = folder.filePaths[7]
        try "no longer a picture".write(toFile: broken, atomically: true, encoding: .utf8)
        let model = try Sequential(inputShape: [4, 4, 3], layers: [Rescaling(scale: 1 / 255), Flatten(), Dense(units: 2, activation: .softmax)], seed: 1)
        model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        XCTAssertThrowsError(try model.fit(folder.dataset, batchSize: 4, epochs: 1, verbose: .silent)) { error in
            XCTAssertTrue("\(error)".contains(broken), "\(error)")
        }
        XCTAssertThrowsError(try model.predict(folder, batchSize: 5)) { error in
            XCTAssertTrue("\(error)".contains(broken), "\(error)")
        }
    }

    /// A batcher dropped while its thread copies the next batch goes away (it once deadlocked: the
    /// thread held the last reference and ran the deinit that waits for it).
    func testDroppingABatcherMidPrefetchReleasesIt() throws {
        final class Slow: SampleSource, @unchecked Sendable {
            let base = Tensor(shape: [8, 2], repeating: 1)
            var sampleCount: Int { 8 }
            var sampleShape: [Int] { [2] }
            var prefersPrefetch: Bool { true }
            func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>) {
                usleep(300_000)
                base.copySamples(indices, to: destination)
            }
            func samples(_ range: Range<Int>) -> Slow { self }
            func subset(_ indices: [Int]) -> Slow { self }
            var tensor: Tensor { base }
        }
        weak var released: Batcher?
        do {
            let batcher = try Batcher(x: Slow(), batchSize: 2)
            released = batcher
            _ = batcher.batch(0)  // starts copying batch 1 on the thread
        }
        let deadline = Date().addingTimeInterval(3)
        while released != nil && Date() < deadline { usleep(10_000) }
        XCTAssertNil(released, "the batcher was not released while its prefetch ran")
    }
}
