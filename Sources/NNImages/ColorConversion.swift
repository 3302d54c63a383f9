/// Channel conversions with the rules of TensorFlow's `decode_image(channels:)`: gray is
/// replicated to RGB, an alpha channel is dropped (never composited) or added opaque (255), and
/// colour becomes gray with libpng's integer weights (0.299, 0.587, 0.114 as 9797, 19234, 3737
/// over 2^15, truncated: TensorFlow's `png_set_rgb_to_gray`). A colour JPEG asked for one channel
/// instead gives libjpeg's luma, as in TensorFlow (the JPEG decoder does that itself).
enum ColorConversion {
    @inline(__always)
    static func gray(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        if r == g && g == b { return r }
        let red: Int = 9797 * Int(r), green: Int = 19234 * Int(g), blue: Int = 3737 * Int(b)
        return UInt8((red + green + blue) >> 15)
    }

    /// Converts `pixels` pixels from `from` to `to` channels (1 to 4 each). `source` and
    /// `destination` must not overlap.
    static func convert(_ source: UnsafePointer<UInt8>, from: Int, to destination: UnsafeMutablePointer<UInt8>, channels to: Int, pixels: Int) {
        if from == to {
            destination.update(from: source, count: pixels * from)
            return
        }
        for i in 0..<pixels {
            let s = source + i * from, d = destination + i * to
            let hasColor = from >= 3
            let alpha: UInt8 = from == 2 ? s[1] : (from == 4 ? s[3] : 255)
            switch to {
            case 1: d[0] = hasColor ? gray(s[0], s[1], s[2]) : s[0]
            case 2:
                d[0] = hasColor ? gray(s[0], s[1], s[2]) : s[0]
                d[1] = alpha
            default:
                if hasColor {
                    d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
                } else {
                    d[0] = s[0]; d[1] = s[0]; d[2] = s[0]
                }
                if to == 4 { d[3] = alpha }
            }
        }
    }
}

extension DecodedImage {
    /// The image with `channels` channels (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA), by the rules
    /// of `tf.io.decode_image(channels:)`.
    public func converted(to channels: Int) -> DecodedImage {
        precondition((1...4).contains(channels), "channels must be 1 to 4, got \(channels)")
        if channels == self.channels { return self }
        var out = [UInt8](repeating: 0, count: width * height * channels)
        pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                ColorConversion.convert(s.baseAddress!, from: self.channels, to: d.baseAddress!, channels: channels, pixels: width * height)
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: out)
    }
}
