import XCTest
import Foundation
import NN
@testable import NNImages

final class ImageFolderTests: TemporaryDirectoryTestCase {
    /// Writes a `size`×`size` PNG (or JPEG when the name says so) filled with `value` in every channel.
    @discardableResult
    func image(_ relative: String, value: UInt8, size: Int = 4) throws -> String {
        let path = dir + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let pixels = [UInt8](repeating: value, count: size * size * 3)
        let lower = relative.lowercased()
        let data = lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
            ? encodeJPEG(width: size, height: size, channels: 3, pixels: pixels)
            : encodePNG(width: size, height: size, channels: 3, pixels: pixels)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func text(_ relative: String, _ content: String = "not an image") throws {
        let path = dir + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// 10 images: class "cat" values 10…14, class "dog" values 20…24.
    func twoClasses() throws {
        for i in 0..<5 {
            try image("cat/\(i).png", value: UInt8(10 + i))
            try image("dog/\(i).png", value: UInt8(20 + i))
        }
    }

    func firstPixel(_ folder: ImageFolder, _ i: Int) -> Float {
        let out = Tensor(shape: [1] + folder.sampleShape)
        folder.copySamples([i][...], to: out.pointer)
        return out[flat: 0]
    }

    // MARK: Listing

    func testClassesSortedFilesSortedExtensionsAnyCaseOthersIgnored() throws {
        try image("b/x.PNG", value: 1)
        try image("b/a.Jpg", value: 2)
        try image("b/nested/z.jpeg", value: 3)
        try image("a/only.png", value: 4)
        try image("c10/p.png", value: 5)
        try image("c2/q.png", value: 6)
        try text("b/readme.txt")
        try text("b/._x.png", "AppleDouble resource fork")
        try image(".hidden/h.png", value: 7)
        try text("loose.png")  // a file at the top is not a class
        let folder = try ImageFolder(directory: dir, imageSize: (4, 4), shuffle: false)
        XCTAssertEqual(folder.classNames, ["a", "b", "c10", "c2"], "Python's sorted order")
        XCTAssertEqual(folder.filePaths.map { String($0.dropFirst(dir.count + 1)) },
                       ["a/only.png", "b/a.Jpg", "b/x.PNG", "b/nested/z.jpeg", "c10/p.png", "c2/q.png"])
        XCTAssertEqual(folder.labels.elements, [0, 1, 1, 1, 2, 3])
        XCTAssertEqual(folder.sampleShape, [4, 4, 3])
        XCTAssertEqual(folder.headers.map(\.format), [.png, .jpeg, .png, .jpeg, .png, .png])
        XCTAssertEqual(firstPixel(folder, 0), 4)
        XCTAssertEqual(firstPixel(folder, 2), 1)
        XCTAssertEqual(folder.targets.shape, [6])
    }

    func testClassNamesArgumentSelectsAndOrders() throws {
        try twoClasses()
        try image("bird/0.png", value: 30)
        let folder = try ImageFolder(directory: dir, labelMode: .categorical, classNames: ["dog", "cat"], imageSize: (2, 2), shuffle: false)
        XCTAssertEqual(folder.classNames, ["dog", "cat"])
        XCTAssertEqual(folder.labels.elements, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(folder.targets.shape, [10, 2])
        XCTAssertEqual(Array(folder.targets.elements.prefix(2)), [1, 0])
        assertError(try ImageFolder(directory: dir, classNames: ["cat", "fish"]), names: dir, "fish")
    }

    // MARK: Samples

    func testSamplesAreUnscaledPixelValuesInEachColorMode() throws {
        try twoClasses()
        let rgb = try ImageFolder(directory: dir, imageSize: (3, 2), shuffle: false)
        let all = rgb.tensor
        XCTAssertEqual(all.shape, [10, 3, 2, 3])
        for i in 0..<10 {
            let expected = Float(i < 5 ? 10 + i : 20 + i - 5)
            XCTAssertEqual(Array(all.elements[(i * 18)..<((i + 1) * 18)]), [Float](repeating: expected, count: 18))
        }
        let gray = try ImageFolder(directory: dir, colorMode: .grayscale, imageSize: (2, 2), shuffle: false)
        XCTAssertEqual(gray.sampleShape, [2, 2, 1])
        XCTAssertEqual(firstPixel(gray, 9), 24)
        let rgba = try ImageFolder(directory: dir, colorMode: .rgba, imageSize: (2, 2), shuffle: false)
        let t = rgba.tensor
        XCTAssertEqual(Array(t.elements.prefix(4)), [10, 10, 10, 255])
        // A batch in an arbitrary order, repeats included, over the worker threads.
        let batch = Tensor(shape: [5, 2, 2, 4])
        rgba.copySamples([9, 0, 3, 3, 7][...], to: batch.pointer)
        XCTAssertEqual(stride(from: 0, to: 80, by: 16).map { batch[flat: $0] }, [24, 10, 13, 13, 22])
        XCTAssertTrue(rgba.failures.isEmpty)
    }

    func testDatasetTrainsWithFit() throws {
        try twoClasses()
        let folder = try ImageFolder(directory: dir, imageSize: (4, 4), seed: 1)
        let data = folder.dataset
        XCTAssertEqual(data.count, 10)
        XCTAssertEqual(data.classNames, ["cat", "dog"])
        let model = try Sequential(inputShape: [4, 4, 3], layers: [Flatten(), Dense(units: 2, activation: .softmax)], seed: 3)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(data, batchSize: 4, epochs: 2, validationSplit: 0.2, verbose: .silent)
        XCTAssertEqual(history.epochs.count, 2)
        let evaluation = try model.evaluate(x: folder, y: folder.labels, batchSize: 3)
        XCTAssertNotNil(evaluation.accuracy)
        try folder.checkFailures()
    }

    // MARK: Split

    func testValidationSplitIsSeededDeterministicAndDisjoint() throws {
        for i in 0..<12 { try image("\(["a", "b", "c"][i % 3])/\(i).png", value: UInt8(i)) }
        func open(_ subset: ImageFolder.Subset, seed: UInt64) throws -> ImageFolder {
            try ImageFolder(directory: dir, imageSize: (2, 2), seed: seed, validationSplit: 0.25, subset: subset)
        }
        let train = try open(.training, seed: 42), validation = try open(.validation, seed: 42)
        XCTAssertEqual(train.count, 9)
        XCTAssertEqual(validation.count, 3, "Keras: the last Int(0.25 · 12) files")
        XCTAssertTrue(Set(train.filePaths).isDisjoint(with: validation.filePaths))
        XCTAssertEqual(Set(train.filePaths + validation.filePaths).count, 12)
        XCTAssertEqual(try open(.training, seed: 42).filePaths, train.filePaths, "same seed, same files in the same order")
        let both = try ImageFolder.split(directory: dir, imageSize: (2, 2), seed: 42, validationSplit: 0.25)
        XCTAssertEqual(both.training.filePaths, train.filePaths)
        XCTAssertEqual(both.validation.filePaths, validation.filePaths)
        XCTAssertNotEqual(try open(.training, seed: 7).filePaths, train.filePaths)
        // Labels follow their files.
        for (i, path) in train.filePaths.enumerated() {
            let name = Int(((path as NSString).lastPathComponent as NSString).deletingPathExtension)!
            XCTAssertEqual(train.labels[flat: i], Float(name % 3))
        }
        // Unshuffled: the split is the sorted list's tail.
        let plain = try ImageFolder(directory: dir, imageSize: (2, 2), shuffle: false, validationSplit: 0.25, subset: .validation)
        XCTAssertEqual(plain.labels.elements, [2, 2, 2])
    }

    func testSplitArgumentsFollowKeras() throws {
        try twoClasses()
        XCTAssertThrowsError(try ImageFolder(directory: dir, validationSplit: 0.2, subset: .training), "shuffling split needs a seed")
        XCTAssertThrowsError(try ImageFolder(directory: dir, seed: 1, validationSplit: 0.2), "a split needs a subset")
        XCTAssertThrowsError(try ImageFolder(directory: dir, seed: 1, subset: .training), "a subset needs a split")
        XCTAssertThrowsError(try ImageFolder(directory: dir, seed: 1, validationSplit: 1.5, subset: .training))
        assertError(try ImageFolder(directory: dir, seed: 1, validationSplit: 0.05, subset: .validation), names: dir, "no validation images")
        XCTAssertThrowsError(try ImageFolder(directory: dir, imageSize: (0, 5)))
    }

    // MARK: Errors

    func testFolderErrorsNameThePath() throws {
        assertError(try ImageFolder(directory: dir + "/missing"), names: dir + "/missing", "no such directory")
        try text("file.txt")
        assertError(try ImageFolder(directory: dir + "/file.txt"), names: dir + "/file.txt", "not a directory")
        try text("top.png")
        assertError(try ImageFolder(directory: dir), names: dir, "no class subfolders")
        try image("cat/0.png", value: 1)
        try FileManager.default.createDirectory(atPath: dir + "/dog", withIntermediateDirectories: true)
        try text("dog/notes.txt")
        assertError(try ImageFolder(directory: dir), names: dir, "class folder 'dog' holds no images")
        try image("dog/0.png", value: 2)
        try image("bird/0.png", value: 3)
        assertError(try ImageFolder(directory: dir, labelMode: .binary), names: dir, "exactly 2 classes")
    }

    func testSingleClassIsAllowedAsInKeras() throws {
        try image("only/0.png", value: 1)
        try image("only/1.png", value: 2)
        let folder = try ImageFolder(directory: dir, imageSize: (2, 2))
        XCTAssertEqual(folder.classNames, ["only"])
        XCTAssertEqual(folder.labels.elements, [0, 0])
    }

    func testBadImageIsNamedWhenTheFolderIsOpened() throws {
        try twoClasses()
        try text("dog/fake.png", "<html>404 Not Found</html>")
        assertError(try ImageFolder(directory: dir), names: dir + "/dog/fake.png", "text")
        try FileManager.default.removeItem(atPath: dir + "/dog/fake.png")
        let png = encodePNG(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 0, count: 48))
        try png.prefix(20).write(to: URL(fileURLWithPath: dir + "/cat/cut.png"))
        assertError(try ImageFolder(directory: dir), names: dir + "/cat/cut.png", "PNG image")
    }

    func testFileBrokenAfterOpeningBecomesZerosAndIsRecorded() throws {
        try twoClasses()
        let folder = try ImageFolder(directory: dir, imageSize: (2, 2), shuffle: false)
        try folder.verify()
        let broken = folder.filePaths[3]
        try "gone".write(toFile: broken, atomically: true, encoding: .utf8)
        let batch = Tensor(shape: [3, 2, 2, 3])
        batch.fill(-1)
        folder.copySamples([2, 3, 4][...], to: batch.pointer)
        XCTAssertEqual(batch[flat: 0], 12)
        XCTAssertEqual(Array(batch.elements[12..<24]), [Float](repeating: 0, count: 12))
        XCTAssertEqual(batch[flat: 24], 14)
        XCTAssertEqual(folder.failures.map(\.path), [broken])
        assertError(try folder.checkFailures(), names: broken, "not a PNG")
        assertError(try folder.verify(), names: broken)
    }

    func testCacheServesDecodedSamplesWithoutTheFiles() throws {
        try twoClasses()
        let folder = try ImageFolder(directory: dir, imageSize: (2, 2), shuffle: false, cache: true)
        let first = folder.tensor
        try FileManager.default.removeItem(atPath: dir + "/cat")
        XCTAssertEqual(folder.tensor.elements, first.elements)
        XCTAssertTrue(folder.failures.isEmpty)
        // A subset starts its own cache: its files are read again.
        let part = folder.subset([0, 5])
        _ = part.tensor
        XCTAssertEqual(part.failures.count, 1)
    }

    func testCropToAspectRatioAndFormatsMixed() throws {
        // A 4 wide × 2 high image whose columns are 0, 100, 200, 250: the centre crop keeps 100 and 200.
        var pixels: [UInt8] = []
        for _ in 0..<2 { for v: UInt8 in [0, 100, 200, 250] { pixels += [v, v, v] } }
        try FileManager.default.createDirectory(atPath: dir + "/wide", withIntermediateDirectories: true)
        try encodePNG(width: 4, height: 2, channels: 3, pixels: pixels).write(to: URL(fileURLWithPath: dir + "/wide/w.png"))
        try FileManager.default.copyItem(atPath: fixtureDirectory + "/first.gif", toPath: dir + "/wide/f.GIF")
        try FileManager.default.copyItem(atPath: fixtureDirectory + "/rgb24.bmp", toPath: dir + "/wide/b.bmp")
        let folder = try ImageFolder(directory: dir, colorMode: .grayscale, imageSize: (2, 2), shuffle: false, cropToAspectRatio: true)
        XCTAssertEqual(folder.filePaths.map { ($0 as NSString).lastPathComponent }, ["b.bmp", "f.GIF", "w.png"])
        let t = folder.tensor
        XCTAssertEqual(Array(t.elements[0..<4]), Array(t.elements[4..<8]), "the same picture as BMP and GIF")
        XCTAssertEqual(Array(t.elements[8..<12]), [100, 200, 100, 200])
    }
}
