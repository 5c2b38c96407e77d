import Delegation
import JSON

/// A configuration that cannot be used, with what to fix.
public enum ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(source: String, JSONParseError)
    case invalidValue(key: String, source: String, expected: String)
    case orgChart(source: String, OrgChartError)
    case usage(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read config file \(path): \(reason)"
        case .malformed(let source, let error):
            return "config \(source) is not valid JSON: \(error)"
        case .invalidValue(let key, let source, let expected):
            return "\(key) in \(source) must be \(expected)"
        case .orgChart(let source, let error):
            return "org chart in \(source) rejected: \(error)"
        case .usage(let message):
            return message
        }
    }
}
