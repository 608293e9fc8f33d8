import Yams

/// One thing wrong with a configuration file: where (file, line, key path) and
/// what would be valid.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int?, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(place): \(message)" : "\(place): \(keyPath): \(message)"
    }
}

/// All the problems found in a file; nothing is built when there is one.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var problems: [Problem]
    public init(problems: [Problem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// A YAML node together with its key path, so every reader reports where it looked.
public struct Entry {
    public let node: Node
    public let path: String

    public init(node: Node, path: String) {
        self.node = node
        self.path = path
    }

    public var line: Int? { node.mark.map(\.line) }

    public func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    public func element(_ index: Int) -> String { "\(path)[\(index)]" }
}

/// Reads values out of a YAML document, collecting every problem instead of
/// stopping at the first, so a user fixes a file in one pass.
public final class DocumentReader {
    public let file: String
    public private(set) var problems: [Problem] = []

    public init(file: String) { self.file = file }

    /// Parses YAML text; a syntax error becomes a problem with its line.
    public func root(yaml: String) -> Entry? {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                report(at: nil, "", "the file is empty; expected a YAML mapping")
                return nil
            }
            return Entry(node: node, path: "")
        } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            // Yams's message would quote the whole file.
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            problems.append(Problem(file: file, line: context.mark.line, keyPath: "",
                                    message: "the key \(keys) appears more than once in one mapping (first here); keep one"))
        } catch let error as YamlError {
            let text = "\(error)"
            report(at: nil, "", "not valid YAML: " + (text.count > 600 ? text.prefix(600) + " …" : text))
        } catch {
            report(at: nil, "", "not valid YAML: \(error)")
        }
        return nil
    }

    public func report(at entry: Entry?, _ path: String, _ message: String) {
        problems.append(Problem(file: file, line: entry?.line, keyPath: path, message: message))
    }

    public func report(_ entry: Entry, _ message: String) { report(at: entry, entry.path, message) }

    // MARK: Structure

    /// The keys of a mapping; unknown keys are reported with the valid ones.
    public func mapping(_ entry: Entry, allowed: [String]) -> [String: Entry]? {
        guard case .mapping(let mapping) = entry.node else {
            report(entry, "expected a mapping with keys \(allowed.joined(separator: ", "))")
            return nil
        }
        var result: [String: Entry] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            let child = Entry(node: value, path: entry.child(name))
            if !allowed.contains(name) {
                report(child, "unknown key '\(name)'; valid keys: \(allowed.joined(separator: ", "))")
                continue
            }
            result[name] = child
        }
        return result
    }

    public func sequence(_ entry: Entry) -> [Entry]? {
        guard case .sequence(let seq) = entry.node else {
            report(entry, "expected a list")
            return nil
        }
        return seq.enumerated().map { Entry(node: $1, path: entry.element($0)) }
    }

    public func required(_ keys: [String: Entry], _ key: String, in parent: Entry, _ what: String) -> Entry? {
        if let e = keys[key] { return e }
        report(at: parent, parent.child(key), "missing; \(what)")
        return nil
    }

    // MARK: Scalars

    public func string(_ entry: Entry) -> String? {
        guard case .scalar(let s) = entry.node else {
            report(entry, "expected a text value")
            return nil
        }
        return s.string
    }

    public func choice(_ entry: Entry, _ valid: [String]) -> String? {
        guard let s = string(entry) else { return nil }
        guard valid.contains(s) else {
            report(entry, "'\(s)' is not valid; valid: \(valid.joined(separator: ", "))")
            return nil
        }
        return s
    }

    public func integer(_ entry: Entry, min: Int? = nil, max: Int? = nil) -> Int? {
        guard case .scalar(let s) = entry.node, let x = Int(s.string) else {
            report(entry, "expected a whole number")
            return nil
        }
        if let min, x < min { report(entry, "\(x) is too small; must be ≥ \(min)"); return nil }
        if let max, x > max { report(entry, "\(x) is too large; must be ≤ \(max)"); return nil }
        return x
    }

    public func number(_ entry: Entry, min: Double? = nil, max: Double? = nil) -> Double? {
        guard case .scalar(let s) = entry.node, let x = Double(s.string), x.isFinite else {
            report(entry, "expected a plain number (no unit)")
            return nil
        }
        if let min, let max, !(x >= min && x <= max) {
            report(entry, "\(s.string) is outside [\(min.compact), \(max.compact)]")
            return nil
        }
        if let min, x < min { report(entry, "\(s.string) must be ≥ \(min.compact)"); return nil }
        return x
    }

    public func bool(_ entry: Entry) -> Bool? {
        guard case .scalar(let s) = entry.node, let b = Bool(s.string.lowercased()) else {
            report(entry, "expected true or false")
            return nil
        }
        return b
    }

    /// A value with a unit suffix, in the internal unit of `dimension`.
    /// `max`, in the internal unit, with `maxText` saying it the way a user would.
    public func quantity(_ entry: Entry, _ dimension: PhysicalDimension, nonNegative: Bool = false, positive: Bool = false,
                         max: (value: Double, text: String)? = nil) -> Double? {
        guard case .scalar(let s) = entry.node else {
            report(entry, "expected a \(dimension.rawValue) such as '\(dimension.example)'")
            return nil
        }
        switch parseQuantity(s.string, dimension) {
        case .success(let x):
            if positive, !(x > 0) { report(entry, "must be greater than zero, e.g. '\(dimension.example)'"); return nil }
            if nonNegative, x < 0 { report(entry, "'\(s.string)' is negative; must be ≥ 0"); return nil }
            if let max, !(x <= max.value) { report(entry, "'\(s.string)' is too large; at most \(max.text)"); return nil }
            return x
        case .failure(.notANumber):
            report(entry, "'\(s.string)' is not a \(dimension.rawValue); write a number and a unit (\(dimension.unitList)), e.g. '\(dimension.example)'")
        case .failure(.missingUnit):
            report(entry, "'\(s.string)' has no unit; a \(dimension.rawValue) needs one of \(dimension.unitList), e.g. '\(dimension.example)'")
        case .failure(.wrongUnit(let u)) where dimension == .conductance:
            report(entry, "'\(s.string)': a conductance into a synapse with a reversal potential is a plain number in units of the leak conductance, without '\(u)' (e.g. 0.6: 6 nS on a 10 nS leak)")
        case .failure(.wrongUnit(let u)):
            report(entry, "'\(u)' is not a unit of \(dimension.rawValue); valid: \(dimension.unitList)")
        }
        return nil
    }
}

extension Double {
    var compact: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
}
