// The 2-D world of the differential-drive robot: a rectangular walled arena
// centred on the origin, circular and axis-aligned box obstacles, ray casts
// (range sensors) and disc collisions (the robot's body).

public struct Circle: Sendable, Equatable {
    public var x: Double, y: Double, radius: Double
    public init(x: Double, y: Double, radius: Double) { self.x = x; self.y = y; self.radius = radius }
}

/// An axis-aligned box.
public struct Box: Sendable, Equatable {
    public var minX: Double, minY: Double, maxX: Double, maxY: Double
    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.minX = minX; self.minY = minY; self.maxX = maxX; self.maxY = maxY
    }
}

public struct Arena: Sendable, Equatable {
    /// Walls at x = ±halfWidth, y = ±halfHeight.
    public var halfWidth: Double, halfHeight: Double
    public var circles: [Circle]
    public var boxes: [Box]

    public init(width: Double, height: Double, circles: [Circle] = [], boxes: [Box] = []) {
        halfWidth = width / 2; halfHeight = height / 2; self.circles = circles; self.boxes = boxes
    }

    /// Distance along the unit direction (dx, dy) from (ox, oy) to the first
    /// wall or obstacle, at most `maxRange`; 0 when the origin is inside an obstacle.
    public func castRay(x ox: Double, y oy: Double, dx: Double, dy: Double, maxRange: Double) -> Double {
        var best = maxRange
        // Walls: the ray leaves the arena's interior.
        if dx > 0 { best = min(best, (halfWidth - ox) / dx) } else if dx < 0 { best = min(best, (-halfWidth - ox) / dx) }
        if dy > 0 { best = min(best, (halfHeight - oy) / dy) } else if dy < 0 { best = min(best, (-halfHeight - oy) / dy) }
        best = max(best, 0)
        for c in circles {
            let px = ox - c.x, py = oy - c.y
            let b = px * dx + py * dy
            let cc = px * px + py * py - c.radius * c.radius
            if cc <= 0 { return 0 }
            let disc = b * b - cc
            if disc < 0 || b > 0 { continue }  // missed, or the circle is behind
            let t = -b - disc.squareRoot()
            if t < best { best = t }
        }
        for box in boxes {
            // Slab method.
            var tNear = -Double.infinity, tFar = Double.infinity
            if dx != 0 {
                let t1 = (box.minX - ox) / dx, t2 = (box.maxX - ox) / dx
                tNear = max(tNear, min(t1, t2)); tFar = min(tFar, max(t1, t2))
            } else if ox < box.minX || ox > box.maxX { continue }
            if dy != 0 {
                let t1 = (box.minY - oy) / dy, t2 = (box.maxY - oy) / dy
                tNear = max(tNear, min(t1, t2)); tFar = min(tFar, max(t1, t2))
            } else if oy < box.minY || oy > box.maxY { continue }
            if tNear > tFar || tFar < 0 { continue }
            if tNear <= 0 { return 0 }  // inside the box
            if tNear < best { best = tNear }
        }
        return best
    }

    /// Moves a disc of `radius` at (x, y) out of every wall and obstacle it
    /// overlaps (along the shortest way out); returns whether it overlapped.
    public func resolve(x: inout Double, y: inout Double, radius r: Double) -> Bool {
        var hit = false
        for _ in 0..<3 {  // a push out of one thing can push into another
            var moved = false
            if x < -halfWidth + r { x = -halfWidth + r; moved = true }
            if x > halfWidth - r { x = halfWidth - r; moved = true }
            if y < -halfHeight + r { y = -halfHeight + r; moved = true }
            if y > halfHeight - r { y = halfHeight - r; moved = true }
            for c in circles {
                let px = x - c.x, py = y - c.y
                let d2 = px * px + py * py, reach = r + c.radius
                if d2 < reach * reach {
                    let d = d2.squareRoot()
                    if d > 1e-12 { x = c.x + px / d * reach; y = c.y + py / d * reach } else { x = c.x + reach }
                    moved = true
                }
            }
            for b in boxes {
                let qx = min(max(x, b.minX), b.maxX), qy = min(max(y, b.minY), b.maxY)
                let px = x - qx, py = y - qy
                let d2 = px * px + py * py
                if d2 >= r * r { continue }
                moved = true
                if d2 > 1e-24 {
                    let d = d2.squareRoot()
                    x = qx + px / d * r; y = qy + py / d * r
                } else {
                    // Centre inside the box: out through the nearest face.
                    let left = x - b.minX, right = b.maxX - x, down = y - b.minY, up = b.maxY - y
                    let m = min(left, right, down, up)
                    if m == left { x = b.minX - r } else if m == right { x = b.maxX + r }
                    else if m == down { y = b.minY - r } else { y = b.maxY + r }
                }
            }
            if !moved { break }
            hit = true
        }
        return hit
    }

    /// Distance from (x, y) to the nearest wall or obstacle surface (negative inside one).
    public func clearance(x: Double, y: Double) -> Double {
        var d = min(x + halfWidth, halfWidth - x, y + halfHeight, halfHeight - y)
        for c in circles {
            let px = x - c.x, py = y - c.y
            d = min(d, (px * px + py * py).squareRoot() - c.radius)
        }
        for b in boxes {
            let qx = min(max(x, b.minX), b.maxX), qy = min(max(y, b.minY), b.maxY)
            let px = x - qx, py = y - qy
            let outside = (px * px + py * py).squareRoot()
            if outside > 0 { d = min(d, outside) } else {
                d = min(d, -min(x - b.minX, b.maxX - x, y - b.minY, b.maxY - y))
            }
        }
        return d
    }
}
