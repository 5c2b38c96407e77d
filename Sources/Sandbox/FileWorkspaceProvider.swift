#if canImport(Glibc)
import Glibc
#endif
import Runs

/// Workspaces on the local filesystem: caller directories confined to configured roots, and
/// private scratch directories for isolated runs.
///
/// Every path is opened beneath a root's descriptor with `RESOLVE_BENEATH` (or the equivalent
/// component walk), so the check and the use are the same open: a symlink swapped in later cannot
/// redirect anything already returned.
public final class FileWorkspaceProvider: WorkspaceProvider {
    /// The usable roots, canonical (symlinks resolved), longest first.
    public let roots: [String]
    /// Configured roots that were dropped, with why (missing, not a directory, unreadable).
    public let rejectedRoots: [PathRejection]
    /// Canonical scratch directory for isolated workspaces (created 0700 if missing).
    public let scratchDirectory: String
    /// Why the scratch directory is unusable, if it is (then `makeIsolated` fails with this).
    public let scratchError: PathRejection?

    let sanitizer: PathSanitizer
    let resolver: BeneathResolver

    public init(roots: [String], scratchDirectory: String, resolution: PathResolution = .auto) {
        var usable: [String] = []
        var rejected: [PathRejection] = []
        for root in roots {
            do {
                try PathSanitizer.validate(root)
                guard root.hasPrefix("/") else { throw PathRejection.notAbsolute(root) }
                let canonical: String
                do throws(Errno) { canonical = try Sys.realpath(root) } catch {
                    throw error.code == ENOENT ? PathRejection.notFound(root) : .io(path: root, reason: error.description)
                }
                let st: stat
                do throws(Errno) { st = try Sys.fstatat(AT_FDCWD, canonical, 0) } catch {
                    throw PathRejection.io(path: root, reason: error.description)
                }
                guard st.st_mode & S_IFMT == S_IFDIR else { throw PathRejection.notADirectory(root) }
                if !usable.contains(canonical) { usable.append(canonical) }
            } catch let rejection as PathRejection {
                rejected.append(rejection)
            } catch {
                rejected.append(.io(path: root, reason: "\(error)"))
            }
        }
        self.sanitizer = PathSanitizer(canonicalRoots: usable)
        self.roots = sanitizer.roots
        self.rejectedRoots = rejected
        self.resolver = BeneathResolver(mode: resolution)

        var scratch = scratchDirectory
        var scratchError: PathRejection? = nil
        if !scratchDirectory.hasPrefix("/") {
            scratchError = .notAbsolute(scratchDirectory)
        } else {
            do throws(Errno) {
                try Self.makeDirectories(scratchDirectory)
                scratch = try Sys.realpath(scratchDirectory)
            } catch {
                scratchError = .io(path: scratchDirectory, reason: error.description)
            }
        }
        self.scratchDirectory = scratch
        self.scratchError = scratchError
    }

    // MARK: caller workspaces

    public func openCaller(_ path: String) throws(PathRejection) -> Workspace {
        let (root, remainder) = try sanitizer.locate(path)
        let rootFD = try openRoot(root)
        defer { Sys.close(rootFD) }
        let fd: Int32
        do throws(Errno) {
            fd = try resolver.open(remainder, beneath: rootFD, flags: O_PATH | O_DIRECTORY)
        } catch {
            throw rejection(error, path: path, roots: roots, notDirectory: .notADirectory(path))
        }
        let canonical = (try? Sys.pathOf(fd)) ?? PathSanitizer.lexicallyNormalized(root + "/" + remainder)
        return Workspace(path: canonical, descriptor: fd, isEphemeral: false, onClose: Self.closeOnce(fd))
    }

    // MARK: prompt files

