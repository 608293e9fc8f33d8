// The Hello handshake: a peer introduces itself and its layout; the daemon
// answers with its own Hello, accepted or not, and says what does not match.

extension Spikeloop_V1_Hello {
    /// The daemon's answer to `peer`'s Hello, given the daemon's `layout`.
    public static func answer(to peer: Spikeloop_V1_Hello, layout: Spikeloop_V1_RobotLayout,
                              daemonName: String = "spikeloop") -> Spikeloop_V1_Hello {
        var answer = Spikeloop_V1_Hello()
        answer.protocolVersion = wireProtocolVersion
        answer.role = .controller
        answer.peerName = daemonName
        answer.layout = layout
        if let problem = mismatch(peer: peer, layout: layout) {
            answer.accepted = false
            answer.reason = problem
        } else {
            answer.accepted = true
        }
        return answer
    }

    /// What makes `peer` incompatible with `layout`, or nil.
    static func mismatch(peer: Spikeloop_V1_Hello, layout: Spikeloop_V1_RobotLayout) -> String? {
        if peer.protocolVersion != wireProtocolVersion {
            return "protocol_version \(peer.protocolVersion) is not supported; this daemon speaks \(wireProtocolVersion) (spikeloop.v1)"
        }
        let theirs = peer.layout
        if theirs.layoutHash != theirs.computedHash {
            return "layout.layout_hash \(hex(theirs.layoutHash)) does not match the layout's own channels "
                + "(computed \(hex(theirs.computedHash))); compute it as described in spikeloop.proto"
        }
        if theirs.layoutHash == layout.layoutHash { return nil }
        if theirs.robot != layout.robot {
            return "robot \"\(theirs.robot)\" differs from the daemon's robot \"\(layout.robot)\""
        }
        for (kind, mine, other) in [("sensor", layout.sensors, theirs.sensors), ("motor", layout.motors, theirs.motors)] {
            if mine.count != other.count {
                return "\(other.count) \(kind) channels, the daemon's layout has \(mine.count) (\(mine.map(\.name).joined(separator: ", ")))"
            }
            for (i, (a, b)) in zip(mine, other).enumerated() where a.name != b.name || a.unit != b.unit {
                return "\(kind) channel \(i) is \"\(b.name)\" in \(b.unit.isEmpty ? "no unit" : b.unit), "
                    + "the daemon expects \"\(a.name)\" in \(a.unit.isEmpty ? "no unit" : a.unit)"
            }
        }
        return "layout_hash \(hex(theirs.layoutHash)) differs from the daemon's \(hex(layout.layoutHash))"
    }
}

func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
