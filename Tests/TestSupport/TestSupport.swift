// Helpers shared by the Swift test targets: a private temporary directory, and waiting for an
// outcome without fixed sleeps. Not part of any product.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A test could not set up what it needs (a directory, a file).
public struct TestSetupError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A fresh private directory under /tmp (mkdtemp, mode 0700); `remove()` deletes it and everything in it.
public struct TempDir: Sendable {
    public let path: String

    /// `label` names the directory (`/tmp/super-agent-<label>-XXXXXX`), so a leftover shows whose it is.
    public init(label: String) throws {
        var template = Array("/tmp/super-agent-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw TestSetupError(message: "mkdtemp failed: errno \(errno)") }
        path = String(cString: made)
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes `contents` to `name` inside the directory (mode 0600) and returns its path.
    @discardableResult
    public func writeFile(_ name: String, _ contents: String) throws -> String {
        let file = file(name)
        let fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
        guard fd >= 0 else { throw TestSetupError(message: "cannot create \(file)") }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw TestSetupError(message: "short write to \(file)") }
        return file
    }

    public func remove() { Self.removeTree(path) }

    /// Removes `path` recursively, never following a symbolic link (the link itself is removed).
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if let dir = opendir(path) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if name == "." || name == ".." { continue }
                    removeTree(path + "/" + name)
                }
                closedir(dir)
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Polls `condition` every couple of milliseconds until it holds or `timeout` passes; returns
/// whether it held. Tests wait for outcomes this way instead of sleeping a fixed time.
public func eventually(within timeout: Duration = .seconds(2), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while !(await condition()) {
        if clock.now >= deadline { return await condition() }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return true
}
