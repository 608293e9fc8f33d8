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
