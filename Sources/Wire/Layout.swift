// The robot layout: names, units and order of sensor and motor channels, and
// the layout hash both sides compare (see RobotLayout in the .proto).

/// FNV-1a, 64 bit, over UTF-8 bytes.
public func fnv1a64<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01b3
    }
    return hash
}

extension Spikeloop_V1_RobotLayout {
    /// The canonical text the layout hash is computed from.
    public var canonicalText: String {
        var text = "spikeloop.v1 layout\nrobot\t\(robot)\n"
        for channel in sensors { text += "s\t\(channel.name)\t\(channel.unit)\n" }
        for channel in motors { text += "m\t\(channel.name)\t\(channel.unit)\n" }
        return text
    }

    /// FNV-1a 64 of `canonicalText`: what `layoutHash` must be.
    public var computedHash: UInt64 { fnv1a64(canonicalText.utf8) }

    /// A layout with `layoutHash` filled in.
    public static func make(robot: String, sensors: [(name: String, unit: String, min: Float, max: Float)],
                            motors: [(name: String, unit: String, min: Float, max: Float)]) -> Self {
        var layout = Self()
        layout.robot = robot
        layout.sensors = sensors.map { channel in
            var c = Spikeloop_V1_Channel()
            c.name = channel.name; c.unit = channel.unit; c.min = channel.min; c.max = channel.max
            return c
        }
        layout.motors = motors.map { channel in
            var c = Spikeloop_V1_Channel()
            c.name = channel.name; c.unit = channel.unit; c.min = channel.min; c.max = channel.max
            return c
        }
        layout.layoutHash = layout.computedHash
        return layout
    }

    /// Ranges of the sensor channels for `SensorFrameValidator`
    /// (min == max == 0 means any finite value).
    public var sensorRanges: [ChannelRange] {
        sensors.map { $0.min == 0 && $0.max == 0 ? .unbounded : ChannelRange(min: $0.min, max: $0.max) }
    }
}
