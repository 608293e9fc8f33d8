// A differential-drive robot (a disc with two wheels on an axle) in a walled
// arena with obstacles, for Braitenberg-style tasks.
//
// State (x, y, ψ, w_l, w_r): position, heading, and the wheels' ground speeds,
// which follow the commanded speeds c_l, c_r with a first-order lag τ:
//
//   ẋ = v cos ψ,  ẏ = v sin ψ,  ψ̇ = (w_r − w_l)/L,  v = (w_l + w_r)/2,
//   ẇ_l = (c_l − w_l)/τ,  ẇ_r = (c_r − w_r)/τ
//
// After each RK4 substep the body is pushed out of anything it overlaps; a
// collision is the start of a contact (ticks in contact are counted too).
//
// Sensors: three range sensors on the rim (left +α, front 0, right −α), each
// the shortest of a fan of rays across its cone, capped at the maximum range;
// two light sensors on the rim at ±β facing outwards, reading
// I·max(0, cos γ)/(1 + (d/d₀)²) (γ: angle between the sensor's axis and the
// light, d: distance; no occlusion); the two measured wheel speeds.
// Reward per tick: gain·(approach to the light, m) + heading gain·(rotation
// towards the light, rad) − penalty·(new collisions).
// Foraging (light_reach > 0): when the robot's centre comes within reach of the
// light, the light moves to a new place drawn from the episode's seed, with
// clearance from obstacles and at least init_light_distance from the robot.

#if canImport(Glibc)
import Glibc
#endif

public final class DiffDrive: SimModel {
    public static let modelName = "diffdrive"
    public static let sensors = [SimChannel("range.left", "m"), SimChannel("range.front", "m"),
                                 SimChannel("range.right", "m"), SimChannel("light.left", "1"),
                                 SimChannel("light.right", "1"), SimChannel("wheel.left.speed", "m/s"),
                                 SimChannel("wheel.right.speed", "m/s")]
    public static let motors = [SimChannel("motor.left", "m/s"), SimChannel("motor.right", "m/s")]
    public static let stateNames = ["x", "y", "heading", "wheel_left", "wheel_right", "light_distance", "contact",
                                    "light_x", "light_y"]
    public static let parameterKeys = ["arena", "obstacles", "robot_radius", "axle", "wheel_tau", "range_max",
                                       "range_angle_deg", "range_cone_deg", "range_rays", "light", "light_intensity",
                                       "light_falloff", "light_angle_deg", "init_clearance", "init_light_distance",
                                       "progress_gain", "heading_gain", "collision_penalty", "coverage_cell",
                                       "light_reach"]

    public let arena: Arena
    public let radius: Double, axle: Double, wheelTau: Double
    public let rangeMax: Double, rangeAngle: Double, rangeCone: Double, rangeRays: Int
    public let lightIntensity: Double, lightFalloff: Double, lightAngle: Double
    /// Where the light is now (it moves when foraging), and where each episode starts it.
    public private(set) var lightX: Double, lightY: Double
    public let startLight: (x: Double, y: Double)
    public let initClearance: Double, initLightDistance: Double
    public let progressGain: Double, headingGain: Double, collisionPenalty: Double
    public let lightReach: Double
    public let coverageCell: Double
    private let coverageColumns: Int, coverageRows: Int
    private var covered: [Bool]

    /// (x, y, ψ, w_l, w_r, 0, 0, 0)
    public var state = SIMD8<Double>()
    public private(set) var reward = 0.0
    public let failed = false
    public private(set) var steps = 0
    public private(set) var time = 0.0
    public private(set) var collisions = 0
    public private(set) var contactTicks = 0
    public private(set) var inContact = false
    public private(set) var distance = 0.0
    public private(set) var cellsCovered = 0
    public private(set) var minLightDistance = 0.0
    public private(set) var startLightDistance = 0.0
    public private(set) var lightsReached = 0
    private var totalReward = 0.0
    private var lightDistanceBefore = 0.0
    private var lightRandom = SimRandom(seed: 0)

    public static let defaultObstacles = (circles: [Circle(x: -0.8, y: 0.6, radius: 0.3), Circle(x: 0.7, y: -0.9, radius: 0.25)],
                                          boxes: [Box(minX: 0.2, minY: 0.3, maxX: 0.6, maxY: 1.0)])

