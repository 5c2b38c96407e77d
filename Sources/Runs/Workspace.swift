/// A directory a run works in, held open by descriptor so it cannot be swapped after the check.
///
/// `isolated` workspaces are created fresh (0700) and removed by `close()`; a `caller` workspace is
/// only closed.
public final class Workspace: Sendable {
    /// The canonical path (symlinks resolved) at the time of the check, for messages and env.
    public let path: String
    /// An O_DIRECTORY|O_NOFOLLOW descriptor on that directory; the child starts here (fchdir).
    public let descriptor: Int32
    /// True when the directory belongs to the run and is deleted on close.
    public let isEphemeral: Bool
    private let onClose: @Sendable () -> Void

    public init(path: String, descriptor: Int32, isEphemeral: Bool, onClose: @escaping @Sendable () -> Void) {
        self.path = path
        self.descriptor = descriptor
        self.isEphemeral = isEphemeral
        self.onClose = onClose
    }

    /// Closes the descriptor and, for an ephemeral workspace, removes the tree. Call exactly once.
    public func close() { onClose() }
}

/// Why a path was refused; each case reads as an instruction to the caller.
public enum PathRejection: Error, Sendable, Equatable, CustomStringConvertible {
    case notAbsolute(String)
    case containsNUL
    case tooLong(length: Int, limit: Int)
    case outsideWorkspace(path: String, roots: [String])
    case notFound(String)
    case notADirectory(String)
    case notARegularFile(String)
    case tooLarge(path: String, bytes: Int, limit: Int)
    case noWorkspaceRoots
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .notAbsolute(let p): "path \"\(p)\" must be absolute"
        case .containsNUL: "path contains a NUL byte"
        case .tooLong(let n, let limit): "path is \(n) bytes, longer than PATH_MAX (\(limit))"
        case .outsideWorkspace(let p, let roots):
            "path \"\(p)\" resolves outside the workspace roots (\(roots.joined(separator: ", "))); use a directory inside one of them"
        case .notFound(let p): "path \"\(p)\" does not exist"
        case .notADirectory(let p): "path \"\(p)\" is not a directory"
        case .notARegularFile(let p): "path \"\(p)\" is not a regular file"
        case .tooLarge(let p, let n, let limit): "file \"\(p)\" is \(n) bytes, more than the \(limit)-byte limit"
        case .noWorkspaceRoots: "no workspace roots are configured, so caller paths cannot be used"
        case .io(let p, let reason): "cannot use \"\(p)\": \(reason)"
        }
    }
}

/// Turns a request's paths into held-open workspaces and prompt bytes: the security boundary
/// between caller-supplied paths and the filesystem.
public protocol WorkspaceProvider: Sendable {
    /// A fresh private (0700) directory under the pool's scratch area, removed on close.
    func makeIsolated(runID: String) throws(PathRejection) -> Workspace
    /// The caller's directory, after checking it lies inside a workspace root.
    func openCaller(_ path: String) throws(PathRejection) -> Workspace
    /// Reads a prompt file that must resolve to a regular file inside `base` (or, when `base` is nil,
    /// inside a workspace root); relative paths are taken relative to `base`.
    func readPromptFile(_ path: String, base: Workspace?, limit: Int) throws(PathRejection) -> [UInt8]
}
