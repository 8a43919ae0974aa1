"""Templates: split ``text {{ code }} text`` into parts, analyse the code statically, rewrite
extension-method calls, and build the JavaScript function V8 evaluates.

Static analysis decides what data a V8 call needs (``$json`` only, all input items, the runs of
``$('Node')`` references...), so a call ships only that. When the code cannot be tokenized the
analysis is conservative (everything is shipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from relayflow.expressions.lexer import LexError, Token, tokenize

# n8n's data transformation functions ("extension methods"). A call ``x.name(...)`` with one of
# these names is rewritten to ``x.__rfx_name(...)``, a non-enumerable dispatcher on
# Object.prototype that calls a native method of that name when ``x`` has one and the extension
# for ``x``'s type otherwise. Property reads (``$json.first``) are left alone, as in n8n.
EXTENSION_NAMES = frozenset(
    """
    isEmpty isNotEmpty toNumber toInt toFloat toDecimalNumber toWholeNumber toBoolean toDateTime toDate
    extractDomain extractEmail extractUrl extractUrlPath isEmail isUrl isDomain isNumeric removeTags
    removeMarkdown toTitleCase toSentenceCase toSnakeCase urlEncode urlDecode hash base64Encode
    base64Decode quote replaceSpecialChars parseJson toJsonString first last pluck unique
    removeDuplicates compact sum average max min chunk difference intersection union merge
    randomItem renameKeys smartJoin round floor ceil format isEven isOdd isInteger abs keys values
    hasField removeField removeFieldsContaining keepFieldsContaining beginningOf endOfMonth extract
    isBetween isDst isInLast isWeekend plus minus diffTo diffToNow toTimestamp toCamelCase append
    """.split()  # noqa: SIM905
)

# The names an expression function receives (see js/prelude.js ``VARS``).
VARIABLES = (
    "$json", "$binary", "$input", "$", "$node", "$items", "$item", "$itemIndex", "$position",
    "$runIndex", "$prevNode", "$execution", "$workflow", "$now", "$today", "$env", "$vars",
    "$parameter", "$jmespath", "$if", "$ifEmpty", "$min", "$max", "$data", "$mode",
    "$getWorkflowStaticData", "DateTime", "Duration", "Interval", "$response", "$request", "$pageCount",
)  # fmt: skip

# accessors of $('X') / $node["X"] that only need the item paired with the current one
_PAIRED_ACCESSORS = frozenset({"item", "json", "binary", "pairedItem"})


@dataclass
class Code:
    """One ``{{ }}`` segment."""

    source: str
    tokens: list[Token] | None  # None when the code could not be tokenized


@dataclass
class Needs:
    """What one V8 evaluation of a template must be given."""

    json: bool = False
    binary: bool = False
    all_items: bool = False
    parameter: bool = False
    env: bool = False
    static_data: bool = False
    # node name -> needs the paired item per index; needs the node's outputs
    paired: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    # $node["X"].json: X's item at the same index as the current one
    legacy: set[str] = field(default_factory=set)
    # $('X').itemMatching(i): the paired item of every input item
    paired_all: set[str] = field(default_factory=set)
    # a node reference whose name is not a literal: ship every node
    dynamic_nodes: bool = False
    # $node["X"].context / $('X').context: X's node state (e.g. Split In Batches' noItemsLeft)
    context: set[str] = field(default_factory=set)
    # $input.context: the state of the node feeding the first input
    input_context: bool = False
    # a ``.context`` read somewhere: with dynamic_nodes, ship every node's state
    any_context: bool = False

    def merge(self, other: Needs) -> None:
        self.json |= other.json
        self.binary |= other.binary
        self.all_items |= other.all_items
        self.parameter |= other.parameter
        self.env |= other.env
        self.static_data |= other.static_data
        self.paired |= other.paired
        self.outputs |= other.outputs
        self.legacy |= other.legacy
        self.paired_all |= other.paired_all
        self.dynamic_nodes |= other.dynamic_nodes
        self.context |= other.context
        self.input_context |= other.input_context
        self.any_context |= other.any_context

    @classmethod
    def everything(cls) -> Needs:
        return cls(
            json=True,
            binary=True,
            all_items=True,
            parameter=True,
            env=True,
            static_data=True,
            dynamic_nodes=True,
            input_context=True,
            any_context=True,
        )


def _scan_code(template: str, i: int) -> int:
    """Index of the ``}}`` closing code that starts at ``i``, or -1.

    Braces, strings, template literals and comments inside the code are skipped, so
    ``{{ {a: {b: 1}} }}`` and ``{{ "}}" }}`` work.
    """
    n, depth = len(template), 0
    while i < n:
        c = template[i]
        if c in "\"'`":
            i = _skip_quoted(template, i)
            continue
        if template.startswith("/*", i):
            j = template.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and template.startswith("}}", i):
                return i
            depth -= 1
        i += 1
    return -1


def _skip_quoted(s: str, i: int) -> int:
    quote, i, n = s[i], i + 1, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        if c == "\n" and quote != "`":
            return i  # unterminated: let V8 report it
        i += 1
    return n


def split_template(template: str) -> list[str | Code]:
    """Text parts (str) and code parts (Code), in order; text parts are never empty."""
    parts: list[str | Code] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("{{", i)
        if j < 0:
            text.append(template[i:])
            break
        end = _scan_code(template, j + 2)
        if end < 0:  # an unclosed {{ is text, as in n8n
            text.append(template[i:])
            break
        text.append(template[i:j])
        if "".join(text):
            parts.append("".join(text))
        text = []
        parts.append(_code(template[j + 2 : end]))
        i = end + 2
    if "".join(text):
        parts.append("".join(text))
    return parts


def _code(source: str) -> Code:
    body = source.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    try:
        tokens: list[Token] | None = tokenize(body)
    except LexError:
        tokens = None
    return Code(body, tokens)


def is_single(parts: list[str | Code]) -> bool:
    """One ``{{ }}`` with only whitespace around it: the template yields a typed value."""
    codes = [p for p in parts if isinstance(p, Code)]
    return len(codes) == 1 and all(isinstance(p, Code) or not p.strip() for p in parts)


def _node_name_at(tokens: list[Token], k: int) -> tuple[str | None, int]:
    """For ``$('X')`` / ``$node["X"]`` / ``$node.X`` / ``$items("X")`` at ``k``: (name, next index)."""
    t = tokens[k]
    nxt = tokens[k + 1]
    if t.value in ("$", "$items") and nxt.value == "(":
        if tokens[k + 2].kind == "str" and tokens[k + 3].value in (")", ","):
            end = k + 3
            if tokens[end].value == ",":  # $items("X", 0, 1): skip to the closing parenthesis
                while tokens[end].kind != "eof" and tokens[end].value != ")":
                    end += 1
            return tokens[k + 2].value, end + 1
        return None, k + 1
    if t.value == "$node":
        if nxt.value == "[" and tokens[k + 2].kind == "str" and tokens[k + 3].value == "]":
            return tokens[k + 2].value, k + 4
        if nxt.value == "." and tokens[k + 2].kind == "ident":
            return tokens[k + 2].value, k + 3
    return None, k + 1


def analyse(tokens: list[Token] | None) -> Needs:
    if tokens is None:
        return Needs.everything()
    needs = Needs()
    bare_input = False
    bare_nodes: set[str] = set()
    for k, t in enumerate(tokens):
        if t.kind != "ident":
            continue
        prev = tokens[k - 1].value if k else ""
        if prev in (".", "?.") and tokens[k - 1].kind == "punct":
            if t.value == "binary":
                needs.binary = True
            elif t.value == "context":
                needs.any_context = True
            continue
        v = t.value
        if v in ("$json", "$data"):
            needs.json = True
        elif v == "$binary":
            needs.binary = True
        elif v == "$input":
            member = tokens[k + 2].value if tokens[k + 1].value in (".", "?.") else ""
            needs.json = needs.binary = True
            # $input.item is the current item: no need for all of them
            needs.all_items |= member not in ("item", "params", "context")
            needs.input_context |= member == "context"
            bare_input |= member == ""
        elif v == "$item":
            needs.json = needs.binary = needs.all_items = needs.dynamic_nodes = True
        elif v == "$parameter":
            needs.parameter = True
        elif v == "$env":
            needs.env = True
        elif v == "$getWorkflowStaticData":
            needs.static_data = True
        elif v in ("$", "$node", "$items"):
            bare = _note_node_ref(tokens, k, needs)
            if bare is not None:
                bare_nodes.add(bare)
    if needs.any_context:
        # ``.context`` on something the analysis cannot follow (``const n = $node["X"]; n.context``)
        needs.context |= bare_nodes
        needs.input_context |= bare_input
    return needs


def _note_node_ref(tokens: list[Token], k: int, needs: Needs) -> str | None:
    """Note what a node reference needs; its name when it is used bare (``$('X')`` alone)."""
    name, after = _node_name_at(tokens, k)
    if tokens[k].value == "$items":
        if tokens[k + 1].value == "(" and tokens[k + 2].value == ")":
            needs.all_items = needs.json = needs.binary = True
            return None
        if name is None:
            needs.dynamic_nodes = True
        else:
            needs.outputs.add(name)
        return None
    if name is None:
        needs.dynamic_nodes = True
        return None
    accessor = tokens[after + 1].value if tokens[after].value in (".", "?.") else ""
    if tokens[after].value == "[" and tokens[after + 1].kind == "str":
        accessor = "context" if tokens[after + 1].value == "context" else accessor  # $node["X"]["context"]
    if accessor == "context":
        needs.any_context = True
        needs.context.add(name)
        return None
    if tokens[k].value == "$node":
        # $node["X"].json: X's item at the same index (or its last): shipped per item
        (needs.legacy if accessor in ("json", "binary") else needs.outputs).add(name)
    elif accessor in _PAIRED_ACCESSORS:
        needs.paired.add(name)
    else:
        needs.outputs.add(name)
        if accessor in ("itemMatching", "pairedItem"):
            needs.paired_all.add(name)
    return name if accessor == "" else None


def rewrite_extensions(code: Code) -> str:
    """``x.isEmpty()`` → ``x.__rfx_isEmpty()`` for n8n's extension method names."""
    tokens = code.tokens
    if tokens is None:
        return code.source
    out: list[str] = []
    pos = 0
    for k in range(1, len(tokens) - 1):
        t = tokens[k]
        if (
            t.kind == "ident"
            and t.value in EXTENSION_NAMES
            and tokens[k - 1].kind == "punct"
            and tokens[k - 1].value in (".", "?.")
            and tokens[k + 1].value in ("(", "?.")
        ):
            out.append(code.source[pos : t.start])
            out.append("__rfx_" + t.value)
            pos = t.end
    out.append(code.source[pos:])
    return "".join(out)


def js_function_source(parts: list[str | Code], single: bool) -> str:
    """The body of ``function(<VARIABLES>) { ... }`` for a template.

    Single templates return the value; others return the list of parts that the prelude joins
    (n8n's interpolation rules).
    """
    if single:
        code = next(p for p in parts if isinstance(p, Code))
        body = rewrite_extensions(code)
        return f"return (\n{body}\n);" if body else "return undefined;"
    pieces = []
    for p in parts:
        if isinstance(p, Code):
            body = rewrite_extensions(p)
            pieces.append(f"(\n{body}\n)" if body else "undefined")
        else:
            pieces.append(_js_string(p))
    return "return __rf_join([" + ", ".join(pieces) + "]);"


def _js_string(text: str) -> str:
    return orjson.dumps(text).decode()
