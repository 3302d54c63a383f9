// swift-tools-version:5.9
// A CNN engine in Swift on OpenBLAS. See README.md and ../shared/DESIGN.md.
import PackageDescription

let package = Package(
    name: "NN",
    products: [
        .library(name: "NN", targets: ["NN"]),
        .library(name: "NNReference", targets: ["NNReference"]),
    ],
    dependencies: [],
    targets: [
        // OpenBLAS's CBLAS and LAPACKE, found through pkg-config (no hard-coded paths).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "NN", dependencies: ["CBLAS"]),
        // Plain-loop implementation of the same layers: the test oracle and benchmark baseline.
        .target(name: "NNReference"),
        .testTarget(name: "NNTests", dependencies: ["NN", "NNReference"]),
    ]
)
