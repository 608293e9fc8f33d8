// swift-tools-version: 6.0
import PackageDescription

// The hot-path targets are compiled with -Ounchecked in release builds: the
// engine indexes preallocated buffers whose bounds are checked once, when the
// network is built.
let hotPath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "spikeloop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spikeloop", targets: ["spikeloop"]),
        .library(name: "Neural", targets: ["Neural"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "Neural", swiftSettings: hotPath),
        .target(name: "NetworkFile", dependencies: ["Neural", "Yams"]),
        .executableTarget(
            name: "spikeloop",
            dependencies: [
                "Neural", "NetworkFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotPath
        ),
        .target(name: "CAllocationCounter"),
        .testTarget(name: "NeuralTests", dependencies: ["Neural", "NetworkFile", "CAllocationCounter"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "NetworkFileTests", dependencies: ["NetworkFile", "Neural"]),
    ]
)
