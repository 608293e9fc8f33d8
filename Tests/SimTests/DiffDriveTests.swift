import Foundation
import Sim
import Testing

@Suite struct RayCastTests {
    let empty = Arena(width: 4, height: 4)

    @Test func wallsOfAnEmptyArena() {
        #expect(empty.castRay(x: 0, y: 0, dx: 1, dy: 0, maxRange: 10) == 2)
        #expect(empty.castRay(x: 0.5, y: 0, dx: -1, dy: 0, maxRange: 10) == 2.5)
        let s = 0.5.squareRoot()
        #expect(abs(empty.castRay(x: 0, y: 0, dx: s, dy: s, maxRange: 10) - 2 * 2.0.squareRoot()) < 1e-12)
        // From (1, 0) at 45° the ray meets x = 2 first, after √2.
        #expect(abs(empty.castRay(x: 1, y: 0, dx: s, dy: s, maxRange: 10) - 2.0.squareRoot()) < 1e-12)
        #expect(empty.castRay(x: 0, y: 0, dx: 1, dy: 0, maxRange: 1.5) == 1.5)
    }

    @Test func circles() {
        let a = Arena(width: 4, height: 4, circles: [Circle(x: 1, y: 0, radius: 0.25)])
        #expect(a.castRay(x: 0, y: 0, dx: 1, dy: 0, maxRange: 10) == 0.75)
        #expect(a.castRay(x: 0, y: 0, dx: -1, dy: 0, maxRange: 10) == 2, "behind the ray")
        #expect(a.castRay(x: 0, y: 0, dx: 0, dy: 1, maxRange: 10) == 2, "beside the ray")
        // Off-centre: a ray along y = 0.15 meets the circle at x = 1 − √(0.25² − 0.15²) = 0.8.
        #expect(abs(a.castRay(x: 0, y: 0.15, dx: 1, dy: 0, maxRange: 10) - 0.8) < 1e-12)
        // Grazing at y = 0.25 touches at x = 1.
        #expect(abs(a.castRay(x: 0, y: 0.25, dx: 1, dy: 0, maxRange: 10) - 1) < 1e-6)
        #expect(a.castRay(x: 1.1, y: 0, dx: 1, dy: 0, maxRange: 10) == 0, "inside")
    }

    @Test func boxes() {
        let a = Arena(width: 4, height: 4, boxes: [Box(minX: 0.5, minY: -0.5, maxX: 1, maxY: 0.5)])
        #expect(a.castRay(x: 0, y: 0, dx: 1, dy: 0, maxRange: 10) == 0.5)
        #expect(a.castRay(x: 0, y: 0.6, dx: 1, dy: 0, maxRange: 10) == 2, "passes above")
        #expect(a.castRay(x: 1.5, y: 0, dx: -1, dy: 0, maxRange: 10) == 0.5, "far face")
        // From (0, −1) at 45°: enters through the bottom face y = −0.5 at x = 0.5, after √2·0.5.
        let s = 0.5.squareRoot()
        #expect(abs(a.castRay(x: 0, y: -1, dx: s, dy: s, maxRange: 10) - 0.5 * 2.0.squareRoot()) < 1e-12)
        #expect(a.castRay(x: 0.75, y: 0, dx: 0, dy: 1, maxRange: 10) == 0, "inside")
    }

    @Test func rangeSensorsOfTheRobot() {
        // Robot at the origin facing +x in an empty 4 m arena: the front
        // sensor sits on the rim (0.1 m) and reads 1.9 m; the shortest ray of
        // its cone is the central one.
        let d = DiffDrive(arena: Arena(width: 4, height: 4), rangeMax: 5)
        d.reset(x: 0, y: 0, heading: 0)
        #expect(abs(d.range(at: 0) - 1.9) < 1e-12)
        // Facing a circle 1 m ahead (radius 0.2): 1 − 0.2 − 0.1 = 0.7.
        let c = DiffDrive(arena: Arena(width: 4, height: 4, circles: [Circle(x: 1, y: 0, radius: 0.2)]), rangeMax: 2)
        c.reset(x: 0, y: 0, heading: 0)
        var values = [Float](repeating: 0, count: 7)
        values.withUnsafeMutableBufferPointer { c.readSensors(into: $0.baseAddress!) }
        #expect(abs(Double(values[1]) - 0.7) < 1e-6)
        // The left sensor (+30° ± 10°) misses the circle and the walls within 2 m.
        #expect(values[0] == 2 && values[2] == 2)
    }
}

