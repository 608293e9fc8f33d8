import Foundation
import Sim
import Testing

/// Advances `model` by `ticks` periods of `period` s holding `motors`.
func run<M: SimModel>(_ model: M, ticks: Int, period: Double = 0.001, substeps: Int = 1, motors: [Float]) {
    motors.withUnsafeBufferPointer { m in
        for _ in 0..<ticks { model.advance(motors: m.baseAddress!, period: period, substeps: substeps) }
    }
}

@Suite struct PendulumTests {
    @Test func smallAngleMatchesTheAnalyticSolution() {
        // Undamped, no torque, 1 mrad from hanging: φ(t) = φ0 cos(√(g/l) t)
        // (the amplitude's own frequency shift, φ0²/16, is 6e-8 here).
        let p = Pendulum(mass: 1, length: 1, gravity: 9.81, damping: 0)
        let phi0 = 0.001
        p.reset(state: SIMD2(.pi + phi0, 0))
        let omega = (9.81 / 1.0).squareRoot()
        var worst = 0.0
        let zero: [Float] = [0]
        for k in 1...10_000 {
            run(p, ticks: 1, motors: zero)
            let phi = p.state[0] - .pi
            worst = max(worst, abs(phi - phi0 * cos(omega * Double(k) * 0.001)))
        }
        #expect(worst < 1e-8, "max deviation \(worst) rad over 10 s")
    }

    @Test func largeSwingConservesEnergy() {
        let p = Pendulum(mass: 1, length: 1, gravity: 9.81, damping: 0)
        p.reset(state: SIMD2(.pi - 2.0, 0))  // 2 rad from hanging
        let e0 = p.energy
        run(p, ticks: 10_000, motors: [0])
        #expect(abs(p.energy - e0) / e0 < 1e-8, "relative drift \(abs(p.energy - e0) / e0)")
    }

    @Test func dampingDissipates() {
        let p = Pendulum(mass: 1, length: 1, gravity: 9.81, damping: 0.05)
        p.reset(state: SIMD2(.pi - 1.0, 0))
        let e0 = p.energy
        run(p, ticks: 10_000, motors: [0])
        // Linearised: E ∝ exp(−b t/(m l²)) = exp(−0.5) over 10 s; the swing is not small, so loosely.
        #expect(p.energy / e0 > 0.5 && p.energy / e0 < 0.7)
    }

    @Test func torqueLimitForcesSwingUp() {
        // Holding the full 5 N m (< m g l) from hanging never gets past 90°.
        let p = Pendulum()
        p.reset(state: SIMD2(.pi, 0))
        var closest = Double.pi
        for _ in 0..<10_000 { run(p, ticks: 1, motors: [5]); closest = min(closest, abs(wrapAngle(p.state[0]))) }
        #expect(closest > .pi / 2)
        // Pumping energy (u = u_max·sign θ̇ until the energy of the upright
        // position is reached) swings it up within 10 s.
        p.reset(state: SIMD2(.pi, 0.01))
        let target = 2 * 9.81
        var upAt: Int? = nil
        for k in 0..<10_000 {
            let u: Float = p.energy < target ? (p.state[1] >= 0 ? 5 : -5) : 0
            run(p, ticks: 1, motors: [u])
            if abs(wrapAngle(p.state[0])) < 0.2 { upAt = k; break }
        }
        #expect(upAt != nil)
        #expect((upAt ?? .max) > 1000, "cannot be up in under a second with the torque limit")
    }

    @Test func meanAngleWhileUpright() {
        // Without gravity or damping, from upright at 1 rad/s: the angle is t, so
        // |θ| < 10° for the first 174 ticks, whose mean |θ| is 87.5 mrad (5.01°).
        let p = Pendulum(gravity: 0, damping: 0, uprightDegrees: 10)
        p.reset(state: SIMD2(0, 1))
        run(p, ticks: 1000, motors: [0])
        func stat(_ key: String) -> Double { p.statistics().first { $0.key == key }!.value }
        #expect(abs(stat("upright") - 0.174) < 1e-9)
        #expect(abs(stat("mean|angle| upright") - 0.0875 * 180 / .pi) < 1e-9)
        #expect(stat("mean|angle|") > 20, "all ticks: the mean of 0…1 rad")
        p.reset(state: SIMD2(.pi, 0))
        run(p, ticks: 10, motors: [0])
        #expect(stat("mean|angle| upright") == -1, "never upright")
    }

    @Test func rewardIsTheScaledGymnasiumCost() {
        let p = Pendulum()
        p.reset(state: SIMD2(0.5, 0))
        run(p, ticks: 1, motors: [2])
        let theta = wrapAngle(p.state[0]), rate = p.state[1]
        #expect(abs(p.reward - -(theta * theta + 0.1 * rate * rate + 0.001 * 4) * 0.001 / 0.05) < 1e-12)
    }
}

