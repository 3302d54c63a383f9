import ArgumentParser
import Foundation
import NN
import NNData
import NNImages

/// Options every command that reads data shares: an IDX directory (MNIST, Fashion-MNIST) or a
/// folder of images with one subfolder per class (Keras's `image_dataset_from_directory`).
struct DataOptions: ParsableArguments {
    @Option(help: "Directory with the four MNIST-named IDX files (gzipped or not), or a folder of images (PNG, JPEG, BMP, GIF) with one subfolder per class.")
    var data: String = DataSets.fashionMNISTDirectory

    @Option(help: "Where the test images come from: another image folder with the same classes, or an IDX directory (its t10k files). Default: the IDX directory's t10k files, or --test-split of an image folder held out.")
    var testData: String?

    @Option(help: "With an image folder and no --test-data: the fraction held out for testing (default 0.2).")
    var testSplit: Double?

    @Option(help: "Seed of the held-out test split of an image folder (default 1; independent of --seed, so the test images stay the same).")
    var splitSeed: UInt64?

    @Option(help: "With image folders: HxW every image is resized to (bilinear; Keras's default 256x256).")
    var imageSize: String?

    @Option(help: "With image folders: grayscale, rgb or rgba (Keras's default rgb).")
    var colorMode: String?

    @Option(help: "With image folders: keep the decoded images in memory after the first epoch (Keras's dataset.cache()): auto (when they take at most an eighth of the machine's memory), yes or no.")
    var cacheImages: String = "auto"

    @Option(help: "Threads the engine uses, 1...\(DataOptions.maxThreads) (default: the core count, or OPENBLAS_NUM_THREADS when set).")
    var threads: Int?