@Suite struct DiffDriveTests {
    @Test func drivesStraightAndTurns() {
        let d = DiffDrive(arena: Arena(width: 10, height: 10))
        d.reset(x: 0, y: 0, heading: 0)
        run(d, ticks: 2000, motors: [0.25, 0.25])
        // Lag τ = 50 ms: distance = v (t − τ (1 − e^{−t/τ})) = 0.25·(2 − 0.05) m.
        #expect(abs(d.state[0] - 0.25 * 1.95) < 1e-9)
        #expect(abs(d.state[1]) < 1e-12 && d.state[2] == 0)
        #expect(abs(d.distance - 0.4875) < 1e-9)
        // Spinning on the spot: ψ̇ = (w_r − w_l)/L.
        d.reset(x: 0, y: 0, heading: 0)
        run(d, ticks: 1000, motors: [-0.1, 0.1])
        let expected = 0.2 / 0.2 * (1 - 0.05 * (1 - exp(-1 / 0.05)))
        #expect(abs(d.state[2] - expected) < 1e-7)
        #expect(abs(d.state[0]) < 1e-12)
    }

    @Test func wallCollisionsAreDetectedAndCounted() {
        let d = DiffDrive(arena: Arena(width: 4, height: 4))
        d.reset(x: 1.5, y: 0, heading: 0)
        run(d, ticks: 3000, motors: [0.5, 0.5])
        #expect(d.collisions == 1, "one continuous contact is one collision")
        #expect(abs(d.state[0] - 1.9) < 1e-12, "held at the wall")
        #expect(d.contactTicks > 2000)
        #expect(d.inContact)
        // Back off, then hit again: a second collision.
        run(d, ticks: 1000, motors: [-0.5, -0.5])
        #expect(!d.inContact)
        run(d, ticks: 2000, motors: [0.5, 0.5])
        #expect(d.collisions == 2)
        let penalty = d.statistics().first { $0.key == "collisions" }?.value
        #expect(penalty == 2)
    }

    @Test func obstacleCollisions() {
        let d = DiffDrive(arena: Arena(width: 4, height: 4, circles: [Circle(x: 1, y: 0, radius: 0.3)],
                                       boxes: [Box(minX: -1.5, minY: -0.5, maxX: -1, maxY: 0.5)]))
        d.reset(x: 0, y: 0, heading: 0)
        run(d, ticks: 3000, motors: [0.5, 0.5])
        #expect(d.collisions == 1)
        #expect(abs(d.state[0] - 0.6) < 1e-9, "stopped at the circle's surface")
        d.reset(x: 0, y: 0, heading: .pi)
        run(d, ticks: 3000, motors: [0.5, 0.5])
        #expect(d.collisions == 1)
        #expect(abs(d.state[0] - -0.9) < 1e-9, "stopped at the box's face")
        // A collision costs the penalty in the reward of its tick.
        d.reset(x: 0.55, y: 0, heading: 0)
        var rewards: [Double] = []
        for _ in 0..<200 { run(d, ticks: 1, motors: [0.5, 0.5]); rewards.append(d.reward) }
        #expect(rewards.filter { $0 < -0.5 }.count == 1)
    }

    @Test func lightSensorsFallOffWithDistanceAndAngle() {
        let d = DiffDrive(arena: Arena(width: 10, height: 10), light: (2, 0))
        d.reset(x: 0, y: 0, heading: 0)
        // Sensor at (0.1 cos 45°, 0.1 sin 45°) facing 45°.
        let sx = 0.1 * cos(Double.pi / 4), sy = 0.1 * sin(Double.pi / 4)
        let dx = 2 - sx, dy = -sy, dist = (dx * dx + dy * dy).squareRoot()
        let cosine = (dx * cos(Double.pi / 4) + dy * sin(Double.pi / 4)) / dist
        #expect(abs(d.light(at: .pi / 4) - cosine / (1 + dist * dist)) < 1e-12)
        #expect(abs(d.light(at: .pi / 4) - d.light(at: -.pi / 4)) < 1e-12, "symmetric when facing the light")
        d.reset(x: 0, y: 0, heading: 0.3)  // turned left: the right sensor sees more
        #expect(d.light(at: -.pi / 4) > d.light(at: .pi / 4))
        d.reset(x: 0, y: 0, heading: .pi)  // facing away: dark
        #expect(d.light(at: .pi / 4) == 0 && d.light(at: -.pi / 4) == 0)
        let near = DiffDrive(arena: Arena(width: 10, height: 10), light: (1, 0)).lightAt(0, 0, 0)
        let far = DiffDrive(arena: Arena(width: 10, height: 10), light: (3, 0)).lightAt(0, 0, 0)
        #expect(near > 2 * far)
    }

