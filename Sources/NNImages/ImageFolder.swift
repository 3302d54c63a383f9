import Foundation
import NN

/// A folder of class subfolders of photos as a dataset: Keras's `image_dataset_from_directory`.
///
///     let train = try ImageFolder(directory: "flowers", imageSize: (180, 180),
///                                 validationSplit: 0.2, subset: .training, seed: 123)
///     try model.fit(train.dataset, epochs: 10)
///
/// Follows Keras: one subfolder per class, class names sorted (or `classNames` in the order
/// given, a subset of the subfolders); in each class folder, recursively, the files ending
/// `.bmp .gif .jpeg .jpg .png` in any letter case, sorted; everything else ignored. Pixel values
/// are Float 0…255, not scaled (add a `Rescaling(1/255)` layer, as with Keras). Images are
/// decoded as TensorFlow's `decode_image(channels:)` does, then centre-cropped to the target
/// aspect (`cropToAspectRatio`) and resized with TensorFlow's `resize` arithmetic.
///
/// Unlike Keras, hidden files and folders (names starting with ".", such as macOS's `._photo.jpg`
/// resource forks, which Keras tries to decode and fails on) are skipped, and an empty class
/// folder is an error naming it (Keras would silently make a class with no samples).
///
/// Every file's header is checked when the folder is opened, so a file that is not an image,
/// is truncated in its header, or is absurdly large is named before any training. Pixels are
/// decoded batch by batch in `copySamples`, spread over the engine's worker threads. A file that
/// fails to decode there (it changed since, or its data past the header is corrupt) becomes a
/// zero image and is recorded in `failures`; call `checkFailures()` after `fit`, or `verify()`
/// before it to decode every image once.
public final class ImageFolder: SampleSource, @unchecked Sendable {
    /// How labels are served (Keras's `label_mode`).
    public enum LabelMode: String, Sendable {
        /// Class indices `[N]` (sparse categorical cross-entropy).
        case int
        /// One-hot rows `[N, classes]` (categorical cross-entropy).
        case categorical
        /// 0 or 1 `[N]` for exactly two classes (binary cross-entropy).
        case binary
    }

    /// The channels every image is converted to (Keras's `color_mode`).
    public enum ColorMode: String, Sendable {
        case grayscale, rgb, rgba
        public var channels: Int {
            switch self {
            case .grayscale: return 1
            case .rgb: return 3
            case .rgba: return 4
            }
        }
    }

    /// Which part of a `validationSplit` this folder is (Keras's `subset`).
    public enum Subset: String, Sendable { case training, validation }

    /// A file that could not be decoded while copying samples (it became zeros).
    public struct Failure: CustomStringConvertible, Sendable {
        public var path: String
        public var message: String
        public var description: String { message }
    }

    /// The extensions Keras accepts (compared in lower case).
    public static let allowedExtensions = [".bmp", ".gif", ".jpeg", ".jpg", ".png"]

    public let directory: String
    /// One per sample, in sample order.
    public let filePaths: [String]
    /// What each file's header said when the folder was opened.
    public let headers: [ImageHeader]
    /// `[N]` class indices as Float (whatever `labelMode` is; `targets` follows the mode).
    public let labels: Tensor
    public let classNames: [String]
    public let labelMode: LabelMode
    public let colorMode: ColorMode
    public let imageSize: (height: Int, width: Int)
    public let interpolation: Interpolation
    public let cropToAspectRatio: Bool
    /// Whether decoded samples are kept in memory after first use (`dataset.cache()`).
    public let cache: Bool
    /// When set, every pixel value is divided by it as it is copied out (255: values in [0, 1],
    /// exactly as the engine's IDX data are scaled, `b / 255`); nil (Keras's behaviour) leaves the
    /// 0–255 values for a `Rescaling` layer in the model.
    public var divisor: Float?

    private let sampleSize: Int
    private let lock = NSLock()
    private var scratches: [DecodeScratch] = []
    private var failureList: [Failure] = []
    private var cached: UnsafeMutablePointer<Float>?
    private var isCached: UnsafeMutablePointer<Bool>?

