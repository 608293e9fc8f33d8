/// Fixed-size storage that the step loop indexes directly.
///
/// Allocated once when a network is built and padded to whole SIMD vectors, so
/// the step never allocates, never checks bounds and never copies on write.
final class StateBuffer<Element: BitwiseCopyable> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    /// Vector loads in the step assume this alignment (sixteen float64 lanes).
    static var alignment: Int { 128 }

    init(count: Int, padTo multiple: Int = 16, filling value: Element) {
        let padded = max(multiple, (count + multiple - 1) / multiple * multiple)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: padded * MemoryLayout<Element>.stride,
                                                   alignment: max(Self.alignment, MemoryLayout<Element>.alignment))
        base = raw.bindMemory(to: Element.self, capacity: padded)
        base.initialize(repeating: value, count: padded)
        self.count = padded
    }

    deinit { base.deallocate() }

    subscript(i: Int) -> Element {
        @inline(__always) get { base[i] }
        @inline(__always) set { base[i] = newValue }
    }

    func fill(_ value: Element) { base.update(repeating: value, count: count) }
}

/// The number types a network computes in (``Precision``): one generic
/// implementation of every population and projection, specialised for both.
protocol NeuralScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable {
    /// Probes, traces and weights leave the engine as Double.
    var double: Double { get }
    /// The LIF state update for this scalar, as built for this CPU.
    static var lifStep: LIFStepFunction { get }
}

extension Float: NeuralScalar {
    var double: Double { Double(self) }
    static var lifStep: LIFStepFunction { LIFKernelBuild.float }
}

extension Double: NeuralScalar {
    var double: Double { self }
    static var lifStep: LIFStepFunction { LIFKernelBuild.double }
}

/// The spikes a population emitted in the current step, as neuron indices.
public struct SpikeList {
    public let indices: UnsafePointer<UInt32>
    public let count: Int

    public var buffer: UnsafeBufferPointer<UInt32> { UnsafeBufferPointer(start: indices, count: count) }

    @inline(__always)
    public func contains(_ neuron: UInt32) -> Bool {
        for k in 0..<count where indices[k] == neuron { return true }
        return false
    }
}

/// A fixed list of objects that a step reaches without reference counting.
///
/// Iterating an array of objects retains and releases each one; in a small
/// network's tick that was a quarter of the time. The table owns its objects
/// through an ordinary array and hands them out as guaranteed references.
public final class ObjectTable<Element: AnyObject> {
    /// The objects, for code outside the step.
    public let objects: [Element]
    private let references: UnsafeMutablePointer<Unmanaged<Element>>
    public let count: Int

    public init(_ objects: [Element]) {
        self.objects = objects
        count = objects.count
        references = .allocate(capacity: max(1, objects.count))
        for (i, object) in objects.enumerated() { (references + i).initialize(to: .passUnretained(object)) }
    }

    deinit { references.deallocate() }

    /// Calls `body` with element `i`, which stays alive for the call.
    @inlinable @inline(__always)
    public func with<R>(_ i: Int, _ body: (Element) -> R) -> R {
        reference(i)._withUnsafeGuaranteedRef(body)
    }

    @inlinable @inline(__always)
    public func forEach(_ body: (Element) -> Void) {
        for i in 0..<count { reference(i)._withUnsafeGuaranteedRef(body) }
    }

    @usableFromInline @inline(__always)
    func reference(_ i: Int) -> Unmanaged<Element> { references[i] }
}

/// Boxes a population so that an `ObjectTable` can hold it: protocol types
/// cannot be `Unmanaged`, and a `let` inside a guaranteed box is borrowed.
///
/// The step calls the models generic over their scalar through their
/// concrete type: a call through the protocol enters the generic method,
/// whose specialisation is found through the runtime's metadata cache on
/// every call (a quarter of CUBA's run time, measured, and a lock).
final class PopulationHandle {
    let population: any PopulationDynamics
    private let model: Model

    /// Unowned: `population` keeps them alive, and a call retains nothing.
    private enum Model {
        case lif32(Unmanaged<LIFPopulation<Float>>), lif64(Unmanaged<LIFPopulation<Double>>)
        case izhikevich32(Unmanaged<IzhikevichPopulation<Float>>), izhikevich64(Unmanaged<IzhikevichPopulation<Double>>)
        case other
    }

    init(_ population: any PopulationDynamics) {
        self.population = population
        model = switch population {
        case let p as LIFPopulation<Float>: .lif32(.passUnretained(p))
        case let p as LIFPopulation<Double>: .lif64(.passUnretained(p))
        case let p as IzhikevichPopulation<Float>: .izhikevich32(.passUnretained(p))
        case let p as IzhikevichPopulation<Double>: .izhikevich64(.passUnretained(p))
        default: .other
        }
    }

    var spikes: SpikeList {
        @inline(__always) get {
            switch model {
            case .lif32(let p): p._withUnsafeGuaranteedRef { $0.spikes }
            case .lif64(let p): p._withUnsafeGuaranteedRef { $0.spikes }
            case .izhikevich32(let p): p._withUnsafeGuaranteedRef { $0.spikes }
            case .izhikevich64(let p): p._withUnsafeGuaranteedRef { $0.spikes }
            case .other: population.spikes
            }
        }
    }

    @inline(__always)
    func updateAndThreshold(step: Int64) {
        switch model {
        case .lif32(let p): p._withUnsafeGuaranteedRef { $0.updateAndThreshold(step: step) }
        case .lif64(let p): p._withUnsafeGuaranteedRef { $0.updateAndThreshold(step: step) }
        case .izhikevich32(let p): p._withUnsafeGuaranteedRef { $0.updateAndThreshold(step: step) }
        case .izhikevich64(let p): p._withUnsafeGuaranteedRef { $0.updateAndThreshold(step: step) }
        case .other: population.updateAndThreshold(step: step)
        }
    }

    @inline(__always)
    func deliverDelayed(step: Int64) {
        switch model {
        case .lif32(let p): p._withUnsafeGuaranteedRef { $0.deliverDelayed(step: step) }
        case .lif64(let p): p._withUnsafeGuaranteedRef { $0.deliverDelayed(step: step) }
        case .izhikevich32(let p): p._withUnsafeGuaranteedRef { $0.deliverDelayed(step: step) }
        case .izhikevich64(let p): p._withUnsafeGuaranteedRef { $0.deliverDelayed(step: step) }
        case .other: population.deliverDelayed(step: step)
        }
    }

    @inline(__always)
    func resetSpiked() {
        switch model {
        case .lif32(let p): p._withUnsafeGuaranteedRef { $0.resetSpiked() }
        case .lif64(let p): p._withUnsafeGuaranteedRef { $0.resetSpiked() }
        case .izhikevich32(let p): p._withUnsafeGuaranteedRef { $0.resetSpiked() }
        case .izhikevich64(let p): p._withUnsafeGuaranteedRef { $0.resetSpiked() }
        case .other: population.resetSpiked()
        }
    }
}
