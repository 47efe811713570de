/// Memory sizes as systemd writes them: `512M`, `4G`, `1.5G`, `1024K`, plain bytes; base 1024.
public enum ByteSize {
    /// The size in bytes, or nil when `text` is not a size.
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingWhitespace()
        let units: [Character: Double] = ["K": 1024.0, "M": 1048576.0, "G": 1073741824.0, "T": 1099511627776.0]
        var number = Substring(trimmed)
        var factor = 1.0
        if let last = number.last?.uppercased().first, let unit = units[last] {
            factor = unit
            number = number.dropLast()
        } else if number.last == "B" || number.last == "b" {
            number = number.dropLast()
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(number), value > 0 else {
            return nil
        }
        let bytes = (value * factor).rounded()
        // 2^63: anything larger is no memory size, and UInt64(_:) would trap on 2^64 and beyond.
        guard bytes.isFinite, bytes < 9.223372036854775808e18 else { return nil }
        return UInt64(bytes)
    }

    /// `4G`, `512M`, `1.5G`: the largest unit that keeps one decimal at most.
    public static func format(_ bytes: UInt64) -> String {
        let units: [(String, Double)] = [("T", 1099511627776.0), ("G", 1073741824.0), ("M", 1048576.0), ("K", 1024.0)]
        for (suffix, size) in units where Double(bytes) >= size {
            let value = Double(bytes) / size
            let rounded = (value * 10).rounded() / 10
            return rounded == rounded.rounded() ? "\(Int(rounded))\(suffix)" : "\(rounded)\(suffix)"
        }
        return "\(bytes)B"
    }
}
