import NN
import Foundation

/// Loaders for the standard image sets, read from local MNIST-format directories.
public enum DataSets {
    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST's ten classes, in label order.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// MNIST's digits, also the default for any other directory.
    public static let digitClassNames = (0..<10).map(String.init)

    /// The training images. These four are the file names of every MNIST-style directory; each may
    /// also exist with `.gz`.
    public static let trainImagesFile = "train-images-idx3-ubyte"
    /// The training labels.
    public static let trainLabelsFile = "train-labels-idx1-ubyte"
    /// The test images.
    public static let testImagesFile = "t10k-images-idx3-ubyte"
    /// The test labels.
    public static let testLabelsFile = "t10k-labels-idx1-ubyte"

    /// Loads the training and test sets of an MNIST-format directory (Fashion-MNIST by default).
    /// Class names are Fashion-MNIST's for its directory, the digits elsewhere, unless given.
    public static func load(directory: String = fashionMNISTDirectory,
                            classNames: [String]? = nil) throws -> (train: Dataset, test: Dataset) {
        try load(directory: directory, classNames: classNames, packagedDirectory: fashionMNISTDirectory)
    }

    /// `load`, with the packaged directory a parameter so tests can exercise the install hint.
    static func load(directory: String, classNames: [String]?,
                     packagedDirectory: String) throws -> (train: Dataset, test: Dataset) {
        let standardized = URL(fileURLWithPath: directory).standardizedFileURL.path
        let isFashion = standardized == URL(fileURLWithPath: packagedDirectory).standardizedFileURL.path
        let hint = isFashion ? "install it with: apt-get install dataset-fashion-mnist" : nil
        let names = classNames ?? (isFashion ? fashionMNISTClassNames : digitClassNames)

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw DataError.missingDirectory(path: directory, hint: hint)
        }
        // A file given where the directory belongs is named as such, not as missing.
        guard isDirectory.boolValue else { throw DataError.notADirectory(path: directory) }
        func file(_ name: String) throws -> String {
            try locate(name, in: directory, hint: hint)
        }
        let train = try Dataset(imagesFile: file(trainImagesFile), labelsFile: file(trainLabelsFile), classNames: names)
        let test = try Dataset(imagesFile: file(testImagesFile), labelsFile: file(testLabelsFile), classNames: names)
        return (train, test)
    }

    /// The path of `name` in `directory`, uncompressed if present (faster to read), else `name.gz`.
    static func locate(_ name: String, in directory: String, hint: String?) throws -> String {
        let base = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        for candidate in [base, base + ".gz"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw DataError.missingFile(directory: directory, file: name, hint: hint)
    }
}
