/// An optimizer is state per parameter plus one update rule (mlx-swift's split): a new optimizer
/// only says which slots it keeps and how one step changes a parameter.
///
/// The model adds L2 penalties to the gradients before calling `update`, and never passes a
/// parameter that is frozen or not trainable.
open class Optimizer {
    /// The step size; callbacks and schedules may change it between steps.
    public var learningRate: Float
    /// Steps taken so far (Keras `optimizer.iterations`); Adam's bias correction reads it.
    public internal(set) var iterations: Int = 0
    private var slots: [ObjectIdentifier: [Tensor]] = [:]
    /// A learning-rate schedule (Keras `learning_rate=ExponentialDecay(...)`): when set, each step
    /// sets `learningRate` to `schedule.learningRate(atStep: iterations)` before it applies.
    public var schedule: LearningRateSchedule?
    /// Keras `clipnorm`: each parameter's gradient is rescaled to at most this L2 norm.
    public var clipNorm: Float?
    /// Keras `global_clipnorm`: all gradients together are rescaled to at most this L2 norm.
    public var globalClipNorm: Float?
    /// Keras `clipvalue`: each gradient element is clipped to [−clipValue, clipValue].
    public var clipValue: Float?

    /// A subclass passes its default step size (Keras `learning_rate`).
    public init(learningRate: Float) { self.learningRate = learningRate }

    /// The Keras name (`sgd`, `rmsprop`, `adam`).
    open var name: String { "optimizer" }
    /// Names of the per-parameter state tensors (`momentum`, `m`, `v`, …).
    open var slotNames: [String] { [] }
    /// The value each slot starts at (zero unless a subclass says otherwise: Adagrad's accumulator).
    open var slotInitialValues: [Float] { slotNames.map { _ in 0 } }
    /// Whether `apply` may run on parts of a parameter at once: on the engine's threads, on disjoint
    /// ranges of the value, gradient and slots. True for the element-wise rules here; false by
    /// default, so a subclass that needs the whole tensor (norm clipping, LAMB) is never split.
    open var updatesInParts: Bool { false }

    /// Applies one step to `value` from `gradient`, with this parameter's slots (same shape, zeroed at first use).
    /// With `updatesInParts`, large parameters arrive as concurrent calls on disjoint ranges, with
    /// slot views of the same ranges.
    open func apply(value: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int, slots: [Tensor]) {}

    /// One optimization step over the given parameters: the schedule's learning rate, gradient
    /// clipping (in place), then the rule.
    public func update(_ parameters: [Parameter]) {
        if let schedule { learningRate = schedule.learningRate(atStep: iterations) }
        clipGradients(parameters)
        // Saturating: a count restored from a tampered checkpoint must not trap at Int.max (restore
        // refuses it first with `validateState`; this keeps even an unchecked count from crashing).
        if iterations < Int.max { iterations += 1 }
        for p in parameters where p.trainable {
            let count = p.value.count, slots = state(for: p)
            let parts = updatesInParts ? Parallel.partCount(count, grain: Parallel.elementGrain / 2) : 1
            if parts == 1 {
                apply(value: p.value.pointer, gradient: p.gradient.pointer, count: count, slots: slots)
            } else {
                Parallel.run(parts, OptimizerPart(optimizer: self, value: p.value.pointer, gradient: p.gradient.pointer,
                                                  count: count, slots: partSlots(for: p, slots: slots, parts: parts)))
            }
        }
    }

