import Testing

@testable import RedisStores

@Suite("RedisURL")
struct RedisURLTests {
    @Test(
        "valid URLs",
        arguments: [
            ("redis://localhost", RedisURL(host: "localhost")),
            ("redis://redis.internal:6380", RedisURL(host: "redis.internal", port: 6380)),
            ("redis://:s3cret@10.0.0.5:6379/2", RedisURL(host: "10.0.0.5", port: 6379, password: "s3cret", database: 2)),
            ("redis://app:p%40ss@h/0", RedisURL(host: "h", username: "app", password: "p@ss")),
            ("REDIS://[::1]:7000/", RedisURL(host: "::1", port: 7000)),
            ("  redis://h:1/15  ", RedisURL(host: "h", port: 1, database: 15)),
        ])
    func parsesValid(text: String, expected: RedisURL) throws {
        #expect(try RedisURL(parsing: text) == expected)
    }

    @Test(
        "invalid URLs say what is wrong",
        arguments: [
            ("", "empty"),
            ("localhost:6379", "no scheme"),
            ("http://h:6379", "scheme \"http\""),
            ("rediss://h:6379", "TLS"),
            ("unix:///tmp/redis.sock", "Unix sockets"),
            ("redis://", "host is missing"),
            ("redis://:6379", "host is missing"),
            ("redis://h:0", "port \"0\""),
            ("redis://h:70000", "port \"70000\""),
            ("redis://h:abc", "port \"abc\""),
            ("redis://h:6379/x", "database \"/x\""),
            ("redis://secret@h", ":password or user:password"),
            ("redis://:@h", "password after \":\" is empty"),
            ("redis://:p%zz@h", "percent-encoding"),
            ("redis://h?timeout=1", "query"),
            ("redis://::1:6379", "IPv6"),
            ("redis://[::1:6379", "closing"),
        ])
    func rejectsInvalid(text: String, fragment: String) {
        #expect {
            try RedisURL(parsing: text)
        } throws: { error in
            guard let error = error as? RedisURLError else { return false }
            return error.reason.contains(fragment) && error.description.contains("expected redis://")
        }
    }

    @Test("the password never shows: not in description, not in errors")
    func passwordIsRedacted() throws {
        let url = try RedisURL(parsing: "redis://:hunter2@h:6379/1")
        #expect(url.description == "redis://:***@h:6379/1")
        #expect(!"\(url)".contains("hunter2"))
        #expect(throws: RedisURLError.self) { try RedisURL(parsing: "redis://:hunter2@h:notaport") }
        do {
            _ = try RedisURL(parsing: "redis://:hunter2@h:notaport")
        } catch {
            #expect(!error.description.contains("hunter2"))
            #expect(error.url == "redis://***@h:notaport")
        }
    }
}
