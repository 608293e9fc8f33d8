// Messages handed to libzmq without a copy and without an allocation on the
// sending thread, each reused only after libzmq has let go of it.
//
// libzmq copies a message over 33 bytes into a heap block (zmq_send), or
// keeps a pointer to caller memory with no way to learn when it is done with
// it (a "constant" message), or calls a free function when it is done — but
// then allocates a small header for the reference count on the calling
// thread (zmq_msg_init_data). The pool prepares such messages ahead, so the
// loop only fills and sends them. libzmq's free function prepares the slot
// again where it runs (libzmq's I/O thread, or the thread of an inproc peer
// that received it); where that is the sending thread itself (a PUB with no
// subscriber drops the message inside the send), the pool's own thread does
// it, woken once half the pool waits for it.
//
// A prepared message has a fixed size, so every message sent from a pool is
// exactly `messageSize` bytes: the encoder pads (MotorCommand.padding).

import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Fixed-size zero-copy messages for one socket's sending thread.
public final class ReplyPool: @unchecked Sendable {
    /// Every message of the pool is exactly this long.
    public let messageSize: Int
    /// Number of messages; a send finds none ready only when this many are
    /// still inside libzmq (then it copies, see `copies`).
    public let capacity: Int
    /// Sends that found no prepared message and let libzmq copy instead (one
    /// allocation each), since start.
    public var copies: Int64 { copied.load(ordering: .relaxed) }
    private let copied = Atomic<Int64>(0)

    private let storage: UnsafeMutableRawPointer
    private let messages: UnsafeMutablePointer<zmq_msg_t>
    private let slots: UnsafeMutablePointer<Slot>
    /// Bit i of word i / 64: slot i is prepared and may be sent.
    private let ready: UnsafeMutablePointer<Atomic<UInt64>>
    /// Bit i: libzmq released slot i; the pool's thread prepares it again.
    private let released: UnsafeMutablePointer<Atomic<UInt64>>
    private let semaphore: UnsafeMutablePointer<sem_t>
    private let stopping = Atomic<Bool>(false)
    /// Prepared slots not yet taken.
    private let readyCount = Atomic<Int>(0)
    /// Released slots left to the pool's thread and not yet signalled.
    private let deferred = Atomic<Int>(0)
    /// The thread that sends (set at its first send).
    private let sender = Atomic<UInt>(0)
    private var thread = pthread_t()
    private var next = 0
    private var words: Int { (capacity + 63) / 64 }

    struct Slot {
        let pool: Unmanaged<ReplyPool>
        let index: Int
    }

    /// A pool of `capacity` messages of `messageSize` bytes (both fixed for
    /// its life). Allocates everything and prepares every message now.
    public init(messageSize: Int, capacity: Int = 256) {
        precondition(messageSize > 0 && capacity > 0)
        self.messageSize = messageSize
        self.capacity = capacity
        let words = (capacity + 63) / 64
        storage = .allocate(byteCount: messageSize * capacity, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: messageSize * capacity)
        messages = .allocate(capacity: capacity)
        messages.initialize(repeating: zmq_msg_t(), count: capacity)
        ready = .allocate(capacity: words)
        released = .allocate(capacity: words)
        for w in 0..<words {
            (ready + w).initialize(to: Atomic(0))
            (released + w).initialize(to: Atomic(0))
        }
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        slots = .allocate(capacity: capacity)
        let pool = Unmanaged.passUnretained(self)
        for i in 0..<capacity { (slots + i).initialize(to: Slot(pool: pool, index: i)) }
        for i in 0..<capacity { prepare(i) }
        let started = pthread_create(&thread, nil, { context in
            let pool = Unmanaged<ReplyPool>.fromOpaque(context!).takeRetainedValue()
            pool.refill()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(started == 0, "cannot start the reply pool's thread (errno \(started))")
    }

    // Runs once the pool's thread has ended: every message is closed.
    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
        slots.deallocate()
        ready.deinitialize(count: words).deallocate()
        released.deinitialize(count: words).deallocate()
        messages.deallocate()
        storage.deallocate()
    }

    /// Stops the pool's thread once every message sent has come back from
    /// libzmq (close the sockets first). The pool is freed after that.
    public func close() {
        stopping.store(true, ordering: .releasing)
        sem_post(semaphore)
    }

    /// The bytes of slot `index`.
    @inline(__always)
    private func bytes(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + index * messageSize, count: messageSize)
    }

