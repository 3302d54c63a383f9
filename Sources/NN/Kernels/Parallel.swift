import CPUHint
import Foundation
import Synchronization

/// The engine's own threads. A training step is dozens of small kernels (a 32-image convnet step
/// is ~1 ms), too short for OpenBLAS's thread pool, which spins in `sched_yield` between calls
/// and allocates job buffers per call. So the engine splits work itself — GEMMs by rows or
/// columns, element-wise loops by range, convolutions by images — over a fixed pool of threads
/// that spin briefly between kernels and then sleep, and calls OpenBLAS single-threaded from
/// each. Dispatching allocates nothing.
///
/// Results are deterministic for a given `threads`: each part's range depends only on the part's
/// index, and reductions over parts are summed in part order.
///
/// The threads are a `WorkerPool` object. The kernels below run on `WorkerPool.current`: the pool
/// the calling model installed for the call (`Sequential.pool`), or the shared default.
package enum Parallel {
    /// Threads one kernel uses, the caller included: the shared pool's. The default is OpenBLAS's
    /// own choice at start (the core count, or `OPENBLAS_NUM_THREADS`/`OMP_NUM_THREADS` when set).
    /// Setting it replaces the shared pool: do it between training steps from one thread, not from
    /// inside a part, nor while another thread is training.
    package static var threads: Int {
        get { WorkerPool.shared.threads }
        set {
            guard newValue != WorkerPool.shared.threads else { return }
            let old = WorkerPool.shared
            WorkerPool.shared = WorkerPool(threads: max(1, newValue))
            old.retire()
        }
    }

    /// Runs `work.run(part:of:)` for every part in 0..<parts, spread over the pool, and returns
    /// when all are done. Called from inside a part, or while another thread is dispatching, the
    /// parts run inline. Work is a struct rather than a closure because handing a non-escaping
    /// closure to another thread (`withoutActuallyEscaping`) heap-allocates on every call.
    @inline(__always)
    package static func run<W: ParallelWork>(_ parts: Int, _ work: W) {
        if parts <= 1 {
            if parts == 1 { work.run(part: 0, of: 1) }
            return
        }
        WorkerPool.current.run(parts, work)
    }

    /// Whether the current pool is running a job: work issued from inside a part then runs on its thread.
    @inline(__always)
    package static var isRunningParts: Bool { WorkerPool.current.isBusy }

    /// How many parts to make of `count` items, each at least `grain` items (at most the current
    /// pool's threads).
    @inline(__always)
    package static func partCount(_ count: Int, grain: Int) -> Int {
        max(1, min(WorkerPool.current.threads, count / max(1, grain)))
    }

    /// How many parts to split a batch of `images` into when each image gives `valuesPerImage`
    /// outputs: one per thread (at most one per image), or one when the whole batch is too small to pay.
    @inline(__always)
    package static func imageParts(images: Int, valuesPerImage: Int) -> Int {
        images * valuesPerImage < elementGrain ? 1 : max(1, min(WorkerPool.current.threads, images))
    }

    /// Part `p` of `parts` near-equal contiguous ranges of 0..<count.
    @inline(__always)
    package static func range(_ p: Int, of parts: Int, count: Int) -> Range<Int> {
        (p * count / parts)..<((p + 1) * count / parts)
    }
}

/// One kernel split into parts: `run(part:of:)` does part `part` of `parts`; parts must touch
/// disjoint outputs. Usually a small struct of pointers and sizes.
package protocol ParallelWork {
    func run(part: Int, of parts: Int)
}