    public init(arena: Arena = Arena(width: 4, height: 4, circles: defaultObstacles.circles, boxes: defaultObstacles.boxes),
                radius: Double = 0.1, axle: Double = 0.2, wheelTau: Double = 0.05, rangeMax: Double = 2,
                rangeAngleDegrees: Double = 30, rangeConeDegrees: Double = 10, rangeRays: Int = 5,
                light: (Double, Double) = (1.5, 1.5), lightIntensity: Double = 1, lightFalloff: Double = 1,
                lightAngleDegrees: Double = 45, initClearance: Double = 0.3, initLightDistance: Double = 1,
                progressGain: Double = 10, headingGain: Double = 0, collisionPenalty: Double = 1,
                coverageCell: Double = 0.2, lightReach: Double = 0) {
        self.arena = arena
        self.radius = radius; self.axle = axle; self.wheelTau = wheelTau
        self.rangeMax = rangeMax; self.rangeAngle = rangeAngleDegrees * .pi / 180
        self.rangeCone = rangeConeDegrees * .pi / 180; self.rangeRays = max(1, rangeRays)
        self.lightX = light.0; self.lightY = light.1; self.startLight = light; self.lightIntensity = lightIntensity
        self.lightFalloff = lightFalloff; self.lightAngle = lightAngleDegrees * .pi / 180
        self.initClearance = initClearance; self.initLightDistance = initLightDistance
        self.progressGain = progressGain; self.headingGain = headingGain; self.collisionPenalty = collisionPenalty
        self.coverageCell = coverageCell; self.lightReach = lightReach
        coverageColumns = max(1, Int((2 * arena.halfWidth / coverageCell).rounded(.up)))
        coverageRows = max(1, Int((2 * arena.halfHeight / coverageCell).rounded(.up)))
        covered = [Bool](repeating: false, count: coverageColumns * coverageRows)
    }

    public convenience init(parameters p: SimParameters) throws {
        try p.checkKeys(Self.parameterKeys)
        let size = try p.numbers("arena", count: 2, default: [4, 4])
        guard size[0] > 0 && size[1] > 0 else { throw SimError("\(p.location("arena")): width and height must be positive") }
        var circles = Self.defaultObstacles.circles, boxes = Self.defaultObstacles.boxes
        if p.mapping["obstacles"] != nil {
            circles = []; boxes = []
            _ = try p.list("obstacles", default: [Int]()) { m, here -> Int in
                func values(_ key: String, _ n: Int) throws -> [Double]? {
                    guard let node = m[key] else { return nil }
                    guard let list = node.sequence, list.count == n else { throw SimError("\(here).\(key): expected \(n) numbers") }
                    return try list.map { guard let x = $0.float else { throw SimError("\(here).\(key): '\($0.string ?? "")' is not a number") }; return x }
                }
                if let c = try values("circle", 3) {
                    guard c[2] > 0 else { throw SimError("\(here).circle: the radius must be positive") }
                    circles.append(Circle(x: c[0], y: c[1], radius: c[2]))
                } else if let b = try values("box", 4) {
                    guard b[0] < b[2] && b[1] < b[3] else { throw SimError("\(here).box: expected [min_x, min_y, max_x, max_y] with min < max") }
                    boxes.append(Box(minX: b[0], minY: b[1], maxX: b[2], maxY: b[3]))
                } else {
                    throw SimError("\(here): expected {circle: [x, y, radius]} or {box: [min_x, min_y, max_x, max_y]} (m)")
                }
                return 0
            }
        }
        let light = try p.numbers("light", count: 2, default: [1.5, 1.5])
        self.init(arena: Arena(width: size[0], height: size[1], circles: circles, boxes: boxes),
                  radius: try p.number("robot_radius", default: 0.1, positive: true),
                  axle: try p.number("axle", default: 0.2, positive: true),
                  wheelTau: try p.number("wheel_tau", default: 0.05, positive: true),
                  rangeMax: try p.number("range_max", default: 2, positive: true),
                  rangeAngleDegrees: try p.number("range_angle_deg", default: 30, min: 0, max: 180),
                  rangeConeDegrees: try p.number("range_cone_deg", default: 10, min: 0, max: 90),
                  rangeRays: Int(try p.number("range_rays", default: 5, min: 1, max: 64)),
                  light: (light[0], light[1]),
                  lightIntensity: try p.number("light_intensity", default: 1, positive: true),
                  lightFalloff: try p.number("light_falloff", default: 1, positive: true),
                  lightAngleDegrees: try p.number("light_angle_deg", default: 45, min: 0, max: 180),
                  initClearance: try p.number("init_clearance", default: 0.3, min: 0),
                  initLightDistance: try p.number("init_light_distance", default: 1, min: 0),
                  progressGain: try p.number("progress_gain", default: 10),
                  headingGain: try p.number("heading_gain", default: 0),
                  collisionPenalty: try p.number("collision_penalty", default: 1),
                  coverageCell: try p.number("coverage_cell", default: 0.2, positive: true),
                  lightReach: try p.number("light_reach", default: 0, min: 0))
        // A start position must exist.
        var random = SimRandom(seed: 0)
        if drawStart(&random) == nil {
            throw SimError("\(p.path): simulator: no start position with init_clearance \(initClearance) m "
                + "and init_light_distance \(initLightDistance) m in the arena; lower them or move obstacles")
        }
    }

