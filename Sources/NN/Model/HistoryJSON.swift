import Foundation

extension History {
    /// The most epochs a history read from a file may hold.
    public static let maxEpochs = 100_000

    /// Reads back `History.jsonObject` (`[{"epoch": 1, "loss": …, "seconds": …}, …]`), e.g. from
    /// the file `cnn train --history-json` writes, so a report can be made for a finished run.
    /// Every numeric key other than `epoch`, `seconds` and `samples` becomes a log value.
    public convenience init(jsonObject: [[String: Any]]) throws {
        // Far beyond any real run; a report of millions of epochs would take gigabytes to draw.
        guard jsonObject.count <= History.maxEpochs else {
            throw NNError.invalidArgument("the history has \(jsonObject.count) epochs, more than \(History.maxEpochs)")
        }
        var epochs: [Epoch] = []
        for (i, entry) in jsonObject.enumerated() {
            var logs: [String: Float] = [:]
            for (key, value) in entry where !["epoch", "seconds", "samples"].contains(key) {
                guard let number = value as? NSNumber else {
                    throw NNError.invalidArgument("history entry \(i + 1): '\(key)' is not a number")
                }
                logs[key] = number.floatValue
            }
            // Counts are whole, non-negative and within Int: a hand-edited 1e300 is refused by name
            // instead of being converted by `intValue` (which does not check).
            func count(_ key: String) throws -> Int? {
                guard let value = entry[key] else { return nil }
                guard let number = value as? NSNumber, let n = Int(exactly: number.doubleValue), n >= 0 else {
                    throw NNError.invalidArgument("history entry \(i + 1): '\(key)' is not a whole number of at least 0 (\(value))")
                }
                return n
            }
            let epoch = try count("epoch") ?? i + 1
            let seconds = (entry["seconds"] as? NSNumber)?.doubleValue ?? 0
            let samples = try count("samples") ?? 0
            epochs.append(Epoch(epoch: epoch, logs: logs, seconds: seconds, samples: samples))
        }
        self.init(epochs: epochs)
    }
}

extension History {
    /// The JSON value in the file at `path` (a `cnn train --history-json` file), for
    /// `init(jsonObject:)`. The file is opened through `InputFile`: a FIFO, a device or a directory
    /// is refused at once with a message naming the path, instead of blocking or reading for ever.
    public static func readJSON(file path: String) throws -> Any {
        let data = try InputFile.read(path)
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw NNError.invalidArgument("history file \(path) is not valid JSON")
        }
    }
}