    /// Opens `directory` (Keras's `image_dataset_from_directory` arguments). With
    /// `validationSplit`, `subset` says which part this is; the files are shuffled with `seed`
    /// before splitting (Keras's rule: the last `Int(split · N)` validate), so the training and
    /// validation calls with the same seed get disjoint sets that together are the whole folder.
    /// Throws for a missing or empty folder, a bad argument, or a file whose header is not a valid
    /// image (naming it).
    public convenience init(directory: String, labelMode: LabelMode = .int, classNames: [String]? = nil,
                            colorMode: ColorMode = .rgb, imageSize: (Int, Int) = (256, 256), shuffle: Bool = true,
                            seed: UInt64? = nil, validationSplit: Double? = nil, subset: Subset? = nil,
                            interpolation: Interpolation = .bilinear, cropToAspectRatio: Bool = false, cache: Bool = false) throws {
        let index = try Self.index(directory: directory, labelMode: labelMode, classNames: classNames, imageSize: imageSize,
                                   shuffle: shuffle, seed: seed, validationSplit: validationSplit, subset: subset)
        let part = try Self.part(index, validationSplit: validationSplit, subset: subset, directory: directory)
        try self.init(directory: directory, entries: part, classNames: index.classNames, labelMode: labelMode,
                      colorMode: colorMode, imageSize: imageSize, interpolation: interpolation,
                      cropToAspectRatio: cropToAspectRatio, cache: cache)
    }

    /// Keras's `subset="both"`: the training and validation parts of one shuffled listing.
    public static func split(directory: String, labelMode: LabelMode = .int, classNames: [String]? = nil,
                             colorMode: ColorMode = .rgb, imageSize: (Int, Int) = (256, 256), shuffle: Bool = true,
                             seed: UInt64?, validationSplit: Double, interpolation: Interpolation = .bilinear,
                             cropToAspectRatio: Bool = false, cache: Bool = false) throws -> (training: ImageFolder, validation: ImageFolder) {
        let index = try index(directory: directory, labelMode: labelMode, classNames: classNames, imageSize: imageSize,
                              shuffle: shuffle, seed: seed, validationSplit: validationSplit, subset: .training)
        func make(_ subset: Subset) throws -> ImageFolder {
            try ImageFolder(directory: directory, entries: try part(index, validationSplit: validationSplit, subset: subset, directory: directory),
                            classNames: index.classNames, labelMode: labelMode, colorMode: colorMode, imageSize: imageSize,
                            interpolation: interpolation, cropToAspectRatio: cropToAspectRatio, cache: cache)
        }
        return (try make(.training), try make(.validation))
    }

    /// Samples from a file list (used by `subset` and the public initialisers).
    private init(directory: String, entries: [Entry], classNames: [String], labelMode: LabelMode, colorMode: ColorMode,
                 imageSize: (Int, Int), interpolation: Interpolation, cropToAspectRatio: Bool, cache: Bool) throws {
        self.directory = directory
        self.classNames = classNames
        self.labelMode = labelMode
        self.colorMode = colorMode
        self.imageSize = (imageSize.0, imageSize.1)
        self.interpolation = interpolation
        self.cropToAspectRatio = cropToAspectRatio
        self.cache = cache
        sampleSize = try Tensor.validatedElementCount([imageSize.0, imageSize.1, colorMode.channels], what: "image size")
        var headers: [ImageHeader] = []
        headers.reserveCapacity(entries.count)
        for e in entries { headers.append(try e.header ?? ImageFile.header(path: e.path)) }
        self.headers = headers
        filePaths = entries.map(\.path)
        labels = Tensor(shape: [entries.count], elements: entries.map { Float($0.label) })
        if cache {
            let total = try Tensor.validatedElementCount([entries.count, sampleSize], what: "image cache")
            cached = .allocate(capacity: max(total, 1))
            isCached = .allocate(capacity: max(entries.count, 1))
            isCached!.initialize(repeating: false, count: max(entries.count, 1))
        }
    }

    deinit {
        cached?.deallocate()
        isCached?.deallocate()
    }

    public var count: Int { filePaths.count }
    public var sampleCount: Int { filePaths.count }
    public var sampleShape: [Int] { [imageSize.height, imageSize.width, colorMode.channels] }
    public var classCount: Int { classNames.count }