    /// Keras's clipping, in its order: `clipnorm` per parameter, then `clipvalue`, then
    /// `global_clipnorm` over all (norms summed in Double, in parameter order: deterministic).
    private func clipGradients(_ parameters: [Parameter]) {
        guard clipNorm != nil || clipValue != nil || globalClipNorm != nil else { return }
        @inline(__always) func norm(_ p: Parameter) -> Double {
            var s = 0.0
            let g = p.gradient.pointer
            for i in 0..<p.gradient.count { s += Double(g[i]) * Double(g[i]) }
            return s
        }
        @inline(__always) func scale(_ p: Parameter, _ f: Float) {
            let g = p.gradient.pointer
            for i in 0..<p.gradient.count { g[i] *= f }
        }
        for p in parameters where p.trainable {
            if let c = clipNorm {
                let n = Float(norm(p).squareRoot())
                if n > c { scale(p, c / n) }
            }
            if let v = clipValue {
                let g = p.gradient.pointer
                for i in 0..<p.gradient.count { g[i] = Swift.min(Swift.max(g[i], -v), v) }
            }
        }
        if let c = globalClipNorm {
            var total = 0.0
            for p in parameters where p.trainable { total += norm(p) }
            let n = Float(total.squareRoot())
            if n > c { for p in parameters where p.trainable { scale(p, c / n) } }
        }
    }

    /// Views of each slot over each part's range, made once per parameter and part count.
    private func partSlots(for p: Parameter, slots: [Tensor], parts: Int) -> [[Tensor]] {
        let key = ObjectIdentifier(p)
        if let cached = slotParts[key], cached.count == parts { return cached }
        let count = p.value.count
        let views = (0..<parts).map { part in
            slots.map { $0.reshaped([count]).rows(Parallel.range(part, of: parts, count: count)) }
        }
        slotParts[key] = views
        return views
    }
    private var slotParts: [ObjectIdentifier: [[Tensor]]] = [:]

    /// The slot tensors of one parameter, created on first use.
    public func state(for p: Parameter) -> [Tensor] {
        let key = ObjectIdentifier(p)
        if let s = slots[key] { return s }
        let s = slotInitialValues.map { Tensor(shape: p.value.shape, repeating: $0) }
        slots[key] = s
        return s
    }

    /// The largest step count a restored state may hold: 2^53, the last count a Double (Adam's bias
    /// correction computes βᵗ in Double) represents exactly; no real run comes near it.
    public static let maxIterations = 1 << 53

    /// Sets the step count from saved state (a checkpoint), refusing a negative count or one above
    /// `maxIterations` with a message naming the optimizer.
    public func restoreIterations(_ count: Int) throws {
        guard count >= 0, count <= Self.maxIterations else {
            throw NNError.invalidArgument("optimizer '\(name)': iteration count \(count) is outside 0...\(Self.maxIterations)")
        }
        iterations = count
    }

    /// Checks state that came from outside (a restored checkpoint) before training on it: the step
    /// count in 0...`maxIterations`, a finite non-negative learning rate, and finite slot values
    /// (NaN moments would turn every weight into NaN at the first step).
    public func validateState() throws {
        guard iterations >= 0, iterations <= Self.maxIterations else {
            throw NNError.invalidArgument("optimizer '\(name)': iteration count \(iterations) is outside 0...\(Self.maxIterations)")
        }
        guard learningRate.isFinite, learningRate >= 0 else {
            throw NNError.invalidArgument("optimizer '\(name)': learning rate \(learningRate) must be finite and not negative")
        }
        for tensors in slots.values {
            for (slot, t) in zip(slotNames, tensors) {
                if let i = t.firstNonFiniteIndex {
                    throw NNError.invalidArgument("optimizer '\(name)': slot '\(slot)' holds \(t[flat: i]) at flat index \(i)")
                }
            }
        }
    }

    /// Forgets all slots and the step count (a new training run from scratch).
    public func reset() { slots = [:]; slotParts = [:]; iterations = 0 }
}

/// One part of an optimizer step on one parameter: the update rule on a range of its elements.
struct OptimizerPart: ParallelWork {
    let optimizer: Optimizer
    let value: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
    let count: Int
    let slots: [[Tensor]]

    func run(part: Int, of parts: Int) {
        let r = Parallel.range(part, of: parts, count: count)
        optimizer.apply(value: value + r.lowerBound, gradient: gradient + r.lowerBound, count: r.count, slots: slots[part])
    }
}

