#if canImport(Glibc)
import Glibc
#endif
import Runs
import Testing
@testable import Sandbox

/// A fixture tree modelled on the kernel's openat2 selftests:
///
///     base/root/            the only workspace root
///         sub/inner/        directories
///         file.txt, prompt.md ("hello"), big.md (2000 bytes), fifo, zero (char device 1,5)
///         abs-out -> base/outside          rel-out -> ../outside
///         chain1 -> chain2 -> chain3 -> ../outside
///         in-link -> sub/inner             abs-in -> base/root/sub (absolute: refused)
///         loop1 <-> loop2                  proc-link -> /proc/self/root
///         dev-zero -> /dev/zero            secret-link -> ../outside/secret.txt
///         deep-in -> sub/../sub/inner
///     base/outside/secret.txt
///     base/rootlink -> root
final class Fixture: Sendable {
    let dir = TempDir("paths")
    let root: String
    let outside: String
    let hasDevice: Bool

    init() {
        root = dir.sub("root")
        outside = dir.sub("outside")
        makeDir(root)
        makeDir(outside)
        writeFile(outside + "/secret.txt", "secret")
        makeDir(root + "/sub")
        makeDir(root + "/sub/inner")
        writeFile(root + "/file.txt", "file")
        writeFile(root + "/prompt.md", "hello")
        writeFile(root + "/big.md", [UInt8](repeating: 0x61, count: 2000))
        mkfifo(root + "/fifo", 0o644)
        hasDevice = mknod(root + "/zero", S_IFCHR | 0o644, dev_t((1 << 8) | 5)) == 0
        makeLink(outside, at: root + "/abs-out")
        makeLink("../outside", at: root + "/rel-out")
        makeLink("chain2", at: root + "/chain1")
        makeLink("chain3", at: root + "/chain2")
        makeLink("../outside", at: root + "/chain3")
        makeLink("sub/inner", at: root + "/in-link")
        makeLink(root + "/sub", at: root + "/abs-in")
        makeLink("loop2", at: root + "/loop1")
        makeLink("loop1", at: root + "/loop2")
        makeLink("/proc/self/root", at: root + "/proc-link")
        makeLink("/dev/zero", at: root + "/dev-zero")
        makeLink("../outside/secret.txt", at: root + "/secret-link")
        makeLink("sub/../sub/inner", at: root + "/deep-in")
        makeLink("root", at: dir.sub("rootlink"))
    }

    func provider(_ resolution: PathResolution) -> FileWorkspaceProvider {
        FileWorkspaceProvider(roots: [root], scratchDirectory: dir.sub("scratch"), resolution: resolution)
    }

    deinit { dir.remove() }
}

/// What a caller path must come to.
enum Expect: Sendable, CustomStringConvertible {
    case accepted(String)  // canonical path, relative to the root ("" for the root itself)
    case rejected(Kind)

    enum Kind: Sendable { case notAbsolute, containsNUL, tooLong, outside, notFound, notADirectory, notARegularFile, tooLarge, io }

    var description: String {
        switch self {
        case .accepted(let p): "accepted(\(p))"
        case .rejected(let k): "rejected(\(k))"
        }
    }
}

func rejectionKind(_ rejection: PathRejection) -> Expect.Kind {
    switch rejection {
    case .notAbsolute: .notAbsolute
    case .containsNUL: .containsNUL
    case .tooLong: .tooLong
    case .outsideWorkspace: .outside
    case .notFound: .notFound
    case .notADirectory: .notADirectory
    case .notARegularFile: .notARegularFile
    case .tooLarge: .tooLarge
    case .noWorkspaceRoots, .io: .io
    }
}

