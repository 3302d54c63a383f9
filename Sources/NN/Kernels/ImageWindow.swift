/// Copies between NHWC images `[H, W, C]` and a window of them `[h, w, C]` whose corner sits at
/// (top, left): ZeroPadding2D's forward and Cropping2D's backward write the window into a full image
/// with a zero border, Cropping2D's forward and ZeroPadding2D's backward read it out. Split over the
/// engine's threads by image, and every float of the destination is written once (the border is
/// zeroed around the copied rows, not before them): MobileNet pads before each strided depthwise
/// convolution, and a serial fill-then-copy left the second thread waiting there.
struct ImageWindow {
    let fullHeight: Int, fullWidth: Int
    let height: Int, width: Int, channels: Int
    let top: Int, left: Int

    /// The window `[height, width, channels]` at (top, left) of `[fullHeight, fullWidth, channels]` images.
    init(full: (height: Int, width: Int), window: [Int], top: Int, left: Int) {
        (fullHeight, fullWidth) = full
        (height, width, channels) = (window[0], window[1], window[2])
        (self.top, self.left) = (top, left)
    }

    /// `full` ← the window images in `window`, zero outside it.
    func pad(_ window: UnsafePointer<Float>, into full: UnsafeMutablePointer<Float>, images: Int) {
        run(Copy(shape: self, full: full, window: UnsafeMutablePointer(mutating: window), images: images, intoWindow: false))
    }

    /// `window` ← the window of each image in `full`.
    func crop(_ full: UnsafePointer<Float>, into window: UnsafeMutablePointer<Float>, images: Int) {
        run(Copy(shape: self, full: UnsafeMutablePointer(mutating: full), window: window, images: images, intoWindow: true))
    }

    private func run(_ copy: Copy) {
        Parallel.run(Parallel.imageParts(images: copy.images, valuesPerImage: fullHeight * fullWidth * channels), copy)
    }

    private struct Copy: ParallelWork {
        let shape: ImageWindow
        let full: UnsafeMutablePointer<Float>, window: UnsafeMutablePointer<Float>
        let images: Int
        /// true: full → window (crop); false: window → full with a zero border (pad).
        let intoWindow: Bool

        func run(part: Int, of parts: Int) {
            let s = shape, c = s.channels, range = Parallel.range(part, of: parts, count: images)
            let fullRow = s.fullWidth * c, row = s.width * c
            let leftFloats = s.left * c, rightFloats = fullRow - leftFloats - row
            for image in range {
                let f = full + image * s.fullHeight * fullRow, w = window + image * s.height * row
                if intoWindow {
                    for r in 0..<s.height { (w + r * row).update(from: f + (r + s.top) * fullRow + leftFloats, count: row) }
                    continue
                }
                f.update(repeating: 0, count: s.top * fullRow)
                for r in 0..<s.height {
                    let out = f + (r + s.top) * fullRow
                    out.update(repeating: 0, count: leftFloats)
                    (out + leftFloats).update(from: w + r * row, count: row)
                    (out + leftFloats + row).update(repeating: 0, count: rightFloats)
                }
                let below = s.top + s.height
                (f + below * fullRow).update(repeating: 0, count: (s.fullHeight - below) * fullRow)
            }
        }
    }
}