    @Test func approachingTheLightIsRewarded() {
        let d = DiffDrive(arena: Arena(width: 10, height: 10), light: (3, 0))
        d.reset(x: 0, y: 0, heading: 0)
        run(d, ticks: 1000, motors: [0.3, 0.3])
        let total = d.statistics().first { $0.key == "reward" }!.value
        #expect(abs(total - 10 * (3 - d.lightDistance)) < 1e-9)
        #expect(total > 0)
    }

    @Test func lightDistancesAtTheStartTheEndAndClosest() {
        // Drives 0.3 m/s for 4 s along y = 0 past the light at (0.5, 0.1): from 0.51 m
        // away, closest 0.1 m at x = 0.5, and on to x ≈ 1.19 (0.69 m away).
        let d = DiffDrive(arena: Arena(width: 10, height: 10), light: (0.5, 0.1))
        d.reset(x: 0, y: 0, heading: 0)
        run(d, ticks: 4000, motors: [0.3, 0.3])
        func stat(_ key: String) -> Double { d.statistics().first { $0.key == key }!.value }
        #expect(abs(stat("start light distance") - (0.25 + 0.01).squareRoot()) < 1e-12)
        #expect(abs(stat("closest to light") - 0.1) < 1e-3)
        #expect(stat("light distance") == d.lightDistance && d.lightDistance > 0.5)
        d.reset(x: 1, y: 0.1, heading: 0)
        #expect(abs(stat("start light distance") - 0.5) < 1e-12, "reset starts over")
    }

    @Test func turningTowardsTheLightIsRewardedWithHeadingGain() {
        // The light to the left (bearing +90°): spinning left earns heading_gain per radian,
        // spinning right costs as much; with progress_gain 0 nothing else counts.
        let d = DiffDrive(arena: Arena(width: 10, height: 10), light: (0, 3), progressGain: 0, headingGain: 2)
        for (motors, sign) in [([-0.1, 0.1] as [Float], 1.0), ([0.1, -0.1], -1.0)] {
            d.reset(x: 0, y: 0, heading: 0)
            run(d, ticks: 500, motors: motors)
            let total = d.statistics().first { $0.key == "reward" }!.value
            #expect(abs(total - sign * 2 * abs(d.state[2])) < 1e-9)
            #expect(abs(d.state[2]) > 0.3)
        }
        // Past the bearing's sign change the same turn is punished: at a bearing of +10°,
        // a left turn of 30° is rewarded for the first 10° and punished for the next 20°.
        d.reset(x: 0, y: 0, heading: .pi / 2 - 10 * .pi / 180)
        var total = 0.0
        while d.state[2] < .pi / 2 + 20 * .pi / 180 { run(d, ticks: 1, motors: [-0.1, 0.1]); total += d.reward }
        #expect(total < 0 && total > -2 * 20 * .pi / 180)
    }

