// swift-tools-version:5.9
// A CNN engine in Swift on OpenBLAS. See README.md and ../shared/DESIGN.md.
import PackageDescription

let package = Package(
    name: "NN",
    products: [
        .library(name: "NN", targets: ["NN"]),
        .library(name: "NNReference", targets: ["NNReference"]),
        .executable(name: "cnn", targets: ["cnn"]),
        .executable(name: "nn-bench", targets: ["nn-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS and LAPACKE, found through pkg-config (no hard-coded paths).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // zlib, for reading and writing gzipped IDX data files.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libpng, for the report's PNG figures (encoded and decoded through its simplified API).
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .target(name: "NN", dependencies: ["CBLAS", "CZlib", "CPNG", "CPUHint"]),
        // One C function: the spin-wait hint (PAUSE) the engine's worker threads use between kernels.
        .target(name: "CPUHint"),
        // Plain-loop implementation of the same layers: the test oracle and benchmark baseline.
        .target(name: "NNReference"),
        // The command-line tool: train, evaluate, predict, summary, celsius.
        .executableTarget(
            name: "cnn",
            dependencies: ["NN", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A library example that CI compiles (README's "use it as a library").
        .executableTarget(name: "example-fit", dependencies: ["NN"], path: "Examples/FitExample"),
        // Benchmark runner: BLAS engine vs the reference, GFLOP/s vs the same run's sgemm (issue 4).
        .executableTarget(name: "nn-bench", dependencies: ["NN", "NNReference", "MallocCounter", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Benchmarks/NNBench"),
        // Counts heap allocations in nn-bench (allocations per training step, measured).
        .target(name: "MallocCounter", path: "Benchmarks/MallocCounter"),
        .testTarget(name: "NNTests", dependencies: ["NN", "NNReference"]),
    ]
)
