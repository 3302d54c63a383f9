import NN
import Foundation

/// Counts of (true class, predicted class) pairs over a labelled set, with class names, drawn as a
/// heat map: rows are true classes, columns predicted ones, each cell shows its count and is
/// coloured by its share of the row (the recall of the diagonal), with a colour scale beside it.
public struct ConfusionMatrix: Equatable {
    /// The name of each class id, in label order (row and column titles).
    public let classNames: [String]
    /// `counts[truth][predicted]`.
    public private(set) var counts: [[Int]]

    /// An empty matrix for these classes; fill it with `add(truth:predicted:)`.
    public init(classNames: [String]) {
        self.classNames = classNames
        counts = Array(repeating: Array(repeating: 0, count: classNames.count), count: classNames.count)
    }

    /// The matrix of paired true and predicted class ids.
    public init(truth: [Int], predicted: [Int], classNames: [String]) {
        precondition(truth.count == predicted.count, "\(truth.count) true classes but \(predicted.count) predictions")
        self.init(classNames: classNames)
        for (t, p) in zip(truth, predicted) { add(truth: t, predicted: p) }
    }

    /// The matrix of `model`'s predictions on `data`.
    public init(model: Model, data: Dataset, batchSize: Int = 256) throws {
        let predicted = try model.predictClasses(data, batchSize: batchSize)
        self.init(truth: (0..<data.count).map(data.label), predicted: predicted, classNames: data.classNames)
    }

    /// Counts one sample of true class `truth` predicted as `predicted`.
    public mutating func add(truth: Int, predicted: Int) {
        precondition(counts.indices.contains(truth) && counts.indices.contains(predicted),
                     "class ids \(truth), \(predicted) outside 0..<\(classNames.count)")
        counts[truth][predicted] += 1
    }

    /// The number of classes (rows and columns).
    public var classCount: Int { classNames.count }
    /// Number of samples counted.
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    /// Samples on the diagonal.
    public var correct: Int { counts.indices.reduce(0) { $0 + counts[$1][$1] } }
    /// The share of samples on the diagonal (0 when empty), as Keras's `accuracy` metric.
    public var accuracy: Double { total > 0 ? Double(correct) / Double(total) : 0 }
    /// Samples whose true class is `i`.
    public func rowTotal(_ i: Int) -> Int { counts[i].reduce(0, +) }
    /// Share of true class `i` predicted as `j` (0 for an empty row).
    public func fraction(_ i: Int, _ j: Int) -> Double {
        let n = rowTotal(i)
        return n > 0 ? Double(counts[i][j]) / Double(n) : 0
    }

    // MARK: Drawing

    private struct Layout {
        var cell: Int, left: Int, top: Int, gridSize: Int
        var barX: Int, width: Int, height: Int
        var bottom: Int { top + gridSize }
    }

    private func layout(cell: Int) -> Layout {
        let longest = classNames.map(\.count).max() ?? 1
        let left = 34 + Int(Double(longest) * 7) + 10
        let top = 34
        let grid = cell * classCount
        let barX = left + grid + 24
        let width = barX + 16 + 46
        let height = top + grid + 16 + Int(Double(longest) * 6.2) + 36
        return Layout(cell: cell, left: left, top: top, gridSize: grid, barX: barX, width: width, height: height)
    }

    private static let scaleTicks: [Double] = [0, 0.25, 0.5, 0.75, 1]

