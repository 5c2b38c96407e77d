#if canImport(Glibc)
import Glibc
#endif

/// How paths are opened beneath a root.
public enum PathResolution: Sendable, Equatable {
    /// openat2 with RESOLVE_BENEATH, falling back to `componentWalk` where the kernel lacks it.
    case auto
    /// Only openat2 (Linux 5.6+); ENOSYS is an error.
    case openat2
    /// The portable fallback: one `openat(O_PATH|O_NOFOLLOW)` per component, symlinks resolved by
    /// hand with the same rules as RESOLVE_BENEATH.
    case componentWalk
}

/// Opens a relative path beneath an open directory, refusing with EXDEV anything that would
/// leave it: `..` above the start, any absolute symlink, or a relative symlink that climbs out.
/// The kernel does the checking (openat2), or the component walk does, on the same descriptors
/// it then returns: there is no gap between check and use.
struct BeneathResolver: Sendable {
    var mode: PathResolution

    /// Symlinks followed before giving up with ELOOP (the kernel's limit).
    static let maxSymlinks = 40

    /// A descriptor for `relative` beneath `dirfd`, opened with `flags` (O_CLOEXEC is added).
    func open(_ relative: String, beneath dirfd: Int32, flags: Int32) throws(Errno) -> Int32 {
        switch mode {
        case .openat2:
            return try Sys.openat2Beneath(dirfd, relative, flags)
        case .componentWalk:
            return try Self.walk(relative, beneath: dirfd, flags: flags)
        case .auto:
            do throws(Errno) {
                return try Sys.openat2Beneath(dirfd, relative, flags)
            } catch where error.code == ENOSYS {
                return try Self.walk(relative, beneath: dirfd, flags: flags)
            }
        }
    }

    /// The component walk. Every component is opened `O_PATH|O_NOFOLLOW` relative to the
    /// descriptor of its parent; a symlink is read through its own descriptor and its target's
    /// components are pushed back onto the work list; `..` pops the stack of held directories and
    /// fails with EXDEV at the start directory.
    static func walk(_ relative: String, beneath root: Int32, flags: Int32) throws(Errno) -> Int32 {
        var pending = Array(relative.split(separator: "/", omittingEmptySubsequences: true).reversed())
        var held: [Int32] = []  // directories below `root`, innermost last; owned
        defer { for fd in held { Sys.close(fd) } }
        var links = 0
        let pathOnly = flags & O_PATH != 0

        while let component = pending.popLast() {
            let current = held.last ?? root
            if component == "." { continue }
            if component == ".." {
                guard let up = held.popLast() else { throw Errno(code: EXDEV) }
                Sys.close(up)
                continue
            }
            let name = String(component)
            let fd = try Sys.openat(current, name, O_PATH | O_NOFOLLOW)
            let st: stat
            do throws(Errno) { st = try Sys.fstat(fd) } catch {
                Sys.close(fd)
                throw error
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                defer { Sys.close(fd) }
                links += 1
                if links > maxSymlinks { throw Errno(code: ELOOP) }
                let target = try Sys.readlinkat(fd, "")
                if target.isEmpty { throw Errno(code: ENOENT) }
                if target.hasPrefix("/") { throw Errno(code: EXDEV) }  // as RESOLVE_BENEATH does
                pending.append(contentsOf: target.split(separator: "/", omittingEmptySubsequences: true).reversed())
            case S_IFDIR:
                held.append(fd)
            default:
                guard pending.isEmpty, flags & O_DIRECTORY == 0 else {
                    Sys.close(fd)
                    throw Errno(code: ENOTDIR)
                }
                if pathOnly { return fd }
                Sys.close(fd)
                // Reopened by name with O_NOFOLLOW: if it was swapped for a symlink meanwhile,
                // this fails with ELOOP rather than following it.
                return try Sys.openat(current, name, flags | O_NOFOLLOW)
            }
        }
        // Ended on a directory: the innermost held one, or the start itself.
        if pathOnly {
            if let last = held.popLast() { return last }
            return try Sys.dup(root)
        }
        return try Sys.openat(held.last ?? root, ".", flags)
    }
}
