// fuzz-configuration: the daemon's YAML configuration, the input read as
// UTF-8 text by
//   - RobotDescription.parse(yaml:file:) (a robot description, Robots/*.yaml);
//   - ControllerConfiguration.load(path:) (Config/*.yaml), which reads only
//     from a path: the input is written to Config/fuzz.yaml in a scratch tree
//     that mirrors the repository (Robots/*.yaml, Config/networks/*.yaml
//     without their projections, and the closed-loop test's robot.yaml beside
//     it), so that the seeds' relative robot and network paths resolve and
//     their encoders, decoders and probes are read too. Those network files
//     are the repository's own (small): what the input itself says about a
//     network is an inline `network:` mapping, which load parses without
//     building.
// Thrown errors are expected; crashes are the findings.
import Control
import FuzzSupport
import NetworkFile

#if canImport(Glibc)
import Glibc
#endif

/// The scratch tree, made on first use; the path the input is written to.
let configurationPath: String = {
    let root = scratchDirectory
    makeDirectory("\(root)/Robots")
    makeDirectory("\(root)/Config/networks")
    for name in listDirectory("\(repositoryRoot)/Robots", suffix: ".yaml") {
        copyFile("\(repositoryRoot)/Robots/\(name)", to: "\(root)/Robots/\(name)")
    }
    // The networks without their projections (generated, up to 170 KB: a
    // configuration naming one took up to 200 ms a run to read), which
    // leaves what the configuration refers to: populations, names and sizes.
    for name in listDirectory("\(repositoryRoot)/Config/networks", suffix: ".yaml") {
        guard let bytes = readFile("\(repositoryRoot)/Config/networks/\(name)") else { continue }
        var text = String(decoding: bytes, as: UTF8.self)
        if let projections = text.range(of: "\nprojections:") { text = String(text[..<projections.lowerBound]) + "\n" }
        let utf8 = Array(text.utf8)
        utf8.withUnsafeBytes { _ = writeFile("\(root)/Config/networks/\(name)", $0) }
    }
    copyFile("\(repositoryRoot)/Tests/python/fixtures/closed_loop/robot.yaml", to: "\(root)/Config/robot.yaml")
    return "\(root)/Config/fuzz.yaml"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let text = String(decoding: bytes, as: UTF8.self)

    expected("RobotDescription.parse") {
        let robot = try RobotDescription.parse(yaml: text, file: "robot.yaml")
        for motor in robot.motors {
            fuzzCheck(motor.min < motor.max && motor.safe >= motor.min && motor.safe <= motor.max,
                      "accepted motor \(motor.name) with range [\(motor.min), \(motor.max)] and safe value \(motor.safe)")
        }
        _ = robot.safetyMotors
    }

    let path = writeFile(configurationPath, bytes)
    expected("ControllerConfiguration.load") {
        let config = try ControllerConfiguration.load(path: path)
        fuzzCheck(config.loop.stepsPerTick >= 1, "accepted \(config.loop.stepsPerTick) steps per tick")
        _ = config.loop.periodNanoseconds
    }
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
