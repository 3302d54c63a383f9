// libFuzzer target for reading a training history back (`History(jsonObject:)`, what `cnn report
// --history-json` reads) and drawing the report's charts of it. Built by scripts/fuzz into the one
// fuzz binary with the engine's sources (NN and NNReport), so no imports of our modules.
//
// Any JSON (a list of epochs, or an object with "epochs") must be read or refused with the engine's
// error; a history read must survive its own JSON (values that JSON cannot hold, NaN and ±inf,
// are dropped there), and its loss and accuracy charts must draw as SVG and as pixels, whatever the
// values (huge, tiny, non-finite, all equal).
import Foundation

/// The `history` target (see Fuzz/Main/FuzzMain.swift).
func fuzzHistory(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes: data, count: size), options: [.fragmentsAllowed]),
          let entries = (object as? [[String: Any]]) ?? ((object as? [String: Any])?["epochs"] as? [[String: Any]]) else {
        return 0
    }
    let history: History
    do { history = try History(jsonObject: entries) } catch is NNError { return 0 } catch {
        fatalError("History(jsonObject:) threw \(type(of: error)): \(error)")
    }
    do {
        let again = try History(jsonObject: history.jsonObject)
        guard again.epochs.count == history.epochs.count else { fatalError("the round trip lost epochs") }
        for (a, b) in zip(history.epochs, again.epochs) {
            guard a.epoch == b.epoch, a.samples == b.samples, a.seconds == b.seconds || !a.seconds.isFinite,
                  b.logs == a.logs.filter({ $0.value.isFinite }) else {
                fatalError("the round trip changed epoch \(a.epoch): \(a) vs \(b)")
            }
        }
    } catch {
        fatalError("a history's own JSON was refused: \(error)")
    }
    for keys in [["loss", "val_loss"], ["accuracy", "val_accuracy"]] {
        let chart = LineChart.history(history, keys: keys, title: keys[0], yLabel: keys[0])
        _ = chart.svg()
        _ = chart.raster()
    }
    return 0
}