    /// The targets `labelMode` asks for: `[N]` indices (`.int`, `.binary`) or one-hot `[N, classes]`.
    public var targets: Tensor {
        guard labelMode == .categorical else { return labels }
        let k = classNames.count
        let t = Tensor(shape: [count, k])
        for i in 0..<count { t[flat: i * k + Int(labels[flat: i])] = 1 }
        return t
    }

    /// The images and class labels as a `Dataset`, for `fit(_:)`, `evaluate(_:)` and the reports
    /// (the images stay this folder: decoded batch by batch).
    public var dataset: Dataset { Dataset(inputs: self, labels: labels, classNames: classNames) }

    /// The files that failed to decode in `copySamples` so far (their samples were zeros).
    public var failures: [Failure] {
        lock.lock(); defer { lock.unlock() }
        return failureList
    }

    /// Throws when any file failed to decode in `copySamples`, naming the first (and how many).
    public func checkFailures() throws {
        let list = failures
        guard let first = list.first else { return }
        let more = list.count > 1 ? " (and \(list.count - 1) more failures)" : ""
        throw IOError.cannotRead(path: first.path, reason: "\(first.message)\(more)")
    }

    /// Decodes every image once (filling the cache if there is one): the first bad file is thrown.
    public func verify() throws {
        let scratch = takeScratch()
        defer { giveBack(scratch) }
        let sample = UnsafeMutablePointer<Float>.allocate(capacity: max(sampleSize, 1))
        defer { sample.deallocate() }
        for i in 0..<count { try load(i, into: sample, scratch: scratch) }
    }

    // MARK: SampleSource

    /// Decodes, converts and resizes the images at `indices`, split over the worker threads.
    /// Throws the first image that failed to decode while copying (`fit`, `evaluate` and `predict`
    /// ask after every batch), naming the file.
    public func checkHealth() throws { try checkFailures() }

    /// Decoding files is worth doing on the `Batcher`'s own thread while the previous batch trains.
    public var prefersPrefetch: Bool { true }

    public func copySamples(_ indices: ArraySlice<Int>, to destination: UnsafeMutablePointer<Float>) {
        let parts = max(1, min(indices.count, Parallel.partCount(indices.count, grain: 1)))
        Parallel.run(parts, DecodeWork(folder: self, indices: indices, destination: destination))
    }

    public func samples(_ range: Range<Int>) -> ImageFolder { subset(Array(range)) }

    /// The samples at `indices` as a new folder (headers are not read again; the cache, if any, starts empty).
    public func subset(_ indices: [Int]) -> ImageFolder {
        let entries = indices.map { i -> Entry in
            precondition(i >= 0 && i < count, "sample index \(i) out of range 0..<\(count)")
            return Entry(path: filePaths[i], label: Int(labels[flat: i]), header: headers[i])
        }
        // Cannot throw: every size was validated when this folder was made.
        let part = try! ImageFolder(directory: directory, entries: entries, classNames: classNames, labelMode: labelMode,
                                    colorMode: colorMode, imageSize: imageSize, interpolation: interpolation,
                                    cropToAspectRatio: cropToAspectRatio, cache: cache)
        part.divisor = divisor
        return part
    }

    /// All samples as one Float32 tensor `[N, H, W, C]` (decoded now; not kept).
    public var tensor: Tensor {
        let t = Tensor(shape: [count] + sampleShape)
        copySamples(Array(0..<count)[...], to: t.pointer)
        return t
    }

    // MARK: Decoding

    private struct DecodeWork: ParallelWork {
        let folder: ImageFolder
        let indices: ArraySlice<Int>
        let destination: UnsafeMutablePointer<Float>

        func run(part: Int, of parts: Int) {
            let scratch = folder.takeScratch()
            defer { folder.giveBack(scratch) }
            let size = folder.sampleSize
            for k in Parallel.range(part, of: parts, count: indices.count) {
                let i = indices[indices.startIndex + k], out = destination + k * size
                do { try folder.load(i, into: out, scratch: scratch) } catch {
                    out.update(repeating: 0, count: size)
                    folder.record(Failure(path: folder.filePaths[i], message: "\(error)"))
                }
                if let d = folder.divisor { for j in 0..<size { out[j] = out[j] / d } }
            }
        }
    }

    /// Reused buffers and a JPEG handle, one per thread decoding at a time.
    final class DecodeScratch {
        var pixels: [UInt8] = []
        var converted: [UInt8] = []
        let resize = ResizeScratch()
        var jpeg: JPEGDecoder?
    }

