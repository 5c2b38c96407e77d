import JSON

/// Checks tool arguments against the subset of JSON Schema 2020-12 the tools here declare:
/// `type`, `enum`, `const`, `minimum`/`maximum`, `minLength`/`maxLength`, `items`, `minItems`/`maxItems`,
/// `properties`, `required` and `additionalProperties`.
///
/// The first problem found is reported with the field's path and what is allowed, so a model can
/// correct its call. Keywords outside the subset are ignored (annotations such as `description`).
public enum SchemaValidator {
    public static func validate(_ value: JSON, against schema: JSON, path: String = "") -> ToolArgumentError? {
        guard case .object(let s) = schema else { return nil }
        let field = path.isEmpty ? "arguments" : path

        if let types = s["type"] {
            let allowed = types.arrayValue?.compactMap(\.stringValue) ?? [types.stringValue].compactMap { $0 }
            if !allowed.isEmpty && !allowed.contains(where: { matches(value, type: $0) }) {
                return ToolArgumentError(
                    field: field, "must be \(allowed.joined(separator: " or ")), got \(value.typeName)")
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(value) {
            return ToolArgumentError(
                field: field, "must be one of \(options.map(\.text).joined(separator: ", ")), got \(value.text)")
        }
        if let constant = s["const"], constant != value {
            return ToolArgumentError(field: field, "must be \(constant.text)")
        }
        if let n = value.numberValue {
            if let min = s["minimum"]?.numberValue, n < min {
                return ToolArgumentError(field: field, "must be at least \(format(min)), got \(value.text)")
            }
            if let max = s["maximum"]?.numberValue, n > max {
                return ToolArgumentError(field: field, "must be at most \(format(max)), got \(value.text)")
            }
        }
        if case .string(let str) = value {
            let length = str.unicodeScalars.count
            if let min = s["minLength"]?.intValue, length < min {
                return ToolArgumentError(field: field, "must be at least \(min) characters long")
            }
            if let max = s["maxLength"]?.intValue, length > max {
                return ToolArgumentError(field: field, "must be at most \(max) characters long, got \(length)")
            }
        }
        if case .array(let items) = value {
            if let min = s["minItems"]?.intValue, items.count < min {
                return ToolArgumentError(field: field, "must have at least \(min) items")
            }
            if let max = s["maxItems"]?.intValue, items.count > max {
                return ToolArgumentError(field: field, "must have at most \(max) items, got \(items.count)")
            }
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() {
                    if let e = validate(item, against: itemSchema, path: "\(field)[\(i)]") { return e }
                }
            }
        }
        if case .object(let members) = value {
            let properties = s["properties"]?.objectValue ?? JSONObject()
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                return ToolArgumentError(field: join(path, name), "is required")
            }
            for (name, member) in members {
                if let propertySchema = properties[name] {
                    if let e = validate(member, against: propertySchema, path: join(path, name)) { return e }
                } else if let extra = s["additionalProperties"] {
                    if extra == .bool(false) {
                        let known = properties.keys.joined(separator: ", ")
                        return ToolArgumentError(
                            field: join(path, name), "is not a known parameter (known: \(known))")
                    }
                    if let e = validate(member, against: extra, path: join(path, name)) { return e }
                }
            }
        }
        return nil
    }

    private static func join(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }

    private static func matches(_ value: JSON, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("integer", .int), ("number", .int), ("number", .double):
            return true
        case ("integer", .double(let d)):
            return d.rounded() == d && abs(d) < 9.0e15  // 2020-12: 1.0 is an integer
        default:
            return false
        }
    }

    private static func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