    func drawStart(_ random: inout SimRandom) -> (Double, Double, Double)? {
        let spanX = arena.halfWidth - radius, spanY = arena.halfHeight - radius
        for _ in 0..<100_000 {
            let x = random.uniform(halfWidth: spanX), y = random.uniform(halfWidth: spanY)
            let heading = random.uniform(halfWidth: .pi)
            let dl = ((x - lightX) * (x - lightX) + (y - lightY) * (y - lightY)).squareRoot()
            if arena.clearance(x: x, y: y) >= radius + initClearance && dl >= initLightDistance { return (x, y, heading) }
        }
        return nil
    }

    public static let initialStateKeys = ["x", "y", "heading"]

    public func reset(seed: UInt64) { reset(seed: seed, initial: [:]) }

    public func reset(seed: UInt64, initial: [String: Double]) {
        var random = SimRandom(seed: seed)
        lightX = startLight.x; lightY = startLight.y
        let start = drawStart(&random) ?? (0, 0, 0)
        // The same seed places the same lights, whatever the start.
        reset(x: initial["x"] ?? start.0, y: initial["y"] ?? start.1, heading: initial["heading"] ?? start.2, lights: random)
    }

    /// An exact start; `lights` is the stream the light's new places are drawn
    /// from when foraging.
    public func reset(x: Double, y: Double, heading: Double, lights: SimRandom = SimRandom(seed: 0)) {
        state = SIMD8(x, y, heading, 0, 0, 0, 0, 0)
        lightX = startLight.x; lightY = startLight.y; lightsReached = 0
        lightRandom = lights
        reward = 0; steps = 0; time = 0; collisions = 0; contactTicks = 0; inContact = false
        distance = 0; totalReward = 0
        for i in covered.indices { covered[i] = false }
        cellsCovered = 0
        markCovered()
        lightDistanceBefore = lightDistance
        minLightDistance = lightDistanceBefore
        startLightDistance = lightDistanceBefore
    }

    /// Moves the light to a free place at least init_light_distance from the
    /// robot (the light has no body, but one inside an obstacle is out of reach);
    /// in an arena too small for that, to the farthest free place tried, so
    /// that it is never reached twice on the spot.
    private func moveLight() {
        let spanX = arena.halfWidth - radius, spanY = arena.halfHeight - radius
        var farthest = (x: lightX, y: lightY, distance: -1.0)
        for _ in 0..<100_000 {
            let x = lightRandom.uniform(halfWidth: spanX), y = lightRandom.uniform(halfWidth: spanY)
            guard arena.clearance(x: x, y: y) >= radius + initClearance else { continue }
            let dx = x - state[0], dy = y - state[1], distance = (dx * dx + dy * dy).squareRoot()
            if distance >= initLightDistance { farthest = (x, y, distance); break }
            if distance > farthest.distance { farthest = (x, y, distance) }
        }
        lightX = farthest.x; lightY = farthest.y
    }

    /// The light's bearing from the heading, in (−π, π].
    public var lightBearing: Double {
        wrapAngle(atan2(lightY - state[1], lightX - state[0]) - state[2])
    }

    public var lightDistance: Double {
        let dx = state[0] - lightX, dy = state[1] - lightY
        return (dx * dx + dy * dy).squareRoot()
    }

    private func markCovered() {
        let c = min(coverageColumns - 1, max(0, Int((state[0] + arena.halfWidth) / coverageCell)))
        let r = min(coverageRows - 1, max(0, Int((state[1] + arena.halfHeight) / coverageCell)))
        if !covered[r * coverageColumns + c] { covered[r * coverageColumns + c] = true; cellsCovered += 1 }
    }

