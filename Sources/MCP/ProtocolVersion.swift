/// The MCP revisions this server speaks, in two eras.
///
/// - Handshake ("legacy") era: `initialize` negotiates a version for the whole stdio session.
/// - Modern era (2026-07-28): no handshake; every request names its version in `params._meta`.
public enum ProtocolVersion {
    /// Revisions reachable through `initialize`, oldest first.
    public static let handshake = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    /// Revisions of the per-request envelope.
    public static let modern = ["2026-07-28"]
    /// Everything, oldest first, as advertised by `server/discover` and in -32022 errors.
    public static let all = handshake + modern

    public static let latestHandshake = handshake.last!
    public static let latestModern = modern.last!

    /// Answers an `initialize` offer: echo a supported version, otherwise the newest we have.
    /// - SeeAlso: MCP 2025-11-25, basic/lifecycle (version negotiation).
    public static func negotiate(_ offered: String?) -> String {
        if let offered, handshake.contains(offered) { return offered }
        return latestHandshake
    }

    /// Whether a handshake revision has the 2025-06-18 additions (`title`, `outputSchema`,
    /// `structuredContent`); older clients get results without them.
    static func hasStructuredTools(_ version: String) -> Bool {
        version >= "2025-06-18"
    }

    /// Whether a handshake revision has tool annotations (2025-03-26 on).
    static func hasToolAnnotations(_ version: String) -> Bool {
        version >= "2025-03-26"
    }
}

/// The `_meta` keys of the modern era's per-request envelope.
/// - SeeAlso: MCP 2026-07-28, RequestMetaObject.
public enum MetaKey {
    public static let protocolVersion = "io.modelcontextprotocol/protocolVersion"
    public static let clientCapabilities = "io.modelcontextprotocol/clientCapabilities"
    public static let clientInfo = "io.modelcontextprotocol/clientInfo"
    public static let logLevel = "io.modelcontextprotocol/logLevel"
    public static let serverInfo = "io.modelcontextprotocol/serverInfo"
    public static let progressToken = "progressToken"
}
