#if canImport(Glibc)
import Glibc
#endif

/// Deletes a directory tree through descriptors only: never following a symlink the run created
/// (a symlink is unlinked, not entered), whatever the run did to permissions (every directory is
/// made 0700 before it is emptied), and never crossing into another filesystem. Nesting deeper
/// than `maxDepth` is moved up to the top directory and emptied from there, so neither the stack
/// nor the descriptor table grows with a hostile tree's depth.
enum TreeRemover {
    static let maxDepth = 32

    /// Empties the directory open at `top` (any open mode, O_PATH included). Returns the entries
    /// that could not be removed (empty on success).
    @discardableResult
    static func removeContents(of top: Int32) -> [String] {
        guard let topFD = reopenWritable(top) else { return ["."] }
        defer { Sys.close(topFD) }
        var failures: [String] = []
        var spill = 0
        // Spilled subtrees are renamed into `top` and emptied on a later pass.
        var passes = 0
        while passes < 1_000_000 {
            passes += 1
            var moved = false
            empty(topFD, depth: 0, top: topFD, spill: &spill, moved: &moved, failures: &failures)
            if !moved { break }
            failures.removeAll()
        }
        return failures
    }

    /// Removes `name` (a directory in `parent`, not followed if it is a symlink) and everything in
    /// it. Returns the entries that could not be removed (empty on success).
    @discardableResult
    static func removeTree(named name: String, in parent: Int32) -> [String] {
        guard let handle = try? Sys.openat(parent, name, O_PATH | O_NOFOLLOW | O_DIRECTORY) else {
            if (try? Sys.unlinkat(parent, name, 0)) != nil { return [] }
            return [name]
        }
        let failures = removeContents(of: handle)
        Sys.close(handle)
        guard failures.isEmpty else { return failures }
        do {
            try Sys.unlinkat(parent, name, AT_REMOVEDIR)
            return []
        } catch {
            return [name]
        }
    }

    /// A readable, searchable, writable descriptor on the directory `fd` refers to, made 0700.
    private static func reopenWritable(_ fd: Int32) -> Int32? {
        // chmod through the /proc magic link works on an O_PATH descriptor (fchmod does not).
        try? Sys.chmod("/proc/self/fd/\(fd)", 0o700)
        if let own = try? Sys.openat(fd, ".", O_RDONLY | O_DIRECTORY) {
            try? Sys.fchmod(own, 0o700)
            return own
        }
        return nil
    }

    private static func empty(
        _ dir: Int32, depth: Int, top: Int32?, spill: inout Int, moved: inout Bool, failures: inout [String]
    ) {
        guard let names = try? Sys.directoryEntries(dir) else {
            failures.append(".")
            return
        }
        for name in names {
            removeEntry(name, in: dir, depth: depth, top: top, spill: &spill, moved: &moved, failures: &failures)
        }
    }

    private static func removeEntry(
        _ name: String, in dir: Int32, depth: Int, top: Int32?, spill: inout Int, moved: inout Bool,
        failures: inout [String]
    ) {
        // Files, symlinks, FIFOs, sockets and devices: unlink the entry itself.
        do throws(Errno) {
            try Sys.unlinkat(dir, name, 0)
            return
        } catch where error.code == ENOENT {
            return
        } catch where error.code == EISDIR || error.code == EPERM {
            // a directory (Linux reports EISDIR; POSIX allows EPERM)
        } catch {
            failures.append(name)
            return
        }
        if depth >= maxDepth, let top {
            // Too deep: move it up to the top and let a later pass empty it.
            spill += 1
            if (try? Sys.renameat(dir, name, top, ".sa-deep-\(spill)")) != nil {
                moved = true
                return
            }
        }
        // O_PATH|O_NOFOLLOW needs no permission on the directory itself and cannot follow a
        // symlink swapped in since the unlink attempt.
        guard let handle = try? Sys.openat(dir, name, O_PATH | O_NOFOLLOW | O_DIRECTORY) else {
            // Not a directory any more (or gone): one more unlink attempt.
            if (try? Sys.unlinkat(dir, name, 0)) == nil { failures.append(name) }
            return
        }
        // Never cross into another filesystem (a mount the run made): leave it, and the error.
        guard let inner = try? Sys.fstat(handle), let outer = try? Sys.fstat(dir), inner.st_dev == outer.st_dev else {
            Sys.close(handle)
            failures.append(name)
            return
        }
        let sub = reopenWritable(handle)
        Sys.close(handle)
        guard let sub else {
            failures.append(name)
            return
        }
        empty(sub, depth: depth + 1, top: top, spill: &spill, moved: &moved, failures: &failures)
        Sys.close(sub)
        do throws(Errno) {
            try Sys.unlinkat(dir, name, AT_REMOVEDIR)
        } catch where error.code == ENOENT {
        } catch {
            failures.append(name)
        }
    }
}