    private func takeScratch() -> DecodeScratch {
        lock.lock(); defer { lock.unlock() }
        return scratches.popLast() ?? DecodeScratch()
    }

    private func giveBack(_ scratch: DecodeScratch) {
        lock.lock(); defer { lock.unlock() }
        scratches.append(scratch)
    }

    private func record(_ failure: Failure) {
        lock.lock(); defer { lock.unlock() }
        if failureList.count < 10_000 { failureList.append(failure) }
    }

    /// Sample `i` into `out` (`sampleSize` floats), from the cache when it holds it.
    private func load(_ i: Int, into out: UnsafeMutablePointer<Float>, scratch: DecodeScratch) throws {
        if let cached, let isCached, isCached[i] {
            out.update(from: cached + i * sampleSize, count: sampleSize)
            return
        }
        let path = filePaths[i]
        let (w, h) = try ImageFile.decode(data: try ImageFile.read(path), name: path, channels: colorMode.channels, scratch: scratch)
        let window = CropWindow(imageHeight: h, imageWidth: w, targetHeight: imageSize.height, targetWidth: imageSize.width,
                                crop: cropToAspectRatio)
        scratch.converted.withUnsafeBufferPointer { p in
            Resampler.resize(p.baseAddress!, width: w, channels: colorMode.channels, window: window, to: out,
                             outHeight: imageSize.height, outWidth: imageSize.width, interpolation: interpolation,
                             scratch: scratch.resize)
        }
        if let cached, let isCached {
            (cached + i * sampleSize).update(from: out, count: sampleSize)
            isCached[i] = true
        }
    }

    // MARK: Listing

    struct Entry {
        var path: String
        var label: Int
        var header: ImageHeader?
    }

    struct Index {
        var entries: [Entry]
        var classNames: [String]
    }

