// swift-tools-version:5.9
// A CNN engine in Swift on OpenBLAS. See README.md and ../shared/DESIGN.md.
import PackageDescription

let package = Package(
    name: "NN",
    products: [
        .library(name: "NN", targets: ["NN"]),
        .library(name: "NNReference", targets: ["NNReference"]),
        .executable(name: "cnn", targets: ["cnn"]),
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
        .target(name: "NN", dependencies: ["CBLAS", "CZlib"]),
        // Plain-loop implementation of the same layers: the test oracle and benchmark baseline.
        .target(name: "NNReference"),
        // The command-line tool: train, evaluate, predict, summary, celsius.
        .executableTarget(
            name: "cnn",
            dependencies: ["NN", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A library example that CI compiles (README's "use it as a library").
        .executableTarget(name: "example-fit", dependencies: ["NN"], path: "Examples/FitExample"),
        .testTarget(name: "NNTests", dependencies: ["NN", "NNReference"]),
    ]
)
