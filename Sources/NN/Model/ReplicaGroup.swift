/// The processes of a data-parallel run (tf.distribute's MirroredStrategy across processes): every
/// replica holds the whole model, takes a contiguous share of each global batch, and the replicas
/// combine their gradients before each replica applies the same optimizer step. The core engine
/// knows only this protocol; `NNDistributed` implements it over MPI. Set `Model.replicas` and
/// `fit`/`evaluate` shard their batches and reduce through it; nil (the default) is one process.
///
/// Every method is a collective: all replicas call it, in the same order, with the same `count`.
public protocol ReplicaGroup: AnyObject {
    /// This replica's index, 0..<size; replica 0 reports and writes files.
    var rank: Int { get }
    /// The number of replicas.
    var size: Int { get }
    /// Replaces `values` by their sum over the replicas, element by element.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// The same for doubles (evaluation's loss sums).
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int) throws
    /// After `backward`, before the optimizer: every trainable gradient becomes
    /// Σ over replicas of `weight` · gradient (the replica's share of the global batch, so the
    /// result is the gradient of the global batch's mean loss), and `totals` (the step's loss and
    /// correct-count terms) becomes its sum. An implementation may fuse these into one buffer.
    func reduceGradients(_ parameters: [Parameter], weight: Float, totals: UnsafeMutablePointer<Float>, totalCount: Int) throws
    /// Replica 0's `value`, on every replica (a callback's stop decision).
    func broadcast(_ value: Int) throws -> Int
    /// Whether every replica passed the same `value` (the `--check-replicas` weight checksums).
    func allEqual(_ value: UInt64) throws -> Bool
}

/// Which samples of a global batch this replica holds: `offset..<offset + count` of `total`.
/// The seeded layers draw for the whole global batch and keep this window, so dropout masks and
/// augmentations do not depend on the number of replicas.
struct BatchWindow {
    var offset: Int
    var count: Int
    var total: Int

    /// Replica `rank` of `size`'s contiguous share of a batch of `total` (sizes differ by at most one).
    init(total: Int, rank: Int, size: Int) {
        offset = rank * total / size
        count = (rank + 1) * total / size - offset
        self.total = total
    }

    /// The whole batch (one process).
    init(whole total: Int) {
        offset = 0
        count = total
        self.total = total
    }
}

extension Model {
    /// A checksum of every parameter's bits (trainable or not, in `namedParameters` order): equal
    /// on replicas that hold identical weights.
    public var weightChecksum: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for layer in layers {
            for p in layer.parameters {
                let v = p.value.pointer
                for i in 0..<p.value.count {
                    h = (h ^ UInt64(v[i].bitPattern)) &* 0x0000_0100_0000_01B3
                }
            }
        }
        return h
    }

    /// The BatchNormalization statistics each replica moved by its own share (not synchronized):
    /// averaged over the replicas at the end of each epoch. The moving averages are linear in the
    /// batch means, so this equals averaging them after every step, as MirroredStrategy does.
    func averageMovingStatistics(_ replicas: any ReplicaGroup) throws {
        let scale = 1 / Float(replicas.size)
        for layer in layers {
            guard let bn = layer as? BatchNormalization, bn.replicas == nil else { continue }
            for p in [bn.movingMean!, bn.movingVariance!] {
                let v = p.value.pointer
                for i in 0..<p.value.count { v[i] *= scale }
                try replicas.sum(v, count: p.value.count)
            }
        }
    }

    /// Tells the seeded layers which samples of the global batch the next forward pass holds.
    func setBatchWindow(_ window: BatchWindow?) {
        for layer in layers {
            if let seeded = layer as? SeededLayer { seeded.window = window }
        }
    }
}
