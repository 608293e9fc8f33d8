/// NumPy's `.npy` format (version 1.0 and 2.0), for the weights of layers:
/// a magic string, a header that is a Python dict literal
/// (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`), then the
/// array's bytes in C order. Only little-endian float32 and float64 are read,
/// which is what trained networks hold; `numpy.load` reads what this writes.
public struct NPYArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses `bytes`; the error says what is wrong and what is valid.
    public init(bytes: [UInt8]) throws(NPYError) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == Self.magic else {
            throw NPYError("not a .npy file (it must start with \\x93NUMPY, as numpy.save writes)")
        }
        let major = bytes[6]
        var offset: Int
        let headerLength: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            offset = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            offset = 12
        default:
            throw NPYError("format version \(major); versions 1, 2 and 3 are read")
        }
        guard offset + headerLength <= bytes.count else { throw NPYError("truncated header") }
        let header = String(decoding: bytes[offset..<offset + headerLength], as: UTF8.self)
        offset += headerLength
        func value(of key: String) -> Substring? {
            guard let k = header.range(of: "'\(key)'") else { return nil }
            let rest = header[k.upperBound...].drop { $0 == " " || $0 == ":" }
            if rest.first == "(" { return rest[...(rest.firstIndex(of: ")") ?? rest.endIndex)] }
            return rest.prefix { $0 != "," && $0 != "}" }
        }
        guard let descr = value(of: "descr")?.filter({ $0 != " " && $0 != "'" }) else {
            throw NPYError("the header has no 'descr'")
        }
        guard descr == "<f4" || descr == "<f8" else {
            throw NPYError("dtype '\(descr)'; float32 ('<f4') and float64 ('<f8') are read (astype(numpy.float32) before saving)")
        }
        if let order = value(of: "fortran_order"), order.contains("True") {
            throw NPYError("Fortran order; save a C-ordered array (numpy.ascontiguousarray)")
        }
        guard let shapeText = value(of: "shape") else { throw NPYError("the header has no 'shape'") }
        shape = shapeText.dropFirst().dropLast().split(separator: ",").compactMap { Int($0.filter { $0 != " " }) }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !overflow, product <= 1 << 28 else { throw NPYError("shape \(shape) is too large") }
            count = product
        }
        let width = descr == "<f4" ? 4 : 8
        guard bytes.count - offset >= count * width else {
            throw NPYError("\(bytes.count - offset) bytes of data for shape \(shape) of \(descr); the file is cut short")
        }
        values = bytes.withUnsafeBytes { raw in
            (0..<count).map { k in
                if width == 4 { return Float(bitPattern: raw.loadUnaligned(fromByteOffset: offset + 4 * k, as: UInt32.self).littleEndian) }
                return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: offset + 8 * k, as: UInt64.self).littleEndian))
            }
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw NPYError("element \(bad) is \(values[bad]); NaN and infinities cannot be run") }
    }

    /// Version 1.0, little-endian float32, C order.
    public var bytes: [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }".utf8)
        // Magic (6) + version (2) + length (2) + header + newline, a multiple of 64.
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out = Self.magic + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
        out.reserveCapacity(out.count + 4 * values.count)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }
}

public struct NPYError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
