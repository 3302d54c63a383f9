import Foundation

/// Keras's per-epoch progress line. On a terminal it is redrawn in place
/// (`1688/1688 ━━━━━━━━━━━━━━━━━━━━ 4s 2ms/step - accuracy: 0.8600 - loss: 0.3900`);
/// otherwise only the finished line of each epoch is printed.
final class ProgressBar {
    private let epoch: Int, epochs: Int, steps: Int
    private let verbosity: Verbosity
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private static let width = 20

    init(epoch: Int, epochs: Int, steps: Int, verbosity: Verbosity) {
        self.epoch = epoch
        self.epochs = epochs
        self.steps = steps
        self.verbosity = verbosity
        if verbosity != .silent { Self.write("Epoch \(epoch)/\(epochs)\n") }
    }

    /// Redraws at most ten times a second, and always on the last step.
    func update(step: Int, logs: [String: Float]) {
        guard verbosity == .progressBar else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard step == steps || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let elapsed = Double(now - start) / 1e9
        let perStep = elapsed / Double(max(1, step))
        let eta = perStep * Double(steps - step)
        let time = step == steps ? Self.seconds(elapsed) : Self.clock(eta)
        Self.write("\r\u{1B}[K" + line(step: step, time: time, perStep: perStep, logs: logs))
    }

    func finish(logs: [String: Float], seconds: Double) {
        switch verbosity {
        case .progressBar:
            let perStep = seconds / Double(max(1, steps))
            Self.write("\r\u{1B}[K" + line(step: steps, time: Self.seconds(seconds), perStep: perStep, logs: logs) + "\n")
        case .epochLines:
            let perStep = seconds / Double(max(1, steps))
            Self.write(line(step: steps, time: Self.seconds(seconds), perStep: perStep, logs: logs) + "\n")
        default:
            break
        }
    }

    private func line(step: Int, time: String, perStep: Double, logs: [String: Float]) -> String {
        let digits = String(steps).count
        let counter = String(repeating: " ", count: max(0, digits - String(step).count)) + "\(step)/\(steps)"
        let done = steps == 0 ? Self.width : Self.width * step / steps
        let bar = String(repeating: "━", count: done) + String(repeating: "─", count: Self.width - done)
        return "\(counter) \(bar) \(time) \(Self.rate(perStep))" + Self.format(logs)
    }

    /// ` - accuracy: 0.8600 - loss: 0.3900 - val_accuracy: …`, keys sorted as Keras prints them.
    static func format(_ logs: [String: Float]) -> String {
        logs.keys.sorted().map { " - \($0): " + String(format: "%.4f", logs[$0]!) }.joined()
    }

    static func rate(_ perStep: Double) -> String {
        if perStep >= 1 { return "\(Int(perStep.rounded()))s/step" }
        if perStep >= 1e-3 { return "\(Int((perStep * 1e3).rounded()))ms/step" }
        return "\(Int((perStep * 1e6).rounded()))us/step"
    }

    static func seconds(_ s: Double) -> String { "\(Int(s.rounded()))s" }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60)
                         : String(format: "%d:%02d", t / 60, t % 60)
    }

    static func write(_ s: String) {
        FileHandle.standardOutput.write(s.data(using: .utf8)!)
    }
}
