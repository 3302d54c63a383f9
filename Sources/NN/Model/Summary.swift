import Foundation

extension Model {
    /// The Keras 3 summary table: each layer's name and type, output shape and parameter count (for a
    /// graph, also its inputs and "Connected to", one inbound tensor per line, as Keras prints a
    /// Functional model), then total, trainable and non-trainable parameters with their size.
    public func summary(name: String? = nil) -> String {
        let graph = !(self is Sequential)
        var headers = ["Layer (type)", "Output Shape", "Param #"]
        var minimum = [31, 22, 13]
        if graph { headers.append("Connected to"); minimum = [25, 22, 10, 20] }
        // Each cell is one or more lines.
        var rows: [[[String]]] = []
        if graph {
            for (i, input) in inputNames.enumerated() {
                rows.append([["\(input) (InputLayer)"], [Tensor.describe(batchShape: inputShapes[i])], ["0"], ["-"]])
            }
        }
        for (i, l) in layers.enumerated() {
            var row = [["\(l.name) (\(l.typeName))"], [Tensor.describe(batchShape: l.outputShape)], [Self.grouped(l.parameterCount)]]
            if graph {
                let sources = inbound[i].map { "\(producerName(ofValue: $0))[0][0]" }
                row.append(sources.enumerated().map { $0.offset < sources.count - 1 ? $0.element + "," : $0.element })
            }
            rows.append(row)
        }
        var widths = zip(headers.map(\.count), minimum).map { max($0, $1) }
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.map(\.count).max() ?? 0) } }
        func cell(_ s: String, _ i: Int) -> String {
            let pad = String(repeating: " ", count: widths[i] - s.count)
            return i == 2 ? " " + pad + s + " " : " " + s + pad + " "
        }
        func rule(_ l: String, _ m: String, _ r: String, _ h: String) -> String {
            l + widths.map { String(repeating: h, count: $0 + 2) }.joined(separator: m) + r
        }
        var out = "Model: \"\(name ?? self.name)\"\n"
        out += rule("┏", "┳", "┓", "━") + "\n"
        out += "┃" + headers.enumerated().map { cell($1, $0) }.joined(separator: "┃") + "┃\n"
        out += rule("┡", "╇", "┩", "━") + "\n"
        for (k, r) in rows.enumerated() {
            let height = r.map(\.count).max() ?? 1
            for line in 0..<height {
                out += "│" + r.enumerated().map { cell(line < $1.count ? $1[line] : "", $0) }.joined(separator: "│") + "│\n"
            }
            if k < rows.count - 1 { out += rule("├", "┼", "┤", "─") + "\n" }
        }
        out += rule("└", "┴", "┘", "─") + "\n"
        let total = parameterCount, trainable = trainableParameterCount
        out += " Total params: \(Self.grouped(total)) (\(Self.memory(total * 4)))\n"
        out += " Trainable params: \(Self.grouped(trainable)) (\(Self.memory(trainable * 4)))\n"
        out += " Non-trainable params: \(Self.grouped(total - trainable)) (\(Self.memory((total - trainable) * 4)))\n"
        return out
    }

    /// 1234567 → "1,234,567".
    package static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return out
    }

    /// Keras's readable size: 1024-based units, two decimals.
    package static func memory(_ bytes: Int) -> String {
        var v = Double(bytes)
        for unit in ["B", "KB", "MB", "GB"] {
            if v < 1024 || unit == "GB" { return String(format: "%.2f", v) + " " + unit }
            v /= 1024
        }
        return "\(bytes) B"
    }
}
