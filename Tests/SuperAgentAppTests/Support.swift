#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh private directory under /tmp (mkdtemp); `remove()` deletes it and the files written into it.
struct TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/super-agent-app-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw TestSetupError(message: "mkdtemp failed: errno \(errno)") }
        path = String(cString: made)
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    @discardableResult
    func writeFile(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        let fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
        guard fd >= 0 else { throw TestSetupError(message: "cannot create \(file)") }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw TestSetupError(message: "short write to \(file)") }
        return file
    }

    func remove() {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
