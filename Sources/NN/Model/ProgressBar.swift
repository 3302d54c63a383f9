import Foundation

/// How much `fit` prints, as Keras's `verbose`: a progress bar updated in place (1), one line per
/// epoch (2), or nothing (0). `.auto` picks the bar on a terminal and lines otherwise.
public enum Verbosity: Sendable {
    case silent, progressBar, epochLines, auto

    func resolved(for output: OutputSink) -> Verbosity {
        guard self == .auto else { return self }
        return output.isTerminal ? .progressBar : .epochLines
    }
}

/// Where a `ProgressBar` writes: standard output by default. A library user can send it elsewhere
/// (`OutputSink { FileHandle.standardError.write(Data($0.utf8)) }`, or into a lock-protected log)
/// or drop it (`.silent`).
public struct OutputSink: Sendable {
    /// Whether the text goes to a terminal, so a bar may be redrawn in place.
    public let isTerminal: Bool
    public let write: @Sendable (String) -> Void

    public init(isTerminal: Bool = false, write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.write = write
    }

    /// Through stdio's buffer, flushed each time, so the bar stays in order with the program's own
    /// `print`s when the output is a pipe or a file.
    public static let standardOutput = OutputSink(isTerminal: isatty(STDOUT_FILENO) != 0) { text in
        fputs(text, stdout)
        fflush(stdout)
    }

    public static let silent = OutputSink { _ in }
}

/// Keras's per-epoch progress line (`ProgbarLogger`), a callback `fit` adds unless `verbose` is
/// `.silent` or the callbacks already hold one. On a terminal it is redrawn in place
/// (`1688/1688 ━━━━━━━━━━━━━━━━━━━━ 4s 2ms/step - accuracy: 0.8600 - loss: 0.3900`);
/// otherwise only the finished line of each epoch is printed.
public final class ProgressBar: Callback {
    public let output: OutputSink
    private let verbosity: Verbosity
    private var epochs = 0, steps = 0
    private var start: UInt64 = 0, lastDraw: UInt64 = 0
    private static let width = 20

    public init(verbosity: Verbosity = .auto, output: OutputSink = .standardOutput) {
        self.output = output
        self.verbosity = verbosity.resolved(for: output)
    }

    public func setParams(_ params: FitParams) {
        epochs = params.epochs
        steps = params.steps
    }

    public func onEpochBegin(_ epoch: Int, model: Model) throws {
        start = DispatchTime.now().uptimeNanoseconds
        lastDraw = 0
        if verbosity != .silent { output.write("Epoch \(epoch + 1)/\(epochs)\n") }
    }

    /// Redraws at most ten times a second, and always on the last step. A non-finite loss ends
    /// the line, since `fit` stops there.
    public func onBatchEnd(_ batch: Int, logs: Logs, model: Model) throws {
        if let loss = logs.loss, !loss.isFinite { return finish(Logs(), seconds: 0) }
        guard verbosity == .progressBar else { return }
        let step = batch + 1
        let now = DispatchTime.now().uptimeNanoseconds
        guard step == steps || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let elapsed = Double(now - start) / 1e9
        let perStep = elapsed / Double(max(1, step))
        let eta = perStep * Double(steps - step)
        let time = step == steps ? Self.seconds(elapsed) : Self.clock(eta)
        output.write("\r\u{1B}[K" + line(step: step, time: time, perStep: perStep, logs: logs))
    }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        finish(logs, seconds: logs.seconds)
    }

    private func finish(_ logs: Logs, seconds: Double) {
        let perStep = seconds / Double(max(1, steps))
        switch verbosity {
        case .progressBar:
            output.write("\r\u{1B}[K" + line(step: steps, time: Self.seconds(seconds), perStep: perStep, logs: logs) + "\n")
        case .epochLines:
            output.write(line(step: steps, time: Self.seconds(seconds), perStep: perStep, logs: logs) + "\n")
        default:
            break
        }
    }

    private func line(step: Int, time: String, perStep: Double, logs: Logs) -> String {
        let digits = String(steps).count
        let counter = String(repeating: " ", count: max(0, digits - String(step).count)) + "\(step)/\(steps)"
        let done = steps == 0 ? Self.width : Self.width * step / steps
        let bar = String(repeating: "━", count: done) + String(repeating: "─", count: Self.width - done)
        return "\(counter) \(bar) \(time) \(Self.rate(perStep))" + Self.format(logs)
    }

    /// ` - accuracy: 0.8600 - loss: 0.3900 - val_accuracy: …`, keys sorted as Keras prints them.
    static func format(_ logs: Logs) -> String {
        logs.keys.map { " - \($0): " + String(format: "%.4f", logs[$0]!) }.joined()
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
}