    public func readPromptFile(_ path: String, base: Workspace?, limit: Int) throws(PathRejection) -> [UInt8] {
        let dirFD: Int32
        let remainder: String
        let scope: [String]
        if let base {
            scope = [base.path]
            remainder = try sanitizer.locate(path, inside: base.path)
            do throws(Errno) { dirFD = try Sys.dup(base.descriptor) } catch {
                throw .io(path: path, reason: error.description)
            }
        } else {
            try PathSanitizer.validate(path)
            guard path.hasPrefix("/") else { throw .notAbsolute(path) }
            let located = try sanitizer.locate(path)
            scope = roots
            remainder = located.remainder
            dirFD = try openRoot(located.root)
        }
        defer { Sys.close(dirFD) }

        // First a handle that cannot block or touch a device (O_PATH), to check the type; then the
        // real open, which must land on the very same inode.
        let probe: Int32
        do throws(Errno) { probe = try resolver.open(remainder, beneath: dirFD, flags: O_PATH) } catch {
            throw rejection(error, path: path, roots: scope, notDirectory: .notFound(path))
        }
        let expected: stat
        do throws(Errno) {
            defer { Sys.close(probe) }
            expected = try Sys.fstat(probe)
        } catch {
            throw .io(path: path, reason: error.description)
        }
        guard expected.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path) }
        if Int(expected.st_size) > limit { throw .tooLarge(path: path, bytes: Int(expected.st_size), limit: limit) }

        let fd: Int32
        do throws(Errno) { fd = try resolver.open(remainder, beneath: dirFD, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY) } catch {
            throw rejection(error, path: path, roots: scope, notDirectory: .notFound(path))
        }
        defer { Sys.close(fd) }
        do {
            let st = try Sys.fstat(fd)
            guard st.st_mode & S_IFMT == S_IFREG, st.st_dev == expected.st_dev, st.st_ino == expected.st_ino else {
                throw PathRejection.notARegularFile(path)
            }
        } catch let rejection as PathRejection {
            throw rejection
        } catch {
            throw .io(path: path, reason: "\(error)")
        }
        return try Self.readAll(fd, path: path, limit: limit)
    }

    /// Reads to EOF, refusing more than `limit` bytes (the file may have grown since fstat).
    static func readAll(_ fd: Int32, path: String, limit: Int) throws(PathRejection) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n: Int
            do throws(Errno) { n = try Sys.read(fd, into: &chunk) } catch {
                throw .io(path: path, reason: error.description)
            }
            if n == 0 { return bytes }
            if bytes.count + n > limit { throw .tooLarge(path: path, bytes: bytes.count + n, limit: limit) }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    // MARK: isolated workspaces

    public func makeIsolated(runID: String) throws(PathRejection) -> Workspace {
        if let scratchError { throw scratchError }
        let scratchFD: Int32
        do throws(Errno) { scratchFD = try Sys.open(scratchDirectory, O_RDONLY | O_DIRECTORY) } catch {
            throw .io(path: scratchDirectory, reason: error.description)
        }
        var name = ""
        var created = false
        for _ in 0..<16 {
            name = "run-\(Self.sanitizedRunID(runID))-\(Self.randomSuffix())"
            do throws(Errno) {
                try Sys.mkdirat(scratchFD, name, 0o700)
                created = true
                break
            } catch where error.code == EEXIST {
                continue
            } catch {
                Sys.close(scratchFD)
                throw .io(path: scratchDirectory + "/" + name, reason: error.description)
            }
        }
        guard created else {
            Sys.close(scratchFD)
            throw .io(path: scratchDirectory, reason: "could not create a unique directory")
        }
        let path = scratchDirectory + "/" + name
        let finalName = name
        let fd: Int32
        do throws(Errno) {
            fd = try Sys.openat(scratchFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            try Sys.fchmod(fd, 0o700)  // whatever the umask left
        } catch {
            _ = TreeRemover.removeTree(named: name, in: scratchFD)
            Sys.close(scratchFD)
            throw .io(path: path, reason: error.description)
        }
        let once = OnceFlag()
        let onClose: @Sendable () -> Void = {
            guard once.claim() else { return }
            TreeRemover.removeContents(of: fd)
            // Remove the directory itself only if the name still refers to it (the run could have
            // renamed it away, were the scratch directory writable to it).
            if let ours = try? Sys.fstat(fd), let named = try? Sys.fstatat(scratchFD, finalName, AT_SYMLINK_NOFOLLOW),
                ours.st_dev == named.st_dev, ours.st_ino == named.st_ino
            {
                try? Sys.unlinkat(scratchFD, finalName, AT_REMOVEDIR)
            }
            Sys.close(fd)
            Sys.close(scratchFD)
        }
        return Workspace(path: path, descriptor: fd, isEphemeral: true, onClose: onClose)
    }

    /// The run id reduced to `[A-Za-z0-9._-]`, at most 64 characters (never `.` or `..` alone).
    static func sanitizedRunID(_ runID: String) -> String {
        var out = ""
        for byte in runID.utf8.prefix(64) {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out.append("_")
            }
        }
        return out.isEmpty ? "run" : out
    }

    static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: helpers

    private func openRoot(_ root: String) throws(PathRejection) -> Int32 {
        do throws(Errno) { return try Sys.open(root, O_PATH | O_DIRECTORY) } catch {
            throw .io(path: root, reason: error.description)
        }
    }

    private func rejection(_ error: Errno, path: String, roots: [String], notDirectory: PathRejection) -> PathRejection {
        switch error.code {
        case EXDEV: .outsideWorkspace(path: path, roots: roots)
        case ENOENT: .notFound(path)
        case ENOTDIR: notDirectory
        case ELOOP: .io(path: path, reason: "too many levels of symbolic links, or a /proc magic link")
        case ENAMETOOLONG: .tooLong(length: path.utf8.count, limit: PathSanitizer.pathMax)
        default: .io(path: path, reason: error.description)
        }
    }

    private static func closeOnce(_ fd: Int32) -> @Sendable () -> Void {
        let once = OnceFlag()
        return {
            if once.claim() { Sys.close(fd) }
        }
    }

    /// `mkdir -p` with 0700 for the directories it creates.
    static func makeDirectories(_ path: String) throws(Errno) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            do throws(Errno) { try Sys.mkdir(current, 0o700) } catch where error.code == EEXIST {}
        }
    }
}
