import CJansson

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
        guard let root = makeJansson() else { throw JSONEncodeError(reason: "value cannot be encoded as JSON (an object key containing NUL, or out of memory)") }
        defer { json_decref(root) }
        let flags = JSON_COMPACT | JSON_ENCODE_ANY | (17 << 11)  // JSON_REAL_PRECISION(17): reals round-trip
        let size = json_dumpb(root, nil, 0, Int(flags))
        guard size > 0 else { throw JSONEncodeError(reason: "value cannot be encoded as JSON (non-finite number?)") }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { json_dumpb(root, $0.baseAddress, size, Int(flags)) }
        }
        guard written == size else { throw JSONEncodeError(reason: "value changed size while encoding") }
        return out
    }

    /// Compact serialization as a String; non-finite reals become `null` so this never fails.
    public var text: String {
        if let bytes = try? serialized() { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: (try? sanitizedForEncoding().serialized()) ?? Array("null".utf8), as: UTF8.self)
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
            var object = JSONObject()
            var iter = json_object_iter(node)
            while let it = iter {
                let keyPtr = json_object_iter_key(it)!
                let keyLen = json_object_iter_key_len(it)
                let key = keyPtr.withMemoryRebound(to: UInt8.self, capacity: keyLen) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: keyLen), as: UTF8.self)
                }
                object[key] = JSON(jansson: json_object_iter_value(it)!)
                iter = json_object_iter_next(node, it)
            }
            self = .object(object)
        case Int32(JSON_ARRAY.rawValue):
            let n = json_array_size(node)
            var items: [JSON] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(JSON(jansson: json_array_get(node, i)!)) }
            self = .array(items)
        case Int32(JSON_STRING.rawValue):
            let len = json_string_length(node)
            let s = json_string_value(node)!.withMemoryRebound(to: UInt8.self, capacity: len) {
                String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
            }
            self = .string(s)
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
    private func makeJansson() -> UnsafeMutablePointer<json_t>? {
        switch self {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .int(let i): return json_integer(json_int_t(i))
        case .double(let d): return json_real(d)
        case .string(var s):
            if s.isEmpty { return json_string_nocheck("") }
            return s.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count) }
            }
        case .array(let items):
            guard let arr = json_array() else { return nil }
            for item in items {
                guard let child = item.makeJansson(), json_array_append_new(arr, child) == 0 else {
                    json_decref(arr)
                    return nil
                }
            }
            return arr
        case .object(let object):
            guard let obj = json_object() else { return nil }
            for (key, value) in object.pairs {
                var k = key
                // jansson cannot read a NUL inside a key back, so never write one.
                guard !k.utf8.contains(0) else {
                    json_decref(obj)
                    return nil
                }
                guard let child = value.makeJansson() else {
                    json_decref(obj)
                    return nil
                }
                let rc =
                    k.isEmpty
                    ? json_object_setn_new_nocheck(obj, "", 0, child)
                    : k.withUTF8 { buf in
                        buf.withMemoryRebound(to: CChar.self) {
                            json_object_setn_new_nocheck(obj, $0.baseAddress, $0.count, child)
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
