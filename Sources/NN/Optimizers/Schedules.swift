import Foundation

/// A learning rate as a function of the optimizer's step count (Keras's
/// `keras.optimizers.schedules`): set one as `optimizer.schedule` and every step uses
/// `learningRate(atStep: optimizer.iterations)` (the count of steps already taken).
public protocol LearningRateSchedule: AnyObject {
    /// The Keras class name (`ExponentialDecay`, …).
    var className: String { get }
    func learningRate(atStep step: Int) -> Float
}

/// η₀ · rate^(step / decaySteps), the exponent floored when `staircase` (Keras `ExponentialDecay`).
public final class ExponentialDecay: LearningRateSchedule {
    public let initialLearningRate: Float, decaySteps: Int, decayRate: Float, staircase: Bool
    public init(initialLearningRate: Float, decaySteps: Int, decayRate: Float, staircase: Bool = false) throws {
        guard decaySteps > 0 else { throw NNError.invalidArgument("ExponentialDecay: decay_steps must be positive, got \(decaySteps)") }
        self.initialLearningRate = initialLearningRate
        self.decaySteps = decaySteps
        self.decayRate = decayRate
        self.staircase = staircase
    }
    public var className: String { "ExponentialDecay" }
    public func learningRate(atStep step: Int) -> Float {
        var p = Double(step) / Double(decaySteps)
        if staircase { p = p.rounded(.down) }
        return Float(Double(initialLearningRate) * pow(Double(decayRate), p))
    }
}

/// `values[i]` while step ≤ `boundaries[i]` (and `values.last` after the last boundary), as Keras's
/// `PiecewiseConstantDecay`: one more value than boundaries, boundaries increasing.
public final class PiecewiseConstantDecay: LearningRateSchedule {
    public let boundaries: [Int], values: [Float]
    public init(boundaries: [Int], values: [Float]) throws {
        guard values.count == boundaries.count + 1 else {
            throw NNError.invalidArgument("PiecewiseConstantDecay: \(boundaries.count) boundaries need \(boundaries.count + 1) values, got \(values.count)")
        }
        guard zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw NNError.invalidArgument("PiecewiseConstantDecay: boundaries \(boundaries) must increase")
        }
        self.boundaries = boundaries
        self.values = values
    }
    public var className: String { "PiecewiseConstantDecay" }
    public func learningRate(atStep step: Int) -> Float {
        values[boundaries.firstIndex { step <= $0 } ?? boundaries.count]
    }
}

/// Keras's `CosineDecay`: an optional linear warm-up from `initialLearningRate` to `warmupTarget`
/// over `warmupSteps`, then a cosine from the peak down to `alpha` × peak over `decaySteps`.
public final class CosineDecay: LearningRateSchedule {
    public let initialLearningRate: Float, decaySteps: Int, alpha: Float, warmupTarget: Float?, warmupSteps: Int
    public init(initialLearningRate: Float, decaySteps: Int, alpha: Float = 0, warmupTarget: Float? = nil, warmupSteps: Int = 0) throws {
        guard decaySteps >= 0, warmupSteps >= 0 else { throw NNError.invalidArgument("CosineDecay: decay_steps and warmup_steps must not be negative") }
        self.initialLearningRate = initialLearningRate
        self.decaySteps = decaySteps
        self.alpha = alpha
        self.warmupTarget = warmupTarget
        self.warmupSteps = warmupSteps
    }
    public var className: String { "CosineDecay" }
    public func learningRate(atStep step: Int) -> Float {
        let peak = Double(warmupTarget ?? initialLearningRate)
        if let target = warmupTarget, step < warmupSteps {
            return Float(Double(initialLearningRate) + (Double(target) - Double(initialLearningRate)) * Double(step) / Double(warmupSteps))
        }
        guard decaySteps > 0 else { return Float(peak) }
        let s = Double(min(step - (warmupTarget == nil ? 0 : warmupSteps), decaySteps)) / Double(decaySteps)
        let cosine = 0.5 * (1 + cos(Double.pi * s))
        return Float(peak * ((1 - Double(alpha)) * cosine + Double(alpha)))
    }
}
