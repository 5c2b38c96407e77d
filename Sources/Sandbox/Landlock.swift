#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// How a launcher confines what a child may write.
public enum Confinement: Sendable, Equatable {
    /// Landlock when the kernel has it, otherwise none.
    case auto
    /// Landlock or nothing: a run fails with `.spawnFailed` where Landlock is unavailable.
    case landlock
    /// No confinement; the child writes wherever its user may.
    case none
}

/// Write confinement with Landlock, applied in the child only (see `sa_spawn`): reading and
/// executing stay allowed everywhere; creating, writing, truncating, renaming and deleting are
/// allowed beneath the workspace and the extra writable paths, and writing to a few harmless
/// device files. From ABI 6 the child also cannot signal processes outside its own domain.
enum Landlock {
    /// The kernel's Landlock ABI version, or nil where Landlock is missing or disabled.
    static let abi: Int32? = {
        let version = sa_landlock_abi()
        return version >= 1 ? version : nil
    }()

    /// Device files a confined child may still write (opened by path, skipped when missing).
    static let writableDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom"]

    /// A ruleset descriptor (close-on-exec) for a child working in `workspace`.
    static func ruleset(abi: Int32, workspace: Int32, writablePaths: [String]) throws(Errno) -> Int32 {
        let directoryAccess = sa_landlock_fs_write_access(abi)
        let fileAccess = sa_landlock_fs_file_write_access(abi)
        let ruleset = try Sys.retrying { sa_landlock_create_ruleset(directoryAccess, sa_landlock_scopes(abi)) }
        do throws(Errno) {
            _ = try Sys.retrying { sa_landlock_allow_path(ruleset, workspace, directoryAccess) }
            for path in writablePaths {
                let fd = try Sys.open(path, O_PATH)
                defer { Sys.close(fd) }
                let isDirectory = try Sys.fstat(fd).st_mode & S_IFMT == S_IFDIR
                _ = try Sys.retrying { sa_landlock_allow_path(ruleset, fd, isDirectory ? directoryAccess : fileAccess) }
            }
            for device in writableDevices {
                guard let fd = try? Sys.open(device, O_PATH) else { continue }
                defer { Sys.close(fd) }
                _ = try Sys.retrying { sa_landlock_allow_path(ruleset, fd, fileAccess) }
            }
            return ruleset
        } catch {
            Sys.close(ruleset)
            throw error
        }
    }
}
