/// The release of this build, shown by `--version` and sent as `serverInfo.version`.
public enum SuperAgentVersion {
    public static let current = "0.1.0"
}
