extension Duration {
    /// Whole milliseconds, truncated: the unit of every `*_ms` field on the wire and in the config.
    public var milliseconds: Int {
        let (s, atto) = components
        return Int(s) * 1000 + Int(atto / 1_000_000_000_000_000)
    }
}