    /// Allocates libzmq's header for slot `index` (on the pool's thread, or in init).
    private func prepare(_ index: Int) {
        let rc = zmq_msg_init_data(messages + index, storage + index * messageSize, messageSize, { _, hint in
            let slot = hint!.assumingMemoryBound(to: ReplyPool.Slot.self).pointee
            slot.pool.takeUnretainedValue().released(slot.index)
        }, slots + index)
        precondition(rc == 0, "zmq_msg_init_data failed")
        readyCount.add(1, ordering: .relaxed)
        ready[index / 64].bitwiseOr(1 << UInt64(index % 64), ordering: .releasing)
        if stopping.load(ordering: .acquiring) { sem_post(semaphore) }  // to be closed
    }

    /// libzmq let go of slot `index` (its free function, on any thread).
    private func released(_ index: Int) {
        let onSender = UInt(pthread_self()) == sender.load(ordering: .relaxed)
        if !onSender && !stopping.load(ordering: .acquiring) {
            prepare(index)
            return
        }
        released[index / 64].bitwiseOr(1 << UInt64(index % 64), ordering: .releasing)
        let waiting = deferred.add(1, ordering: .relaxed).newValue
        if waiting >= capacity / 2 || readyCount.load(ordering: .relaxed) < capacity / 2 || stopping.load(ordering: .relaxed) {
            deferred.store(0, ordering: .relaxed)
            sem_post(semaphore)
        }
    }

    private func refill() {
        var outstanding = capacity
        while true {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            let stop = stopping.load(ordering: .acquiring)
            for w in 0..<words {
                var bits = released[w].exchange(0, ordering: .acquiring)
                while bits != 0 {
                    let i = w * 64 + bits.trailingZeroBitCount
                    bits &= bits - 1
                    if stop { outstanding -= 1 } else { prepare(i) }
                }
            }
            if stop {
                // Prepared messages are closed here; their free function
                // marks them released, counted on a later pass.
                for w in 0..<words {
                    var bits = ready[w].exchange(0, ordering: .acquiring)
                    while bits != 0 {
                        let i = w * 64 + bits.trailingZeroBitCount
                        bits &= bits - 1
                        zmq_msg_close(messages + i)
                        messages[i] = zmq_msg_t()
                    }
                }
                if outstanding == 0 { return }
            }
        }
    }

    /// Fills a message with `fill` (given exactly `messageSize` bytes) and
    /// sends it on `socket`. Returns false when the message could not be
    /// queued now (EAGAIN with `.dontWait`).
    @discardableResult
    public func send(on socket: borrowing ZMQSocket, _ wait: ZMQWait = .dontWait,
                     fill: (UnsafeMutableRawBufferPointer) -> Void) throws -> Bool {
        guard let index = take() else {
            // Every message is still inside libzmq: copy this one.
            copied.add(1, ordering: .relaxed)
            return try withUnsafeTemporaryAllocation(byteCount: messageSize, alignment: 16) { buffer in
                fill(buffer)
                return try socket.send(UnsafeRawBufferPointer(buffer), wait)
            }
        }
        fill(bytes(index))
        // Sent from a copy: once it is sent, libzmq's free function may
        // prepare the slot again on another thread, while a send still
        // writes to the message it was given.
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        zmq_msg_move(&message, messages + index)
        let sent = try socket.send(message: &message, wait)
        if !sent {
            zmq_msg_move(messages + index, &message)
            readyCount.add(1, ordering: .relaxed)
            ready[index / 64].bitwiseOr(1 << UInt64(index % 64), ordering: .releasing)
        }
        return sent
    }

    /// Claims a prepared slot, starting after the last one used.
    @inline(__always)
    private func take() -> Int? {
        if sender.load(ordering: .relaxed) == 0 { sender.store(UInt(pthread_self()), ordering: .relaxed) }
        for k in 0..<words {
            let w = (next / 64 + k) % words
            let bits = ready[w].load(ordering: .acquiring)
            if bits == 0 { continue }
            let i = w * 64 + bits.trailingZeroBitCount
            ready[w].bitwiseAnd(~(1 << UInt64(i % 64)), ordering: .acquiring)
            readyCount.subtract(1, ordering: .relaxed)
            next = (i + 1) % capacity
            return i
        }
        return nil
    }
}
