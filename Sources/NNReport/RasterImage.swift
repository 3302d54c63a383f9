import NN
/// An 8-bit colour, written `#rrggbb` in SVG and CSS.
package struct RGB: Hashable, Sendable {
    package var r: UInt8, g: UInt8, b: UInt8

    package init(r: UInt8, g: UInt8, b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// From `0xRRGGBB`.
    package init(_ hex: UInt32) { self.init(r: UInt8(hex >> 16 & 0xFF), g: UInt8(hex >> 8 & 0xFF), b: UInt8(hex & 0xFF)) }

    package var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + [r, g, b].map { String(digits[Int($0 >> 4)]) + String(digits[Int($0 & 15)]) }.joined()
    }

    /// Perceived brightness in [0, 1] (Rec. 601 weights): picks black or white text on a fill.
    package var luminance: Float { (0.299 * Float(r) + 0.587 * Float(g) + 0.114 * Float(b)) / 255 }

    /// The colour `t` of the way from `self` to `other`.
    package func mixed(with other: RGB, _ t: Float) -> RGB {
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Float(a) + (Float(b) - Float(a)) * t).rounded().clamped(0, 255)) }
        return RGB(r: mix(r, other.r), g: mix(g, other.g), b: mix(b, other.b))
    }

    package static let white = RGB(0xFFFFFF)
    package static let black = RGB(0x000000)
    /// Axis and label grey of the charts.
    package static let ink = RGB(0x333333)
    package static let grid = RGB(0xE3E3E3)
}

/// A colour scale from [0, 1] to colours, for heat maps and activations.
package enum ColorMap: Sendable {
    /// Black to white.
    case gray
    /// matplotlib's perceptually uniform default (dark blue → green → yellow).
    case viridis
    /// White to dark blue (matplotlib `Blues`), for counts.
    case blues

    package func color(_ t: Float) -> RGB {
        let t = t.isFinite ? t.clamped(0, 1) : 0
        switch self {
        case .gray:
            let v = UInt8((t * 255).rounded())
            return RGB(r: v, g: v, b: v)
        case .viridis: return Self.interpolate(Self.viridisStops, t)
        case .blues: return Self.interpolate(Self.bluesStops, t)
        }
    }

    private static func interpolate(_ stops: [RGB], _ t: Float) -> RGB {
        let x = t * Float(stops.count - 1)
        let i = min(Int(x), stops.count - 2)
        return stops[i].mixed(with: stops[i + 1], x - Float(i))
    }

    private static let viridisStops: [RGB] = [0x440154, 0x482878, 0x3E4A89, 0x31688E, 0x26828E,
                                              0x1F9E89, 0x35B779, 0x6DCD59, 0xB4DE2C, 0xFDE725].map { RGB($0) }
    private static let bluesStops: [RGB] = [0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6,
                                            0x4292C6, 0x2171B5, 0x08519C, 0x08306B].map { RGB($0) }
}

