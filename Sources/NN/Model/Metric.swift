/// A metric reported during training and evaluation, by Keras name.
public enum Metric: String, Sendable, CaseIterable {
    /// The share of samples whose highest-scoring class is the target class (targets as labels
    /// `[N]` or one-hot rows `[N, C]`; a single output unit counts > 0.5 as class 1).
    case accuracy

    /// Correct predictions in a batch.
    static func correctCount(output: Tensor, target: Tensor) -> Int {
        let n = output.shape[0], width = output.count / max(1, n)
        let o = output.pointer, t = target.pointer
        let targetWidth = target.count / max(1, n)
        var correct = 0
        for r in 0..<n {
            let row = o + r * width
            let predicted: Int
            if width == 1 {
                predicted = row[0] > 0.5 ? 1 : 0
            } else {
                predicted = argmax(row, width)
            }
            let truth = targetWidth == 1 ? Int(t[r].rounded()) : argmax(t + r * targetWidth, targetWidth)
            if predicted == truth { correct += 1 }
        }
        return correct
    }

    @inline(__always) static func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for j in 1..<max(1, n) where p[j] > p[best] { best = j }
        return best
    }
}