@Suite struct CartPoleTests {
    @Test func frictionlessCartPoleConservesEnergyAndMomentum() {
        let c = CartPole()
        c.reset(state: SIMD4(0, 0, 0.1, 0))
        let e0 = c.energy
        func momentum() -> Double { (c.cartMass + c.poleMass) * c.state[1] + c.poleMass * c.halfLength * c.state[3] * cos(c.state[2]) }
        let p0 = momentum()
        run(c, ticks: 10_000, motors: [0])
        #expect(abs(c.state[2]) > 0.5 || abs(c.state[3]) > 1, "the pole fell and swings")
        #expect(abs(c.energy - e0) / e0 < 1e-8, "relative energy drift \(abs(c.energy - e0) / e0)")
        #expect(abs(momentum() - p0) < 1e-10)
    }

    @Test func fallsWithoutControlInTheKnownTime() {
        // Linearised, θ̈ = g θ / (l (4/3 − m_p/m_t)): θ = 0.1 cosh(3.972 t) reaches
        // 12° at 0.3449 s; the full equations (sin θ < θ, cos² θ < 1) fall a
        // little later.
        let c = CartPole()
        c.reset(state: SIMD4(0, 0, 0.1, 0))
        var steps = 0
        while !c.failed && steps < 10_000 { run(c, ticks: 1, motors: [0]); steps += 1 }
        let linear = acosh(12 * .pi / 180 / 0.1) / (9.8 / (0.5 * (4.0 / 3 - 0.1 / 1.1))).squareRoot()
        #expect(abs(linear - 0.3449) < 0.0001)
        #expect(steps == 346, "failed after \(steps) ms")
        #expect(Double(steps) * 0.001 > linear && Double(steps) * 0.001 < linear + 0.002)
        #expect(abs(c.balancedTime - 0.345) < 1e-12)
        #expect(c.statistics().first { $0.key == "reward" }?.value == 345)
    }

    @Test func positiveForcePushesTheCartAndTipsThePoleBack() {
        let c = CartPole()
        c.reset(state: SIMD4(0, 0, 0, 0))
        run(c, ticks: 100, motors: [10])
        #expect(c.state[0] > 0 && c.state[1] > 0)
        #expect(c.state[2] < 0)
        // At rest upright: ẍ = (F + m_p F / (m_t (4/3 − m_p/m_t))) / m_t.
        let c2 = CartPole(); c2.reset(state: SIMD4(0, 0, 0, 0))
        run(c2, ticks: 1, motors: [2])
        let mt = 1.1, expected = (2 + 0.1 * 2 / (mt * (4.0 / 3 - 0.1 / mt))) / mt
        #expect(abs(c2.state[1] / 0.001 - expected) / expected < 1e-4)
    }

    @Test func failsOnTheTrackLimit() {
        let c = CartPole()
        c.reset(state: SIMD4(2.39, 1, 0, 0))
        run(c, ticks: 20, motors: [0])
        #expect(c.failed)
    }

    @Test func initialStatesAreDeterministicPerSeed() {
        let a = CartPole(), b = CartPole()
        a.reset(seed: 42); b.reset(seed: 42)
        #expect(a.state == b.state)
        b.reset(seed: 43)
        #expect(a.state != b.state)
        var angles: [Double] = []
        for seed in 0..<2000 as Range<UInt64> { a.reset(seed: seed); angles.append(a.state[2]) }
        #expect(angles.allSatisfy { abs($0) < 0.1 })
        #expect(angles.max()! > 0.099 && angles.min()! < -0.099)
        #expect(abs(angles.reduce(0, +) / 2000) < 0.005)
        #expect(a.state[0] == 0 && a.state[1] == 0 && a.state[3] == 0)
        // The same seed and commands give bit-identical trajectories.
        a.reset(seed: 7); b.reset(seed: 7)
        for k in 0..<3000 {
            let f: [Float] = [Float(k % 17) - 8]
            run(a, ticks: 1, motors: f); run(b, ticks: 1, motors: f)
        }
        #expect(a.state == b.state)
    }
}

@Suite struct ParameterTests {
    @Test func unknownParametersAreRefusedWithTheirLocation() throws {
        let p = try SimParameters(yaml: "model: cartpole\npole_mas: 0.2\n", path: "Robots/x.yaml")
        #expect(throws: SimError.self) { try CartPole(parameters: p) }
        do { _ = try CartPole(parameters: p) } catch let e as SimError {
            #expect(e.description.hasPrefix("Robots/x.yaml:2: simulator.pole_mas: unknown parameter"))
        }
        let bad = try SimParameters(yaml: "model: pendulum\nmass: heavy\n", path: "p.yaml")
        do { _ = try Pendulum(parameters: bad); Issue.record("accepted") } catch let e as SimError {
            #expect(e.description == "p.yaml:2: simulator.mass: 'heavy' is not a number (SI units: m, kg, s, N, rad)")
        }
        let good = try SimParameters(yaml: "model: cartpole\npole_mass: 0.2\nfail_angle_deg: 15\n")
        let c = try CartPole(parameters: good)
        #expect(c.poleMass == 0.2 && abs(c.failAngle - 15 * .pi / 180) < 1e-15 && c.cartMass == 1.0)
    }
}
