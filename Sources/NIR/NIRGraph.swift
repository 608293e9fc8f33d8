/// A NIR graph as its file states it: named nodes with their type and
/// fields, and edges between node names. Nested graphs are flattened into
/// `outer.inner` names, and edges to or from a nested graph go to its single
/// `Input` or from its single `Output`.
public struct NIRGraph: Sendable {
    public var nodes: [String: NIRNode]
    /// In the file's order, which exporters do not keep stable; the importer
    /// takes the evaluation order from the graph, never from this.
    public var edges: [(from: String, to: String)]
    public var version: String?

    /// The graph in `bytes`, the contents of the NIR file `path`.
    public static func read(bytes: [UInt8], path: String) throws(NIRError) -> NIRGraph {
        try NIRGraph(tree: HDF5Tree.read(bytes: bytes, path: path), file: path)
    }

    /// A graph built in memory (ANN conversion).
    init(nodes: [String: NIRNode], edges: [(from: String, to: String)], version: String?) {
        self.nodes = nodes
        self.edges = edges
        self.version = version
    }

    public init(tree: HDF5Tree, file: String) throws(NIRError) {
        guard case .group(let root) = tree else { throw NIRError(file: file, "the root is not a group") }
        if case .strings(_, let v)? = root["version"] { version = v.first }
        guard let top = root["node"] else {
            throw NIRError(file: file, "no group 'node': not a NIR file (NIR files hold the graph under /node, written by nir.write)")
        }
        var nodes: [String: NIRNode] = [:]
        var edges: [(String, String)] = []
        var interfaces: Set<String> = []
        try Self.flatten(top, prefix: "", path: "/node", file: file, nodes: &nodes, edges: &edges, interfaces: &interfaces)
        // A nested graph's Input and Output only pass values through: each is
        // replaced by edges from what feeds it to what it feeds.
        for name in interfaces.sorted() {
            let feeding = edges.filter { $0.1 == name }.map(\.0), fed = edges.filter { $0.0 == name }.map(\.1)
            edges.removeAll { $0.0 == name || $0.1 == name }
            for from in feeding { for to in fed { edges.append((from, to)) } }
            nodes[name] = nil
        }
        self.nodes = nodes
        self.edges = edges
    }

    /// `interfaces` receives the names of nested graphs' Inputs and Outputs.
    private static func flatten(_ tree: HDF5Tree, prefix: String, path: String, file: String,
                                nodes: inout [String: NIRNode], edges: inout [(String, String)],
                                interfaces: inout Set<String>) throws(NIRError) {
        guard case .group(let graph) = tree else { throw NIRError(file: file, "\(path) is not a group") }
        guard case .group(let members)? = graph["nodes"] else { throw NIRError(file: file, "\(path): no group 'nodes'") }
        guard case .strings(let shape, let names)? = graph["edges"] else {
            // A graph without edges stores none (h5py cannot store an empty string array).
            if graph["edges"] != nil { throw NIRError(file: file, "\(path)/edges: must be an array of node-name pairs") }
            for (name, member) in members { try add(name, member) }
            return
        }
        guard shape.count == 2, shape[1] == 2 || names.isEmpty else {
            throw NIRError(file: file, "\(path)/edges: shape \(shape); must be [n, 2] (pairs of node names)")
        }
        for (name, member) in members { try add(name, member) }
        var inner: [(String, String)] = []
        for k in stride(from: 0, to: names.count, by: 2) { inner.append((names[k], names[k + 1])) }
        for (from, to) in inner {
            edges.append((try endpoint(from, asSource: true, at: "\(path)/edges"), try endpoint(to, asSource: false, at: "\(path)/edges")))
        }

        func add(_ name: String, _ member: HDF5Tree) throws(NIRError) {
            guard !name.contains(".") || prefix.isEmpty else {
                throw NIRError(file: file, "\(path)/nodes/\(name): node names must not contain '.' inside a nested graph")
            }
            guard case .group(let fields) = member else { throw NIRError(file: file, "\(path)/nodes/\(name) is not a group") }
            guard case .strings(_, let type)? = fields["type"], let kind = type.first else {
                throw NIRError(file: file, "\(path)/nodes/\(name): no 'type' (every NIR node names its type)")
            }
            if kind == "NIRGraph" {
                try flatten(member, prefix: prefix + name + ".", path: "\(path)/nodes/\(name)", file: file, nodes: &nodes, edges: &edges,
                            interfaces: &interfaces)
            } else {
                nodes[prefix + name] = NIRNode(name: prefix + name, type: kind, fields: fields, file: file)
                if !prefix.isEmpty && (kind == "Input" || kind == "Output") { interfaces.insert(prefix + name) }
            }
        }

        /// An edge's end: a node of this graph, a node of a nested graph
        /// (`sub.x`), or a nested graph itself (its Input or its Output).
        func endpoint(_ name: String, asSource: Bool, at place: String) throws(NIRError) -> String {
            let full = prefix + name
            if nodes[full] != nil { return full }
            let wanted = asSource ? "Output" : "Input"
            let inside = nodes.values.filter { $0.name.hasPrefix(full + ".") && $0.type == wanted && !$0.name.dropFirst(full.count + 1).contains(".") }
            if inside.count == 1 { return inside[0].name }
            throw NIRError(file: file, "\(place): edge \(asSource ? "from" : "to") '\(name)', which is no node of the graph")
        }
    }
}

/// One node: its NIR type (`LIF`, `Affine`, …) and fields (arrays).
public struct NIRNode: Sendable {
    public var name: String
    public var type: String
    var fields: [String: HDF5Tree]
    let file: String

    func error(_ field: String?, _ message: String) -> NIRError {
        NIRError(file: file, "node '\(name)' (\(type))\(field.map { ", field '\($0)'" } ?? ""): \(message)")
    }

    func has(_ field: String) -> Bool { fields[field] != nil }

    /// A numeric field: its shape and values (row-major).
    func numbers(_ field: String) throws(NIRError) -> (shape: [Int], values: [Double]) {
        guard let value = fields[field] else { throw error(field, "missing") }
        guard case .numbers(let shape, let values) = value else { throw error(field, "must be numbers") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw error(field, "element \(bad) is \(values[bad]); NaN and infinities cannot be run")
        }
        return (shape, values)
    }

    /// A field of whole numbers from `range` (strides, paddings, groups):
    /// files hold them as floats or integers, and converting 1e30 or 2^63 to
    /// `Int` would trap, so each is checked first.
    func wholeNumbers(_ field: String, in range: ClosedRange<Int>) throws(NIRError) -> [Int] {
        let (shape, values) = try numbers(field)
        if let bad = values.firstIndex(where: { $0 != $0.rounded() || $0 < Double(range.lowerBound) || $0 > Double(range.upperBound) }) {
            throw error(field, "element \(bad) of shape \(shape) is \(values[bad]); must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return values.map { Int($0) }
    }

    /// A per-neuron field of a layer of `size` neurons (a scalar applies to all).
    func perNeuron(_ field: String, size: Int) throws(NIRError) -> [Double] {
        let (shape, values) = try numbers(field)
        if values.count == size { return values }
        if values.count == 1 { return Array(repeating: values[0], count: size) }
        throw error(field, "shape \(shape) (\(values.count) values) for \(size) neurons")
    }
}
