/// The product of `dims`, nil when one is negative or the product overflows
/// (shapes come from files).
func elementCount(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}

/// Entries (weights) one linear node or one composed input may hold: 2²⁶, about
/// 1 GiB as the importer holds them. A graph beyond it (a convolution over a
/// huge image, say) is refused before it is built, not left to exhaust memory.
let maximumEntries = 1 << 26

/// Elements one population may have: 2²², four million neurons (the importer
/// keeps a row per element while it composes maps).
let maximumPopulation = 1 << 22

/// The linear nodes of NIR as maps of a ``Signal``: each gives the rows of
/// its matrix (output `r` as (input, weight) entries), its bias and its
/// output shape. Arrays are row-major with channels first, as NIR's (and
/// PyTorch's) `[C, H, W]`.
struct LinearNode {
    let node: NIRNode

    init(_ node: NIRNode) { self.node = node }

    private func checked(_ signal: Signal?) throws(NIRError) -> Signal {
        guard let signal else {
            throw node.error(nil, "composed with the linear nodes before it, the map holds more than \(maximumEntries) weights; too large to run")
        }
        return signal
    }

    func apply(to x: Signal) throws(NIRError) -> Signal {
        switch node.type {
        case "Affine", "Linear":
            let (shape, w) = try node.numbers("weight")
            guard shape.count == 2 else { throw node.error("weight", "shape \(shape); must be [outputs, inputs]") }
            let (outputs, inputs) = (shape[0], shape[1])
            guard w.count <= maximumEntries else { throw node.error("weight", "\(shape) is more than \(maximumEntries) weights; too large to run") }
            guard inputs == x.size else { throw node.error("weight", "shape \(shape) takes \(inputs) inputs but receives \(x.size)") }
            var bias: [Double]?
            if node.type == "Affine" {
                let b = try node.numbers("bias").values
                guard b.count == outputs else { throw node.error("bias", "\(b.count) values for \(outputs) outputs") }
                bias = b
            }
            let rows = (0..<outputs).map { r in (0..<inputs).compactMap { c in w[r * inputs + c] == 0 ? nil : (c, w[r * inputs + c]) } }
            return try checked(x.applying(rows, bias: bias, shape: [outputs]))
        case "Scale":
            let s = try node.perNeuron("scale", size: x.size)
            return try checked(x.applying((0..<x.size).map { [($0, s[$0])] }, bias: nil, shape: x.shape))
        case "Flatten":
            return Signal(shape: [x.size], paths: x.paths, bias: x.bias)
        case "Conv1d", "Conv2d":
            return try convolution(x)
        default:  // SumPool2d, AvgPool2d
            return try pooling(x)
        }
    }

    /// `[C, H, W]` of the input: its own shape, or `[C] + input_shape` when it arrives flat.
    private func spatialInput(_ x: Signal, channels: Int, dims: Int) throws(NIRError) -> [Int] {
        var shape = x.shape
        if shape.count != dims + 1, node.has("input_shape") {
            shape = [channels] + (try node.wholeNumbers("input_shape", in: 1...maximumPopulation))
        }
        guard shape.count == dims + 1, elementCount(shape) == x.size, shape[0] == channels else {
            throw node.error("input_shape", "the input has shape \(x.shape) (\(x.size) values); a \(node.type) needs [\(channels), \(dims == 1 ? "length" : "height, width")] — give input_shape or feed it a layer of that shape")
        }
        // 1-d as 2-d of height 1.
        return dims == 1 ? [shape[0], 1, shape[1]] : shape
    }

    /// An integer pair from a field that holds one value or one per dimension.
    private func pair(_ field: String, dims: Int, default value: Int) throws(NIRError) -> (Int, Int) {
        guard node.has(field) else { return (dims == 1 ? 1 : value, value) }
        let v = try node.wholeNumbers(field, in: 0...maximumPopulation)
        guard v.count == 1 || v.count == dims else {
            throw node.error(field, "\(v); must be one non-negative integer or \(dims)")
        }
        if dims == 1 { return (field == "padding" ? 0 : 1, v[0]) }
        return (v[0], v.count == 2 ? v[1] : v[0])
    }

