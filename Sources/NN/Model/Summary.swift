import Foundation

extension Model {
    /// The Keras 3 summary table: each layer's name and type, output shape and parameter count,
    /// then total, trainable and non-trainable parameters with their size in memory.
    public func summary(name: String = "sequential") -> String {
        let headers = ["Layer (type)", "Output Shape", "Param #"]
        var rows: [[String]] = []
        for l in layers {
            rows.append(["\(l.name) (\(l.typeName))", Tensor.describe(batchShape: l.outputShape), Self.grouped(l.parameterCount)])
        }
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        widths = zip(widths, [31, 22, 13]).map { max($0, $1) }
        func cell(_ s: String, _ i: Int) -> String {
            let pad = String(repeating: " ", count: widths[i] - s.count)
            return i == 2 ? " " + pad + s + " " : " " + s + pad + " "
        }
        func rule(_ l: String, _ m: String, _ r: String, _ h: String) -> String {
            l + widths.map { String(repeating: h, count: $0 + 2) }.joined(separator: m) + r
        }
        var out = "Model: \"\(name)\"\n"
        out += rule("┏", "┳", "┓", "━") + "\n"
        out += "┃" + headers.enumerated().map { cell($1, $0) }.joined(separator: "┃") + "┃\n"
        out += rule("┡", "╇", "┩", "━") + "\n"
        for (k, r) in rows.enumerated() {
            out += "│" + r.enumerated().map { cell($1, $0) }.joined(separator: "│") + "│\n"
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
