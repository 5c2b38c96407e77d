import JSON

/// Who this server is, as told to clients in `initialize`, `server/discover` and every modern result.
public struct ServerInfo: Sendable {
    public let name: String
    public let title: String
    public let version: String
    /// Guidance for the model about how to use the server's tools.
    public let instructions: String?

    public init(name: String, title: String, version: String, instructions: String? = nil) {
        self.name = name
        self.title = title
        self.version = version
        self.instructions = instructions
    }

    var implementation: JSON {
        ["name": .string(name), "title": .string(title), "version": .string(version)]
    }
}