/// Caller paths, with `@` standing for the root and `#` for the fixture's base directory.
let callerCorpus: [(String, Expect)] = [
    // escapes with ..
    ("@/..", .rejected(.outside)),
    ("@/../outside", .rejected(.outside)),
    ("@/sub/../../outside", .rejected(.outside)),
    ("@/../../../../../../etc", .rejected(.outside)),
    ("/root/../etc", .rejected(.outside)),
    ("/../../etc", .rejected(.outside)),
    ("@/sub/inner/../../../outside/", .rejected(.outside)),
    // doubled separators and dots are fine lexically, escapes are not
    ("@//sub", .accepted("/sub")),
    ("@/./sub/./inner/", .accepted("/sub/inner")),
    ("@//..//..//etc", .rejected(.outside)),
    ("@/sub/..", .accepted("")),
    ("@", .accepted("")),
    ("@/", .accepted("")),
    // encodings are literal names, never decoded
    ("@/%2e%2e/%2e%2e/etc", .rejected(.notFound)),
    ("@/..%2f..%2fetc", .rejected(.notFound)),
    ("@/%2e%2e%2f", .rejected(.notFound)),
    ("@/%c0%ae%c0%ae/outside", .rejected(.notFound)),
    ("@/" + String(decoding: [0xC0, 0xAE, 0xC0, 0xAE], as: UTF8.self) + "/outside", .rejected(.notFound)),
    ("@/..\\..\\outside", .rejected(.notFound)),
    // NUL, relative, overlong
    ("@/sub\u{0}/../../outside", .rejected(.containsNUL)),
    ("\u{0}", .rejected(.containsNUL)),
    ("", .rejected(.notAbsolute)),
    ("sub", .rejected(.notAbsolute)),
    ("./sub", .rejected(.notAbsolute)),
    ("../outside", .rejected(.notAbsolute)),
    ("~/x", .rejected(.notAbsolute)),
    ("/" + String(repeating: "a", count: 5000), .rejected(.tooLong)),
    ("@/" + String(repeating: "a/", count: 2100), .rejected(.tooLong)),
    // symlinks
    ("@/abs-out", .rejected(.outside)),
    ("@/abs-out/", .rejected(.outside)),
    ("@/rel-out", .rejected(.outside)),
    ("@/rel-out/secret.txt", .rejected(.outside)),
    ("@/rel-out/../root", .rejected(.notFound)),  // `..` is lexical: this is @/root, which does not exist
    ("@/chain1", .rejected(.outside)),
    ("@/abs-in", .rejected(.outside)),  // absolute symlinks are refused even when they point inside
    ("@/proc-link", .rejected(.outside)),
    ("@/loop1", .rejected(.io)),
    ("@/in-link", .accepted("/sub/inner")),
    ("@/deep-in", .accepted("/sub/inner")),
    ("#/rootlink/sub", .accepted("/sub")),  // reaches the root through a symlink outside it
    ("#/rootlink/../outside", .rejected(.outside)),
    // not directories, missing
    ("@/file.txt", .rejected(.notADirectory)),
    ("@/file.txt/x", .rejected(.notADirectory)),
    ("@/missing", .rejected(.notFound)),
    ("#/outside", .rejected(.outside)),
    ("/etc", .rejected(.outside)),
]

func expand(_ template: String, _ fixture: Fixture) -> String {
    if template.hasPrefix("@") { return fixture.root + template.dropFirst() }
    if template.hasPrefix("#") { return fixture.dir.path + template.dropFirst() }
    return template
}

@Suite("Caller workspace paths")
struct CallerPathTests {
    @Test("every caller path in the traversal corpus is accepted or rejected as expected", arguments: [PathResolution.openat2, .componentWalk])
    func callerCorpusIsConfined(resolution: PathResolution) {
        let fixture = Fixture()
        let provider = fixture.provider(resolution)
        for (template, expected) in callerCorpus {
            let path = expand(template, fixture)
            let label = "\(template.prefix(60)) (\(resolution))"
            switch (Result { () throws(PathRejection) -> Workspace in try provider.openCaller(path) }, expected) {
            case (.success(let workspace), .accepted(let relative)):
                #expect(workspace.path == fixture.root + relative, "\(label)")
                #expect(workspace.path.hasPrefix(fixture.root), "\(label) escaped to \(workspace.path)")
                #expect(!workspace.isEphemeral)
                workspace.close()
            case (.success(let workspace), .rejected(let kind)):
                Issue.record("\(label): expected \(kind), got a workspace at \(workspace.path)")
                workspace.close()
            case (.failure(let rejection), .accepted):
                Issue.record("\(label): expected acceptance, got \(rejection)")
            case (.failure(let rejection), .rejected(let kind)):
                #expect(rejectionKind(rejection) == kind, "\(label): got \(rejection)")
            }
        }
    }

