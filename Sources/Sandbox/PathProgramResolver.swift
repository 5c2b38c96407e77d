#if canImport(Glibc)
import Glibc
#endif
import Runs

/// Resolves a program name through a PATH string as execvp would, but stricter: a name with a
/// `/` must be an absolute path, and empty or relative PATH entries (which execvp takes as the
/// current directory) are skipped. Only executable regular files match.
public struct PathProgramResolver: ProgramResolver {
    public init() {}

    public func resolve(_ name: String, path: String) -> String? {
        guard !name.isEmpty, !name.utf8.contains(0), name.utf8.count < PathSanitizer.pathMax else { return nil }
        if name.contains("/") {
            guard name.hasPrefix("/") else { return nil }
            return Self.isExecutableFile(name) ? name : nil
        }
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) where directory.hasPrefix("/") {
            let candidate = String(directory) + (directory.hasSuffix("/") ? "" : "/") + name
            if Self.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutableFile(_ path: String) -> Bool {
        guard let st = try? Sys.fstatat(AT_FDCWD, path, 0), st.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }
}