    /// One OS thread is created per requested thread, so an absurd count would exhaust the system
    /// (issue 13: 12,783 threads for `--threads 100000`). 256 is far above any core count this
    /// engine gains from (its kernels stop scaling long before) and cheap to create.
    static let maxThreads = 256
    /// The largest side `--image-size` accepts.
    static let maxImageSide = 4096

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let threads, threads > Self.maxThreads {
            throw ValidationError("--threads must be at most \(Self.maxThreads), got \(threads)")
        }
        if let imageSize, Self.parseImageSize(imageSize) == nil {
            throw ValidationError("--image-size must be HxW with sides 1...\(Self.maxImageSide), e.g. 160x160; got '\(imageSize)'")
        }
        if let colorMode, ImageFolder.ColorMode(rawValue: colorMode) == nil {
            throw ValidationError("--color-mode must be grayscale, rgb or rgba, got '\(colorMode)'")
        }
        guard ["auto", "yes", "no"].contains(cacheImages) else {
            throw ValidationError("--cache-images must be auto, yes or no, got '\(cacheImages)'")
        }
        if let testSplit, !(testSplit > 0 && testSplit < 1) { throw ValidationError("--test-split must be in (0, 1), got \(testSplit)") }
        if testData != nil && (testSplit != nil || splitSeed != nil) {
            throw ValidationError("--test-split and --split-seed hold out a test set; --test-data gives one: use one or the other")
        }
    }

    /// "160x120" → (160, 120).
    static func parseImageSize(_ text: String) -> (Int, Int)? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let h = parts[0], let w = parts[1], (1...maxImageSide).contains(h), (1...maxImageSide).contains(w) else { return nil }
        return (h, w)
    }

    func apply() { if let threads { Parallel.threads = threads } }

    /// Whether `directory` holds the MNIST-named IDX files (rather than class subfolders).
    static func isIDXDirectory(_ directory: String) -> Bool {
        [DataSets.trainImagesFile, DataSets.testImagesFile].contains { name in
            let base = directory + "/" + name
            return OutputPaths.exists(base) || OutputPaths.exists(base + ".gz")
        }
    }

    /// Whether `--data` is an image folder: a directory with subfolders and no IDX files (one with
    /// neither is taken for an IDX directory, whose error names the missing file).
    var isImageFolder: Bool {
        guard OutputPaths.isDirectory(data), !Self.isIDXDirectory(data),
              let names = try? FileManager.default.contentsOfDirectory(atPath: data) else { return false }
        return names.contains { !$0.hasPrefix(".") && OutputPaths.isDirectory(data + "/" + $0) }
    }

    /// Loads both sets; a file given as `--data` and a test set whose images differ in shape from
    /// the training set's are named here, before a layer would report a shape error.
    func load() throws -> (train: Dataset, test: Dataset) {
        let (train, test, _) = try loadDescribed()
        return (train, test)
    }

    /// `load`, with where the test figures come from, for the output ("the t10k files of DIR",
    /// "20% of DIR held out …").
    func loadDescribed() throws -> (train: Dataset, test: Dataset, testSource: String) {
        var testDescription = ""
        if OutputPaths.exists(data) && !OutputPaths.isDirectory(data) {
            throw NNError.invalidArgument("--data \(data) is a file, not a directory (give the directory holding the four IDX files, or a folder of class subfolders)")
        }
        let train: Dataset, test: Dataset
        if isImageFolder {
            (train, test) = try loadFolder(&testDescription)
            guard train.classCount >= 2 else {
                throw NNError.invalidArgument("--data \(data) has 1 class ('\(train.classNames.first ?? "")'); a classifier needs at least 2 class subfolders")
            }
        } else {
            if imageSize != nil || colorMode != nil || cacheImages != "auto" || testSplit != nil || splitSeed != nil {
                throw NNError.invalidArgument("--image-size, --color-mode, --cache-images, --test-split and --split-seed are for image folders; --data \(data) holds IDX files")
            }
            let (idxTrain, idxTest) = try DataSets.load(directory: data)
            train = idxTrain
            if let testData {
                test = try loadTest(testData, like: train, &testDescription)
            } else {
                test = idxTest
                testDescription = "the t10k files of \(data)"
            }
        }
        if train.sampleShape != test.sampleShape {
            func dims(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }
            let where_ = testData ?? {
                let base = URL(fileURLWithPath: data).appendingPathComponent(DataSets.testImagesFile).path
                return OutputPaths.exists(base) ? base : base + ".gz"
            }()
            throw NNError.invalidArgument("\(where_) has images of \(dims(test.sampleShape)) but the training images are \(dims(train.sampleShape))")
        }
        return (train, test, testDescription)
    }

    /// Image folders are served as the engine's IDX data are, pixels / 255 in [0, 1], so a zoo
    /// model trains the same on both; a model that begins with Keras's `Rescaling` (a Keras user's
    /// own) gets the 0–255 values it expects instead.
    static func matchPixels(of datasets: [Dataset], to model: Model) {
        guard model.layers.first is Rescaling else { return }
        for d in datasets { (d.inputs as? ImageFolder)?.divisor = nil }
    }

    /// Whether a folder of `count` images is cached: decoding every image every epoch costs about
    /// as much CPU as training a small model on it, and on a machine with few cores that work
    /// cannot hide behind the step; a set that fits easily is decoded once.
    private func caches(_ directory: String) -> Bool {
        switch cacheImages {
        case "yes": return true
        case "no": return false
        default:
            let files = (try? FileManager.default.subpathsOfDirectory(atPath: directory).count) ?? Int.max
            let (h, w) = folderSize
            let bytes = Double(files) * Double(h * w * folderColorMode.channels) * 4
            return bytes <= Double(ProcessInfo.processInfo.physicalMemory) / 8
        }
    }

    private var folderSize: (Int, Int) { imageSize.flatMap(Self.parseImageSize) ?? (256, 256) }
    private var folderColorMode: ImageFolder.ColorMode { colorMode.flatMap(ImageFolder.ColorMode.init) ?? .rgb }

    private func loadFolder(_ testDescription: inout String) throws -> (train: Dataset, test: Dataset) {
        if let testData {
            let folder = try ImageFolder(directory: data, colorMode: folderColorMode, imageSize: folderSize, shuffle: false,
                                         cache: caches(data))
            folder.divisor = 255
            let train = folder.dataset
            return (train, try loadTest(testData, like: train, &testDescription))
        }
        let (training, held) = try ImageFolder.split(directory: data, colorMode: folderColorMode, imageSize: folderSize,
                                                     seed: splitSeed ?? 1, validationSplit: testSplit ?? 0.2, cache: caches(data))
        training.divisor = 255
        held.divisor = 255
        testDescription = String(format: "%g%% of %@ held out (--test-split %g, --split-seed %llu; give --test-data for a test folder)",
                                 (testSplit ?? 0.2) * 100, data, testSplit ?? 0.2, splitSeed ?? 1)
        return (training.dataset, held.dataset)
    }

    /// The test set from `path`: an image folder with the training classes (same size and colour
    /// mode), or an IDX directory's t10k files.
    private func loadTest(_ path: String, like train: Dataset, _ testDescription: inout String) throws -> Dataset {
        if Self.isIDXDirectory(path) {
            testDescription = "the t10k files of \(path) (--test-data)"
            return try DataSets.load(directory: path).test
        }
        let folder = try ImageFolder(directory: path, classNames: train.classNames, colorMode: folderColorMode,
                                     imageSize: folderSize, shuffle: false, cache: caches(path))
        folder.divisor = 255
        testDescription = "\(path) (--test-data)"
        return folder.dataset
    }
}
