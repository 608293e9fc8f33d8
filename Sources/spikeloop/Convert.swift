import ArgumentParser
import Foundation
import Neural
import NetworkFile
import NIR

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a trained ReLU network (ONNX) into a spiking one (docs/conversion.md).",
        discussion: """
        Reads MODEL (.onnx, as PyTorch's torch.onnx.export or scikit-learn's skl2onnx write it; \
        Keras through tf2onnx is untried): Gemm, MatMul + Add, Relu, Conv, AveragePool, Flatten, with \
        BatchNormalization folded; anything else is refused with the operator's name. Each \
        ReLU becomes integrate-and-fire neurons with reset by subtraction, biases constant \
        currents, and every layer's weights are normalised by the 99.9th percentile of its \
        activations on the calibration samples (Rueckauer et al. 2017). Writes a network \
        file (.yaml, weights in .npy beside it) or a NIR graph (.nir). Nothing is written \
        when the model cannot be converted.

        Example:
          spikeloop convert mlp.onnx --calibration train-sample.npy --out networks/mlp.yaml
        """
    )

    @Argument(help: "The ONNX model (.onnx).")
    var model: String

    @Option(help: "Input samples (.npy, shape [samples, input shape…], float32 or float64) for the normalisation.")
    var calibration: String

    @Option(help: "The network file (.yaml) or NIR graph (.nir) to write.")
    var out: String

    @Option(help: "The percentile of each layer's activations its weights are divided by.")
    var percentile: Double = 99.9

    @Option(help: "The output layer: spikes (IF neurons, the class is the most spikes), membrane (an integrator: v grows by the ANN's output each step; classification) or leaky (a leaky integrator whose v follows the ANN's output; control).")
    var readout: String = "spikes"

    @Option(name: .customLong("readout-tau"), help: "The leaky readout's time constant, with a unit (default 1ms).")
    var readoutTau: String?

    @Option(help: "The step, with a unit (default 0.1ms).")
    var dt: String?

    @Option(name: .customLong("initial-membrane"), help: "Each IF neuron's v at the start and after each reset, as a fraction of its threshold: 0.5 rounds spike counts instead of truncating them (0: where Sinabs' converted layers start).")
    var initialMembrane: Double = 0.5

    @Option(name: .customLong("input-rate"), help: "Rate-code the input: it becomes a poisson population that a value x drives at x times this rate (a rate encoder's output, e.g. 2000Hz), and the first layer's weights are divided by rate·dt. Default: analog input (current into the first layer).")
    var inputRate: String?

    func run() throws {
        guard out.hasSuffix(".yaml") || out.hasSuffix(".yml") || out.hasSuffix(".nir") else {
            throw ValidationError("--out '\(out)': give a .yaml network file or a .nir graph")
        }
        guard percentile > 0, percentile <= 100 else { throw ValidationError("--percentile must be in (0, 100]") }
        var options = ANNConversion.Options()
        options.percentile = percentile
        guard let r = ANNConversion.Readout(rawValue: readout) else {
            throw ValidationError("--readout '\(readout)': valid: \(ANNConversion.Readout.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        options.readout = r
        guard initialMembrane.isFinite, initialMembrane >= 0, initialMembrane < 1 else {
            throw ValidationError("--initial-membrane must be in [0, 1): a fraction of the threshold")
        }
        options.initialMembrane = initialMembrane
        if let readoutTau {
            options.readoutTau = try cliQuantity(readoutTau, .time, option: "--readout-tau")
            guard options.readoutTau > 0 else { throw ValidationError("--readout-tau must be positive") }
        }
        if let dt {
            options.dt = try cliQuantity(dt, .time, option: "--dt")
            guard options.dt > 0 else { throw ValidationError("--dt must be positive") }
        }
        if let inputRate {
            let hz = try cliQuantity(inputRate, .rate, option: "--input-rate")
            guard hz > 0, hz * options.dt / 1000 <= 1 else {
                throw ValidationError("--input-rate must be positive and at most one spike per step (\(formatMs(1000 / options.dt)) Hz at dt \(formatMs(options.dt)) ms)")
            }
            options.inputRate = hz
        }
        let bytes: [UInt8]
        do { bytes = try readRegularFile(model, limit: 1 << 30) } catch { throw CommandError("cannot read '\(model)': \(error)") }
        let samples: NPYArray
        do { samples = try NPYArray(bytes: try readRegularFile(calibration, limit: 1 << 30)) } catch {
            throw CommandError("--calibration \(calibration): \(error)")
        }
        guard let count = samples.shape.first, count > 0 else { throw CommandError("--calibration \(calibration): no samples (shape \(samples.shape))") }
        let width = samples.values.count / count
        let rows = (0..<count).map { Array(samples.values[$0 * width..<($0 + 1) * width]) }
        let converted: ANNConversion
        do { converted = try ANNConversion(onnx: bytes, path: model, calibration: rows, options: options) } catch {
            throw CommandError("the model cannot be converted; nothing was written.\n" + error.description)
        }
        if out.hasSuffix(".nir") {
            do { try NIRExport.write(converted.network, to: out) } catch { throw CommandError("\(error)") }
        } else {
            let header = """
            Converted from \(URL(fileURLWithPath: model).lastPathComponent) by `spikeloop convert` (docs/conversion.md):
            IF neurons with reset by subtraction, weights normalised by the \(percentile)th percentile of \(count) calibration samples.
            Input: population input (\(converted.inputShape.reduce(1, *)) values, shape \(converted.inputShape)); output: population \(converted.output) (\(r.rawValue)).
            """
            _ = try writeLayerFile(converted.network, to: out, header: header)
        }
        print("wrote \(out): input \(converted.inputShape), output population \(converted.output) (\(r.rawValue))")
        for (layer, lambda) in converted.scales { print("  \(layer): λ = \(String(format: "%.4g", lambda))") }
    }
}
