/// Physical dimensions that configuration values can carry, each with the
/// unit suffixes accepted and the factor to the engine's internal unit
/// (ms, mV, nA, MΩ, Hz).
public enum PhysicalDimension: String, Sendable, CaseIterable {
    case time, voltage, current, resistance, rate
    /// A synaptic conductance in units of the population's leak conductance: a
    /// plain number without unit (Brian2's COBA writes `ge` so, `: 1`).
    case conductance

    public var units: [(suffix: String, factor: Double)] {
        switch self {
        case .time: [("s", 1000), ("ms", 1), ("us", 1e-3), ("µs", 1e-3)]
        case .voltage: [("V", 1000), ("mV", 1), ("uV", 1e-3), ("µV", 1e-3)]
        case .current: [("uA", 1000), ("µA", 1000), ("nA", 1), ("pA", 1e-3)]
        case .resistance: [("ohm", 1e-6), ("Ω", 1e-6), ("kohm", 1e-3), ("kΩ", 1e-3),
                           ("Mohm", 1), ("MΩ", 1), ("Gohm", 1e3), ("GΩ", 1e3)]
        case .rate: [("Hz", 1), ("kHz", 1000)]
        case .conductance: []
        }
    }

    /// A short list for error messages, e.g. "s, ms, us".
    public var unitList: String {
        units.map(\.suffix).filter { !$0.contains("µ") && !$0.contains("Ω") }.joined(separator: ", ")
    }

    /// An example for error messages.
    public var example: String {
        switch self {
        case .time: "10 ms"
        case .voltage: "-70 mV"
        case .current: "0.5 nA"
        case .resistance: "100 Mohm"
        case .rate: "20 Hz"
        case .conductance: "0.6"
        }
    }
}

public enum QuantityError: Error, Equatable {
    case notANumber
    case missingUnit
    case wrongUnit(String)
}

/// Parses `"<number> <unit>"` (the space is optional) into the internal unit
/// of `dimension`.
public func parseQuantity(_ text: String, _ dimension: PhysicalDimension) -> Result<Double, QuantityError> {
    let trimmed = text.trimmingWhitespace()
    var numberEnd = trimmed.startIndex
    for (i, ch) in zip(trimmed.indices, trimmed) {
        if ch.isNumber || ch == "." || ch == "-" || ch == "+" { numberEnd = trimmed.index(after: i); continue }
        // An exponent only when a digit follows, so "5 e" is not a number.
        if ch == "e" || ch == "E", trimmed.index(after: i) < trimmed.endIndex {
            let next = trimmed[trimmed.index(after: i)]
            if next.isNumber || next == "-" || next == "+" { numberEnd = trimmed.index(after: i); continue }
        }
        break
    }
    guard let value = Double(trimmed[..<numberEnd]), value.isFinite else { return .failure(.notANumber) }
    let unit = String(trimmed[numberEnd...]).trimmingWhitespace()
    if unit.isEmpty { return dimension.units.isEmpty ? .success(value) : .failure(.missingUnit) }
    guard let factor = dimension.units.first(where: { $0.suffix == unit })?.factor else {
        return .failure(.wrongUnit(unit))
    }
    return .success(value * factor)
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