    @Test("roots are canonicalized and missing roots are dropped with a reason")
    func rootsAreCanonicalized() {
        let fixture = Fixture()
        let provider = FileWorkspaceProvider(
            roots: [fixture.dir.sub("rootlink"), fixture.dir.sub("missing"), fixture.root + "/file.txt", "relative"],
            scratchDirectory: fixture.dir.sub("scratch"))
        #expect(provider.roots == [fixture.root])
        #expect(provider.rejectedRoots.count == 3)
        #expect(provider.rejectedRoots.contains(.notFound(fixture.dir.sub("missing"))))
        #expect(provider.rejectedRoots.contains(.notADirectory(fixture.root + "/file.txt")))
        #expect(provider.rejectedRoots.contains(.notAbsolute("relative")))
    }

    @Test("without roots every caller path is refused with noWorkspaceRoots")
    func noRootsRefusesEverything() {
        let fixture = Fixture()
        let provider = FileWorkspaceProvider(roots: [fixture.dir.sub("missing")], scratchDirectory: fixture.dir.sub("scratch"))
        #expect(throws: PathRejection.noWorkspaceRoots) { try provider.openCaller(fixture.root) }
    }

    @Test("the lexical normalizer applies .. without climbing above / or the start of a relative path")
    func lexicalNormalization() {
        #expect(PathSanitizer.lexicallyNormalized("/a//b/./c/../d/") == "/a/b/d")
        #expect(PathSanitizer.lexicallyNormalized("/../../x") == "/x")
        #expect(PathSanitizer.normalizedComponents("a/../../b") == nil)
        #expect(PathSanitizer.normalizedComponents("a/./b/..")?.joined(separator: "/") == "a")
        #expect(PathSanitizer.split("/rootx/a", under: ["/root"]) == nil)
        #expect(PathSanitizer.split("/root/a", under: ["/root"])?.remainder == "a")
    }

    @Test("a directory swapped for a symlink after the check does not redirect the child")
    func swappedSymlinkDoesNotRedirectChild() async throws {
        let fixture = Fixture()
        let provider = fixture.provider(.auto)
        makeDir(fixture.root + "/ws")
        let workspace = try provider.openCaller(fixture.root + "/ws")
        defer { workspace.close() }
        // Swap: the checked directory moves away and a symlink to outside takes its name.
        #expect(rename(fixture.root + "/ws", fixture.root + "/ws.moved") == 0)
        #expect(makeLink(fixture.outside, at: fixture.root + "/ws"))

        let outcome = await runShell("pwd -P; echo hi > marker", in: workspace)
        #expect(outcome.exit == .exited(0))
        #expect(outcome.out == fixture.root + "/ws.moved\n")
        #expect(readFile(fixture.root + "/ws.moved/marker") == "hi\n")
        #expect(!entryExists(fixture.outside + "/marker"))
    }
}

/// Prompt-file paths: `@` is the root; `base` says whether they are read relative to a workspace
/// opened on `@/sub` (nil: beneath a root).
let promptCorpus: [(path: String, base: Bool, limit: Int, expect: Expect)] = [
    ("@/prompt.md", false, 100, .accepted("hello")),
    ("@/sub", false, 100, .rejected(.notARegularFile)),
    ("@/fifo", false, 100, .rejected(.notARegularFile)),
    ("@/dev-zero", false, 100, .rejected(.outside)),
    ("@/secret-link", false, 100, .rejected(.outside)),
    ("@/../outside/secret.txt", false, 100, .rejected(.outside)),
    ("@/big.md", false, 100, .rejected(.tooLarge)),
    ("@/big.md", false, 2000, .accepted(String(repeating: "a", count: 2000))),
    ("@/missing.md", false, 100, .rejected(.notFound)),
    ("@/file.txt/x", false, 100, .rejected(.notFound)),
    ("@/prompt.md\u{0}", false, 100, .rejected(.containsNUL)),
    ("prompt.md", false, 100, .rejected(.notAbsolute)),
    ("@/%2e%2e/outside/secret.txt", false, 100, .rejected(.notFound)),
    // relative to a base workspace on @/sub
    ("../prompt.md", true, 100, .rejected(.outside)),
    ("inner/../../prompt.md", true, 100, .rejected(.outside)),
    ("@/prompt.md", true, 100, .rejected(.outside)),
    ("@/sub/note.md", true, 100, .accepted("note")),
    ("note.md", true, 100, .accepted("note")),
    ("./inner/../note.md", true, 100, .accepted("note")),
    ("up-link", true, 100, .rejected(.outside)),
    ("", true, 100, .rejected(.notAbsolute)),
]

