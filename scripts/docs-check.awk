# Lists public declarations without a `///` doc comment directly above them (used by scripts/docs).
#
#   awk -v strict=0|1 -f scripts/docs-check.awk FILE...
#
# Prints one line per finding, tab-separated:  KIND <TAB> FILE:LINE <TAB> NAME
#   KIND is "type"   for an undocumented public/open class, struct, enum, protocol, actor or typealias
#                    (nested ones too, and those declared inside an extension), or
#           "member" for an undocumented public/open func, init, subscript, var, let or associatedtype
#                    (printed only with strict=1).
# A declaration counts as documented when the nearest line above it that is not an attribute line
# (`@frozen`, `@discardableResult`, `@available(...)`, ...) is a `///` line or closes a `/** ... */`
# block (not a plain `/* */` one). Blank lines and plain `//` comments in between do not count.
# Declarations inside a `public extension` block (or a public protocol) count as public without the
# keyword, as Swift treats them. Enum cases and `deinit` are not checked.

function reset_file() {
    depth = 0; prev = ""; in_block = 0; nscope = 0; in_string = 0; doc_block = 0
}

# Strips string literals and comments so that braces inside them are not counted.
function code_only(s,    out, i, c, n) {
    out = ""; n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (in_block) {
            if (substr(s, i, 2) == "*/") { in_block = 0; i++ }
            continue
        }
        if (in_string) {
            if (c == "\\") { i++; continue }
            if (substr(s, i, 3) == "\"\"\"") { in_string = 0; i += 2; continue }
            if (c == "\"" && !multiline) { in_string = 0 }
            continue
        }
        if (substr(s, i, 2) == "//") break
        if (substr(s, i, 2) == "/*") { in_block = 1; i++; continue }
        if (substr(s, i, 3) == "\"\"\"") { in_string = 1; multiline = 1; i += 2; continue }
        if (c == "\"") { in_string = 1; multiline = 0; continue }
        out = out c
    }
    if (in_string && !multiline) in_string = 0
    return out
}

# True when the enclosing scope makes unmarked declarations public (public extension / protocol).
function implicit_public(    k) {
    return nscope > 0 && scope_public[nscope] && scope_depth[nscope] == depth - 1 ? 1 : 0
}

FNR == 1 { reset_file() }

{
    line = $0
    stripped = line
    sub(/^[ \t]+/, "", stripped)
    was_in_comment = in_block || in_string
    if (!was_in_comment && stripped ~ /^\/\*\*/) doc_block = 1
    else if (!was_in_comment && stripped ~ /^\/\*/) doc_block = 0
    code = code_only(line)

    if (!was_in_comment) {
        decl = stripped
        # Drop leading attributes written on the same line: @frozen public struct ...
        while (decl ~ /^@[A-Za-z_]+(\([^)]*\))?[ \t]+/) sub(/^@[A-Za-z_]+(\([^)]*\))?[ \t]+/, "", decl)

        access = ""
        if (decl ~ /^(public|open)[ \t]/) access = "public"
        else if (decl ~ /^(private|fileprivate|internal|package)[ \t(]/) access = "hidden"

        rest = decl
        while (rest ~ /^(public|open|final|indirect|nonisolated|static|class[ \t]+(func|var|let|subscript)|override|mutating|nonmutating|convenience|required|lazy|weak|unowned|dynamic|optional|private\(set\)|fileprivate\(set\)|internal\(set\)|package\(set\)|nonisolated\(unsafe\)|borrowing|consuming|sending|isolated)([ \t]|$)/) {
            if (rest ~ /^class[ \t]+(func|var|let|subscript)/) { sub(/^class[ \t]+/, "", rest); continue }
            sub(/^[A-Za-z]+(\([a-z]+\))?[ \t]+/, "", rest)
        }

        kind = ""; name = ""
        if (rest ~ /^(class|struct|enum|protocol|actor|typealias)[ \t]/) {
            kind = "type"
        } else if (rest ~ /^(func|init|subscript|var|let|associatedtype)([ \t(<?!]|$)/) {
            kind = "member"
        } else if (rest ~ /^extension[ \t]/) {
            kind = "extension"
        }

        is_public = (access == "public") || (access == "" && kind != "" && kind != "extension" && implicit_public())
        if (kind == "type" || kind == "member") {
            name = rest
            sub(/[ \t]*[{=:].*$/, "", name)
            if (kind == "member") sub(/\{.*$/, "", name)
            if (length(name) > 80) name = substr(name, 1, 77) "..."
        }

        if (is_public && (kind == "type" || (kind == "member" && strict))) {
            documented = (prev ~ /^\/\/\// || (doc_block && prev ~ /\*\/[ \t]*$/))
            if (!documented) printf "%s\t%s:%d\t%s\n", kind, FILENAME, FNR, name
        }

        # Opens a scope whose members are implicitly public: `public extension` or `public protocol`.
        if (access == "public" && (kind == "extension" || rest ~ /^protocol[ \t]/) && index(code, "{") > 0) {
            nscope++; scope_depth[nscope] = depth; scope_public[nscope] = 1
        }
    }

    # Brace depth, and leaving a tracked scope.
    opens = gsub(/\{/, "{", code); closes = gsub(/\}/, "}", code)
    depth += opens - closes
    while (nscope > 0 && depth <= scope_depth[nscope]) nscope--

    # What the next declaration sees directly above it: attribute-only lines are skipped.
    if (stripped ~ /^@[A-Za-z_]+(\(.*\))?[ \t]*$/) {
        # keep prev
    } else {
        prev = stripped
    }
}
