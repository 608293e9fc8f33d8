// swift-tools-version: 6.0
// libFuzzer harnesses for spikeloop's parsers of outside input, a package of
// their own so that the main package never builds with the fuzzer flags.
// Build and run them with Tools/fuzz (see README.md); by hand:
//   swift build -c release --package-path Fuzz --build-path Fuzz/.build \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -O -Xswiftc -enforce-exclusivity=checked
import PackageDescription

let package = Package(
    name: "spikeloop-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "spikeloop", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver (the harnesses' main calls it).
        .target(name: "CFuzzerDriver"),
        // The entry point, scratch files and checks shared by the harnesses.
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"]),
        .executableTarget(
            name: "fuzz-wire",
            dependencies: [
                "FuzzSupport", .product(name: "Wire", package: "spikeloop"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "fuzz-network-file",
            dependencies: [
                "FuzzSupport", .product(name: "NetworkFile", package: "spikeloop"),
                .product(name: "Neural", package: "spikeloop"),
            ]
        ),
        .executableTarget(
            name: "fuzz-configuration",
            dependencies: [
                "FuzzSupport", .product(name: "Control", package: "spikeloop"),
                .product(name: "NetworkFile", package: "spikeloop"),
            ]
        ),
        .executableTarget(
            name: "fuzz-mcap",
            dependencies: ["FuzzSupport", .product(name: "Recording", package: "spikeloop")]
        ),
        .executableTarget(
            name: "fuzz-nir",
            dependencies: [
                "FuzzSupport", .product(name: "NIR", package: "spikeloop"),
                .product(name: "Neural", package: "spikeloop"),
            ]
        ),
        .executableTarget(
            name: "fuzz-weights",
            dependencies: ["FuzzSupport", .product(name: "Recording", package: "spikeloop")]
        ),
    ]
)
