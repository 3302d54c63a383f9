import NN
import Foundation

/// A line chart with axes, ticks, axis labels, a title and a legend, drawn two ways from one
/// layout: as inline SVG for the HTML report and as a raster image for its PNG file.
///
/// Every SVG point is a `<circle>` carrying `data-series`, `data-x` and `data-value` (the value
/// exactly as given, Swift's shortest round-trip form), so a test or a script can read the plotted
/// numbers back.
package struct LineChart {
    package struct Series {
        package var name: String
        package var color: RGB
        package var points: [(x: Float, y: Float)]
        /// Drawn dashed (validation curves), so the series differ by more than colour.
        package var dashed: Bool

        package init(name: String, color: RGB, points: [(x: Float, y: Float)], dashed: Bool = false) {
            self.name = name; self.color = color; self.points = points; self.dashed = dashed
        }

        /// The points that can be drawn: NaN and ±inf (a diverged epoch, a loss of 1e39 read as
        /// Float) are left out of the curve and the axis range instead of trapping or flattening it.
        package var finitePoints: [(x: Float, y: Float)] { points.filter { $0.x.isFinite && $0.y.isFinite } }
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    package var series: [Series]
    /// Size of the SVG in CSS pixels; the raster is `scale` times larger.
    package var width: Int
    package var height: Int
    /// Show only integer x ticks (epochs).
    package var integerX: Bool

    package init(title: String, xLabel: String, yLabel: String, series: [Series],
                width: Int = 560, height: Int = 340, integerX: Bool = true) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.width = width; self.height = height; self.integerX = integerX
    }

    /// The per-epoch curves of `keys` in `history` (Keras names such as `accuracy`, `val_accuracy`).
    /// Keys that start with `val_` are drawn dashed in orange; the others solid in blue.
    package static func history(_ history: History, keys: [String], title: String, yLabel: String) -> LineChart {
        let palette = [RGB(0x1F77B4), RGB(0xFF7F0E), RGB(0x2CA02C), RGB(0xD62728)]
        var series: [Series] = []
        for (i, key) in keys.enumerated() {
            let points = history.epochs.compactMap { e in e.logs[key].map { (x: Float(e.epoch), y: $0) } }
            guard !points.isEmpty else { continue }
            let validation = key.hasPrefix("val_")
            let color = keys.count == 2 ? (validation ? palette[1] : palette[0]) : palette[i % palette.count]
            series.append(Series(name: seriesName(key), color: color, points: points, dashed: validation))
        }
        return LineChart(title: title, xLabel: "epoch", yLabel: yLabel, series: series)
    }

    /// `val_accuracy` → "validation accuracy", `loss` → "training loss".
    static func seriesName(_ key: String) -> String {
        key.hasPrefix("val_") ? "validation " + key.dropFirst(4) : "training " + key
    }

    // MARK: SVG

    /// The chart as an `<svg>` element (no external references).
    package func svg() -> String {
        let l = layout()
        var s = "<svg class=\"chart\" width=\"\(width)\" height=\"\(height)\" "
        s += "viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(HTML.escape(title))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#fff\"/>\n"
        s += "<text x=\"\(l.left)\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"\(RGB.ink.hex)\">\(HTML.escape(title))</text>\n"
        // Grid and ticks.
        for t in l.yTicks {
            let y = fmt(l.py(t.value))
            s += "<line x1=\"\(l.left)\" y1=\"\(y)\" x2=\"\(l.right)\" y2=\"\(y)\" stroke=\"\(RGB.grid.hex)\"/>"
            s += "<line x1=\"\(l.left - 5)\" y1=\"\(y)\" x2=\"\(l.left)\" y2=\"\(y)\" stroke=\"\(RGB.ink.hex)\"/>"
            s += "<text class=\"tick\" x=\"\(l.left - 8)\" y=\"\(y)\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"\(RGB.ink.hex)\">\(t.label)</text>\n"
        }
        for t in l.xTicks {
            let x = fmt(l.px(t.value))
            s += "<line x1=\"\(x)\" y1=\"\(l.top)\" x2=\"\(x)\" y2=\"\(l.bottom)\" stroke=\"\(RGB.grid.hex)\"/>"
            s += "<line x1=\"\(x)\" y1=\"\(l.bottom)\" x2=\"\(x)\" y2=\"\(l.bottom + 5)\" stroke=\"\(RGB.ink.hex)\"/>"
            s += "<text class=\"tick\" x=\"\(x)\" y=\"\(l.bottom + 18)\" text-anchor=\"middle\" fill=\"\(RGB.ink.hex)\">\(t.label)</text>\n"
        }
        // Axes and their labels.
        s += "<line x1=\"\(l.left)\" y1=\"\(l.bottom)\" x2=\"\(l.right)\" y2=\"\(l.bottom)\" stroke=\"\(RGB.ink.hex)\"/>"
        s += "<line x1=\"\(l.left)\" y1=\"\(l.top)\" x2=\"\(l.left)\" y2=\"\(l.bottom)\" stroke=\"\(RGB.ink.hex)\"/>\n"
        s += "<text class=\"axis-label\" x=\"\((l.left + l.right) / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\" fill=\"\(RGB.ink.hex)\">\(HTML.escape(xLabel))</text>\n"
        let cy = (l.top + l.bottom) / 2
        s += "<text class=\"axis-label\" x=\"16\" y=\"\(cy)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(cy))\" fill=\"\(RGB.ink.hex)\">\(HTML.escape(yLabel))</text>\n"
        // Curves and their points.
        for series in self.series {
            let name = HTML.escape(series.name)
            let finite = series.finitePoints
            let points = finite.map { "\(fmt(l.px($0.x))),\(fmt(l.py($0.y)))" }.joined(separator: " ")
            let dash = series.dashed ? " stroke-dasharray=\"7 4\"" : ""
            s += "<g class=\"series\" data-series=\"\(name)\">"
            s += "<polyline fill=\"none\" stroke=\"\(series.color.hex)\" stroke-width=\"2\"\(dash) points=\"\(points)\"/>"
            for p in finite {
                s += "<circle cx=\"\(fmt(l.px(p.x)))\" cy=\"\(fmt(l.py(p.y)))\" r=\"3.5\" fill=\"\(series.color.hex)\" "
                s += "data-series=\"\(name)\" data-x=\"\(p.x)\" data-value=\"\(p.y)\"><title>\(name), \(HTML.escape(xLabel)) \(Self.label(p.x)): \(p.y)</title></circle>"
            }
            s += "</g>\n"
        }
        // Legend, on the title's line, right-aligned.
        s += "<g class=\"legend\">"
        for item in l.legend {
            let dash = self.series[item.index].dashed ? " stroke-dasharray=\"7 4\"" : ""
            let color = self.series[item.index].color.hex
            s += "<line x1=\"\(item.x)\" y1=\"16\" x2=\"\(item.x + 24)\" y2=\"16\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>"
            s += "<circle cx=\"\(item.x + 12)\" cy=\"16\" r=\"3.5\" fill=\"\(color)\"/>"
            s += "<text x=\"\(item.x + 30)\" y=\"20\" fill=\"\(RGB.ink.hex)\">\(HTML.escape(self.series[item.index].name))</text>"
        }
        s += "</g>\n"
        if self.series.isEmpty {
            s += "<text x=\"\((l.left + l.right) / 2)\" y=\"\(cy)\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n"
        }
        s += "</svg>"
        return s
    }

    // MARK: Raster

    /// The chart drawn into an RGB image `scale` times the SVG size, text in the bitmap font.
    package func raster(scale: Int = 2) -> RasterImage {
        let l = layout()
        var img = RasterImage(width: width * scale, height: height * scale)
        func p(_ v: Double) -> Int { Self.pixel(v * Double(scale)) }
        let th = RasterImage.textHeight(scale: scale)
        img.text(title, x: p(Double(l.left)), y: p(10), color: .ink, scale: scale)
        for t in l.yTicks {
            let y = p(l.py(t.value))
            img.fill(x: p(Double(l.left)), y: y, width: p(Double(l.right - l.left)), height: 1, color: .grid)
            img.fill(x: p(Double(l.left - 5)), y: y, width: p(5), height: 1, color: .ink)
            img.text(t.label, x: p(Double(l.left - 8)) - RasterImage.textWidth(t.label, scale: scale), y: y - th / 2, scale: scale)
        }
        for t in l.xTicks {
            let x = p(l.px(t.value))
            img.fill(x: x, y: p(Double(l.top)), width: 1, height: p(Double(l.bottom - l.top)), color: .grid)
            img.fill(x: x, y: p(Double(l.bottom)), width: 1, height: p(5), color: .ink)
            img.text(t.label, x: x - RasterImage.textWidth(t.label, scale: scale) / 2, y: p(Double(l.bottom + 9)), scale: scale)
        }
        img.fill(x: p(Double(l.left)), y: p(Double(l.bottom)), width: p(Double(l.right - l.left)) + 1, height: scale, color: .ink)
        img.fill(x: p(Double(l.left)), y: p(Double(l.top)), width: scale, height: p(Double(l.bottom - l.top)), color: .ink)
        img.text(xLabel, x: p(Double(l.left + l.right) / 2) - RasterImage.textWidth(xLabel, scale: scale) / 2,
                 y: p(Double(height - 18)), scale: scale)
        img.text(yLabel, x: p(8), y: p(Double(l.top + l.bottom) / 2) + RasterImage.textWidth(yLabel, scale: scale) / 2,
                 scale: scale, vertical: true)
        for series in self.series {
            let pts = series.finitePoints.map { (x: p(l.px($0.x)), y: p(l.py($0.y))) }
            for (a, b) in zip(pts, pts.dropFirst()) {
                Self.segment(&img, a, b, color: series.color, thickness: scale + 1, dashed: series.dashed, scale: scale)
            }
            for q in pts { img.disc(x: q.x, y: q.y, radius: 2 * scale, color: series.color) }
        }
        for item in l.legend {
            let s = self.series[item.index]
            let y = p(16)
            Self.segment(&img, (p(Double(item.x)), y), (p(Double(item.x + 24)), y), color: s.color, thickness: scale + 1, dashed: s.dashed, scale: scale)
            img.disc(x: p(Double(item.x + 12)), y: y, radius: 2 * scale, color: s.color)
            img.text(s.name, x: p(Double(item.x + 30)), y: y - th / 2, scale: scale)
        }
        return img
    }

    /// A coordinate as a pixel index: rounded, NaN as 0 and clamped to ±10⁶, so no value a
    /// history can hold (a diverged loss of 3e38, an overflow to inf) traps converting to `Int`.
    static func pixel(_ v: Double) -> Int {
        guard v.isFinite else { return 0 }
        return Int(min(max(v.rounded(), -1e6), 1e6))
    }

    /// A solid or dashed thick segment.
    private static func segment(_ img: inout RasterImage, _ a: (x: Int, y: Int), _ b: (x: Int, y: Int),
                                color: RGB, thickness: Int, dashed: Bool, scale: Int) {
        guard dashed else { img.line(from: a, to: b, color: color, thickness: thickness); return }
        let dx = Double(b.x - a.x), dy = Double(b.y - a.y)
        let length = (dx * dx + dy * dy).squareRoot()
        let on = 7.0 * Double(scale), period = 11.0 * Double(scale)
        var t = 0.0
        while t < length {
            let t1 = min(t + on, length)
            let p0 = (x: a.x + Int((dx * t / length).rounded()), y: a.y + Int((dy * t / length).rounded()))
            let p1 = (x: a.x + Int((dx * t1 / length).rounded()), y: a.y + Int((dy * t1 / length).rounded()))
            img.line(from: p0, to: p1, color: color, thickness: thickness)
            t += period
        }
    }

    // MARK: Layout

    private struct Tick { var value: Double; var label: String }
    private struct LegendItem { var index: Int; var x: Int }

    private struct Layout {
        var left: Int, right: Int, top: Int, bottom: Int
        var x0: Double, x1: Double, y0: Double, y1: Double
        var xTicks: [Tick], yTicks: [Tick]
        var legend: [LegendItem]
        func px(_ x: Float) -> Double { px(Double(x)) }
        func py(_ y: Float) -> Double { py(Double(y)) }
        func px(_ x: Double) -> Double { Double(left) + (x - x0) / (x1 - x0) * Double(right - left) }
        func py(_ y: Double) -> Double { Double(bottom) - (y - y0) / (y1 - y0) * Double(bottom - top) }
    }

    private func layout() -> Layout {
        let xs = series.flatMap { $0.points.map { Double($0.x) } }.filter(\.isFinite)
        let ys = series.flatMap { $0.points.map { Double($0.y) } }.filter(\.isFinite)
        var (xlo, xhi) = (xs.min() ?? 0, xs.max() ?? 1)
        var (ylo, yhi) = (ys.min() ?? 0, ys.max() ?? 1)
        if xhi - xlo < 1e-9 { xlo -= 0.5; xhi += 0.5 }
        if yhi - ylo < 1e-9 { let d = max(abs(ylo) * 0.05, 0.05); ylo -= d; yhi += d }

        let yStep = Self.niceStep((yhi - ylo) / 5)
        let y0 = (ylo / yStep).rounded(.down) * yStep, y1 = (yhi / yStep).rounded(.up) * yStep
        let yTicks = Self.ticks(from: y0, to: y1, step: yStep)
        var xStep = Self.niceStep((xhi - xlo) / 8)
        if integerX { xStep = max(1, xStep.rounded(.up)) }
        let xTicks = Self.ticks(from: (xlo / xStep).rounded(.up) * xStep, to: xhi, step: xStep)
        // A little room on both sides so the first and last points are not on the axes.
        let xPad = (xhi - xlo) * 0.04

        let labelWidth = yTicks.map { Double($0.label.count) * 7 }.max() ?? 20
        let left = Int(max(56, labelWidth + 34))
        var legend: [LegendItem] = []
        var x = width - 12
        for (i, s) in series.enumerated().reversed() {
            x -= 30 + Int(Double(s.name.count) * 6.8) + 16
            legend.insert(LegendItem(index: i, x: x), at: 0)
        }
        return Layout(left: left, right: width - 16, top: 36, bottom: height - 50,
                      x0: xlo - xPad, x1: xhi + xPad, y0: y0, y1: y1, xTicks: xTicks, yTicks: yTicks, legend: legend)
    }

    /// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, (log10(raw)).rounded(.down))
        for m in [1, 2, 2.5, 5, 10] as [Double] where m * p >= raw * (1 - 1e-9) { return m * p }
        return 10 * p
    }

    private static func ticks(from lo: Double, to hi: Double, step: Double) -> [Tick] {
        // At most 200 ticks: a step lost in the rounding of huge bounds must not loop for ever.
        guard lo.isFinite, hi.isFinite, step > 0, step.isFinite else { return [] }
        let decimals = min(20, max(0, Int((-log10(step)).rounded(.up)) + (step / pow(10, log10(step).rounded(.down)) == 2.5 ? 1 : 0)))
        var out: [Tick] = []
        var k = 0
        while lo + Double(k) * step <= hi + step * 1e-6 && out.count < 200 {
            let v = lo + Double(k) * step
            out.append(Tick(value: v, label: String(format: "%.\(decimals)f", abs(v) < step * 1e-6 ? 0 : v)))
            k += 1
        }
        return out
    }

    /// An x value as a label: `3` rather than `3.0`.
    static func label(_ x: Float) -> String { x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)" }

    private func fmt(_ v: Double) -> String { String(format: "%.2f", v) }
}

/// HTML text helpers shared by the report's writers.
enum HTML {
    /// Escapes the five characters that are special in HTML text and attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// A `data:image/png;base64,…` URI for PNG bytes.
    static func dataURI(png: Data) -> String { "data:image/png;base64," + png.base64EncodedString() }
}
