#if canImport(Glibc)
import Glibc
#endif
import Runs

/// Checks caller-supplied paths and maps them onto a workspace root, lexically and without
/// touching the filesystem beyond one `realpath` fallback. It never opens anything: the opening
/// (and the real containment check, done by the kernel) is `BeneathResolver`'s job.
///
/// `..` is resolved lexically (like Go's `filepath.Clean`), so it never climbs back out of a
/// symlinked directory; symlinks are then followed by the kernel beneath the root, and any that
/// leads out of it is refused.
public struct PathSanitizer: Sendable {
    /// PATH_MAX on Linux, counting the terminating NUL: a path may be at most 4095 bytes.
    public static let pathMax = 4096

    /// Canonical (realpath'd) roots, longest first so nested roots match most specifically.
    public let roots: [String]

    public init(canonicalRoots: [String]) {
        self.roots = canonicalRoots.sorted { $0.utf8.count > $1.utf8.count }
    }

    /// Refuses NUL bytes and over-long paths: the checks every path gets before anything else.
    public static func validate(_ path: String) throws(PathRejection) {
        if path.utf8.contains(0) { throw .containsNUL }
        let length = path.utf8.count
        if length >= pathMax { throw .tooLong(length: length, limit: pathMax) }
    }

    /// `path`'s components with empty and `.` components dropped and `..` applied lexically.
    /// Returns nil when a relative path climbs above its start (`a/../../b`). An absolute path
    /// stays at `/` (as the kernel does: `/..` is `/`).
    public static func normalizedComponents(_ path: String) -> [Substring]? {
        let absolute = path.hasPrefix("/")
        var out: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if out.isEmpty {
                    if !absolute { return nil }
                } else {
                    out.removeLast()
                }
            default: out.append(component)
            }
        }
        return out
    }

    /// The lexically normalized form of an absolute path (`/a//b/./c/../d` → `/a/b/d`).
    public static func lexicallyNormalized(_ absolutePath: String) -> String {
        "/" + (normalizedComponents(absolutePath) ?? []).joined(separator: "/")
    }

    /// The root `normalizedPath` lies in, with the remainder below it (`"."` for the root itself).
    public static func split(_ normalizedPath: String, under roots: [String]) -> (root: String, remainder: String)? {
        for root in roots {
            if normalizedPath == root { return (root, ".") }
            let prefix = root == "/" ? "/" : root + "/"
            if normalizedPath.hasPrefix(prefix) {
                return (root, String(normalizedPath.dropFirst(prefix.utf8.count)))
            }
        }
        return nil
    }

    /// Maps an absolute caller path onto one of `roots`: first lexically, then (for a path that
    /// reaches a root through a symlink outside it, such as `/tmp` → `/private/tmp`) through
    /// `realpath`. The remainder must still be opened beneath the root, which is what confines it.
    public func locate(_ path: String) throws(PathRejection) -> (root: String, remainder: String) {
        try Self.validate(path)
        guard path.hasPrefix("/") else { throw .notAbsolute(path) }
        guard !roots.isEmpty else { throw .noWorkspaceRoots }
        if let hit = Self.split(Self.lexicallyNormalized(path), under: roots) { return hit }
        // Not lexically inside a root: it may reach one through a symlink. A path that does not
        // resolve at all is reported as outside, so nothing is learnt about paths outside roots.
        guard let resolved = try? Sys.realpath(path), let hit = Self.split(resolved, under: roots) else {
            throw .outsideWorkspace(path: path, roots: roots)
        }
        return hit
    }

    /// Maps a path onto a directory already open as `base` (canonical path `basePath`): a
    /// relative path is taken relative to it, an absolute one must lie inside it.
    public func locate(_ path: String, inside basePath: String) throws(PathRejection) -> String {
        try Self.validate(path)
        if path.hasPrefix("/") {
            if let hit = Self.split(Self.lexicallyNormalized(path), under: [basePath]) { return hit.remainder }
            guard let resolved = try? Sys.realpath(path), let hit = Self.split(resolved, under: [basePath]) else {
                throw .outsideWorkspace(path: path, roots: [basePath])
            }
            return hit.remainder
        }
        guard !path.isEmpty else { throw .notAbsolute(path) }
        guard let components = Self.normalizedComponents(path) else {
            throw .outsideWorkspace(path: path, roots: [basePath])
        }
        return components.isEmpty ? "." : components.joined(separator: "/")
    }
}