/// A raster image of 8-bit pixels, grayscale (1 channel) or RGB (3 channels), rows top to bottom:
/// what the report draws its figures into and what `PNG` encodes. The drawing methods are just
/// enough for charts: rectangles, thick lines, markers and 5×7 bitmap text.
package struct RasterImage: Equatable, Sendable {
    package let width: Int
    package let height: Int
    /// 1 (gray) or 3 (RGB).
    package let channels: Int
    /// `height` rows of `width · channels` bytes.
    package var pixels: [UInt8]

    package init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "RasterImage has 1 or 3 channels, got \(channels)")
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * channels,
                     "RasterImage \(width)×\(height)×\(channels) needs \(width * height * channels) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An RGB image filled with `color`.
    package init(width: Int, height: Int, color: RGB = .white) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { p[3 * i] = color.r; p[3 * i + 1] = color.g; p[3 * i + 2] = color.b }
        self.init(width: width, height: height, channels: 3, pixels: p)
    }

    /// A grayscale image from values in [0, 1] (or `range`), row-major.
    package init(gray values: [Float], width: Int, height: Int, range: ClosedRange<Float> = 0...1) {
        precondition(values.count == width * height, "\(values.count) values do not fill \(width)×\(height)")
        let span = range.upperBound - range.lowerBound
        let p = values.map { v -> UInt8 in
            let t = span > 0 ? (v - range.lowerBound) / span : 0
            return UInt8(((t.isFinite ? t : 0).clamped(0, 1) * 255).rounded())
        }
        self.init(width: width, height: height, channels: 1, pixels: p)
    }

    /// An RGB image from values mapped through `colormap`, scaled from `range` (default: their own
    /// minimum and maximum; a constant map shows as the low end of the scale).
    package init(values: [Float], width: Int, height: Int, colormap: ColorMap, range: ClosedRange<Float>? = nil) {
        precondition(values.count == width * height, "\(values.count) values do not fill \(width)×\(height)")
        let r = range ?? Self.extent(values)
        let span = r.upperBound - r.lowerBound
        self.init(width: width, height: height)
        for i in 0..<values.count {
            let c = colormap.color(span > 0 ? (values[i] - r.lowerBound) / span : 0)
            pixels[3 * i] = c.r; pixels[3 * i + 1] = c.g; pixels[3 * i + 2] = c.b
        }
    }

    /// The smallest interval holding every finite value (0...0 when there is none).
    package static func extent(_ values: [Float]) -> ClosedRange<Float> {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where v.isFinite { lo = min(lo, v); hi = max(hi, v) }
        return lo <= hi ? lo...hi : 0...0
    }

    /// The colour at (x, y); a gray pixel reads as r = g = b.
    package subscript(x: Int, y: Int) -> RGB {
        get {
            let i = (y * width + x) * channels
            return channels == 1 ? RGB(r: pixels[i], g: pixels[i], b: pixels[i]) : RGB(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2])
        }
        set {
            let i = (y * width + x) * channels
            if channels == 1 {
                pixels[i] = UInt8((newValue.luminance * 255).rounded())
            } else {
                pixels[i] = newValue.r; pixels[i + 1] = newValue.g; pixels[i + 2] = newValue.b
            }
        }
    }

    /// Sets the pixel if it lies inside the image.
    @inline(__always) public mutating func plot(_ x: Int, _ y: Int, _ color: RGB) {
        if x >= 0 && y >= 0 && x < width && y < height { self[x, y] = color }
    }

    /// Fills a rectangle, clipped to the image.
    package mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        for yy in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for xx in max(0, x)..<max(max(0, x), min(width, x + w)) { self[xx, yy] = color }
        }
    }

    /// A one-pixel rectangle outline.
    package mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        fill(x: x, y: y, width: w, height: 1, color: color)
        fill(x: x, y: y + h - 1, width: w, height: 1, color: color)
        fill(x: x, y: y, width: 1, height: h, color: color)
        fill(x: x + w - 1, y: y, width: 1, height: h, color: color)
    }

    /// A straight line `thickness` pixels wide (Bresenham, stamping a square at each step).
    package mutating func line(from p0: (x: Int, y: Int), to p1: (x: Int, y: Int), color: RGB, thickness: Int = 1) {
        var x = p0.x, y = p0.y
        let dx = abs(p1.x - x), dy = -abs(p1.y - y)
        let sx = x < p1.x ? 1 : -1, sy = y < p1.y ? 1 : -1
        var err = dx + dy
        let lo = -(thickness - 1) / 2
        while true {
            fill(x: x + lo, y: y + lo, width: thickness, height: thickness, color: color)
            if x == p1.x && y == p1.y { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// A filled disc of the given radius.
    package mutating func disc(x: Int, y: Int, radius: Int, color: RGB) {
        for dy in -radius...radius {
            for dx in -radius...radius where dx * dx + dy * dy <= radius * radius + radius { plot(x + dx, y + dy, color) }
        }
    }

    /// Copies `image` with its top-left corner at (x, y), clipped; gray is widened to RGB.
    package mutating func draw(_ image: RasterImage, x: Int, y: Int) {
        for yy in 0..<image.height where y + yy >= 0 && y + yy < height {
            for xx in 0..<image.width where x + xx >= 0 && x + xx < width {
                self[x + xx, y + yy] = image[xx, yy]
            }
        }
    }

    /// Each pixel becomes a `factor` × `factor` block (nearest neighbour, so pixels stay sharp).
    package func scaled(by factor: Int) -> RasterImage {
        precondition(factor >= 1, "scale factor must be at least 1, got \(factor)")
        if factor == 1 { return self }
        let w = width * factor, h = height * factor
        var out = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h {
            let sy = y / factor
            for x in 0..<w {
                let s = (sy * width + x / factor) * channels, d = (y * w + x) * channels
                for c in 0..<channels { out[d + c] = pixels[s + c] }
            }
        }
        return RasterImage(width: w, height: h, channels: channels, pixels: out)
    }

    /// Draws `text` in the 5×7 bitmap font with its top-left corner at (x, y), each font pixel a
    /// `scale` × `scale` block. `vertical` turns it 90° counter-clockwise, reading bottom to top
    /// from (x, y) as its bottom-left corner.
    package mutating func text(_ text: String, x: Int, y: Int, color: RGB = .ink, scale: Int = 2, vertical: Bool = false) {
        var pen = 0
        for ch in text {
            let rows = BitmapFont.glyph(ch)
            for (r, bits) in rows.enumerated() {
                for c in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(c)) != 0 {
                    let gx = (pen + c) * scale, gy = r * scale
                    if vertical {
                        fill(x: x + gy, y: y - gx - scale, width: scale, height: scale, color: color)
                    } else {
                        fill(x: x + gx, y: y + gy, width: scale, height: scale, color: color)
                    }
                }
            }
            pen += BitmapFont.advance
        }
    }

    /// The width in pixels `text` takes at `scale` (without the trailing gap).
    package static func textWidth(_ text: String, scale: Int = 2) -> Int {
        max(0, text.count * BitmapFont.advance - 1) * scale
    }

    /// Text height in pixels at `scale`.
    package static func textHeight(scale: Int = 2) -> Int { BitmapFont.glyphHeight * scale }
}

extension Comparable {
    func clamped(_ lo: Self, _ hi: Self) -> Self { min(max(self, lo), hi) }
}
