#if canImport(Glibc)
import Glibc
#endif
import Runs
import Testing
@testable import Sandbox

@Suite("Isolated workspaces")
struct IsolatedWorkspaceTests {
    @Test("an isolated workspace is a fresh 0700 directory named after the sanitized run id")
    func isolatedIsPrivate() throws {
        let dir = TempDir("iso")
        defer { dir.remove() }
        let provider = FileWorkspaceProvider(roots: [], scratchDirectory: dir.sub("scratch/pool"))
        let first = try provider.makeIsolated(runID: "../../etc/passwd\u{0}x")
        let second = try provider.makeIsolated(runID: "run-1")
        defer {
            first.close()
            second.close()
        }
        #expect(first.isEphemeral)
        #expect(modeOf(first.descriptor) == 0o700)
        #expect(first.path.hasPrefix(dir.sub("scratch/pool/run-")))
        let name = first.path.split(separator: "/").last.map(String.init) ?? ""
        #expect(!name.contains("/") && !name.contains("\u{0}") && name.hasPrefix("run-.._.._etc_passwd_x-"))
        #expect(first.path != second.path)
        #expect((try? Sys.realpath(first.path)) == first.path)
    }

    @Test("close removes the tree whatever the run left: read-only dirs, FIFOs, and symlinks to outside, which are not followed")
    func closeRemovesHostileTree() async throws {
        let dir = TempDir("iso-rm")
        defer { dir.remove() }
        makeDir(dir.sub("outside"))
        writeFile(dir.sub("outside/keep.txt"), "keep")
        let provider = FileWorkspaceProvider(roots: [], scratchDirectory: dir.sub("scratch"))
        let workspace = try provider.makeIsolated(runID: "hostile")
        let outside = dir.sub("outside")
        let outcome = await runShell(
            """
            mkdir -p ro/sub && echo x > ro/sub/f && chmod 0500 ro/sub && chmod 0000 ro
            ln -s \(outside) escape-dir
            ln -s \(outside)/keep.txt escape-file
            mkdir -p deep/a && ln -s ../../escape-dir deep/a/up
            mkfifo pipe
            chmod 0500 .
            """, in: workspace)
        #expect(outcome.exit == .exited(0), "\(outcome.err)")
        let path = workspace.path
        workspace.close()
        workspace.close()  // a second close is harmless
        #expect(!entryExists(path))
        #expect(readFile(dir.sub("outside/keep.txt")) == "keep")
        #expect(entryExists(outside))
    }

    @Test("removal meets permission bits honestly: unreadable and read-only directories are chmodded, not skipped")
    func removalWithoutPermissionBypass() async throws {
        let dir = TempDir("iso-perm")
        defer { dir.remove() }
        let provider = FileWorkspaceProvider(roots: [], scratchDirectory: dir.sub("scratch"))
        let workspace = try provider.makeIsolated(runID: "perm")
        let outcome = await runShell(
            """
            mkdir -p locked/inner ro && echo x > locked/inner/f && echo y > ro/f
            chmod 0000 locked/inner && chmod 0000 locked && chmod 0500 ro && chmod 0300 .
            """, in: workspace)
        #expect(outcome.exit == .exited(0), "\(outcome.err)")
        let path = workspace.path
        let (bypassed, leftover) = withoutPermissionBypass { () -> (Bool, Bool) in
            let bypassed = canBypassPermissions(path + "/locked")
            workspace.close()
            return (bypassed, entryExists(path))
        }
        #expect(!bypassed, "the test could not drop CAP_DAC_OVERRIDE, so it proves nothing")
        #expect(!leftover)
    }

    @Test("a tree far deeper than the remover's recursion bound is removed")
    func deepTreeIsRemoved() async throws {
        let dir = TempDir("iso-deep")
        defer { dir.remove() }
        let provider = FileWorkspaceProvider(roots: [], scratchDirectory: dir.sub("scratch"))
        let workspace = try provider.makeIsolated(runID: "deep")
        let outcome = await runShell(
            "i=0; while [ $i -lt 300 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done; echo leaf > f", in: workspace)
        #expect(outcome.exit == .exited(0))
        let path = workspace.path
        workspace.close()
        #expect(!entryExists(path))
    }

    @Test("a run in an isolated workspace under landlock can write only there")
    func isolatedUnderLandlock() async throws {
        let dir = TempDir("iso-ll")
        defer { dir.remove() }
        let provider = FileWorkspaceProvider(roots: [], scratchDirectory: dir.sub("scratch"))
        let workspace = try provider.makeIsolated(runID: "ll")
        defer { workspace.close() }
        let outcome = await runShell(
            "echo ok > here.txt && pwd -P; echo no > \(dir.path)/escaped.txt 2>/dev/null; true", in: workspace,
            launcher: PosixProcessLauncher(confinement: .auto))
        #expect(outcome.out == workspace.path + "\n")
        #expect(readFile(workspace.path + "/here.txt") == "ok\n")
        if outcome.confinement == "landlock" {
            #expect(!entryExists(dir.sub("escaped.txt")))
        } else {
            #expect(PosixProcessLauncher.landlockABI == nil)
        }
    }
}

@Suite("Program resolution")
struct ProgramResolverTests {
    @Test("names are looked up through PATH like execvp, skipping empty, relative and non-executable entries")
    func resolvesThroughPath() {
        let dir = TempDir("resolve")
        defer { dir.remove() }
        makeDir(dir.sub("a"))
        makeDir(dir.sub("b"))
        makeDir(dir.sub("b/tool-dir"))
        writeFile(dir.sub("a/tool"), "#!/bin/sh\n")  // not executable
        writeFile(dir.sub("b/tool"), "#!/bin/sh\n")
        chmod(dir.sub("b/tool"), 0o755)
        let resolver = PathProgramResolver()
        #expect(resolver.resolve("tool", path: "::relative:\(dir.sub("a")):\(dir.sub("b"))") == dir.sub("b/tool"))
        #expect(resolver.resolve("tool-dir", path: dir.sub("b")) == nil)
        #expect(resolver.resolve("sh", path: "/nonexistent:/bin") == "/bin/sh")
        #expect(resolver.resolve("definitely-not-a-program-xyz", path: "/usr/bin:/bin") == nil)
        #expect(resolver.resolve("", path: "/bin") == nil)
    }

    @Test("names with a slash must be absolute and executable")
    func slashNames() {
        let dir = TempDir("resolve-slash")
        defer { dir.remove() }
        writeFile(dir.sub("plain"), "not a program")
        let resolver = PathProgramResolver()
        #expect(resolver.resolve("/bin/sh", path: "") == "/bin/sh")
        #expect(resolver.resolve("./sh", path: "/bin") == nil)
        #expect(resolver.resolve("bin/sh", path: "/") == nil)
        #expect(resolver.resolve(dir.sub("plain"), path: "") == nil)
        #expect(resolver.resolve("/bin", path: "") == nil)
        #expect(resolver.resolve("/bin/sh\u{0}x", path: "") == nil)
    }
}
