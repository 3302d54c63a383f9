import Foundation
import XCTest
@testable import NN
@testable import NNData
@testable import NNImages
@testable import NNZoo

/// `cnn` on folders of images: make-image-folder from IDX data, training on the folder with the
/// held-out or a given test set (said in the output), the same pixels and training as the IDX path,
/// predict --image, transfer, and every bad folder named.
final class ImageFolderCLITests: CLITestCase {
    /// The harness's IDX data as PNG class folders (train/ and test/).
    func makeFolder(_ format: String = "png", extra: [String] = []) throws -> String {
        let out = work + "/images-\(format)"
        let run = try cnn(["make-image-folder", "--data", try makeData(), "--out", out, "--format", format] + extra)
        XCTAssertEqual(run.status, 0, run.all)
        return out
    }

    func testMadeFolderHoldsTheIDXPixelsInKerasOrder() throws {
        let out = try makeFolder()
        let (train, _) = try DataSets.load(directory: try makeData())
        let folder = try ImageFolder(directory: out + "/train", colorMode: .grayscale, imageSize: (28, 28), shuffle: false)
        XCTAssertEqual(folder.classNames, (0..<10).map { "\($0) \($0)" })
        XCTAssertEqual(folder.count, train.count)
        // The folder lists class by class, each in IDX order: the same images and labels, reordered.
        let order = (0..<train.count).sorted { (train.label($0), $0) < (train.label($1), $1) }
        let idx = train.subset(order)
        folder.divisor = 255
        XCTAssertEqual(folder.tensor.elements.map(\.bitPattern), idx.images.elements.map(\.bitPattern))
        XCTAssertEqual(folder.labels.elements, idx.labels.elements)
        // The same pixels train the same network to the same bits as the IDX samples in that order.
        func fitWeights(_ x: any SampleSource, _ y: Tensor) throws -> [UInt32] {
            let model = try ModelZoo.build("convnet", inputShape: [28, 28, 1], classes: 10, seed: 3)
            model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            try model.fit(x: x, y: y, batchSize: 8, epochs: 2, verbose: .silent)
            return model.namedParameters.flatMap { $0.parameter.value.elements.map(\.bitPattern) }
        }
        XCTAssertEqual(try fitWeights(folder, folder.labels), try fitWeights(idx.inputs, idx.labels))
    }

    func testTrainOnAFolderSaysWhereTheTestSetComesFrom() throws {
        let out = try makeFolder()
        let held = try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", out + "/train", "--image-size", "28x28",
                            "--color-mode", "grayscale", "--save", work + "/m.keras"])
        XCTAssertEqual(held.status, 0, held.all)
        XCTAssertTrue(held.stdout.contains("64 images of 10 classes") || held.stdout.contains("images of 10 classes"), held.stdout)
        XCTAssertTrue(held.stdout.contains("20% of \(out)/train held out"), held.stdout)
        let given = try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", out + "/train", "--test-data", out + "/test",
                             "--image-size", "28x28", "--color-mode", "grayscale"])
        XCTAssertEqual(given.status, 0, given.all)
        XCTAssertTrue(given.stdout.contains("test set: 32 images, \(out)/test (--test-data)"), given.stdout)
        // predict --image names the classes the model was saved with.
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: out + "/test/3 3").first)
        let predicted = try cnn(["predict", "--model-file", work + "/m.keras", "--image", out + "/test/3 3/" + file, "--top", "2"])
        XCTAssertEqual(predicted.status, 0, predicted.all)
        XCTAssertTrue(predicted.stdout.hasPrefix(out + "/test/3 3/" + file + ": "), predicted.stdout)
        XCTAssertEqual(predicted.stdout.components(separatedBy: ", ").count, 2, predicted.stdout)
        // Outputs never go inside an image folder.
        let inside = try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", out + "/train", "--image-size", "28x28",
                              "--save", out + "/train/m.keras"])
        XCTAssertNotEqual(inside.status, 0)
        XCTAssertTrue(inside.stderr.contains("inside the image folder"), inside.all)
    }

    func testBadFoldersAndImagesAreNamed() throws {
        let root = work + "/bad"
        func png(_ path: String, _ value: UInt8 = 100) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try DecodedImage(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: value, count: 48)).pngData()
                .write(to: URL(fileURLWithPath: path))
        }
        func train(_ dir: String) throws -> CNNProcess.Run {
            try cnn(["train", "--model", "mlp", "--epochs", "1", "--data", dir, "--image-size", "4x4"])
        }
        // An empty class folder.
        for i in 1...5 { try png(root + "/a/\(i).png", 10); try png(root + "/b/\(i).png", 200) }
        try FileManager.default.createDirectory(atPath: root + "/c", withIntermediateDirectories: true)
        var run = try train(root)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(root + "/c") || run.stderr.contains("'c'"), run.all)
        // A corrupt image behind an image extension, and a truncated one: named with what is wrong.
        try FileManager.default.removeItem(atPath: root + "/c")
        try "not a picture".write(toFile: root + "/b/2.png", atomically: true, encoding: .utf8)
        run = try train(root)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(root + "/b/2.png") && run.stderr.contains("text"), run.all)
        let good = try Data(contentsOf: URL(fileURLWithPath: root + "/a/1.png"))
        try good.prefix(good.count - 20).write(to: URL(fileURLWithPath: root + "/b/2.png"))
        run = try train(root)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(root + "/b/2.png"), run.all)
        // One class only: a classifier needs two.
        let one = work + "/one"
        for i in 1...10 { try png(one + "/only/\(i).png") }
        run = try train(one)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("1 class") && run.stderr.contains(one), run.all)
        // No images at all (other files are ignored, as Keras does).
        let none = work + "/none"
        try FileManager.default.createDirectory(atPath: none + "/x", withIntermediateDirectories: true)
        try "notes".write(toFile: none + "/x/readme.txt", atomically: true, encoding: .utf8)
        run = try train(none)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(none), run.all)
        XCTAssertFalse(run.all.contains("Fatal error"), run.all)
        // An unreadable image (permissions): named. Root reads anything, so only checked for others.
        if getuid() != 0 {
            try png(root + "/b/2.png")
            chmod(root + "/b/2.png", 0)
            run = try train(root)
            XCTAssertNotEqual(run.status, 0)
            XCTAssertTrue(run.stderr.contains(root + "/b/2.png"), run.all)
        }
    }

    /// --augment puts Keras's augmentation layers in front, repeats with the seed, and names a bad item.
    func testAugmentAddsSeededLayersInFront() throws {
        let out = try makeFolder()
        let args = ["train", "--model", "convnet", "--epochs", "1", "--data", out + "/train", "--image-size", "28x28",
                    "--color-mode", "grayscale", "--augment", "flip,rotation=0.1,zoom=-0.1:0.2,contrast=0.2", "--seed", "4"]
        let a = try cnn(args), b = try cnn(args)
        XCTAssertEqual(a.status, 0, a.all)
        for layer in ["random_flip (RandomFlip)", "random_rotation (RandomRotation)", "random_zoom (RandomZoom)", "random_contrast (RandomContrast)"] {
            XCTAssertTrue(a.stdout.contains(layer), a.stdout)
        }
        func result(_ run: CNNProcess.Run) -> String? { run.stdout.components(separatedBy: "\n").first { $0.hasPrefix("test loss") }?.components(separatedBy: " - ").prefix(2).joined() }
        XCTAssertNotNil(result(a))
        XCTAssertEqual(result(a), result(b))
        let bad = try cnn(["train", "--augment", "flip,spin=3", "--data", out + "/train"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("spin=3"), bad.all)
    }
}
