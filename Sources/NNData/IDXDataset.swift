import NN

extension Dataset {
    /// Loads IDX image and label files (raw or gzipped). Images `[N, rows, cols]` become
    /// `[N, rows, cols, 1]`; `[N, H, W, C]` is kept. Without `classNames` the classes are named
    /// "0", "1", ... up to the largest label.
    public init(imagesFile: String, labelsFile: String, classNames: [String]? = nil) throws {
        let imageIDX = try IDXFile.read(imagesFile)
        let labelIDX = try IDXFile.read(labelsFile)

        let dims = imageIDX.dimensions
        let shape: [Int]
        switch dims.count {
        case 3: shape = dims + [1]
        case 4: shape = dims
        default:
            throw DataError.invalidShape(path: imagesFile, dimensions: dims,
                                         reason: "images must be [count, rows, columns] or [count, height, width, channels]")
        }
        guard labelIDX.dimensions.count == 1 else {
            throw DataError.invalidShape(path: labelsFile, dimensions: labelIDX.dimensions,
                                         reason: "labels must be one-dimensional [count]")
        }
        guard dims[0] == labelIDX.dimensions[0] else {
            throw DataError.countMismatch(imagesPath: imagesFile, images: dims[0],
                                          labelsPath: labelsFile, labels: labelIDX.dimensions[0])
        }

        let names: [String]
        if let classNames {
            if let bad = labelIDX.bytes.firstIndex(where: { Int($0) >= classNames.count }) {
                throw DataError.labelOutOfRange(path: labelsFile, index: bad, label: Int(labelIDX.bytes[bad]),
                                                classes: classNames.count)
            }
            names = classNames
        } else {
            let classes = labelIDX.bytes.max().map { Int($0) + 1 } ?? 0
            names = (0..<classes).map(String.init)
        }

        let labels = Tensor(shape: [dims[0]], elements: labelIDX.bytes.map(Float.init))
        self.init(pixels: ByteImages(shape: shape, bytes: imageIDX.bytes), labels: labels, classNames: names)
    }

}