    /// Python's string order (by code point), which Keras's `sorted` uses.
    static func before(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    private static func invalidFolder(_ directory: String, _ reason: String) -> IOError {
        IOError.invalidFile(path: directory, format: "image folder (one subfolder of images per class)", reason: reason)
    }

    /// Kind of the file at `path`, following symbolic links: true directory, false other, nil missing.
    private static func isDirectory(_ path: String) -> Bool? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_mode & S_IFMT) == S_IFDIR
    }

    private static func listing(_ path: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw IOError.cannotRead(path: path, reason: "cannot list the directory (\(error.localizedDescription))")
        }
    }

    /// The arguments checked, the class folders listed, the files shuffled (Keras's order).
    private static func index(directory: String, labelMode: LabelMode, classNames requested: [String]?, imageSize: (Int, Int),
                              shuffle: Bool, seed: UInt64?, validationSplit: Double?, subset: Subset?) throws -> Index {
        guard imageSize.0 > 0, imageSize.1 > 0 else {
            throw NNError.invalidArgument("image size must be positive, got \(imageSize.0)×\(imageSize.1)")
        }
        if let split = validationSplit {
            guard split > 0, split < 1 else {
                throw NNError.invalidArgument("validation split must be between 0 and 1, got \(split)")
            }
            guard subset != nil else {
                throw NNError.invalidArgument("a validation split needs a subset (.training or .validation), as in Keras")
            }
            guard !shuffle || seed != nil else {
                throw NNError.invalidArgument("a validation split with shuffling needs a seed, so that the training and validation subsets do not overlap")
            }
        } else if subset != nil {
            throw NNError.invalidArgument("a subset needs a validation split, as in Keras")
        }
        switch isDirectory(directory) {
        case nil: throw IOError.cannotRead(path: directory, reason: "no such directory")
        case false?: throw invalidFolder(directory, "it is a file, not a directory of class subfolders")
        case true?: break
        }
        let subfolders = try listing(directory)
            .filter { !$0.hasPrefix(".") && isDirectory(directory + "/" + $0) == true }
            .sorted(by: before)
        guard !subfolders.isEmpty else {
            throw invalidFolder(directory, "it has no class subfolders (put each class's images in a subfolder named after the class)")
        }
        var classes = subfolders
        if let requested {
            // By bytes, as the file system names them: Swift's String equality would take a
            // composed "café" for a decomposed one, a folder that does not exist under that name.
            let wanted = requested.map { Array($0.utf8) }, present = Set(subfolders.map { Array($0.utf8) })
            guard wanted.allSatisfy(present.contains), Set(wanted).count == wanted.count, !requested.isEmpty else {
                throw invalidFolder(directory, "class names \(requested) are not distinct names of its subfolders \(subfolders)")
            }
            classes = requested
        }
        if labelMode == .binary && classes.count != 2 {
            throw invalidFolder(directory, "binary labels need exactly 2 classes, found \(classes.count): \(classes)")
        }
        var entries: [Entry] = []
        for (label, name) in classes.enumerated() {
            let files = try imageFiles(in: directory + "/" + name)
            guard !files.isEmpty else {
                throw invalidFolder(directory, "class folder '\(name)' holds no images (\(allowedExtensions.joined(separator: " ")))")
            }
            entries += files.map { Entry(path: $0, label: label, header: nil) }
        }
        if shuffle {
            var generator = RandomGenerator(seed: seed ?? UInt64.random(in: 0...UInt64.max))
            var order = Array(entries.indices)
            generator.shuffle(&order)
            entries = order.map { entries[$0] }
        }
        return Index(entries: entries, classNames: classes)
    }

    /// Keras's split: the last `Int(split · N)` files validate, the others train.
    private static func part(_ index: Index, validationSplit: Double?, subset: Subset?, directory: String) throws -> [Entry] {
        guard let split = validationSplit, let subset else { return index.entries }
        let n = index.entries.count, validation = Int(split * Double(n))
        let part = subset == .training ? Array(index.entries[..<(n - validation)]) : Array(index.entries[(n - validation)...])
        guard !part.isEmpty else {
            throw invalidFolder(directory, "a validation split of \(split) of its \(n) images leaves no \(subset.rawValue) images")
        }
        return part
    }

    /// The image files under a class folder, recursively, in Keras's order: directories by path,
    /// then file names, each sorted. Symbolic links to folders are not followed (os.walk's default).
    static func imageFiles(in folder: String) throws -> [String] {
        var result: [String] = []
        var pending = [folder]
        var roots: [(String, [String])] = []
        while let root = pending.popLast() {
            var files: [String] = []
            for name in try listing(root) where !name.hasPrefix(".") {
                let path = root + "/" + name
                var link = stat()
                guard lstat(path, &link) == 0 else { continue }
                if (link.st_mode & S_IFMT) == S_IFDIR {
                    pending.append(path)
                } else if (link.st_mode & S_IFMT) == S_IFLNK, isDirectory(path) == true {
                    continue
                } else if allowedExtensions.contains(where: { name.lowercased().hasSuffix($0) }) {
                    files.append(name)
                }
            }
            roots.append((root, files.sorted(by: before)))
        }
        for (root, files) in roots.sorted(by: { before($0.0, $1.0) }) {
            result += files.map { root + "/" + $0 }
        }
        return result
    }
}

extension ImageFile {
    /// Decodes `data` with `channels` channels into `scratch.converted` (capacity reused; the JPEG
    /// handle kept) and returns (width, height).
    static func decode(data: Data, name: String, channels: Int, scratch: ImageFolder.DecodeScratch) throws -> (Int, Int) {
        let format = try detect(data, name: name)
        let (w, h, c): (Int, Int, Int)
        switch format {
        case .png: (w, h, c) = try PNGDecoder.decode(data, name: name, into: &scratch.pixels)
        case .jpeg:
            if scratch.jpeg == nil { scratch.jpeg = try JPEGDecoder(name: name) }
            (w, h, c) = try scratch.jpeg!.decode(data, name: name, gray: channels <= 2, into: &scratch.pixels)
        case .bmp: (w, h, c) = try BMPDecoder.decode(data, name: name, into: &scratch.pixels)
        case .gif: (w, h, c) = try GIFDecoder.decode(data, name: name, into: &scratch.pixels)
        }
        resize(&scratch.converted, to: w * h * channels)
        scratch.pixels.withUnsafeBufferPointer { s in
            scratch.converted.withUnsafeMutableBufferPointer { d in
                ColorConversion.convert(s.baseAddress!, from: c, to: d.baseAddress!, channels: channels, pixels: w * h)
            }
        }
        return (w, h)
    }
}
