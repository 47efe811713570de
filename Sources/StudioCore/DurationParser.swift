/// Parses time spans the way systemd writes them: `90`, `90s`, `5min`, `2h`, `1h 30min`, `500ms`.
public enum DurationParser {
    /// The span in seconds, or nil when `text` is not a time span.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [
            ("ms", 0.001), ("msec", 0.001), ("s", 1), ("sec", 1), ("m", 60), ("min", 60),
            ("h", 3600), ("hr", 3600), ("d", 86400),
        ]
        var total = 0.0
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            if unit.isEmpty {
                total += value
            } else if let factor = units.first(where: { $0.0 == unit })?.1 {
                total += value * factor
            } else {
                return nil
            }
        }
        return total
    }
}