@Suite("Prompt files")
struct PromptFileTests {
    @Test("every prompt path in the corpus is read or rejected as expected", arguments: [PathResolution.openat2, .componentWalk])
    func promptCorpusIsConfined(resolution: PathResolution) throws {
        let fixture = Fixture()
        writeFile(fixture.root + "/sub/note.md", "note")
        makeLink("../prompt.md", at: fixture.root + "/sub/up-link")
        let provider = fixture.provider(resolution)
        let base = try provider.openCaller(fixture.root + "/sub")
        defer { base.close() }
        for entry in promptCorpus {
            let path = expand(entry.path, fixture)
            let label = "\(entry.path) base=\(entry.base) (\(resolution))"
            let result = Result { () throws(PathRejection) -> [UInt8] in
                try provider.readPromptFile(path, base: entry.base ? base : nil, limit: entry.limit)
            }
            switch (result, entry.expect) {
            case (.success(let bytes), .accepted(let text)):
                #expect(String(decoding: bytes, as: UTF8.self) == text, "\(label)")
            case (.success, .rejected(let kind)):
                Issue.record("\(label): expected \(kind), got the file")
            case (.failure(let rejection), .accepted):
                Issue.record("\(label): expected the file, got \(rejection)")
            case (.failure(let rejection), .rejected(let kind)):
                #expect(rejectionKind(rejection) == kind, "\(label): got \(rejection)")
            }
        }
    }

    @Test("a character device inside the root is refused without being opened for reading")
    func deviceInsideRootIsRefused() throws {
        let fixture = Fixture()
        try #require(fixture.hasDevice, "mknod is not permitted here")
        #expect(throws: PathRejection.notARegularFile(fixture.root + "/zero")) {
            try fixture.provider(.auto).readPromptFile(fixture.root + "/zero", base: nil, limit: 100)
        }
    }

    @Test("a FIFO prompt file is refused at once instead of blocking")
    func fifoDoesNotHang() {
        let fixture = Fixture()
        let start = monotonicMs()
        #expect(throws: PathRejection.notARegularFile(fixture.root + "/fifo")) {
            try fixture.provider(.auto).readPromptFile(fixture.root + "/fifo", base: nil, limit: 100)
        }
        #expect(monotonicMs() - start < 1000)
    }
}

/// SplitMix64: a seeded generator so a failing random path can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Path confinement fuzz")
struct PathFuzzTests {
    @Test("random compositions of hostile components never open anything outside the root, and both resolvers agree")
    func randomPathsStayInside() {
        let fixture = Fixture()
        let kernel = fixture.provider(.openat2)
        let walk = fixture.provider(.componentWalk)
        let pieces = [
            "..", ".", "", "sub", "inner", "abs-out", "rel-out", "chain1", "in-link", "deep-in", "abs-in", "loop1",
            "proc-link", "file.txt", "%2e%2e", "..%2f", "outside", "root", "rootlink", "\u{FFFD}",
        ]
        var rng = SeededGenerator(state: 0x5A4D_B0C5)
        for _ in 0..<1500 {
            let count = Int.random(in: 1...7, using: &rng)
            let tail = (0..<count).map { _ in pieces.randomElement(using: &rng)! }.joined(separator: "/")
            let path = (Bool.random(using: &rng) ? fixture.root : fixture.dir.path) + "/" + tail
            let a = Result { () throws(PathRejection) -> Workspace in try kernel.openCaller(path) }
            let b = Result { () throws(PathRejection) -> Workspace in try walk.openCaller(path) }
            switch (a, b) {
            case (.success(let x), .success(let y)):
                #expect(x.path == fixture.root || x.path.hasPrefix(fixture.root + "/"), "\(path) escaped to \(x.path)")
                #expect(x.path == y.path, "\(path): openat2 \(x.path), walk \(y.path)")
                x.close()
                y.close()
            case (.failure(let x), .failure(let y)):
                #expect(rejectionKind(x) == rejectionKind(y), "\(path): openat2 \(x), walk \(y)")
            case (.success(let x), .failure(let y)):
                Issue.record("\(path): openat2 accepted \(x.path), walk rejected \(y)")
                x.close()
            case (.failure(let x), .success(let y)):
                Issue.record("\(path): walk accepted \(y.path), openat2 rejected \(x)")
                y.close()
            }
        }
    }
}
