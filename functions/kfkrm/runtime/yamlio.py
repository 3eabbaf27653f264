"""YAML reading under the YAML 1.2 core schema, and writing that keeps every value's meaning.

Why not PyYAML's defaults: its resolver is YAML 1.1, so a user's `on` becomes true and
`0777` becomes 511. kpt hands functions the user's own file text, so such a round trip
silently rewrites the user's data. Here:

* reading resolves plain scalars by the YAML 1.2 core schema only (`on`, `yes`,
  `2021-01-29`, `<<` stay strings);
* numbers remember the text they were written as, quoted strings their quotes, flow
  collections their flow style, and are written back the same way;
* writing quotes every string that a YAML 1.1 *or* 1.2 reader would take for
  another type, never emits anchors or aliases, and never folds long lines.

Hostile input is refused before it can cost anything (issue 13): a document nested deeper
than MAX_DEPTH (libyaml's composer recurses in C and would crash the process), aliases
that expand to more nodes than the document holds (an "alias bomb": 1 KB that expands to
billions of nodes when dumped, walked or compared), duplicate mapping keys (YAML 1.2 and
kyaml reject them; PyYAML silently keeps the last), and explicit tags whose value does not
fit them (`!!int hello`). Explicit tags that do fit keep their meaning on output
(`!!timestamp`, `!!omap`, `!!pairs` are written back with their tag).

Two YAML 1.1 features change what a document means and are refused rather than read
differently from kustomize (issues 23 and 25): a merge key (`<<: *base`, which kustomize's
reader merges and a YAML 1.2 reader keeps as a literal `<<` key; kustomize and kpt never
hand a function one), and a `%YAML 1.1` directive (which asks for 1.1's `on`/`0777`
meanings). Both are errors naming the line; a quoted `"<<"` key and `%YAML 1.2` are fine.
"""

from __future__ import annotations

import re

import yaml

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

YAMLError = yaml.YAMLError

MAX_DEPTH = 100  # nested collections; Kubeflow's deepest CRD schema is far below this


