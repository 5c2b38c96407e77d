import JSON
import Testing

/// Parses `text`; a refusal throws, which fails the calling test.
private func parsed(_ text: String) throws -> JSON {
    try JSON.parse(text)
}

/// The parse error for `bytes`, or nil when it parsed.
private func parseError(_ bytes: [UInt8]) -> JSONParseError? {
    do {
        _ = try JSON.parse(bytes)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ text: String) -> JSONParseError? { parseError(Array(text.utf8)) }

/// Serializes and parses back.
private func roundTrip(_ value: JSON) throws -> JSON {
    try JSON.parse(try value.serialized())
}

@Suite("Scalar types stay distinct")
struct ScalarTypeTests {
    @Test func integerLiteralParsesAsInt() throws {
        #expect(try parsed("1") == .int(1))
        #expect(try parsed("-0") == .int(0))
        #expect(try parsed("1").intValue == 1)
    }

    @Test func realWithFractionParsesAsDoubleNotInt() throws {
        let one = try parsed("1.0")
        #expect(one == .double(1.0))
        #expect(one != .int(1))
        #expect(one.intValue == nil)
        #expect(try parsed("1e2") == .double(100))
    }

    @Test func booleansAndNullAreNotNumbers() throws {
        #expect(try parsed("true") == .bool(true))
        #expect(try parsed("false") == .bool(false))
        #expect(try parsed("null") == .null)
        #expect(try parsed("true").intValue == nil)
        #expect(try parsed("false").numberValue == nil)
        #expect(try parsed("null").isNull)
        #expect(try parsed("0").boolValue == nil)
    }

    @Test func mixedArrayKeepsEachElementsType() throws {
        let value = try parsed(#"[1, 1.0, true, null, "1"]"#)
        #expect(value == .array([.int(1), .double(1.0), .bool(true), .null, .string("1")]))
        #expect(value.arrayValue?.map(\.typeName) == ["integer", "number", "boolean", "null", "string"])
    }

    @Test func serializationKeepsIntegersAndRealsApart() throws {
        #expect(JSON.int(1).text == "1")
        #expect(JSON.double(1.0).text == "1.0")
        #expect(try roundTrip(.double(1.0)) == .double(1.0))
        #expect(try roundTrip(.int(1)) == .int(1))
        #expect(try roundTrip(.bool(false)) == .bool(false))
        #expect(try roundTrip(.null) == .null)
    }
}

@Suite("Strings and Unicode")
struct UnicodeTests {
    @Test func escapedNulInsideStringRoundTrips() throws {
        let value = try parsed(#""a\u0000b""#)
        #expect(value == .string("a\u{0}b"))
        #expect(value.stringValue?.utf8.count == 3)
        // The NUL stays escaped on output, and survives a second trip.
        let text = value.text
        #expect(text == #""a\u0000b""#)
        #expect(try roundTrip(value) == value)
    }

    @Test func surrogatePairDecodesToOneScalar() throws {
        let value = try parsed(#""\ud83d\ude00""#)
        #expect(value == .string("😀"))
        #expect(value.stringValue?.unicodeScalars.count == 1)
        #expect(value.stringValue?.unicodeScalars.first?.value == 0x1F600)
    }

    @Test func nonASCIIIsWrittenAsRawUTF8() throws {
        let value: JSON = .string("héllo 😀 日本")
        let bytes = try value.serialized()
        #expect(bytes == Array(#""héllo 😀 日本""#.utf8))
        #expect(!value.text.contains("\\u"))
        #expect(try roundTrip(value) == value)
    }

    @Test func nonASCIIInKeysRoundTrips() throws {
        let value: JSON = ["ключ": "значение", "🔑": 1]
        #expect(try roundTrip(value) == value)
        #expect(value.text == #"{"ключ":"значение","🔑":1}"#)
    }

    @Test func loneHighSurrogateIsRejected() {
        let error = parseError(#""\ud800""#)
        #expect(error != nil)
    }

    @Test func loneLowSurrogateIsRejected() {
        #expect(parseError(#""\udc00""#) != nil)
        // High surrogate followed by something that is not a low surrogate.
        #expect(parseError(#""\ud800\u0041""#) != nil)
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22] as [UInt8],  // never valid in UTF-8
        [0x22, 0xC3, 0x22],  // truncated two-byte sequence
        [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate U+D800
        [0x5B, 0x80, 0x5D],  // stray continuation byte outside a string
    ])
    func invalidUTF8BytesAreRejected(bytes: [UInt8]) {
        #expect(parseError(bytes) != nil)
    }

    @Test func emptyStringRoundTrips() throws {
        #expect(try parsed(#""""#) == .string(""))
        #expect(JSON.string("").text == #""""#)
        #expect(try roundTrip(.string("")) == .string(""))
    }

    @Test func emptyKeyRoundTrips() throws {
        let value = try parsed(#"{"":1}"#)
        #expect(value[""] == .int(1))
        #expect(value.text == #"{"":1}"#)
        let built: JSON = ["": "", "a": ["": []]]
        #expect(try roundTrip(built) == built)
    }

    @Test func nulInsideAnObjectKeyIsRejectedByTheParser() throws {
        // jansson accepts NUL in string values (JSON_ALLOW_NUL) but never in keys.
        let error = try #require(parseError(#"{"a\u0000b":1}"#))
        #expect(error.reason.contains("NUL"))
        #expect(try parsed(#"{"k":"a\u0000b"}"#)["k"] == .string("a\u{0}b"))
    }

    @Test func escapesInStringsRoundTrip() throws {
        let value: JSON = .string("quote\" backslash\\ newline\n tab\t control\u{1}")
        #expect(try roundTrip(value) == value)
    }
}

@Suite("Duplicate keys")
struct DuplicateKeyTests {
    @Test(arguments: [
        #"{"a":1,"a":2}"#,
        #"{"a":1,"a":1}"#,
        #"{"a":1,"b":2,"a":3}"#,
        #"{"x":{"a":1,"a":2}}"#,
        #"[{"a":1},{"b":1,"b":2}]"#,
        #"{"x":[[{"deep":{"k":null,"k":null}}]]}"#,
        #"{"a":1,"\u0061":2}"#,  // same key, spelled with an escape
    ])
    func duplicateKeysAreRejected(document: String) throws {
        let error = try #require(parseError(document))
        #expect(error.reason.contains("duplicate"))
    }

    @Test func sameKeyInSiblingObjectsIsAllowed() throws {
        let value = try parsed(#"[{"a":1},{"a":2}]"#)
        #expect(value.arrayValue?.count == 2)
        #expect(try parsed(#"{"a":{"a":1}}"#)["a"]?["a"] == .int(1))
    }

    @Test func duplicateKeyErrorPointsAtTheSecondKey() throws {
        let error = try #require(parseError("{\"a\":1,\n\"a\":2}"))
        #expect(error.line == 2)
    }
}

@Suite("Parse errors")
struct ParseErrorTests {
    @Test func multiLineDocumentReportsTheLineOfTheError() throws {
        let document = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": tru\n}"
        let error = try #require(parseError(document))
        #expect(error.line == 4)
        // The error is somewhere inside line 4 ("  \"c\": tru").
        #expect(error.column >= 1 && error.column <= 11)
        let line4Start = document.utf8.count - "  \"c\": tru\n}".utf8.count
        #expect(error.position >= line4Start && error.position <= line4Start + 11)
        #expect(error.description.contains("line 4"))
    }

    @Test func errorOnFirstLineReportsLineOne() throws {
        let error = try #require(parseError("[1, 2,, 3]"))
        #expect(error.line == 1)
        #expect(error.column >= 6 && error.column <= 7)
        #expect(error.position >= 6 && error.position <= 7)
        #expect(!error.reason.isEmpty)
    }

    @Test func columnCountsCodePointsAndPositionCountsBytes() throws {
        // "é" is two bytes but one code point; the error is at the same column as with "e".
        let ascii = try #require(parseError(#"["e", x]"#))
        let accented = try #require(parseError(#"["é", x]"#))
        #expect(accented.line == ascii.line)
        #expect(accented.column == ascii.column)
        #expect(accented.position == ascii.position + 1)
    }

    @Test func trailingGarbageIsAnError() {
        #expect(parseError("1 2") != nil)
        #expect(parseError("{} x") != nil)
    }

    @Test func emptyAndWhitespaceOnlyInputAreErrorsNotCrashes() throws {
        let empty = try #require(parseError([UInt8]()))
        #expect(!empty.reason.isEmpty)
        let blank = try #require(parseError("  \n "))
        #expect(!blank.reason.isEmpty)
    }

    @Test func nestingWithinJanssonsLimitParses() throws {
        let depth = 1000
        let document = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try parsed(document)
        var levels = 1
        while let inner = value.arrayValue?.first {
            value = inner
            levels += 1
        }
        #expect(levels == depth)
    }

    @Test(arguments: [5000, 100_000])
    func nestingBeyondJanssonsLimitIsAnErrorNotACrash(depth: Int) throws {
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let error = try #require(parseError(arrays))
        #expect(error.reason.contains("depth"))
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(parseError(objects) != nil)
    }

    @Test func parsesFromASliceOfBytes() throws {
        let bytes = Array("xx[1,2]yy".utf8)
        #expect(try JSON.parse(bytes[2..<7]) == [1, 2])
    }
}

@Suite("Numbers")
struct NumberTests {
    @Test func int64BoundsRoundTrip() throws {
        #expect(try parsed("9223372036854775807") == .int(Int64.max))
        #expect(try parsed("-9223372036854775808") == .int(Int64.min))
        #expect(JSON.int(.max).text == "9223372036854775807")
        #expect(JSON.int(.min).text == "-9223372036854775808")
        #expect(try roundTrip(.int(.max)) == .int(.max))
        #expect(try roundTrip(.int(.min)) == .int(.min))
    }

    @Test(arguments: ["18446744073709551616", "9223372036854775808", "-9223372036854775809"])
    func integersOutsideInt64AreErrors(text: String) throws {
        let error = try #require(parseError(text))
        #expect(error.reason.contains("big") || error.reason.contains("integer"))
    }

    @Test(arguments: [0.1, 1e300, -1e-300, 0.30000000000000004, 1.0 / 3.0, .leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 123456.789])
    func realsRoundTripExactly(value: Double) throws {
        let back = try roundTrip(.double(value))
        #expect(back == .double(value))
        if case .double(let d) = back { #expect(d.bitPattern == value.bitPattern) }
    }

    @Test(arguments: [
        (0.1, "0.1"), (0.25, "0.25"), (600.0, "600.0"), (1.0, "1.0"), (-2.5, "-2.5"), (123456.789, "123456.789"),
        (0.000123, "0.000123"), (1e-05, "1e-5"), (0.30000000000000004, "0.30000000000000004"),
        (1e16, "10000000000000000.0"), (1e300, "1e300"), (6.02e23, "6.02e23"), (1.5e17, "1.5e17"), (0.0, "0.0"), (0.012300000000000001, "0.0123"),
    ])
    func realsAreWrittenWithTheFewestDigitsThatReadBack(value: Double, text: String) throws {
        #expect(JSON.double(value).text == text)
        #expect(try roundTrip(.double(value)) == .double(value))
    }

    @Test func realsNeedingDifferentDigitsInOneMessageAllReadBack() throws {
        // One precision per message: the largest any real needs, so the short ones stay exact too.
        let values: [Double] = [0.1, 1.0 / 3.0, 600.0, 2.5e-7, 0.3]
        let value = JSON.array(values.map { .double($0) })
        #expect(value.text == "[0.1,0.3333333333333333,600.0,2.5e-7,0.3]", "16 digits: %g drops the trailing zeros")
        #expect(try roundTrip(value) == value)
        // 0.30000000000000004 needs all 17 digits, and then 0.1 is written with 17 as well.
        let mixed = JSON.array([.double(0.1), .double(0.1 + 0.2)])
        #expect(mixed.text == "[0.10000000000000001,0.30000000000000004]")
        #expect(try roundTrip(mixed) == mixed)
        #expect(JSON.array([0.1, 0.25, 600.0].map { .double($0) }).text == "[0.1,0.25,600.0]")
        // 2^149 reads back with 14 digits but not with 16, which 1/3 needs: the pair falls back to 17.
        let edge = JSON.array([.double(0x1p149), .double(1.0 / 3.0)])
        let back = try #require(try roundTrip(edge).arrayValue?.compactMap(\.numberValue))
        #expect(back.map(\.bitPattern) == [Double(0x1p149).bitPattern, (1.0 / 3.0).bitPattern])
        #expect(edge.text.contains("0.33333333333333331"), "17 digits: \(edge.text)")
    }

    @Test func randomRealsAndPowersOfTwoReadBackBitForBitAloneAndTogether() throws {
        var generator = SystemRandomNumberGenerator()
        var reals: [Double] = (0..<5_000).compactMap { _ in
            let d = Double(bitPattern: generator.next())
            return d.isFinite ? d : nil
        }
        reals += (-1074...1023).map { Double(sign: .plus, exponent: $0, significand: 1) }
        reals += (0..<2_000).map { _ in (Double.random(in: 0..<1_000, using: &generator) * 100).rounded() / 100 }
        for d in reals {
            let back = try #require(try roundTrip(.double(d)).numberValue)
            #expect(back.bitPattern == d.bitPattern, "\(d) came back as \(back)")
        }
        for start in stride(from: 0, to: reals.count - 5, by: 5) {
            let group = JSON.array(reals[start..<(start + 5)].map { .double($0) })
            #expect(try roundTrip(group) == group, "\(group.text)")
        }
    }

    @Test func realTextParsesToTheSameDouble() throws {
        #expect(try parsed("0.1") == .double(0.1))
        #expect(try parsed("1e300") == .double(1e300))
    }

    @Test func exactIntegerAcceptsIntegralRealsOnly() throws {
        #expect(JSON.double(3.0).exactInteger == 3)
        #expect(JSON.double(-3.0).exactInteger == -3)
        #expect(JSON.double(3.5).exactInteger == nil)
        #expect(JSON.int(3).exactInteger == 3)
        #expect(JSON.string("3").exactInteger == nil)
        #expect(JSON.bool(true).exactInteger == nil)
        #expect(JSON.double(.nan).exactInteger == nil)
        #expect(JSON.double(.infinity).exactInteger == nil)
        #expect(JSON.double(1e300).exactInteger == nil)
        #expect(try parsed("3.0").exactInteger == 3)
        // intValue does not convert reals.
        #expect(JSON.double(3.0).intValue == nil)
    }

    @Test func textNeverFailsAndNonFiniteBecomesNull() {
        #expect(JSON.double(.nan).text == "null")
        #expect(JSON.double(.infinity).text == "null")
        #expect(JSON.double(-.infinity).text == "null")
        #expect(JSON.array([1, .double(.nan), "x"]).text == #"[1,null,"x"]"#)
        #expect(JSON.object(["a": .double(.infinity), "b": 2.5]).text == #"{"a":null,"b":2.5}"#)
    }

    @Test func serializedThrowsForNonFiniteReals() {
        #expect(throws: JSONEncodeError.self) { try JSON.double(.nan).serialized() }
        #expect(throws: JSONEncodeError.self) { try JSON.array([.double(.infinity)]).serialized() }
    }
}

@Suite("Objects")
struct ObjectTests {
    @Test func objectEqualityIgnoresKeyOrder() throws {
        let ab = try parsed(#"{"a":1,"b":[true,null]}"#)
        let ba = try parsed(#"{"b":[true,null],"a":1}"#)
        #expect(ab == ba)
        #expect(Set([ab, ba]).count == 1)
        #expect(ab.hashValue == ba.hashValue)
    }

    @Test func objectsWithDifferentMembersAreNotEqual() throws {
        #expect(try parsed(#"{"a":1}"#) != parsed(#"{"a":1.0}"#))
        #expect(try parsed(#"{"a":1}"#) != parsed(#"{"a":1,"b":1}"#))
        #expect(try parsed(#"{"a":1,"b":1}"#) != parsed(#"{"a":1}"#))
        #expect(try parsed(#"{"a":1}"#) != parsed(#"{"b":1}"#))
    }

    @Test func serializationKeepsInsertionOrder() throws {
        var object = JSONObject()
        object["zeta"] = 1
        object["alpha"] = 2
        object["mid"] = 3
        #expect(JSON.object(object).text == #"{"zeta":1,"alpha":2,"mid":3}"#)
        #expect(object.keys == ["zeta", "alpha", "mid"])
    }

    @Test func parsingKeepsDocumentOrder() throws {
        let document = #"{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9}"#
        let value = try parsed(document)
        #expect(value.objectValue?.keys == ["z", "y", "x", "w", "v", "u", "t", "s", "r"])
        #expect(value.text == document)
    }

    @Test func replacingAMemberKeepsItsPlaceAndNilRemoves() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = "two"
        #expect(JSON.object(object).text == #"{"a":1,"b":"two","c":3}"#)
        object["a"] = nil
        #expect(object.keys == ["b", "c"])
        #expect(object.count == 2)
    }

    @Test func literalWithRepeatedKeyKeepsOneMember() {
        let object = JSONObject([("a", 1), ("a", 2)])
        #expect(object.count == 1)
        #expect(object["a"] == .int(2))
    }

    @Test func nestedStructureRoundTrips() throws {
        let value: JSON = [
            "name": "agent", "n": 42, "ratio": 0.25, "ok": true, "none": nil,
            "list": [1, "two", [3.5], ["k": "v"]],
        ]
        #expect(try roundTrip(value) == value)
        #expect(try parsed(value.text).text == value.text)
    }
}

@Suite("Encoding what cannot be read back")
struct UnreadableEncodingTests {
    @Test func objectKeyContainingNULIsRefusedRatherThanWrittenUnreadable() {
        let value: JSON = ["a\u{0}b": 1]
        #expect(throws: JSONEncodeError.self) { try value.serialized() }
    }
}

@Suite("One-pass serialization")
struct OnePassSerializationTests {
    @Test func newlineTerminatedBytesAreTheSerializationPlusOneNewline() throws {
        let value: JSON = ["jsonrpc": "2.0", "id": 7, "result": ["text": "a \"quoted\" line\nand a second"]]
        let plain = try value.serialized()
        let line = try value.withSerializedBytes(newlineTerminated: true) { Array($0) }
        #expect(line == plain + [0x0A])
        #expect(try value.withSerializedBytes { Array($0) } == plain)
        #expect(!plain.contains(0x0A), "compact output has no raw newline of its own")
    }

    @Test(arguments: [16_381, 16_382, 16_383, 16_384, 16_385])
    func documentsAroundTheScratchBufferSizeSerializeWholeWithAndWithoutTheNewline(size: Int) throws {
        // A string of `size` bytes serializes to size + 2 (its quotes): either side of the 16 KiB scratch
        // buffer, with and without the newline that may or may not still fit.
        let value = JSON.string(String(repeating: "a", count: size - 2))
        let plain = try value.serialized()
        #expect(plain.count == size)
        #expect(plain.first == 0x22 && plain.last == 0x22)
        #expect(try value.withSerializedBytes(newlineTerminated: true) { Array($0) } == plain + [0x0A])
        #expect(try JSON.parse(plain) == value)
    }

    @Test func documentsLargerThanTheScratchBufferRoundTrip() throws {
        // Several times the 16 KiB scratch buffer: measured by the first pass, written by a second.
        let long = String(repeating: "é\"x\\", count: 5_000)
        let value: JSON = ["long": .string(long), "items": .array((0..<2_000).map { .int(Int64($0)) })]
        let bytes = try value.serialized()
        #expect(bytes.count > 30_000)
        #expect(try JSON.parse(bytes) == value)
        #expect(value.text.utf8.count == bytes.count)
    }

    @Test func parsedObjectsKeepEveryMemberInDocumentOrder() throws {
        let value = try JSON.parse(#"{"b":1,"a":{"d":[1,{"e":null}],"c":"x"},"":true}"#)
        #expect(value.objectValue?.keys == ["b", "a", ""])
        #expect(value["a"]?.objectValue?.keys == ["d", "c"])
        #expect(value.text == #"{"b":1,"a":{"d":[1,{"e":null}],"c":"x"},"":true}"#)
    }

    @Test func aRefusedValueThrowsFromWithSerializedBytesWithoutCallingTheBody() {
        var called = false
        #expect(throws: JSONEncodeError.self) {
            try JSON.array([1, .double(.nan)]).withSerializedBytes { _ in called = true }
        }
        #expect(!called)
    }
}