/// A caller plus `threads − 1` worker threads sharing one job at a time. The job word holds the
/// job's generation (bits 40…62), its part count (bits 20…39) and the next part index (bits 0…19),
/// so a worker claims a part with one compare-exchange on a word that also says how many parts
/// that job has: a worker still looking at a finished job can neither claim a part of the next one
/// nor read the next job's count with the old job's index.
package final class WorkerPool: @unchecked Sendable {
    package let threads: Int
    private let job = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let live = Atomic<Int>(0)
    /// The dispatching thread's work value (on its stack) and its type, for the duration of `run`.
    private let work = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: 1)
    private let workType = UnsafeMutablePointer<(any ParallelWork.Type)?>.allocate(capacity: 1)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// The pool the engine's kernels run on (`Parallel`), made on first use with OpenBLAS's thread
    /// count at start; `Parallel.threads` replaces it.
    nonisolated(unsafe) package static var shared: WorkerPool = {
        let threads = max(1, BLAS.openBLASThreads)
        // Here the engine decides to split every kernel over its own threads and to call OpenBLAS
        // from each of them, so OpenBLAS's own pool must stay out of the way: its threads would
        // compete with ours for the cores and spin in sched_yield between the step's small calls.
        BLAS.setOpenBLASThreads(1)
        return WorkerPool(threads: threads)
    }()

    /// The pool kernels dispatched from this thread run on: the one installed by `installed(_:)`
    /// around the current call (a model's own pool), else `shared`. A thread-local lookup, so two
    /// models on two threads can use two pools.
    @inline(__always)
    package static var current: WorkerPool {
        guard let installed = pthread_getspecific(currentKey) else { return shared }
        return Unmanaged<WorkerPool>.fromOpaque(installed).takeUnretainedValue()
    }

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Runs `body` with this pool as the calling thread's `current` one, then restores the previous.
    /// Allocation-free, so a training step may call it.
    @inline(__always)
    package func installed<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.currentKey)
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.currentKey, previous) }
        return try withExtendedLifetime(self) { try body() }
    }

    /// Starts `threads − 1` worker threads (the caller of `run` is the last). Leaves OpenBLAS alone.
    package init(threads: Int) {
        self.threads = threads
        work.initialize(to: nil)
        workType.initialize(to: nil)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 1..<max(1, threads) {
            let unmanaged = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { context in
                let pool = Unmanaged<WorkerPool>.fromOpaque(context!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, unmanaged.toOpaque())
            if started == 0 { pthread_detach(thread); live.add(1, ordering: .relaxed) } else { unmanaged.release() }
        }
    }

    deinit {
        work.deallocate(); workType.deallocate()
        pthread_mutex_destroy(mutex); pthread_cond_destroy(wake)
        mutex.deallocate(); wake.deallocate()
    }

    /// Lets the workers exit (a pool replaced by a new `Parallel.threads`, or one a caller owned).
    package func retire() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex); pthread_cond_broadcast(wake); pthread_mutex_unlock(mutex)
    }

    package var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs every part of `task` on this pool's threads and returns when all are done.
    package func run<W: ParallelWork>(_ count: Int, _ task: W) {
        guard live.load(ordering: .relaxed) > 0, count < 1 << 20,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for p in 0..<count { task.run(part: p, of: count) }  // nested, concurrent, or no workers: inline
            return
        }
        withUnsafePointer(to: task) { pointer in
            work.pointee = UnsafeRawPointer(pointer)
            workType.pointee = W.self
            finished.store(0, ordering: .relaxed)
            let generation = (Job.generation(job.load(ordering: .relaxed)) &+ 1) & Job.generationMask
            job.store(Job.word(generation: generation, parts: count), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex); pthread_cond_broadcast(wake); pthread_mutex_unlock(mutex)
            }
            runParts(generation: generation)
            while finished.load(ordering: .acquiring) < count { nn_cpu_relax() }
            work.pointee = nil
            workType.pointee = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Runs part `index` of the published work, whatever its type.
    private func invoke<W: ParallelWork>(_ type: W.Type, _ index: Int, of parts: Int) {
        work.pointee!.assumingMemoryBound(to: W.self).pointee.run(part: index, of: parts)
    }

    /// Claims and runs parts of job `generation` until none are left or the job was replaced.
    private func runParts(generation: Int) {
        while true {
            let word = job.load(ordering: .acquiring)
            guard Job.generation(word) == generation else { return }
            let index = Job.index(word), parts = Job.parts(word)
            guard index < parts else { return }
            guard job.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            invoke(workType.pointee!, index, of: parts)
            finished.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        // Kernels issued from inside a part see this pool as current, find it busy and run inline.
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        var seen = 0
        while true {
            // Spin for the next kernel of a step (microseconds away), then yield, then sleep.
            var spins = 0
            var word = job.load(ordering: .acquiring)
            while Job.generation(word) == seen {
                if stopping.load(ordering: .relaxed) { return }
                spins += 1
                if spins > 60_000 {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while Job.generation(job.load(ordering: .sequentiallyConsistent)) == seen && !stopping.load(ordering: .sequentiallyConsistent) {
                        pthread_cond_wait(wake, mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    spins = 0
                } else if spins > 50_000 {
                    sched_yield()
                } else {
                    nn_cpu_relax()
                }
                word = job.load(ordering: .acquiring)
            }
            if stopping.load(ordering: .relaxed) { return }
            seen = Job.generation(word)
            runParts(generation: seen)
        }
    }
}

/// The fields of the pool's job word.
enum Job {
    static let generationMask = (1 << 23) - 1
    @inline(__always) static func word(generation: Int, parts: Int) -> Int { generation << 40 | parts << 20 }
    @inline(__always) static func generation(_ word: Int) -> Int { word >> 40 }
    @inline(__always) static func parts(_ word: Int) -> Int { (word >> 20) & 0xF_FFFF }
    @inline(__always) static func index(_ word: Int) -> Int { word & 0xF_FFFF }
}

extension Parallel {
    /// Element-wise loops below this many floats run on one thread (a wake-up costs ~1 µs).
    package static let elementGrain = 1 << 15

    /// z[i] = x[i] · y[i], split over the threads.
    package static func multiply(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
        struct Multiply: ParallelWork {
            let x: UnsafePointer<Float>, y: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, count: Int
            func run(part: Int, of parts: Int) {
                for i in Parallel.range(part, of: parts, count: count) { z[i] = x[i] * y[i] }
            }
        }
        run(partCount(count, grain: elementGrain), Multiply(x: x, y: y, z: z, count: count))
    }
}

extension Parallel {
    /// y[i] += x[i], split over the threads (summing the gradients of a value read by several layers).
    package static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        struct Accumulate: ParallelWork {
            let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int
            func run(part: Int, of parts: Int) {
                for i in Parallel.range(part, of: parts, count: count) { y[i] += x[i] }
            }
        }
        run(partCount(count, grain: elementGrain), Accumulate(x: x, y: y, count: count))
    }

    /// z[i] = x[i] + y[i], split over the threads.
    package static func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
        struct Sum: ParallelWork {
            let x: UnsafePointer<Float>, y: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, count: Int
            func run(part: Int, of parts: Int) {
                for i in Parallel.range(part, of: parts, count: count) { z[i] = x[i] + y[i] }
            }
        }
        run(partCount(count, grain: elementGrain), Sum(x: x, y: y, z: z, count: count))
    }
}
