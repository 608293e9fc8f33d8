// swift-tools-version: 6.0
import PackageDescription

import Foundation

// The hot-path targets are compiled with -Ounchecked in release builds: the
// engine indexes preallocated buffers whose bounds are checked once, when the
// network is built. Dynamic exclusivity checks, a call per access to a class's
// stored variable, are left to debug builds. They are also compiled for the CPU that builds them (the
// daemon is built where it runs), which lets the state update use the widest
// vectors there are; set SPIKELOOP_TARGET_CPU (e.g. x86-64, haswell) to build
// for another machine.
let targetCPU = ProcessInfo.processInfo.environment["SPIKELOOP_TARGET_CPU"] ?? "native"
let hotPath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-enforce-exclusivity=unchecked", "-target-cpu", targetCPU], .when(configuration: .release)),
]

/// The LIF state update is also built for wider instruction sets and chosen
/// at run time (Sources/LIFKernel/LIFStep.swift), so that a binary built for a
/// baseline CPU still uses the vectors of the CPU it runs on.
func kernel(_ cpu: String) -> [SwiftSetting] {
    [.unsafeFlags(["-Ounchecked", "-wmo", "-enforce-exclusivity=unchecked", "-target-cpu", cpu], .when(configuration: .release))]
}
#if arch(x86_64)
let wideKernels: [Target] = [
    .target(name: "LIFKernelAVX2", swiftSettings: kernel("haswell")),
    .target(name: "LIFKernelAVX512", swiftSettings: kernel("skylake-avx512")),
]
#else
let wideKernels: [Target] = []
#endif

let package = Package(
    name: "spikeloop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spikeloop", targets: ["spikeloop"]),
        .library(name: "Neural", targets: ["Neural"]),
        // For Fuzz/ (the libFuzzer harnesses, a package of their own).
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "NetworkFile", targets: ["NetworkFile"]),
        .library(name: "Control", targets: ["Control"]),
        .library(name: "Daemon", targets: ["Daemon"]),
        .library(name: "Recording", targets: ["Recording"]),
        .library(name: "NIR", targets: ["NIR"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "Neural", dependencies: ["LIFKernel", "CCPU"] + wideKernels.map { .target(name: $0.name) },
                swiftSettings: hotPath),
        .target(name: "LIFKernel", swiftSettings: hotPath),
        .target(name: "CCPU"),
        .target(name: "NetworkFile", dependencies: ["Neural", "Yams"]),
        // Trained networks in: NIR graphs (HDF5 through Debian's libhdf5) as layers.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(name: "NIR", dependencies: ["Neural", "CHDF5", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Generated/README.md"]),
        .target(name: "Coding", dependencies: ["Neural"], swiftSettings: hotPath),
        .target(
            name: "Control",
            dependencies: [
                "Neural", "NetworkFile", "NIR", "Coding", "Wire", "CLinux", "Recording",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: hotPath
        ),
        // The service around the loop: lifecycle, control channel, reload,
        // service notification, weights persistence, recording sessions.
        .target(
            name: "Daemon",
            dependencies: [
                "Control", "Neural", "NetworkFile", "Wire", "Recording", "CLinux",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "spikeloop",
            dependencies: [
                "Neural", "NetworkFile", "NIR", "Control", "Daemon", "Coding", "Wire", "Sim", "Recording",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: hotPath
        ),
        .target(name: "CAllocationCounter"),
        .target(name: "CLinux"),
        // libzmq from Debian's libzmq3-dev, behind its own system target.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // The spikeloop.v1 protocol: ZeroMQ wrapper, generated messages, the
        // allocation-free hot-path codec, validation, CURVE keys.
        .target(
            name: "Wire",
            dependencies: ["CZeroMQ", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Generated/README.md"]
        ),
        // The built-in simulators: robots that speak Wire (no Neural, no Control).
        .target(
            name: "Sim",
            dependencies: [
                "Wire", "CLinux", .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: hotPath
        ),
        // Interop peer and latency benchmark (to become `spikeloop` subcommands).
        .executableTarget(name: "wire-peer", dependencies: ["Wire"]),
        .executableTarget(name: "wire-bench", dependencies: ["Wire", "CZeroMQ"]),
        // libzstd from Debian's libzstd-dev (MCAP chunk compression).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // MCAP writer and reader (session recordings); no dependency on Control.
        .target(name: "Recording", dependencies: ["CZstd", "Wire"]),
        // Test helper and file tool: write-sample, recover, embed-descriptor.
        .executableTarget(
            name: "mcap-tool",
            dependencies: ["Recording", "Wire", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .testTarget(name: "NeuralTests", dependencies: ["Neural", "NetworkFile", "CAllocationCounter"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "NetworkFileTests", dependencies: ["NetworkFile", "Neural"]),
        .testTarget(name: "CodingTests", dependencies: ["Coding", "Neural", "CAllocationCounter"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Daemon", "Neural", "Recording", "CAllocationCounter"]),
        .testTarget(name: "RecordingTests", dependencies: [
            "Recording", "Wire", "CAllocationCounter", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .testTarget(name: "SimTests", dependencies: ["Sim", "Wire", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(
            name: "WireTests",
            dependencies: [
                "Wire", "CZeroMQ", "CAllocationCounter",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
    ] + wideKernels
)