    /// The matrix as an `<svg>` element. Each cell is a `<rect class="cell">` with `data-true`,
    /// `data-predicted` and `data-count`.
    public func svg(title: String = "Confusion matrix", cell: Int = 44) -> String {
        let l = layout(cell: cell)
        let ink = RGB.ink.hex
        var s = "<svg class=\"confusion\" width=\"\(l.width)\" height=\"\(l.height)\" "
        s += "viewBox=\"0 0 \(l.width) \(l.height)\" role=\"img\" aria-label=\"\(HTML.escape(title))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"\(l.width)\" height=\"\(l.height)\" fill=\"#fff\"/>\n"
        s += "<text x=\"\(l.left)\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"\(ink)\">\(HTML.escape(title))</text>\n"
        for i in 0..<classCount {
            let name = HTML.escape(classNames[i])
            for j in 0..<classCount {
                let x = l.left + j * cell, y = l.top + i * cell
                let fill = ColorMap.blues.color(Float(fraction(i, j)))
                let textColor = fill.luminance < 0.55 ? "#fff" : ink
                let pct = String(format: "%.1f%%", 100 * fraction(i, j))
                s += "<rect class=\"cell\" x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(fill.hex)\" stroke=\"#fff\" "
                s += "data-true=\"\(i)\" data-predicted=\"\(j)\" data-count=\"\(counts[i][j])\">"
                s += "<title>true \(name), predicted \(HTML.escape(classNames[j])): \(counts[i][j]) (\(pct) of \(name))</title></rect>"
                s += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2)\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"\(textColor)\">\(counts[i][j])</text>\n"
            }
            s += "<text class=\"row-label\" x=\"\(l.left - 6)\" y=\"\(l.top + i * cell + cell / 2)\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"\(ink)\">\(name)</text>\n"
            let cx = l.left + i * cell + cell / 2, cy = l.bottom + 8
            s += "<text class=\"column-label\" x=\"\(cx)\" y=\"\(cy)\" text-anchor=\"end\" dominant-baseline=\"middle\" transform=\"rotate(-60 \(cx) \(cy))\" fill=\"\(ink)\">\(name)</text>\n"
        }
        let midY = l.top + l.gridSize / 2
        s += "<text x=\"14\" y=\"\(midY)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(midY))\" font-weight=\"bold\" fill=\"\(ink)\">true class</text>\n"
        s += "<text x=\"\(l.left + l.gridSize / 2)\" y=\"\(l.height - 8)\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"\(ink)\">predicted class</text>\n"
        // Colour scale: top is 100 % of the true class.
        s += "<defs><linearGradient id=\"confusion-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
        for k in 0...8 {
            let t = Float(k) / 8
            s += "<stop offset=\"\(t)\" stop-color=\"\(ColorMap.blues.color(t).hex)\"/>"
        }
        s += "</linearGradient></defs>\n"
        s += "<g class=\"color-scale\"><rect x=\"\(l.barX)\" y=\"\(l.top)\" width=\"16\" height=\"\(l.gridSize)\" fill=\"url(#confusion-scale)\" stroke=\"\(ink)\"/>"
        for t in Self.scaleTicks {
            let y = l.top + Int((1 - t) * Double(l.gridSize))
            s += "<line x1=\"\(l.barX + 16)\" y1=\"\(y)\" x2=\"\(l.barX + 20)\" y2=\"\(y)\" stroke=\"\(ink)\"/>"
            s += "<text x=\"\(l.barX + 23)\" y=\"\(y)\" dominant-baseline=\"middle\" font-size=\"11\" fill=\"\(ink)\">\(Int(t * 100))%</text>"
        }
        s += "</g>\n</svg>"
        return s
    }

    /// The matrix drawn into an RGB image `scale` times the SVG size, text in the bitmap font
    /// (column names read bottom to top).
    package func raster(title: String = "Confusion matrix", cell: Int = 44, scale: Int = 2) -> RasterImage {
        let l = layout(cell: cell)
        var img = RasterImage(width: l.width * scale, height: l.height * scale)
        let c = cell * scale, th = RasterImage.textHeight(scale: scale)
        img.text(title, x: l.left * scale, y: 10 * scale, scale: scale)
        for i in 0..<classCount {
            for j in 0..<classCount {
                let x = (l.left + j * cell) * scale, y = (l.top + i * cell) * scale
                let fill = ColorMap.blues.color(Float(fraction(i, j)))
                img.fill(x: x, y: y, width: c, height: c, color: fill)
                img.stroke(x: x, y: y, width: c, height: c, color: .white)
                let text = String(counts[i][j])
                let tw = RasterImage.textWidth(text, scale: scale)
                img.text(text, x: x + (c - tw) / 2, y: y + (c - th) / 2, color: fill.luminance < 0.55 ? .white : .ink, scale: scale)
            }
            let name = classNames[i]
            img.text(name, x: (l.left - 6) * scale - RasterImage.textWidth(name, scale: scale),
                     y: (l.top + i * cell) * scale + (c - th) / 2, scale: scale)
            img.text(name, x: (l.left + i * cell) * scale + (c - th) / 2,
                     y: (l.bottom + 6) * scale + RasterImage.textWidth(name, scale: scale), scale: scale, vertical: true)
        }
        let midY = (l.top + l.gridSize / 2) * scale
        img.text("true class", x: 6 * scale, y: midY + RasterImage.textWidth("true class", scale: scale) / 2, scale: scale, vertical: true)
        let label = "predicted class"
        img.text(label, x: (l.left + l.gridSize / 2) * scale - RasterImage.textWidth(label, scale: scale) / 2,
                 y: (l.height - 16) * scale, scale: scale)
        let barTop = l.top * scale, barHeight = l.gridSize * scale
        for y in 0..<barHeight {
            img.fill(x: l.barX * scale, y: barTop + y, width: 16 * scale, height: 1,
                     color: ColorMap.blues.color(1 - Float(y) / Float(max(1, barHeight - 1))))
        }
        img.stroke(x: l.barX * scale, y: barTop, width: 16 * scale, height: barHeight, color: .ink)
        for t in Self.scaleTicks {
            let y = barTop + Int((1 - t) * Double(barHeight - 1))
            img.fill(x: (l.barX + 16) * scale, y: y, width: 4 * scale, height: 1, color: .ink)
            img.text("\(Int(t * 100))%", x: (l.barX + 23) * scale, y: y - th / 2, scale: scale)
        }
        return img
    }
}
