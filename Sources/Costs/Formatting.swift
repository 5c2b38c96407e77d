/// UTC calendar arithmetic on Unix seconds, without Foundation (Howard Hinnant's civil-date algorithms).
public enum UTCCalendar {
    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day number.
    public static func date(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func dayNumber(_ t: Double) -> Int { Int((t / 86_400).rounded(.down)) }

    public static func startOfDay(_ t: Double) -> Double { Double(dayNumber(t)) * 86_400 }

    public static func startOfMonth(_ t: Double) -> Double {
        let d = date(days: dayNumber(t))
        return Double(days(year: d.year, month: d.month, day: 1)) * 86_400
    }

    /// `YYYY-MM-DD` of the UTC day containing `t`.
    public static func isoDay(_ t: Double) -> String {
        let d = date(days: dayNumber(t))
        return pad(d.year, 4) + "-" + pad(d.month, 2) + "-" + pad(d.day, 2)
    }

    /// `YYYY-MM-DD HH:MM UTC`.
    public static func isoMinute(_ t: Double) -> String {
        let secs = Int(t.rounded(.down)) - dayNumber(t) * 86_400
        return isoDay(t) + " " + pad(secs / 3600, 2) + ":" + pad(secs / 60 % 60, 2) + " UTC"
    }

    /// Midnight UTC of a `YYYY-MM-DD` date; nil when it is not one.
    public static func parseISODay(_ s: String) -> Double? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1
        else { return nil }
        let n = days(year: y, month: m, day: d)
        guard date(days: n) == (y, m, d) else { return nil }  // 2026-02-30
        return Double(n) * 86_400
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// The start of a report window from `--since`: `Nd`, `Nh`, `Nm` before `now`, a `YYYY-MM-DD` date
/// (midnight UTC), or `all`.
public enum SinceParser {
    public static let expected = "Nd, Nh or Nm (e.g. 7d, 12h, 30m), a date YYYY-MM-DD (UTC), or all"

    public static func parse(_ text: String, now: Double) -> Double? {
        let s = text.trimmingSpaces
        if s == "all" { return 0 }
        if let day = UTCCalendar.parseISODay(s) { return day }
        guard let unit = s.last, let n = Int(s.dropLast()), n >= 0, n <= 100_000 else { return nil }
        switch unit {
        case "d": return now - Double(n) * 86_400
        case "h": return now - Double(n) * 3600
        case "m": return now - Double(n) * 60
        default: return nil
        }
    }
}

/// Dollar amounts for people: `$1,234.56`, `$0.50`, `$0.042`, `$0.0012`, `<$0.0001`.
public enum Money {
    public static func format(_ usd: Double) -> String {
        guard usd.isFinite else { return "—" }
        let sign = usd < 0 ? "-" : ""
        let a = abs(usd)
        if a == 0 { return "$0.00" }
        if a >= 0.995 { return sign + "$" + Fixed.format(a, decimals: 2, grouping: true) }
        if a >= 0.1 { return sign + "$" + Fixed.format(a, decimals: 2) }
        if a >= 0.01 { return sign + "$" + Fixed.format(a, decimals: 3) }
        if a >= 0.00005 { return sign + "$" + Fixed.format(a, decimals: 4) }
        return sign + "<$0.0001"
    }
}

/// Token counts for people: `812`, `45.6k`, `1.23M`, `4.56B`.
public enum TokenCount {
    public static func format(_ n: Int) -> String {
        if n < 1000 { return String(n) }
        let units: [(Double, String)] = [(1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")]
        var i = units.lastIndex { Double(n) >= $0.0 } ?? 0
        while true {
            let v = Double(n) / units[i].0
            let decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0
            let text = Fixed.format(v, decimals: decimals)
            if text == "1000", i + 1 < units.count {
                i += 1
                continue
            }
            return text + units[i].1
        }
    }
}

/// Fixed-point decimal formatting (Foundation's String(format:) is not used here).
public enum Fixed {
    public static func format(_ x: Double, decimals: Int, grouping: Bool = false) -> String {
        guard x.isFinite else { return "nan" }
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9.0e18 else { return String(x) }
        let n = UInt64(scaled)
        let ip = n / UInt64(scale), fp = n % UInt64(scale)
        var whole = String(ip)
        if grouping, whole.count > 3 {
            var out = ""
            for (i, c) in whole.enumerated() {
                if i > 0, (whole.count - i) % 3 == 0 { out.append(",") }
                out.append(c)
            }
            whole = out
        }
        let sign = x < 0 && n > 0 ? "-" : ""
        guard decimals > 0 else { return sign + whole }
        let frac = String(fp)
        return sign + whole + "." + String(repeating: "0", count: decimals - frac.count) + frac
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s.removeLast() }
        return String(s)
    }
}