/// Stochastic gradient descent with optional momentum and Nesterov momentum, as Keras defines them:
/// v ← μ·v − η·g; w ← w + v (Nesterov: w ← w + μ·v − η·g). Keras default η = 0.01.
public final class SGD: Optimizer {
    /// μ, the fraction of the last update carried into the next (Keras `momentum`; 0 is plain SGD).
    public let momentum: Float
    /// Whether the step looks ahead along the momentum (Keras `nesterov`).
    public let nesterov: Bool
    /// Keras `SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`.
    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false) {
        self.momentum = momentum
        self.nesterov = nesterov
        super.init(learningRate: learningRate)
    }
    public override var name: String { "sgd" }
    public override var updatesInParts: Bool { true }
    public override var slotNames: [String] { momentum == 0 ? [] : ["momentum"] }

    public override func apply(value w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, slots: [Tensor]) {
        let lr = learningRate
        guard momentum != 0 else {
            for i in 0..<count { w[i] -= lr * g[i] }
            return
        }
        let v = slots[0].pointer, mu = momentum
        for i in 0..<count {
            v[i] = mu * v[i] - lr * g[i]
            w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i]
        }
    }
}

/// RMSProp as Keras 3 defines it (η = 0.001, ρ = 0.9, ε = 1e-7, no momentum):
/// s ← ρ·s + (1 − ρ)·g²; w ← w − η·g / √(s + ε).
public final class RMSProp: Optimizer {
    /// ρ, the decay of the running mean of squared gradients (Keras `rho`).
    public let rho: Float
    /// ε, added under the square root so the step stays finite (Keras `epsilon`).
    public let epsilon: Float
    /// Keras `RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7)`.
    public init(learningRate: Float = 0.001, rho: Float = 0.9, epsilon: Float = 1e-7) {
        self.rho = rho
        self.epsilon = epsilon
        super.init(learningRate: learningRate)
    }
    public override var name: String { "rmsprop" }
    public override var updatesInParts: Bool { true }
    public override var slotNames: [String] { ["velocity"] }

    public override func apply(value w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, slots: [Tensor]) {
        let s = slots[0].pointer, lr = learningRate, rho = rho, eps = epsilon
        var i = 0
        while i + 8 <= count {  // eight lanes, as in Adam
            let gi = SIMD8<Float>.load(g + i)
            let si = rho * SIMD8<Float>.load(s + i) + (1 - rho) * gi * gi
            si.store(to: s + i)
            (SIMD8<Float>.load(w + i) - lr * gi / (si + eps).squareRoot()).store(to: w + i)
            i += 8
        }
        while i < count {
            s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
            w[i] -= lr * g[i] / (s[i] + eps).squareRoot()
            i += 1
        }
    }
}

/// Adam as Keras 3 computes it (η = 0.001, β₁ = 0.9, β₂ = 0.999, ε = 1e-7), bias correction folded
/// into the step size: α = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ); m ← m + (g − m)(1 − β₁); v ← v + (g² − v)(1 − β₂);
/// w ← w − α·m / (√v + ε).
public final class Adam: Optimizer {
    /// β₁, the decay of the running mean of gradients (Keras `beta_1`).
    public let beta1: Float
    /// β₂, the decay of the running mean of squared gradients (Keras `beta_2`).
    public let beta2: Float
    /// ε, added to the denominator so the step stays finite (Keras `epsilon`).
    public let epsilon: Float
    /// Keras `Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        super.init(learningRate: learningRate)
    }
    public override var name: String { "adam" }
    public override var updatesInParts: Bool { true }
    public override var slotNames: [String] { ["m", "v"] }

    public override func apply(value w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, slots: [Tensor]) {
        Self.update(w, gradient: g, count: count, m: slots[0].pointer, v: slots[1].pointer, learningRate: learningRate,
                    iterations: iterations, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: nil)
    }

    /// Adam's step on `count` weights, shared with AdamW: first, when `weightDecay` is given (even
    /// 0), the decoupled decay w ← w − (η·λ)·w, then the moments and the step on the decayed w.
    /// Adam passes nil, so its weights never see a `w − w·0` (that turns −0 into +0).
    @inline(__always)
    static func update(_ w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int,
                       m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, learningRate: Float, iterations: Int,
                       beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float?) {
        let t = Double(iterations)
        let alpha = Float(Double(learningRate) * (1 - _pow(Double(beta2), t)).squareRoot() / (1 - _pow(Double(beta1), t)))
        let b1 = 1 - beta1, b2 = 1 - beta2, eps = epsilon
        let decays = weightDecay != nil, decay = learningRate * (weightDecay ?? 0)
        // Eight lanes at a time: the compiler kept this loop scalar (a divide and a square root per
        // element, 10% of a convnet step). Same operations in the same order, so the same bits.
        var i = 0
        while i + 8 <= count {
            let gi = SIMD8<Float>.load(g + i)
            var mi = SIMD8<Float>.load(m + i), vi = SIMD8<Float>.load(v + i), wi = SIMD8<Float>.load(w + i)
            if decays { wi -= wi * decay }
            mi += (gi - mi) * b1
            vi += (gi * gi - vi) * b2
            mi.store(to: m + i); vi.store(to: v + i)
            (wi - alpha * mi / (vi.squareRoot() + eps)).store(to: w + i)
            i += 8
        }
        while i < count {
            if decays { w[i] -= w[i] * decay }
            m[i] += (g[i] - m[i]) * b1
            v[i] += (g[i] * g[i] - v[i]) * b2
            w[i] -= alpha * m[i] / (v[i].squareRoot() + eps)
            i += 1
        }
    }
}

