import ArgumentParser
import Foundation
import NN
import NNData
import NNImages

/// `cnn make-image-folder`: an IDX data set (Fashion-MNIST by default) written as folders of PNG or
/// JPEG files, one subfolder per class — `train/` and `test/` — so the image-folder path can be
/// tried on real data at once. Class folders are named "<label> <class name>" (zero-padded), so
/// Keras's alphanumeric order is the IDX label order; files are "<index>.<ext>" in IDX order.
struct MakeImageFolder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-image-folder",
        abstract: "Write an IDX data set as folders of PNG or JPEG images (train/ and test/, a subfolder per class).")

    @OptionGroup var dataOptions: DataOptions
    @Option(help: "The directory to create (it must not exist yet).")
    var out: String
    @Option(help: "png or jpeg.")
    var format: String = "png"
    @Option(help: "Resize every image to HxW (bilinear); default: the data's own size.")
    var size: String?
    @Flag(help: "Write RGB images, each gray image tinted with a colour drawn from its index (to try colour models).")
    var colour = false
    @Option(help: "JPEG quality 1...100.")
    var quality: Int = 90
    @Option(help: "Write only the first N training and N/6 test images.")
    var limit: Int?

    func validate() throws {
        guard ["png", "jpeg"].contains(format) else { throw ValidationError("--format must be png or jpeg, got '\(format)'") }
        if let size, DataOptions.parseImageSize(size) == nil {
            throw ValidationError("--size must be HxW with sides 1...\(DataOptions.maxImageSide), got '\(size)'")
        }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1...100, got \(quality)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    }

    func run() throws {
        try NNCommand.run {
            if OutputPaths.exists(out) {
                throw NNError.invalidArgument("--out \(out) already exists; give a new directory (nothing is replaced)")
            }
            guard !dataOptions.isImageFolder else { throw NNError.invalidArgument("--data \(dataOptions.data) is already an image folder") }
            var (train, test) = try dataOptions.load()
            if let limit {
                train = train.prefix(limit)
                test = test.prefix(max(1, limit / 6))
            }
            let target = size.flatMap(DataOptions.parseImageSize)
            let digits = String(train.classCount - 1).count
            func folder(_ c: Int) -> String {
                let name = train.classNames[c].replacingOccurrences(of: "/", with: "-")
                let label = String(repeating: "0", count: max(0, digits - String(c).count)) + String(c)
                return "\(label) \(name)"
            }
            var files: [(name: String, data: Data)] = []
            for (part, data) in [("train", train), ("test", test)] {
                let width = String(data.count - 1).count
                for i in 0..<data.count {
                    let index = String(repeating: "0", count: max(0, width - String(i).count)) + String(i)
                    let image = try encode(data, i, size: target)
                    files.append(("\(part)/\(folder(data.label(i)))/\(index).\(format == "png" ? "png" : "jpg")", image))
                }
            }
            try AtomicFile.writeDirectory(files, to: out, replaceable: { _ in false }, subfolders: true)
            let bytes = files.reduce(0) { $0 + $1.data.count }
            printLine("wrote \(train.count) training and \(test.count) test images (\(format), \(String(format: "%.1f", Double(bytes) / 1e6)) MB) to \(out)/train and \(out)/test")
        }
    }

    /// Image `i` of `data` (pixels in 0...1) as PNG or JPEG bytes.
    private func encode(_ data: Dataset, _ i: Int, size: (Int, Int)?) throws -> Data {
        let pixels = data.images(i..<(i + 1))
        let (h, w, c) = (pixels.shape[1], pixels.shape[2], pixels.shape[3])
        var bytes = (0..<pixels.count).map { UInt8((pixels[flat: $0] * 255).rounded().clamped(0, 255)) }
        var image = DecodedImage(width: w, height: h, channels: c, pixels: bytes)
        if let (th, tw) = size, (th, tw) != (h, w) {
            let resized = try image.resized(height: th, width: tw)
            bytes = (0..<resized.count).map { UInt8(resized[flat: $0].rounded().clamped(0, 255)) }
            image = DecodedImage(width: tw, height: th, channels: c, pixels: bytes)
        }
        if colour && image.channels == 1 {
            // A tint per image, from its index: the same folder every time.
            var rng = RandomGenerator(seed: UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
            let tint = (0..<3).map { _ in 0.45 + 0.55 * rng.nextUniform() }
            image = DecodedImage(width: image.width, height: image.height, channels: 3,
                                 pixels: image.pixels.flatMap { v in tint.map { UInt8((Float(v) * $0).rounded()) } })
        }
        return format == "png" ? try image.pngData() : try image.jpegData(quality: quality)
    }
}

private extension Float {
    func clamped(_ low: Float, _ high: Float) -> Float { Swift.min(Swift.max(self, low), high) }
}
