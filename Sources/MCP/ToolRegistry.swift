import JSON

/// The tools a server offers, in registration order.
public struct ToolRegistry: Sendable {
    private var tools: [Tool] = []

    public init(_ tools: [Tool] = []) {
        for t in tools { register(t) }
    }

    /// Adds a tool; a second tool with the same name replaces the first.
    public mutating func register(_ tool: Tool) {
        if let i = tools.firstIndex(where: { $0.name == tool.name }) {
            tools[i] = tool
        } else {
            tools.append(tool)
        }
    }

    public var names: [String] { tools.map(\.name) }

    public func tool(named name: String) -> Tool? { tools.first { $0.name == name } }

    func listing(for version: String) -> JSON {
        .array(tools.map { $0.listing(for: version) })
    }
}
