/// The last `capacity` bytes a terminal wrote, replayed to a client when it (re)attaches.
struct Scrollback: Sendable {
    let capacity: Int
    private var storage: [UInt8] = []
    /// Index of the oldest byte once the ring is full.
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        storage.reserveCapacity(min(self.capacity, 64 * 1024))
    }

    /// Appends output, dropping the oldest bytes past the capacity.
    mutating func append<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard capacity > 0 else { return }
        var bytes = bytes[...]
        if bytes.count >= capacity {
            storage = Array(bytes.suffix(capacity))
            head = 0
            return
        }
        if storage.count < capacity {
            let room = capacity - storage.count
            storage.append(contentsOf: bytes.prefix(room))
            bytes = bytes.dropFirst(room)
        }
        for byte in bytes {
            storage[head] = byte
            head += 1
            if head == capacity { head = 0 }
        }
    }

    /// Everything kept, oldest first, without a leading partial UTF-8 character.
    var contents: [UInt8] {
        let ordered = Array(storage[head...] + storage[..<head])
        let continuation = ordered.prefix(3).prefix { $0 & 0xC0 == 0x80 }.count
        return Array(ordered.dropFirst(continuation))
    }

    var count: Int { storage.count }
}
