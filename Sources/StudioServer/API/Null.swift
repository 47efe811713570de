/// An optional the API writes as `null` when it has no value, instead of leaving its key out as synthesized
/// `Encodable` does (docs/web-api.md: absent figures are `null`, so that clients see every key).
@propertyWrapper
struct Null<Value: Encodable & Equatable>: Encodable, Equatable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
