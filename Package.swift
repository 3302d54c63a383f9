// swift-tools-version:5.9
// A CNN engine in Swift on OpenBLAS. The module map is in README.md ("Modules"); the GEMM mapping
// in ../shared/DESIGN.md.
//
// Each C library is its own system-library target, used only by the module that needs it: a
// package that depends on the core `NN` alone needs OpenBLAS/LAPACKE and nothing else.
import PackageDescription

let package = Package(
    name: "NN",
    products: [
        // The engine: tensors, kernels, layers, losses, optimizers, models, weights files.
        .library(name: "NN", targets: ["NN"]),
        // Data files: IDX (MNIST, Fashion-MNIST), gzip.
        .library(name: "NNData", targets: ["NNData"]),
        // The HTML training report: charts, PNG figures, confusion matrix, feature maps.
        .library(name: "NNReport", targets: ["NNReport"]),
        // Ready-made architectures and their training recipes (Keras applications, the tutorials' models).
        .library(name: "NNZoo", targets: ["NNZoo"]),
        // Keras's own model files: `.keras` archives and legacy `.h5` (HDF5), read and written.
        .library(name: "NNKeras", targets: ["NNKeras"]),
        // A user's own photos: PNG/JPEG decoding, folders of class subfolders as datasets.
        .library(name: "NNImages", targets: ["NNImages"]),
        // Data-parallel training over Open MPI (`mpirun -np N cnn train`): NN's `ReplicaGroup` on MPI.
        .library(name: "NNDistributed", targets: ["NNDistributed"]),
        .executable(name: "cnn", targets: ["cnn"]),
        .executable(name: "nn-bench", targets: ["nn-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target NN` (DocC); used by no target.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS and LAPACKE, found through pkg-config (no hard-coded paths).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // zlib, for reading and writing gzipped IDX data files (NNData only).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libpng, for the report's PNG figures (NNReport only).
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // libhdf5 (serial), for Keras's model.weights.h5 and legacy .h5 files (NNKeras only).
        .systemLibrary(
            name: "CHDF5",
            pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]
        ),
        // libjpeg-turbo's TurboJPEG API, for decoding JPEG photos (NNImages only).
        .systemLibrary(
            name: "CTurboJPEG",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),
        // Open MPI's C API (NNDistributed only); a shim header turns MPI's handle macros into functions.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // One C function: the spin-wait hint (PAUSE) the engine's worker threads use between kernels.
        .target(name: "CPUHint"),
        // Inner loops in C with AVX-512 and AVX2+FMA clones picked at load time (Swift code builds
        // for baseline x86-64, SSE2): the depthwise convolution and BatchNormalization's passes.
        .target(name: "CKernels"),
        // The core engine. Internals (kernels, the worker pool, workspaces) are `package`: the other
        // modules, the benchmark and the tests reach them; a user's package does not.
        .target(name: "NN", dependencies: ["CBLAS", "CPUHint", "CKernels"]),
        .target(name: "NNData", dependencies: ["NN", "CZlib"]),
        .target(name: "NNReport", dependencies: ["NN", "CPNG"]),
        .target(name: "NNZoo", dependencies: ["NN"]),
        .target(name: "NNKeras", dependencies: ["NN", "CHDF5", "CZlib"]),
        .target(name: "NNImages", dependencies: ["NN", "CPNG", "CTurboJPEG"]),
        .target(name: "NNDistributed", dependencies: ["NN", "CMPI"]),
        // Plain-loop implementation of the same layers: the test oracle and benchmark baseline.
        .target(name: "NNReference"),
        // The command-line tool: train, evaluate, predict, summary, report, transfer, celsius.
        .executableTarget(
            name: "cnn",
            dependencies: ["NN", "NNData", "NNReport", "NNZoo", "NNKeras", "NNImages", "NNDistributed",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A library example that CI compiles (README's "use it as a library").
        .executableTarget(name: "example-fit", dependencies: ["NN", "NNData"], path: "Examples/FitExample"),
        // Benchmark runner: BLAS engine vs the reference, GFLOP/s vs the same run's sgemm.
        .executableTarget(name: "nn-bench", dependencies: ["NN", "NNZoo", "NNReference", "MallocCounter", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Benchmarks/NNBench"),
        // Counts heap allocations in nn-bench (allocations per training step, measured).
        .target(name: "MallocCounter", path: "Benchmarks/MallocCounter"),
        // Fixtures/ holds files other programs wrote (Keras models, images), read by path.
        .testTarget(name: "NNTests", dependencies: ["NN", "NNData", "NNReport", "NNZoo", "NNKeras", "NNImages", "NNReference"], exclude: ["Fixtures"]),
    ]
)
