/// Fixed-size storage that the step loop indexes directly.
///
/// Allocated once when a network is built and padded to whole SIMD vectors, so
/// the step never allocates, never checks bounds and never copies on write.
final class StateBuffer<Element: BitwiseCopyable> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    /// Vector loads in the step assume this alignment (one AVX-512 register).
    static var alignment: Int { 64 }

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

/// The spikes a population emitted in the current step, as neuron indices.
public struct SpikeList {
    public let indices: UnsafePointer<UInt32>
    public let count: Int

    public var buffer: UnsafeBufferPointer<UInt32> { UnsafeBufferPointer(start: indices, count: count) }
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
final class PopulationHandle {
    let population: any PopulationDynamics
    init(_ population: any PopulationDynamics) { self.population = population }
}