    @Test func foragingMovesTheLightWhenReachedFromTheEpisodesSeed() throws {
        let robot = try RobotFile.load(path: robotsDirectory + "/diffdrive.yaml")
        let parameters = try robot.simulator.setting(["light_reach=0.15"])
        let a = try DiffDrive(parameters: parameters), b = try DiffDrive(parameters: parameters)
        #expect(a.lightReach == 0.15)
        // Start 0.5 m short of the light, facing it: reached once, then the light moves.
        func drive(_ d: DiffDrive, seed: UInt64) -> [Double] {
            d.reset(x: 1.0, y: 1.5, heading: 0, lights: SimRandom(seed: seed))
            var places: [Double] = []
            for _ in 0..<3000 {
                run(d, ticks: 1, motors: [0.3, 0.3])
                if places.last != d.lightX { places.append(d.lightX) }
            }
            return places
        }
        let first = drive(a, seed: 7)
        #expect(a.lightsReached == 1)
        #expect(first.count == 2 && first[0] == 1.5)
        #expect(a.statistics().first { $0.key == "lights reached" }?.value == 1)
        #expect(a.arena.clearance(x: a.lightX, y: a.lightY) >= 0.4 - 1e-12, "out of obstacles")
        let dx = a.lightX - 1.5, dy = a.lightY - 1.5
        #expect((dx * dx + dy * dy).squareRoot() >= 1 - 0.15 - 1e-9, "at least init_light_distance from the robot")
        #expect(drive(b, seed: 7) == first, "the same seed places the same lights")
        #expect(drive(b, seed: 8) != first)
        // A reset puts the light back where the file has it.
        a.reset(seed: 7)
        #expect(a.lightX == 1.5 && a.lightY == 1.5 && a.lightsReached == 0)
        // Without light_reach the light stays.
        let still = try DiffDrive(parameters: robot.simulator)
        still.reset(x: 1.0, y: 1.5, heading: 0)
        run(still, ticks: 3000, motors: [0.3, 0.3])
        #expect(still.lightX == 1.5 && still.lightsReached == 0)
    }

    @Test func commandLineSettingsOverrideTheFileAndAreCheckedAsIt() throws {
        let robot = try RobotFile.load(path: robotsDirectory + "/diffdrive.yaml")
        let d = try DiffDrive(parameters: robot.simulator.setting(["light=[-1, 0.5]", "heading_gain=2"]))
        #expect(d.startLight == (-1, 0.5) && d.headingGain == 2)
        #expect(throws: SimError.self) { try robot.simulator.setting(["light_reach"]) }
        do {
            _ = try DiffDrive(parameters: robot.simulator.setting(["light_rech=0.1"]))
            Issue.record("a misspelt key was taken")
        } catch let e as SimError {
            #expect(e.description.hasPrefix("--set light_rech: unknown parameter"), "\(e)")
        }
        do {
            _ = try DiffDrive(parameters: robot.simulator.setting(["light_reach=-1"]))
            Issue.record("a negative reach was taken")
        } catch let e as SimError {
            #expect(e.description == "--set light_reach: -1.0 is below 0.0", "\(e)")
        }
        #expect(throws: SimError.self) { try robot.simulator.setting(["model=cartpole"]) }
    }

    @Test func startsAreDeterministicAndClear() throws {
        let robot = try RobotFile.load(path: robotsDirectory + "/diffdrive.yaml")
        let a = try DiffDrive(parameters: robot.simulator), b = try DiffDrive(parameters: robot.simulator)
        for seed in 0..<200 as Range<UInt64> {
            a.reset(seed: seed); b.reset(seed: seed)
            #expect(a.state == b.state)
            #expect(a.arena.clearance(x: a.state[0], y: a.state[1]) >= 0.4 - 1e-12)
            #expect(a.lightDistance >= 1)
        }
        a.reset(seed: 1); b.reset(seed: 2)
        #expect(a.state != b.state)
    }
}

extension DiffDrive {
    /// The left light sensor's reading with the robot at (x, y, ψ).
    func lightAt(_ x: Double, _ y: Double, _ heading: Double) -> Double {
        reset(x: x, y: y, heading: heading)
        return light(at: lightAngle)
    }
}

/// Checks that the simulator refuses `file` with an error that starts with
/// `prefix` (where the bad value came from) and contains `expected`.
func expectRefused(_ file: RobotFile, _ expected: String, prefix: String, _ what: String) {
    do {
        _ = try makeSimRobot(robot: file, options: SimOptions())
        Issue.record("accepted \(what)")
    } catch let e as SimError {
        #expect(e.description.contains(expected), "\(what): \(e.description)")
        #expect(e.description.hasPrefix(prefix), "\(e.description)")
    } catch {
        Issue.record("\(what): \(error)")
    }
}

/// Robots/ of the repository (tests run from anywhere).
let robotsDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Robots").path
}()