    @inline(__always)
    public func derivative(_ s: SIMD8<Double>, left: Double, right: Double) -> SIMD8<Double> {
        let v = 0.5 * (s[3] + s[4])
        return SIMD8(v * s[2].cos, v * s[2].sin, (s[4] - s[3]) / axle,
                     (left - s[3]) / wheelTau, (right - s[4]) / wheelTau, 0, 0, 0)
    }

    public func advance(motors: UnsafePointer<Float>, period: Double, substeps: Int) {
        let left = Double(motors[0]), right = Double(motors[1])
        let h = period / Double(substeps)
        let bearing = lightBearing, heading0 = state[2]
        var contact = false
        for _ in 0..<substeps {
            let x0 = state[0], y0 = state[1]
            state = rk4Step(state, h) { derivative($0, left: left, right: right) }
            var x = state[0], y = state[1]
            if arena.resolve(x: &x, y: &y, radius: radius) { contact = true }
            state[0] = x; state[1] = y
            distance += ((x - x0) * (x - x0) + (y - y0) * (y - y0)).squareRoot()
        }
        state[2] = wrapAngle(state[2])
        steps += 1
        time = Double(steps) * period
        let newCollision = contact && !inContact
        if newCollision { collisions += 1 }
        if contact { contactTicks += 1 }
        inContact = contact
        markCovered()
        var d = lightDistance
        // Rotation towards the light: the heading change against the bearing's sign.
        let turned = wrapAngle(state[2] - heading0)
        reward = progressGain * (lightDistanceBefore - d) + headingGain * (bearing >= 0 ? turned : -turned)
            - (newCollision ? collisionPenalty : 0)
        minLightDistance = min(minLightDistance, d)
        if lightReach > 0 && d <= lightReach {
            lightsReached += 1
            moveLight()
            d = lightDistance
        }
        lightDistanceBefore = d
        totalReward += reward
    }

    /// The reading of a range sensor at `angle` from the heading.
    @inline(__always)
    public func range(at angle: Double) -> Double {
        let a = state[2] + angle
        let ox = state[0] + radius * a.cos, oy = state[1] + radius * a.sin
        var best = rangeMax
        let n = rangeRays
        for i in 0..<n {
            let offset = n == 1 ? 0 : rangeCone * (2 * Double(i) / Double(n - 1) - 1)
            let b = a + offset
            best = min(best, arena.castRay(x: ox, y: oy, dx: b.cos, dy: b.sin, maxRange: rangeMax))
        }
        return best
    }

    /// The reading of a light sensor at `angle` from the heading.
    @inline(__always)
    public func light(at angle: Double) -> Double {
        let a = state[2] + angle
        let ax = a.cos, ay = a.sin
        let sx = state[0] + radius * ax, sy = state[1] + radius * ay
        let dx = lightX - sx, dy = lightY - sy
        let d = (dx * dx + dy * dy).squareRoot()
        let cosine = d > 1e-12 ? (dx * ax + dy * ay) / d : 1
        return lightIntensity * max(0, cosine) / (1 + (d / lightFalloff) * (d / lightFalloff))
    }

    public func readSensors(into values: UnsafeMutablePointer<Float>) {
        values[0] = Float(range(at: rangeAngle))
        values[1] = Float(range(at: 0))
        values[2] = Float(range(at: -rangeAngle))
        values[3] = Float(light(at: lightAngle))
        values[4] = Float(light(at: -lightAngle))
        values[5] = Float(state[3])
        values[6] = Float(state[4])
    }

    public func readState(into values: UnsafeMutablePointer<Double>) {
        for i in 0..<5 { values[i] = state[i] }
        values[5] = lightDistance
        values[6] = inContact ? 1 : 0
        values[7] = lightX; values[8] = lightY
    }

    public func statistics() -> [SimStatistic] {
        [SimStatistic("collisions", Double(collisions)),
         SimStatistic("contact", Double(contactTicks) * (steps > 0 ? time / Double(steps) : 0), "s"),
         SimStatistic("distance", distance, "m"),
         SimStatistic("covered", Double(cellsCovered) * coverageCell * coverageCell, "m²"),
         SimStatistic("start light distance", startLightDistance, "m"),
         SimStatistic("light distance", lightDistance, "m"),
         SimStatistic("closest to light", minLightDistance, "m"),
         SimStatistic("lights reached", Double(lightsReached)),
         SimStatistic("reward", totalReward)]
    }
}