/// AdamW as Keras 3 computes it: decoupled weight decay w ← w − η·λ·w, then the Adam step
/// (η = 0.001, λ = 0.004, β₁ = 0.9, β₂ = 0.999, ε = 1e-7). Unlike an L2 penalty the decay does not
/// pass through the moments, so it shrinks every weight at the same relative rate. The step is
/// Adam's own code (`Adam.update`), eight lanes at a time, with the decay first.
public final class AdamW: Optimizer {
    public let weightDecay: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    /// Keras `AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
    public init(learningRate: Float = 0.001, weightDecay: Float = 0.004, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        super.init(learningRate: learningRate)
    }
    public override var name: String { "adamw" }
    public override var updatesInParts: Bool { true }
    public override var slotNames: [String] { ["m", "v"] }

    public override func apply(value w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, slots: [Tensor]) {
        Adam.update(w, gradient: g, count: count, m: slots[0].pointer, v: slots[1].pointer, learningRate: learningRate,
                    iterations: iterations, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
    }
}

/// Adagrad as Keras 3 computes it (η = 0.001, accumulator starting at 0.1, ε = 1e-7):
/// a ← a + g²; w ← w − η·g / √(a + ε). Each weight's step shrinks with its gradients' history.
public final class Adagrad: Optimizer {
    public let initialAccumulatorValue: Float
    public let epsilon: Float
    /// Keras `Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)`.
    public init(learningRate: Float = 0.001, initialAccumulatorValue: Float = 0.1, epsilon: Float = 1e-7) {
        self.initialAccumulatorValue = initialAccumulatorValue
        self.epsilon = epsilon
        super.init(learningRate: learningRate)
    }
    public override var name: String { "adagrad" }
    public override var updatesInParts: Bool { true }
    public override var slotNames: [String] { ["accumulator"] }
    public override var slotInitialValues: [Float] { [initialAccumulatorValue] }

    public override func apply(value w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, slots: [Tensor]) {
        let a = slots[0].pointer, lr = learningRate, eps = epsilon
        for i in 0..<count {
            a[i] += g[i] * g[i]
            w[i] -= lr * g[i] / (a[i] + eps).squareRoot()
        }
    }
}

import Foundation
@inline(__always) func _pow(_ a: Double, _ b: Double) -> Double { Foundation.pow(a, b) }

extension SIMD8 where Scalar == Float {
    /// Eight floats from `p` (any alignment).
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Self {
        UnsafeRawPointer(p).loadUnaligned(as: Self.self)
    }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Self { load(UnsafePointer(p)) }
    /// Writes the eight floats to `p` (any alignment).
    @inline(__always) func store(to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self)
    }
}