class LimitError(yaml.YAMLError):
    """The document is too deep or its aliases expand too far: refused before composing."""

    def __init__(self, problem: str, mark=None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping has the same key twice."""


class MergeKeyError(yaml.constructor.ConstructorError):
    """A mapping has a YAML 1.1 merge key (`<<: *base`)."""


MERGE_KEY_PROBLEM = (
    "merge key '<<' (kustomize merges it, YAML 1.2 does not): write the merged keys out; "
    "kustomize and kpt never pass a function anchors or merge keys"
)


class Int(int):
    """An integer that remembers how it was written (`0777`, `0x1F`, `+3`)."""

    def __new__(cls, value: int, text: str):
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __reduce__(self):  # copy.deepcopy and pickle
        return (Int, (int(self), self.text))


class Float(float):
    """A float that remembers how it was written (`1e3`, `.5`, `.inf`)."""

    def __new__(cls, value: float, text: str):
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __reduce__(self):
        return (Float, (float(self), self.text))


class Str(str):
    """A string that was quoted or block-styled in the input, and keeps that style on output."""

    def __new__(cls, value: str, style: str):
        obj = super().__new__(cls, value)
        obj.style = style
        return obj

    def __reduce__(self):
        return (Str, (str.__str__(self), self.style))


class FlowMap(dict):
    """A mapping written in flow style (`{a: 1}`) in the input: written back the same way."""


class FlowSeq(list):
    """A sequence written in flow style (`[a, b]`) in the input: written back the same way."""


_INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_12 = re.compile(r"^(?:~|null|Null|NULL|)$")


class Loader(_BaseLoader):
    """Safe loader (libyaml parser) with the YAML 1.2 core schema."""


Loader.yaml_implicit_resolvers = {}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_12, list("tTfF"))
Loader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL_12, ["~", "n", "N", ""])
Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_12, list("-+0123456789"))
Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+.0123456789"))


def _bad_value(node, what: str):
    return yaml.constructor.ConstructorError(
        None,
        None,
        f"{node.value!r} is not {what} (explicit tag {node.tag.replace('tag:yaml.org,2002:', '!!')})",
        node.start_mark,
    )


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if not _INT_12.match(text):
        raise _bad_value(node, "an integer")
    if text.startswith("0o"):
        value = int(text[2:], 8)
    elif text.startswith("0x"):
        value = int(text[2:], 16)
    else:
        value = int(text, 10)
    return Int(value, text)


def _construct_float(loader, node):
    text = loader.construct_scalar(node)
    if not (_FLOAT_12.match(text) or _INT_12.match(text) and not text.startswith(("0o", "0x"))):
        raise _bad_value(node, "a number")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        value = float("-inf") if text.startswith("-") else float("inf")
    elif lowered == ".nan":
        value = float("nan")
    else:
        value = float(text)
    if _INT_12.match(text):
        text = repr(value)  # `!!float 1`: written back as 1.0, still a float
    return Float(value, text)


def _construct_bool(loader, node):
    text = loader.construct_scalar(node)
    if not _BOOL_12.match(text):
        raise _bad_value(node, "true or false")
    return text.lower() == "true"


def _construct_null(loader, node):
    if not _NULL_12.match(loader.construct_scalar(node)):
        raise _bad_value(node, "null")
    return None


class TaggedStr(str):
    """A scalar with an explicit tag YAML 1.2 does not resolve by itself (`!!timestamp`,
    `!!binary`): kept as its text and written back with its tag."""

    def __new__(cls, value: str, tag: str):
        obj = super().__new__(cls, value)
        obj.tag = tag
        return obj

    def __reduce__(self):
        return (TaggedStr, (str.__str__(self), self.tag))


class TaggedSeq(list):
    """`!!omap` or `!!pairs`: a sequence of one-pair mappings, written back with its tag."""

    def __init__(self, items=(), tag: str = ""):
        super().__init__(items)
        self.tag = tag

    def __reduce__(self):
        return (TaggedSeq, (list(self), self.tag))


class TaggedMap(dict):
    """`!!set`: a mapping of keys to nulls, in its order, written back with its tag."""

    def __init__(self, items=(), tag: str = ""):
        super().__init__(items)
        self.tag = tag

    def __reduce__(self):
        return (TaggedMap, (dict(self), self.tag))


def _construct_set(loader, node):
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, "!!set needs a mapping", node.start_mark)
    data = TaggedMap(tag=node.tag)
    yield data
    data.update(loader.construct_mapping(node))
    if any(v is not None for v in data.values()):
        raise yaml.constructor.ConstructorError(None, None, "!!set needs null values", node.start_mark)


def _construct_tagged_scalar(loader, node):
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, f"{node.tag} needs a scalar", node.start_mark)
    return TaggedStr(loader.construct_scalar(node), node.tag)


def _construct_tagged_seq(loader, node):
    if not isinstance(node, yaml.SequenceNode) or not all(
        isinstance(n, yaml.MappingNode) and len(n.value) == 1 for n in node.value
    ):
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.tag} needs a sequence of one-pair mappings", node.start_mark
        )
    data = TaggedSeq(tag=node.tag)
    yield data
    data.extend(loader.construct_mapping(n) for n in node.value)


def _construct_str(loader, node):
    value = loader.construct_scalar(node)
    return Str(value, node.style) if node.style else value


def _construct_map(loader, node):
    data = FlowMap() if node.flow_style else {}
    yield data
    data.update(loader.construct_mapping(node))


def _construct_seq(loader, node):
    data = FlowSeq() if node.flow_style else []
    yield data
    data.extend(loader.construct_sequence(node))


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
Loader.add_constructor("tag:yaml.org,2002:null", _construct_null)
Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_tagged_scalar)
Loader.add_constructor("tag:yaml.org,2002:binary", _construct_tagged_scalar)
Loader.add_constructor("tag:yaml.org,2002:omap", _construct_tagged_seq)
Loader.add_constructor("tag:yaml.org,2002:pairs", _construct_tagged_seq)
Loader.add_constructor("tag:yaml.org,2002:set", _construct_set)
Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)
Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
# Explicit 1.1-only tags keep their meaning: !!timestamp, !!binary, !!omap and !!pairs are
# kept with their tag, in their order (above). Any other tag
# has no constructor: an input error. Implicit resolution can no longer produce them.


def _construct_mapping_no_duplicates(self, node, deep=False):
    mapping = _BaseLoader.construct_mapping(self, node, deep=deep)
    if len(mapping) != len(node.value):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKeyError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
    return mapping


Loader.construct_mapping = _construct_mapping_no_duplicates


class _MergeRefusingLoader(Loader):
    """Loader for a text that may hold a merge key: every plain `<<` key is an error. A
    separate class so that texts without `<<` (nearly all) pay nothing for the check."""

    def construct_mapping(self, node, deep=False):
        for key_node, _ in node.value:
            if key_node.value == "<<" and isinstance(key_node, yaml.ScalarNode) and not key_node.style:  # plain
                raise MergeKeyError(None, None, MERGE_KEY_PROBLEM, key_node.start_mark)
        return _construct_mapping_no_duplicates(self, node, deep=deep)


def _loader_for(text: str):
    return _MergeRefusingLoader if "<<" in text else Loader


class Dumper(_BaseDumper):
    """Safe dumper (libyaml emitter) that quotes whatever any reader could mistype."""

    def ignore_aliases(self, data):  # no anchors or aliases, ever
        return True


# The dumper's resolver decides which strings need quotes: PyYAML's YAML 1.1 rules
# already cover on/yes/0777/dates/<<; add the YAML 1.2 forms 1.1 does not know.
Dumper.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeDumper.yaml_implicit_resolvers.items()}
Dumper.add_implicit_resolver("tag:yaml.org,2002:int", _INT_12, list("-+0123456789"))
Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+.0123456789"))


def _represent_int(dumper, data):
    text = getattr(data, "text", None) or str(int(data))
    return dumper.represent_scalar("tag:yaml.org,2002:int", text)


def _represent_float(dumper, data):
    text = getattr(data, "text", None)
    if text is None:
        return dumper.represent_float(float(data))
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


def _represent_str(dumper, data):
    style = getattr(data, "style", None)
    if style is None and "\n" in data:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style=style)


def _represent_flow_map(dumper, data):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_flow_seq(dumper, data):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


Dumper.add_representer(Int, _represent_int)
Dumper.add_representer(Float, _represent_float)
Dumper.add_representer(str, _represent_str)
Dumper.add_representer(Str, _represent_str)
Dumper.add_representer(FlowMap, _represent_flow_map)
Dumper.add_representer(FlowSeq, _represent_flow_seq)


def _resolve_keeping_tags(self, kind, value, implicit):
    if kind is yaml.ScalarNode and id(value) in self._explicit:
        return "tag:kfkrm.dev,2026:never-implicit"  # a tagged value: its tag is always written
    return _BaseDumper.resolve(self, kind, value, implicit)


def _represent_tagged_str(dumper, data):
    style = '"' if any(c in data for c in "\n\r\t\\\"'#:") else None
    value = str.__str__(data)
    if "_explicit" not in dumper.__dict__:  # only a dumper that meets a tagged value pays for this
        dumper._explicit = {}
        dumper.resolve = _resolve_keeping_tags.__get__(dumper)
    dumper._explicit[id(value)] = value  # kept alive: the id stays unique
    return dumper.represent_scalar(data.tag, value, style=style)


def _represent_tagged_seq(dumper, data):
    return dumper.represent_sequence(data.tag, [FlowMap(m) if isinstance(m, FlowMap) else m for m in data])


Dumper.add_representer(TaggedStr, _represent_tagged_str)
Dumper.add_representer(TaggedSeq, _represent_tagged_seq)
Dumper.add_representer(TaggedMap, lambda dumper, data: dumper.represent_mapping(data.tag, data))

_WIDTH = 1 << 30  # never fold a long string


def load(text: str):
    """Parse one YAML document under the YAML 1.2 core schema, within the limits above."""
    text = str.__str__(text)  # a plain str: libyaml refuses subclasses
    check_limits(text)
    check_directives(text)
    return yaml.load(text, Loader=_loader_for(text))


def load_all(text: str):
    text = str.__str__(text)
    check_limits(text)
    check_directives(text)
    return list(yaml.load_all(text, Loader=_loader_for(text)))


_YAML_DIRECTIVE = re.compile(r"^%YAML[ \t]", re.M)


def check_directives(text: str) -> None:
    """Refuse a `%YAML` directive for any version but 1.2: a `%YAML 1.1` document asks for
    meanings (`on` is true, `0777` is 511) this reader does not give. Decided by libyaml's
    own events, so a `%YAML` line inside a block scalar is not taken for one; the event walk
    runs only when a line starts with `%YAML`."""
    if "%YAML" not in text or not _YAML_DIRECTIVE.search(text):
        return
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.DocumentStartEvent) and event.version not in (None, (1, 2)):
            version = ".".join(map(str, event.version))
            raise LimitError(
                f"%YAML {version} directive: kfkrm reads YAML 1.2 only (kustomize and kpt never write a directive); "
                "remove it, and write on/yes/0777 as the values they mean",
                event.start_mark,
            )


# An alias is `*name` where a node may start: after line indentation, `- `, `? `, `: `,
# `[`, `{` or `,`. Plain scalars cannot start with `*`, so "*" hosts and globs in quoted
# or plain text (`/tmp/*`, "*.example.com") do not look like one.
_MAYBE_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s\[\]{},]", re.M)


def check_limits(text: str) -> None:
    """Refuse, before composing, a document nested deeper than MAX_DEPTH or whose aliases
    expand to more nodes than it holds (the ratio Go's yaml.v3 also bounds).

    Walking libyaml's events is not free (Python per event), so it runs only when the
    text may be deep or may hold an alias; both are decided by cheap text tests."""
    if len(text) < MAX_DEPTH:
        return  # every nested collection takes at least one character of its own
    if ("*" in text and _MAYBE_ALIAS.search(text)) or _may_be_deep(text):
        _walk_events(text)


def _may_be_deep(text: str) -> bool:
    """False only when the text cannot hold MAX_DEPTH nested collections.

    Each flow collection needs a bracket. A nested block collection starts at a greater
    column than its parent, except a sequence under a mapping key (`a:` then `- b`), which
    cannot repeat without a mapping in between; and a block collection starts right after
    a line's leading run of spaces, `- ` and `? ` indicators. So block nesting is at most
    twice the longest such run, plus two."""
    flows = text.count("[") + text.count("{")
    room = MAX_DEPTH - flows
    if room <= 8:
        return True
    run = room // 2 - 2
    rx = _DEEP_RUNS.get(run)
    if rx is None:
        rx = _DEEP_RUNS[run] = re.compile(r"(?:^|\n)[ \t?-]{%d}" % run)
    return rx.search(text) is not None


_DEEP_RUNS: dict = {}


def _walk_events(text: str) -> None:
    depth = 0
    stack = [0]  # expanded node counts of the open collections
    anchors: dict = {}
    open_anchors: list = []
    nodes = expanded = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        kind = type(event)
        if kind is yaml.AliasEvent:
            size = anchors.get(event.anchor)
            if size is None:
                if event.anchor in open_anchors:
                    raise LimitError(f"alias *{event.anchor} refers to the node that contains it", event.start_mark)
                continue  # undefined: the composer reports it
            stack[-1] += size
            expanded += size
            if expanded > nodes:  # at most doubles the work of the same text without aliases
                raise LimitError(
                    f"aliases expand to more nodes than the document holds (alias *{event.anchor}, "
                    f"{expanded} > {nodes}); anchors and aliases are limited to keep every input cheap",
                    event.start_mark,
                )
        elif kind is yaml.ScalarEvent:
            nodes += 1
            stack[-1] += 1
            if event.anchor is not None:
                anchors[event.anchor] = 1
        elif kind in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
            nodes += 1
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitError(f"collections nested more than {MAX_DEPTH} deep", event.start_mark)
            stack.append(1)
            open_anchors.append(event.anchor)
        elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
            depth -= 1
            size = stack.pop()
            stack[-1] += size
            anchor = open_anchors.pop()
            if anchor is not None:
                anchors[anchor] = size
        elif kind is yaml.DocumentEndEvent:
            anchors.clear()
            stack = [0]


def dump(obj) -> str:
    """Block-style YAML, keys in their order, no aliases, no folding."""
    return yaml.dump(
        obj,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
    )
