import Foundation
import NN

/// Reading and writing the JSON of Keras configs on the core's strict `JSONValue` (duplicate keys
/// refused, nesting bounded, key order kept so a written config reads like Keras's own).
extension JSONValue {
    /// The member `key` of an object (nil for a missing key or a non-object).
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }
    var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    var arrayValue: [JSONValue]? { if case let .array(a) = self { return a } else { return nil } }
    var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    var objectKeys: [String] { if case let .object(m) = self { return m.map(\.key) } else { return [] } }

    /// An integer, also when written as `3.0` (Python writes some sizes as floats).
    var intValue: Int? {
        switch self {
        case let .integer(n): return n
        case let .number(text):
            guard let d = Double(text), d.rounded() == d, abs(d) < 1e15 else { return nil }
            return Int(d)
        default: return nil
        }
    }

    /// Any finite number.
    var doubleValue: Double? {
        switch self {
        case let .integer(n): return Double(n)
        case let .number(text): return Double(text).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    /// A JSON number for a Float, in its shortest form that reads back to the same Float.
    static func float(_ v: Float) -> JSONValue {
        if v == v.rounded(), abs(v) < 1e15 { return .number(String(format: "%.1f", Double(v))) }
        return .number(v.description)
    }

    /// `[null, d0, d1, …]`: a Keras batch shape.
    static func batchShape(_ shape: [Int]) -> JSONValue { .array([.null] + shape.map { .integer($0) }) }

    /// The JSON text, compact as Python's `json.dumps` writes it (`", "` and `": "` separators).
    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case let .object(members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += ", " }
                JSONValue.string(m.key).write(to: &out)
                out += ": "
                m.value.write(to: &out)
            }
            out += "}"
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(to: &out)
            }
            out += "]"
        case let .string(s):
            out += "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        case let .integer(n): out += String(n)
        case let .number(text): out += text
        case let .bool(b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }
}
