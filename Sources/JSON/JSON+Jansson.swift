import CJansson

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a document could not be read as JSON, with where it went wrong.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line of the error, as jansson counts it.
    public let line: Int
    /// 1-based column (in Unicode code points) of the error.
    public let column: Int
    /// 0-based byte offset of the error.
    public let position: Int
    /// jansson's own account ("duplicate object key", "invalid token", ...).
    public let reason: String

    public var description: String {
        "\(reason) at line \(line), column \(column) (byte \(position))"
    }
}

/// A value jansson refused to encode (invalid UTF-8 cannot come from Swift strings, so this is a
/// non-finite real or an allocation failure).
public struct JSONEncodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

extension JSON {
    /// Parses one JSON document of any type from UTF-8 bytes.
    ///
    /// Duplicate keys are always rejected (a document with two `"id"` members has no single meaning),
    /// `\u0000` is accepted inside strings, and integers stay integers.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSON {
        let flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL
        var error = json_error_t()
        let root: UnsafeMutablePointer<json_t>? =
            bytes.withContiguousStorageIfAvailable { buf in
                buf.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, Int(flags), &error) }
            } ?? Array(bytes).withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, Int(flags), &error) }
            }
        guard let root else {
            let reason = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw JSONParseError(
                line: Int(error.line), column: Int(error.column), position: Int(error.position), reason: reason)
        }
        defer { json_decref(root) }
        return JSON(jansson: root)
    }

    /// Parses a JSON document held in a String.
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try parse(Array(text.utf8))
    }

    /// Compact UTF-8 serialization (non-ASCII is written as UTF-8; `\u0000` stays escaped).
    public func serialized() throws(JSONEncodeError) -> [UInt8] {
        try withSerializedBytes { Array($0) }
    }

    /// Serializes into a scratch buffer and hands the bytes to `body` (valid only during the call),
    /// optionally followed by one newline: a message line ready for `write(2)`. One jansson pass for
    /// messages up to 16 KiB (nearly all); a larger one is measured by that pass and written by a second.
    public func withSerializedBytes<R>(newlineTerminated: Bool = false, _ body: (UnsafeRawBufferPointer) -> R)
        throws(JSONEncodeError) -> R
    {
        var reals = RealPrecision()
        guard let root = makeJansson(&reals) else {
            throw JSONEncodeError(reason: "value cannot be encoded as JSON (an object key containing NUL, a non-finite number, or out of memory)")
        }
        defer { json_decref(root) }
        let flags = Int(Self.dumpFlags | (reals.digits << 11))  // JSON_REAL_PRECISION(digits)
        let extra = newlineTerminated ? 1 : 0
        let result: R? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16 * 1024) { scratch in
            let size = json_dumpb(root, scratch.baseAddress, scratch.count, flags)
            if size == 0 { return nil }
            if size + extra <= scratch.count {
                if newlineTerminated { scratch[size] = 0x0A }
                return body(UnsafeRawBufferPointer(start: scratch.baseAddress, count: size + extra))
            }
            guard let big = malloc(size + extra)?.assumingMemoryBound(to: CChar.self) else { return nil }
            defer { free(big) }
            guard json_dumpb(root, big, size, flags) == size else { return nil }
            if newlineTerminated { big[size] = 0x0A }
            return body(UnsafeRawBufferPointer(start: big, count: size + extra))
        }
        guard let result else { throw JSONEncodeError(reason: "out of memory serializing the message") }
        return result
    }

    /// Compact, keys in insertion order; reals get the precision `RealPrecision` picks.
    private static let dumpFlags = JSON_COMPACT | JSON_ENCODE_ANY

    /// Compact serialization as a String; non-finite reals become `null` so this never fails.
    public var text: String {
        if let s = try? withSerializedBytes({ String(decoding: $0, as: UTF8.self) }) { return s }
        return (try? sanitizedForEncoding().withSerializedBytes { String(decoding: $0, as: UTF8.self) }) ?? "null"
    }

    /// Replaces NaN and infinities, which JSON cannot carry, with null.
    private func sanitizedForEncoding() -> JSON {
        switch self {
        case .double(let d) where !d.isFinite: return .null
        case .array(let a): return .array(a.map { $0.sanitizedForEncoding() })
        case .object(let o): return .object(JSONObject(o.pairs.map { ($0.key, $0.value.sanitizedForEncoding()) }))
        default: return self
        }
    }

    // MARK: - Conversion to and from jansson trees

    private init(jansson node: UnsafeMutablePointer<json_t>) {
        switch sa_json_type(node) {
        case Int32(JSON_OBJECT.rawValue):
            // jansson already refused duplicate keys, so members are appended without a lookup.
            var pairs: [(key: String, value: JSON)] = []
            pairs.reserveCapacity(json_object_size(node))
            var iter = json_object_iter(node)
            while let it = iter {
                let keyPtr = UnsafeRawPointer(json_object_iter_key(it)!).assumingMemoryBound(to: UInt8.self)
                let key = String(decoding: UnsafeBufferPointer(start: keyPtr, count: json_object_iter_key_len(it)), as: UTF8.self)
                pairs.append((key, JSON(jansson: json_object_iter_value(it)!)))
                iter = json_object_iter_next(node, it)
            }
            self = .object(JSONObject(uniqueKeyedPairs: pairs))
        case Int32(JSON_ARRAY.rawValue):
            let n = json_array_size(node)
            var items: [JSON] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(JSON(jansson: json_array_get(node, i)!)) }
            self = .array(items)
        case Int32(JSON_STRING.rawValue):
            let bytes = UnsafeRawPointer(json_string_value(node)!).assumingMemoryBound(to: UInt8.self)
            self = .string(String(decoding: UnsafeBufferPointer(start: bytes, count: json_string_length(node)), as: UTF8.self))
        case Int32(JSON_INTEGER.rawValue):
            self = .int(Int64(json_integer_value(node)))
        case Int32(JSON_REAL.rawValue):
            self = .double(json_real_value(node))
        case Int32(JSON_TRUE.rawValue):
            self = .bool(true)
        case Int32(JSON_FALSE.rawValue):
            self = .bool(false)
        default:
            self = .null
        }
    }

    /// Builds a new jansson tree (caller owns the reference), or nil on allocation failure or a
    /// non-finite real.
    private func makeJansson(_ reals: inout RealPrecision) -> UnsafeMutablePointer<json_t>? {
        switch self {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .int(let i): return json_integer(json_int_t(i))
        case .double(let d):
            reals.include(d)
            return json_real(d)
        case .string(var s):
            if s.isEmpty { return json_string_nocheck("") }
            return s.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count) }
            }
        case .array(let items):
            guard let arr = json_array() else { return nil }
            for item in items {
                guard let child = item.makeJansson(&reals), json_array_append_new(arr, child) == 0 else {
                    json_decref(arr)
                    return nil
                }
            }
            return arr
        case .object(let object):
            guard let obj = json_object() else { return nil }
            for (key, value) in object.pairs {
                guard let child = value.makeJansson(&reals) else {
                    json_decref(obj)
                    return nil
                }
                var k = key
                let rc = k.withUTF8 { buf -> Int32 in
                    guard let base = buf.baseAddress, buf.count > 0 else { return json_object_setn_new_nocheck(obj, "", 0, child) }
                    // jansson cannot read a NUL inside a key back, so never write one.
                    guard memchr(base, 0, buf.count) == nil else {
                        json_decref(child)
                        return -1
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                        json_object_setn_new_nocheck(obj, $0, buf.count, child)
                    }
                }
                if rc != 0 {
                    json_decref(obj)
                    return nil
                }
            }
            return obj
        }
    }
}