    private func convolution(_ x: Signal) throws(NIRError) -> Signal {
        let dims = node.type == "Conv1d" ? 1 : 2
        let (wShape, w) = try node.numbers("weight")
        guard wShape.count == dims + 2 else { throw node.error("weight", "shape \(wShape); must be [C_out, C_in / groups, \(dims == 1 ? "k" : "kH, kW")]") }
        guard wShape.allSatisfy({ $0 >= 1 }) else { throw node.error("weight", "shape \(wShape); every size must be at least 1") }
        let groups = node.has("groups") ? try node.wholeNumbers("groups", in: 1...maximumPopulation).first ?? 1 : 1
        let cOut = wShape[0], cInGroup = wShape[1]
        guard cOut % groups == 0 else { throw node.error("groups", "\(groups) does not divide \(cOut) output channels") }
        let input = try spatialInput(x, channels: cInGroup * groups, dims: dims)
        let (h, wd) = (input[1], input[2])
        let (kh, kw) = dims == 1 ? (1, wShape[2]) : (wShape[2], wShape[3])
        let (sh, sw) = try pair("stride", dims: dims, default: 1)
        let (dh, dw) = try pair("dilation", dims: dims, default: 1)
        guard sh >= 1, sw >= 1, dh >= 1, dw >= 1 else { throw node.error("stride", "strides and dilations must be at least 1") }
        var (ph, pw) = (0, 0)
        var same = false
        if case .strings(_, let s)? = node.fields["padding"] {
            guard let mode = s.first, mode == "same" || mode == "valid" else { throw node.error("padding", "'\(s.first ?? "")'; must be 'same', 'valid' or integers") }
            same = mode == "same"
        } else {
            (ph, pw) = try pair("padding", dims: dims, default: 0)
        }
        if same {
            guard sh == 1, sw == 1 else { throw node.error("padding", "'same' needs stride 1") }
            (ph, pw) = (dh * (kh - 1) / 2, dw * (kw - 1) / 2)
        }
        let oh = same ? h : (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1
        let ow = same ? wd : (wd + 2 * pw - dw * (kw - 1) - 1) / sw + 1
        guard oh >= 1, ow >= 1 else { throw node.error("weight", "the kernel is larger than the padded input \(input)") }
        var bias: [Double]?
        if node.has("bias") {
            let b = try node.numbers("bias").values
            guard b.count == cOut || b.count == 1 else { throw node.error("bias", "\(b.count) values for \(cOut) channels") }
            bias = (0..<cOut * oh * ow).map { b.count == 1 ? b[0] : b[$0 / (oh * ow)] }
        }
        let perGroup = cOut / groups
        guard let entries = elementCount([cOut, oh, ow, cInGroup, kh, kw]), entries <= maximumEntries else {
            throw node.error("weight", "a \(cOut)×\(oh)×\(ow) output with a \(cInGroup)×\(kh)×\(kw) kernel is more than \(maximumEntries) weights; too large to run")
        }
        var rows: [[(Int, Double)]] = []
        rows.reserveCapacity(cOut * oh * ow)
        for co in 0..<cOut {
            let g = co / perGroup
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var entries: [(Int, Double)] = []
                    for cl in 0..<cInGroup {
                        let ci = g * cInGroup + cl
                        for ky in 0..<kh {
                            let iy = oy * sh - ph + ky * dh
                            guard iy >= 0, iy < h else { continue }
                            for kx in 0..<kw {
                                let ix = ox * sw - pw + kx * dw
                                guard ix >= 0, ix < wd else { continue }
                                let weight = w[((co * cInGroup + cl) * kh + ky) * kw + kx]
                                if weight != 0 { entries.append(((ci * h + iy) * wd + ix, weight)) }
                            }
                        }
                    }
                    rows.append(entries)
                }
            }
        }
        return try checked(x.applying(rows, bias: bias, shape: dims == 1 ? [cOut, ow] : [cOut, oh, ow]))
    }

    private func pooling(_ x: Signal) throws(NIRError) -> Signal {
        guard x.shape.count == 3 else {
            throw node.error(nil, "the input has shape \(x.shape); a \(node.type) needs [channels, height, width]")
        }
        let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
        let (kh, kw) = try pair("kernel_size", dims: 2, default: 1)
        let (sh, sw) = node.has("stride") ? try pair("stride", dims: 2, default: 1) : (kh, kw)
        let (ph, pw) = try pair("padding", dims: 2, default: 0)
        guard kh >= 1, kw >= 1, sh >= 1, sw >= 1 else { throw node.error("kernel_size", "kernel sizes and strides must be at least 1") }
        let oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1
        guard oh >= 1, ow >= 1 else { throw node.error("kernel_size", "the kernel is larger than the padded input \(x.shape)") }
        guard let entries = elementCount([c, oh, ow, kh, kw]), entries <= maximumEntries else {
            throw node.error("kernel_size", "a \(c)×\(oh)×\(ow) output with a \(kh)×\(kw) kernel is more than \(maximumEntries) entries; too large to run")
        }
        // AvgPool2d divides by the whole kernel, padding included (PyTorch's count_include_pad).
        let weight = node.type == "AvgPool2d" ? 1 / Double(kh * kw) : 1
        var rows: [[(Int, Double)]] = []
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var entries: [(Int, Double)] = []
                    for ky in 0..<kh {
                        let iy = oy * sh - ph + ky
                        guard iy >= 0, iy < h else { continue }
                        for kx in 0..<kw {
                            let ix = ox * sw - pw + kx
                            if ix >= 0, ix < wd { entries.append(((ch * h + iy) * wd + ix, weight)) }
                        }
                    }
                    rows.append(entries)
                }
            }
        }
        return try checked(x.applying(rows, bias: nil, shape: [c, oh, ow]))
    }
}
