import Neural

/// A fixed-size array allocated once, when an encoder or decoder is built, and
/// indexed directly afterwards: no copy on write, no reallocation, so the tick
/// never touches the heap. Indices are checked at build time, not per access.
final class FixedArray<Element: BitwiseCopyable> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, filling value: Element) {
        self.count = count
        base = UnsafeMutablePointer<Element>.allocate(capacity: Swift.max(count, 1))
        base.initialize(repeating: value, count: Swift.max(count, 1))
    }

    init(_ values: [Element]) {
        count = values.count
        base = UnsafeMutablePointer<Element>.allocate(capacity: Swift.max(count, 1))
        for (i, x) in values.enumerated() { (base + i).initialize(to: x) }
    }

    deinit { base.deallocate() }

    subscript(i: Int) -> Element {
        @inline(__always) get { base[i] }
        @inline(__always) set { base[i] = newValue }
    }

    func fill(_ value: Element) { base.update(repeating: value, count: count) }
}

/// The neurons of a population an encoder or decoder works on.
struct NeuronSlice {
    /// The population's index in the network.
    let population: Int
    /// First neuron of the slice.
    let first: Int
    let count: Int
    /// The slice is the whole population (spike counts need no filtering).
    let whole: Bool

    init(population: Int, range: Range<Int>, populationSize: Int) {
        self.population = population
        first = range.lowerBound
        count = range.count
        whole = range.lowerBound == 0 && range.count == populationSize
    }

    /// The slice's spikes among `spikes` (the population's spikes of one step).
    @inline(__always)
    func count(in spikes: SpikeList) -> Int {
        if whole { return spikes.count }
        let lower = UInt32(truncatingIfNeeded: first), width = UInt32(truncatingIfNeeded: count)
        var n = 0
        for i in spikes.buffer where i &- lower < width { n += 1 }
        return n
    }

    /// The position within the slice of population neuron `index`, or -1 when outside.
    @inline(__always)
    func position(of index: UInt32) -> Int {
        let j = index &- UInt32(truncatingIfNeeded: first)
        return j < UInt32(truncatingIfNeeded: count) ? Int(j) : -1
    }
}
