extension Duration {
    /// Whole nanoseconds for monotonic-clock deadlines: 0 for zero or negative durations, clamped to
    /// `UInt64.max / 2` so adding one to a clock reading cannot overflow.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let limit = UInt64.max / 2
        if UInt64(seconds) >= limit / 1_000_000_000 { return limit }
        return UInt64(seconds) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Whole milliseconds, truncated: the unit of every `*_ms` field on the wire and in the config.
    public var milliseconds: Int {
        let (s, atto) = components
        return Int(s) * 1000 + Int(atto / 1_000_000_000_000_000)
    }
}