/// The significant digits a message's reals are written with: the fewest with which every one of them
/// reads back as the same double, so 0.1 is written `0.1` rather than `0.10000000000000001`.
///
/// jansson takes one precision per dump (`%.<digits>g`), so this is the largest that any real in the
/// message needs, checked against all of them (17 always round-trips).
struct RealPrecision {
    private(set) var digits: Int32 = 1
    private var reals: [Double] = []

    mutating func include(_ d: Double) {
        guard d.isFinite else { return }  // refused by jansson anyway
        reals.append(d)
        var p = max(digits, Self.estimate(d))
        while p < 17, !Self.roundTrips(d, p) { p += 1 }
        if p > digits {
            digits = p
            // A larger precision can, rarely (next to a power of two), stop an earlier real reading back.
            if !reals.allSatisfy({ Self.roundTrips($0, p) }) { digits = 17 }
        }
    }

    /// The shortest round-trip digit count Swift prints, and at least the integer digits (so `%g`
    /// does not switch 600.0 to `6e+02`).
    private static func estimate(_ d: Double) -> Int32 {
        var significant: Int32 = 0
        var pendingZeros: Int32 = 0
        var integerDigits: Int32 = 0
        var inInteger = true
        var seenNonZero = false
        var exponent: Int32 = 0
        var exponentSign: Int32 = 1
        var inExponent = false
        for c in d.magnitude.description.utf8 {
            switch c {
            case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true; inInteger = false
            case UInt8(ascii: "-") where inExponent: exponentSign = -1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int32(c - UInt8(ascii: "0"))
                if inExponent { exponent = exponent * 10 + digit; continue }
                if inInteger, seenNonZero || digit != 0 { integerDigits += 1 }
                if digit == 0 {
                    if seenNonZero { pendingZeros += 1 }
                } else {
                    seenNonZero = true
                    significant += pendingZeros + 1
                    pendingZeros = 0
                }
            case UInt8(ascii: "."): inInteger = false
            default: continue
            }
        }
        if exponentSign > 0 && exponent > 0 { integerDigits = exponent + 1 }
        if integerDigits > 17 { integerDigits = 0 }  // written with an exponent whatever the precision
        return min(17, max(1, significant, integerDigits))
    }

    private static func roundTrips(_ d: Double, _ digits: Int32) -> Bool {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 40) { buf in
            _ = withVaList([digits, d]) { vsnprintf(buf.baseAddress!, 40, "%.*g", $0) }
            return strtod(buf.baseAddress!, nil) == d
        }
    }
}

