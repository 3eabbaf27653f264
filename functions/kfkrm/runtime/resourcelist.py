"""Reading and writing a ResourceList without paying for the items a function does not touch.

kustomize and kpt send the ResourceList in block style: `items:` followed by one
sequence entry per resource. The reader splits that text into one region per item with a
few regular expressions and parses only each item's header (apiVersion, kind, metadata).
The full object is parsed on first access to `Item.obj`. On output an item whose object
was never parsed, or was parsed and not changed, is written back as the very text it came
in as; only changed and new items are serialised. Input the splitter does not understand
(flow-style `items: [...]`, tags on the list, ...) is parsed whole instead: slower, still correct.

Why the split follows YAML structure and stays cheap (issue 13). An entry of the block
sequence starts at a line with exactly the sequence's indentation and a `-`; lines that are
blank or comments (any indentation) never start or end anything; any other line at that
indentation or less is not a plain block list (parsed whole). An item is parsed as the
sequence entry it is (`- ...` with its own indentation), so no offset arithmetic can shift
it. The one structure a line scan cannot see is a quoted scalar whose continuation line
starts with `- ` at the sequence's column; such a split leaves an unterminated quote in the
item before it, which fails to parse as soon as the item is touched, and the runner then
parses the input whole (`parse_whole`) before concluding the input is broken. The header is
read off the text: each header segment is either a one-line plain scalar or parsed as YAML;
a header key twice, or a value before a header key whose quotes or brackets do not pair up
(a quoted scalar whose continuation line could pose as `kind: ...`), sends the item to a
full parse.

What a line scan cannot see is checked before the split is trusted (issue 25):

* Line breaks. YAML (and kustomize's reader) breaks lines at LF, CRLF, a bare CR, and, as
  libyaml and Go's yaml.v3 do, at NEL, LS and PS. The splitter follows LF only, so an input
  with any of the others (kustomize and kpt never write one) is parsed whole: an item
  joined to the previous one by bare CRs is seen, as kustomize sees it.
* Quoted scalars. A quoted scalar may span lines, and a continuation line may look like an
  item (`- kind: Namespace`), a top-level key or a `---`. From each boundary backwards,
  the last quote that could end a scalar tells whether one may still be open there (every
  real opener is a quote after a space, a line break, `:` or a flow indicator); where one
  may, the item holding its opener is parsed, and if it does not parse the boundary was
  inside a scalar: the input is parsed whole. This costs a few `rfind`s per boundary
  (0.3 ms on Kubeflow v1.10, where one small item is parsed). Block scalars need no
  check: a line at the sequence's indentation ends them.
* Size. One item larger than MAX_ITEM_BYTES is refused before anything is parsed (parsing
  costs about a second per MB and a hundred times the text in memory); input that must be
  parsed whole is refused above MAX_WHOLE_BYTES.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Iterable, Iterator, Optional

from . import yamlio
from .results import ERROR, Result


class InputError(Exception):
    """The input is not a ResourceList this runtime can read."""


class TooLargeError(InputError):
    """An item (or an input that must be parsed whole) is over the size bound: refused
    without parsing, and never retried as a parse of the whole input."""


# The largest object in Kubeflow's renders is KServe's InferenceService CRD: 0.68 MB in
# v1.3.0 and v1.7.0, 0.98 MB in v1.10. The API server refuses a request body over 3 MiB.
MAX_ITEM_BYTES = 4 * 1024 * 1024
# Input the splitter cannot take apart item by item (flow style, JSON, line breaks other
# than LF and CRLF) is parsed whole: all of Kubeflow v1.10 (10 MB) fits.
MAX_WHOLE_BYTES = 16 * 1024 * 1024


LOCAL_CONFIG = "config.kubernetes.io/local-config"
# Annotations the orchestrators (kustomize, kpt) add to every item for their own bookkeeping
# (ids, file paths, indexes): not the user's data, so never evidence of what an object refers to.
TOOL_ANNOTATION_PREFIXES = (
    "config.kubernetes.io/",
    "internal.config.kubernetes.io/",
    "config.k8s.io/",
    "kustomize.config.k8s.io/",
)

# Column-0 lines that are neither blank nor comments: top-level keys, `---`, `...`, `- `.
# Written as "newline, then ..." rather than with `^` and re.M: a pattern that starts with
# a literal lets the regex engine skip ahead with a fast scan instead of trying every
# position of a 10 MB text.
_TOP_LINE = re.compile(r"\n([^ \t#\r\n][^\n]*)")
_NON_SPACE = re.compile(r"\S")
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*\r?$")
_CONTENT_LINE = re.compile(r"^([ ]*)(?![ \t#\r\n])(.)", re.M)
_SEQ_INDENT_CACHE: dict = {}
_KEY_INDENT_CACHE: dict = {}
_DEDENT_CACHE: dict = {}
_HEADER_KEYS = ("apiVersion", "kind", "metadata")
_SIMPLE_SCALAR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./_-]*$")


def _item_start_re(d: int):
    """Sequence entries at indent d: matches the newline before each entry's line."""
    rx = _SEQ_INDENT_CACHE.get(d)
    if rx is None:
        rx = _SEQ_INDENT_CACHE[d] = re.compile(r"\n {%d}-(?=[ \r\n]|$)" % d)
    return rx


def _item_key_re(m: int):
    rx = _KEY_INDENT_CACHE.get(m)
    if rx is None:
        rx = _KEY_INDENT_CACHE[m] = re.compile(r"\n {%d}(?![ \t#\r\n-])([^:\r\n]+?)[ \t]*:(?=[ \t\r\n]|$)" % m)
    return rx


def _dedent(text: str, m: int) -> str:
    if m == 0:
        return text
    rx = _DEDENT_CACHE.get(m)
    if rx is None:
        rx = _DEDENT_CACHE[m] = re.compile(r"^ {1,%d}" % m, re.M)
    return rx.sub("", text)


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, _, version = api_version.rpartition("/")
        return group, version
    return "", api_version


class Item:
    """One resource of the list: its original text, its header, and its object on demand."""

    __slots__ = ("raw", "_layout", "_body", "_header", "_obj", "_repr0", "_forced", "_src")

    def __init__(
        self, raw: Optional[str] = None, layout=None, obj: Optional[dict] = None, body: Optional[str] = None, line=1
    ):
        self.raw = raw  # the item's text in the input, sequence dash and indentation included
        self._src = line  # the input line raw starts on, or (block, offset, block's first line) to count it from
        # (dash offset, first key offset, key column) within raw; key column -1: not a plain
        # block mapping (flow style, tag, anchor ...), so the header comes from a full parse
        self._layout = layout
        self._body = body  # the same text as a standalone YAML document, made on demand
        self._header: Optional[dict] = None
        self._obj = obj
        self._repr0: Optional[str] = None
        self._forced = obj is not None and raw is None  # a new object: always written out

    @classmethod
    def new(cls, obj: dict) -> "Item":
        if not isinstance(obj, dict):
            raise TypeError("an item must be a mapping")
        return cls(obj=obj)

    # -- parsing -----------------------------------------------------------------------
    @property
    def line(self) -> int:
        """The input line the item's text starts on (counted only when a message needs it)."""
        if isinstance(self._src, tuple):
            block, offset, first = self._src
            self._src = first + block.count("\n", 0, offset)
        return self._src

    @property
    def body(self) -> str:
        if self._body is None:
            _, content, m = self._layout
            self._body = _dedent(self.raw[content:], m) if m >= 0 else self.raw[content:]
        return self._body

    @property
    def obj(self) -> dict:
        """The whole resource as plain Python data; parsed on first use.

        Parsed as the sequence entry it is in the input (dash, indentation and comments
        included), so the object is exactly what a parse of the whole list gives."""
        if self._obj is None:
            try:
                if self._layout is _STREAM_LAYOUT:
                    obj = yamlio.load(self._body)  # a document of a stream
                else:
                    entries = yamlio.load(self.raw)
                    if not isinstance(entries, list) or len(entries) != 1:
                        raise InputError(
                            f"item {self._where()} is not one sequence entry: the input's item "
                            "boundaries are not what they seem"
                        )
                    obj = entries[0]
            except yamlio.YAMLError as e:
                raise InputError(f"item {self._where()} is not valid YAML: {_yaml_problem(e, self.line - 1)}") from None
            if not isinstance(obj, dict):
                raise InputError(f"item {self._where()} is not a mapping")
            self._obj = obj
            self._repr0 = repr(obj)
        return self._obj

    @property
    def loaded(self) -> bool:
        return self._obj is not None

    def _where(self) -> str:
        """kind namespace/name read off the text: safe while the item cannot be parsed."""
        body = self.body
        found = {
            key: re.search(r"(?m)^(?:%s)[ \t]*:[ \t]*['\"]?([^\s#'\",}]+)" % pattern, body)
            for key, pattern in (
                ("kind", "kind"),
                ("name", r"[ \t]+name|metadata:[ \t]*\{.*?\bname"),
                ("namespace", r"[ \t]+namespace|metadata:[ \t]*\{.*?\bnamespace"),
            )
        }
        if found["kind"] and found["name"]:
            ns = f"{found['namespace'].group(1)}/" if found["namespace"] else ""
            return f"{found['kind'].group(1)} {ns}{found['name'].group(1)}"
        first = body.strip().splitlines()[:1]
        return repr(first[0][:60]) if first else "(empty)"

    def where(self) -> str:
        """kind namespace/name for messages, from the header when it parses, else the text."""
        try:
            return self.ref()
        except InputError:
            return self._where()

    @property
    def header(self) -> dict:
        """apiVersion, kind and metadata, parsed from the item's own top-level keys only."""
        self._metadata()
        return self._head()

    def _head(self) -> dict:
        """The header with metadata possibly still unparsed (what kind/apiVersion need)."""
        if self._obj is not None:
            return self._obj
        if self._header is None:
            self._header = self._parse_header()
        return self._header

    def _parse_header(self) -> dict:
        """apiVersion and kind read off their lines; metadata kept as text, parsed on first use."""
        raw = self.raw
        _, content, m = self._layout
        if m < 0:
            return self.obj
        first_key = raw[content : raw.find(":", content)].strip()
        spans = [(content, first_key)]
        wanted = set(_HEADER_KEYS)
        wanted.discard(first_key)
        for mt in _item_key_re(m).finditer(raw, content):
            spans.append((mt.start() + 1, mt.group(1)))
            if not wanted and spans[-2][1] in _HEADER_KEYS:
                break  # the segment after the last header key has started
            wanted.discard(mt.group(1))
        last = max((i for i, (_, key) in enumerate(spans) if key in _HEADER_KEYS), default=-1)
        header_keys = [key for _, key in spans[: last + 1] if key in _HEADER_KEYS]
        if len(set(header_keys)) != len(header_keys) or any(key == "<<" for _, key in spans):
            return self.obj  # a header key twice, or a merge key that may supply one: no line is trusted
        for i in range(last):
            if spans[i][1] not in _HEADER_KEYS and not _balanced(raw[spans[i][0] : spans[i + 1][0]]):
                return self.obj  # an earlier value may be a quoted scalar whose line poses as a header key
        header: dict = {}
        for i, (start, key) in enumerate(spans):
            if key not in _HEADER_KEYS:
                continue
            end = spans[i + 1][0] if i + 1 < len(spans) else len(raw)
            segment = raw[start:end]
            if key == "metadata":
                header["metadata"] = _LazyText(_dedent(segment, m))
                continue
            value = segment.split(":", 1)[1].split(" #", 1)[0].strip()
            if not _SIMPLE_SCALAR.match(value):
                try:
                    value = yamlio.load(_dedent(segment, m))[key]
                except (yamlio.YAMLError, TypeError, KeyError):
                    return self.obj  # unusual layout (or broken YAML): parse the whole item
            header[key] = value
        if "kind" not in header:
            return self.obj
        return header

    def _metadata(self) -> dict:
        header = self._head()
        md = header.get("metadata")
        if isinstance(md, _LazyText):
            try:
                md = yamlio.load(md.text).get("metadata")
            except (yamlio.YAMLError, AttributeError):
                md = self.obj.get("metadata")
                return md if isinstance(md, dict) else {}
            header["metadata"] = md
        return md if isinstance(md, dict) else {}

    def _came_as_local_config(self) -> bool:
        """Whether the item, as it came in (not as a function left it), was local config:
        decided from its parsed kind and annotations, never from a substring of its text."""
        return Item(raw=self.raw, layout=self._layout, line=self._src).is_local_config

    # -- identity ----------------------------------------------------------------------
    @property
    def api_version(self) -> str:
        return str(self._head().get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self._head().get("kind") or "")

    @property
    def group(self) -> str:
        return _group_version(self.api_version)[0]

    @property
    def version(self) -> str:
        return _group_version(self.api_version)[1]

    @property
    def metadata(self) -> dict:
        return self._metadata()

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def labels(self) -> dict:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def annotations(self) -> dict:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, dict) else {}

    @property
    def is_local_config(self) -> bool:
        """A Kptfile or a resource annotated local-config: input to tools, never mutated."""
        return self.kind == "Kptfile" or str(self.annotations.get(LOCAL_CONFIG, "")).lower() == "true"

    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    # -- output ------------------------------------------------------------------------
    @property
    def changed(self) -> bool:
        if self._forced:
            return True
        return self._obj is not None and repr(self._obj) != self._repr0

    def text(self, indent: int) -> str:
        """This item as a sequence entry at `indent` spaces, ending with a newline.

        A local-config item (Kptfile, a config passed among the items) always goes out as
        it came in, whatever a function did to it: the runtime's guarantee, not each
        function's."""
        if self.raw is not None and (not self.changed or self._came_as_local_config()):
            return self.raw
        body = yamlio.dump(self.obj)
        pad = " " * (indent + 2)
        lines = body.splitlines(True)
        out = [" " * indent + "- " + lines[0]]
        out.extend(pad + line if line.strip() else line for line in lines[1:])
        return "".join(out)


class ResourceList:
    """The items, the functionConfig and the results of one function call."""

    def __init__(self, items: list, function_config, function_config_text: Optional[str], seq_indent: int):
        self.items: list[Item] = items
        self.function_config = function_config
        self._function_config_text = function_config_text
        self.seq_indent = seq_indent
        self.results: list[Result] = []

    # -- reading -----------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "ResourceList":
        if text.startswith("\ufeff"):
            text = text[1:]
        if not _NON_SPACE.search(text):
            raise InputError("the input is empty; expected a ResourceList on stdin")
        if _odd_line_breaks(text):
            return cls._parse_whole(text)  # lines the splitter cannot see: YAML's own reading
        try:
            return cls._split(text)
        except _Unusual as unusual:
            cause = unusual.args[0] if unusual.args else None
        try:
            return cls._parse_whole(text)
        except TooLargeError:
            raise
        except InputError:
            if isinstance(cause, InputError):
                raise cause from None  # the segment's own error names it (the functionConfig, ...)
            raise

    @classmethod
    def _split(cls, text: str) -> "ResourceList":
        tops = []
        for mt in _top_lines(text):
            line = mt.group(1).rstrip("\r")
            if line == "..." and tops:  # the document's end: only comments may follow
                if _CONTENT_LINE.search(text, mt.end(1)) or re.search(r"^[ \t]*[^#\s]", text[mt.end(1) :], re.M):
                    raise _Unusual
                text = text[: mt.start(1)]
                break
            if line in ("---", "..."):
                if tops:  # a second document
                    raise _Unusual
                continue
            if line.startswith("-"):
                continue  # an item of a zero-indented `items:` sequence
            km = _TOP_KEY.match(line)
            if not km:
                raise _Unusual
            tops.append((mt.start(1), mt.end(1), km.group(1), km.group(2) or ""))
        segments = {}
        for i, (start, line_end, key, rest) in enumerate(tops):
            end = tops[i + 1][0] if i + 1 < len(tops) else len(text)
            if key in segments:
                raise _Unusual  # a key twice, or a quoted scalar's line posing as one: the whole parse says which
            segments[key] = (start, line_end, end, rest)
        envelope = {}
        for key in ("apiVersion", "kind"):
            if key in segments:
                start, _, end, _ = segments[key]
                envelope.update(_load_segment(text[start:end]))
        _check_envelope(envelope)

        items: list[Item] = []
        seq_indent = 0
        items_at: tuple = (len(text), [])
        if "items" in segments:
            start, line_end, end, rest = segments["items"]
            rest = ("" if rest.startswith("#") else rest.split(" #")[0]).strip()
            if rest in ("[]", "null", "~"):
                pass
            elif rest:
                raise _Unusual  # flow-style items
            else:
                block = text[line_end + 1 : end] if line_end < len(text) else ""
                items, seq_indent, starts = _split_items(block, text.count("\n", 0, line_end + 1) + 1)
                items_at = (line_end + 1, [line_end + 1 + s for s in starts])
        _check_quoted_scalars(text, [start for start, _, _, _ in tops], items, items_at)
        function_config, fc_text = None, None
        if "functionConfig" in segments:
            start, _, end, _ = segments["functionConfig"]
            fc_text = text[start:end]
            if not fc_text.endswith("\n"):
                fc_text += "\n"
            function_config = _load_segment(fc_text, "the functionConfig", text.count("\n", 0, start)).get(
                "functionConfig"
            )
        return cls(items, function_config, fc_text, seq_indent)

    @classmethod
    def parse_whole(cls, text: str) -> Optional["ResourceList"]:
        """The input parsed as one YAML document (no split); None when that fails too.

        The runner's check before it calls an input broken: an item that fails to parse
        after the split may only look broken because a quoted scalar crossed a line the
        split took for an item boundary."""
        if text.startswith("\ufeff"):
            text = text[1:]
        try:
            return cls._parse_whole(text)
        except InputError:
            return None

    @classmethod
    def _parse_whole(cls, text: str) -> "ResourceList":
        _check_whole_size(text)
        try:
            docs = yamlio.load_all(text)
        except yamlio.YAMLError as e:
            raise InputError(f"the input is not valid YAML: {_yaml_problem(e)}") from None
        docs = [d for d in docs if d is not None]
        if len(docs) != 1:
            raise InputError(f"expected one ResourceList document, found {len(docs)} documents")
        doc = docs[0]
        if not isinstance(doc, dict):
            raise InputError("the input is not a ResourceList: the document is not a mapping")
        _check_envelope(doc)
        raw_items = doc.get("items") or []
        if not isinstance(raw_items, list):
            raise InputError("the ResourceList's items is not a list")
        items = []
        for i, obj in enumerate(raw_items):
            if not isinstance(obj, dict):
                raise InputError(f"items[{i}] is not a mapping")
            items.append(Item(obj=obj))
        fc = doc.get("functionConfig")
        return cls(items, fc, None, 0)

    # -- writing -----------------------------------------------------------------------
    def emit(self) -> str:
        out = ["apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"]
        if self.items:
            out.append("items:\n")
            out.extend(item.text(self.seq_indent) for item in self.items)
        else:
            out.append("items: []\n")
        if self._function_config_text is not None:
            out.append(self._function_config_text)
        elif self.function_config is not None:
            out.append(yamlio.dump({"functionConfig": self.function_config}))
        if self.results:
            out.append(yamlio.dump({"results": [r.to_dict() for r in self.results]}))
        return "".join(out)

    # -- helpers for functions ---------------------------------------------------------
    def mutable_items(self) -> Iterator[Item]:
        """Every item a function may change: local-config resources are never mutated."""
        return (item for item in self.items if not item.is_local_config)

    def add(self, obj: dict) -> Item:
        item = Item.new(obj)
        self.items.append(item)
        return item

    def replace_text(self, item: Item, raw: str) -> Item:
        """Swap `item` for the entry read from `raw`: its text with an edit the calling function
        knows to be exact (a one-line change on a 10 MB stream need not parse and re-dump the
        object). The new entry goes out as that text."""
        new = Item(raw=raw, layout=_entry_layout(raw, self.seq_indent))
        self.items = [new if i is item else i for i in self.items]
        for result in self.results:  # results about the item name it as it now is (e.g. its new namespace)
            if result.item is item:
                result.item = new
        return new

    def remove(self, items: Iterable[Item], why: Optional[str] = None) -> int:
        """Drop `items` from the output; with `why`, report each one as an info result."""
        gone = {id(i): i for i in items if not i.is_local_config}
        if why:
            for item in gone.values():
                self.result(f"removed: {why}", "info", item)
        self.items = [i for i in self.items if id(i) not in gone]
        return len(gone)

    def result(
        self, message: str, severity: str = "info", item: Optional[Item] = None, field: Optional[str] = None
    ) -> Result:
        r = Result(message, severity, item, field)
        self.results.append(r)
        return r

    @property
    def has_errors(self) -> bool:
        return any(r.severity == ERROR for r in self.results)


def _balanced(segment: str) -> bool:
    """Whether every quote and bracket in `segment` may be closed within it (by count: a
    segment cut inside a quoted scalar or a flow collection leaves one unmatched)."""
    return (
        (segment.count('"') - segment.count('\\"')) % 2 == 0
        and segment.count("'") % 2 == 0
        and segment.count("[") == segment.count("]")
        and segment.count("{") == segment.count("}")
    )


def _top_lines(text: str):
    """Matches of _TOP_LINE, the first line of the text included (group 1 is the line)."""
    if text and text[0] not in " \t#\r\n":
        yield re.match(r"([^\n]*)", text)
    yield from _TOP_LINE.finditer(text)


class _LazyText:
    """An item's metadata segment, parsed only when a function asks for it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Unusual(Exception):
    """The fast splitter does not understand this layout; parse the whole document."""


def _yaml_problem(e: Exception, line_offset: int = 0) -> str:
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1 + line_offset}, column {mark.column + 1})"


def _load_mapping(text: str, what: str = "the input", line_offset: int = 0) -> dict:
    try:
        value = yamlio.load(text)
    except yamlio.YAMLError as e:
        raise InputError(f"{what} is not valid YAML: {_yaml_problem(e, line_offset)}") from None
    if not isinstance(value, dict):
        raise _Unusual
    return value


def _load_segment(text: str, what: str = "the input", line_offset: int = 0) -> dict:
    """A top-level segment found by the line scan: when it does not parse, the scan may have
    cut a quoted scalar, so the whole parse decides (and reports the input's real error)."""
    try:
        return _load_mapping(text, what, line_offset)
    except InputError as e:
        raise _Unusual(e) from None


def _odd_line_breaks(text: str) -> bool:
    """Whether the text breaks a line anywhere but at LF or CRLF: a bare CR (YAML's own
    rule), or NEL, LS, PS (libyaml's and Go yaml.v3's, so kustomize's)."""
    return (
        ("\r" in text and text.count("\r") != text.count("\r\n"))
        or "\x85" in text
        or "\u2028" in text
        or "\u2029" in text
    )


def _check_whole_size(text: str) -> None:
    if len(text) > MAX_WHOLE_BYTES:
        raise TooLargeError(
            f"the input is {_mib(len(text))} and not in the block layout kustomize and kpt write (flow style, "
            f"JSON, or line breaks other than LF and CRLF), so it would be parsed whole: kfkrm parses at most "
            f"{_mib(MAX_WHOLE_BYTES)} that way"
        )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def _check_item_size(item: "Item", size: int) -> None:
    if size > MAX_ITEM_BYTES:
        stream = item._layout is _STREAM_LAYOUT
        head = (item._body if stream else item.raw)[:65536]  # the name is read off the item's start
        head = head[: head.rfind("\n") + 1] or head
        where = Item(raw=head, layout=item._layout, body=head if stream else None)
        raise TooLargeError(
            f"item {where._where()} (line {item.line}) is {_mib(size)}: kfkrm reads items up to "
            f"{_mib(MAX_ITEM_BYTES)} (Kubeflow's largest object is under 1 MiB); nothing was parsed"
        )


# A quote may open a quoted scalar only after a space, tab, line break, `:` or a flow
# indicator (a real opener always is; most closing quotes are not).
_OPENS_AFTER = frozenset(" \t\n[{,:")


def _quotes_across(text: str, bounds: list) -> Iterator[int]:
    """Offsets of the quotes that may open a quoted scalar reaching past one of `bounds`
    (sorted offsets of the line starts a split relies on).

    Taken from each boundary backwards, so that only the quotes just before a boundary cost
    Python steps (`str.rfind` does the scanning):

    * double quotes: a scalar opened at `q` ends at the next unescaped `"`, so a boundary is
      inside one only if the last unescaped `"` before it could open one (a `"` after a
      backslash counts as escaped: at worst one more item is checked);
    * single quotes: inside a scalar a run of quotes of even length is escaped quotes, one
      of odd length closes it; so the last odd run before the boundary decides: it opens a
      scalar reaching past the boundary only if its first quote could open one.

    Where no quote before a boundary decides, the previous boundary's answer stands (the
    text between them has no closing quote). Every real opener is among the candidates, so
    no quoted scalar crossing a boundary is missed; a candidate that is no opener only
    costs a parse of its item."""
    if not bounds:
        return
    rfind = text.rfind
    seen = set()
    for quote in ('"', "'"):
        prev, state = 0, -1  # state: the candidate whose scalar reaches the previous boundary, or -1
        for b in bounds:
            pos = b
            while True:
                a = rfind(quote, prev, pos)
                if a < 0:
                    break  # nothing decides here: the previous boundary's state stands
                if quote == '"':
                    if a and text[a - 1] == "\\":
                        pos = a  # (looks) escaped: no end of a scalar
                        continue
                    first = a
                else:
                    first = a
                    while first > prev and text[first - 1] == "'":
                        first -= 1
                    if (a - first) % 2 == 1:
                        pos = first  # an even run: escaped quotes inside a scalar, or plain text
                        continue
                state = first if first == 0 or text[first - 1] in _OPENS_AFTER else -1
                break
            if state >= 0 and state not in seen:
                seen.add(state)
                yield state
            prev = b


def _check_quoted_scalars(text: str, tops: list, items: list, items_at: tuple) -> None:
    """The split is trusted only if no quoted scalar crosses a line it cut at: where a
    candidate's span does, the item (or top-level segment) holding it must parse."""
    block_start, starts = items_at
    bounds = sorted(set(tops + starts))
    block_end = min((t for t in tops if t > block_start), default=len(text))
    checked = set()
    for q in _quotes_across(text, bounds):
        if block_start <= q < block_end and starts:
            i = max(bisect_right(starts, q) - 1, 0)
            if i in checked:
                continue
            checked.add(i)
            try:
                items[i].obj
            except InputError:
                raise _Unusual from None
        else:
            t = max(bisect_right(tops, q) - 1, 0)
            if ("top", t) in checked:
                continue
            checked.add(("top", t))
            end = min((b for b in tops if b > tops[t]), default=len(text)) if tops else len(text)
            _load_segment(text[tops[t] if tops else 0 : end])


def _check_envelope(doc: dict) -> None:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind == "ResourceList" and isinstance(api_version, str) and api_version.startswith("config.kubernetes.io/"):
        return
    if kind == "List" and api_version in ("v1", None):
        return
    if kind is None and api_version is None:
        raise InputError("the input is not a ResourceList: it has no apiVersion and kind")
    raise InputError(
        f"the input is not a ResourceList: got apiVersion {api_version!r}, kind {kind!r} "
        "(expected config.kubernetes.io/v1 ResourceList, or v1 List)"
    )


def _split_items(block: str, first_line: int = 1) -> tuple[list, int, list]:
    first = _CONTENT_LINE.search(block)
    if first is None:
        return [], 0, []
    d = len(first.group(1))
    if first.group(2) != "-":
        raise _Unusual
    starts = [mt.start() + 1 for mt in _item_start_re(d).finditer(block)]
    if first.start() == 0:  # the first entry has no newline before it in the block
        starts.insert(0, 0)
    if not starts or starts[0] > first.start():
        raise _Unusual
    if d > 0 and re.search(r"^ {0,%d}(?![ \t#\r\n])(?=.)" % (d - 1), block, re.M):
        raise _Unusual  # content indented less than the sequence: not a plain block list
    starts[0] = 0  # comments and blank lines before the first entry belong to it
    items = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(block)
        raw = block[start:end]
        if not raw.endswith("\n"):
            raw += "\n"
        item = Item(raw=raw, layout=_entry_layout(raw, d), line=(block, start, first_line))
        _check_item_size(item, end - start)
        items.append(item)
    return items, d, starts


def _entry_layout(raw: str, d: int) -> tuple[int, int, int]:
    """Where the mapping inside the sequence entry `raw` starts.

    Returns (dash, content, m): the offset of the entry's dash, the offset of its first
    key, and the column of the mapping's keys.
    """
    mt = _item_start_re(d).search("\n" + raw)  # the entry's line may be the first
    dash = mt.start() + d
    line_end = raw.find("\n", dash)
    if line_end < 0:
        line_end = len(raw)
    first_line = raw[dash + 1 : line_end].rstrip("\r")
    content = first_line.lstrip(" ")
    if content and not content.startswith("#"):
        offset = len(first_line) - len(content)
        if content[0] in "{[&!|>'\"?\t" or offset == 0:
            return dash, dash + 1 + offset, -1  # not a plain block mapping: header from a full parse
        return dash, dash + 1 + offset, d + 1 + offset
    nxt = _CONTENT_LINE.search(raw, line_end + 1)
    if nxt is None:
        return dash, dash + 1, -1  # an empty entry (null): the full parse says it is not a mapping
    m = len(nxt.group(1))
    if m <= d or nxt.group(2) in "{[&!|>'\"?-":
        return dash, nxt.start() + m, -1
    return dash, nxt.start() + m, m


_STREAM_LAYOUT = (0, 2, 2)  # a document of a stream, re-indented as an entry: parsed from its body
_DOC_SEPARATOR = re.compile(r"^---[ \t]*(?:#[^\n]*)?\r?(?:\n|\Z)", re.M)
_INDENT_2 = re.compile(r"^(?=[^\r\n])", re.M)
_LEADING_BREAKS = re.compile(r"[\r\n]*")


def _several_documents(text: str) -> bool:
    """More than one document with content (not only comments) in `text`."""
    found = 0
    for doc in _DOC_SEPARATOR.split(text):
        if _CONTENT_LINE.search(doc) is not None:
            found += 1
            if found > 1:
                return True
    return False


def items_from_stream(text: str) -> list[Item]:
    """The documents of a multi-document YAML stream (what `kustomize build` prints) as items.

    Split at `---` lines, with the checks the ResourceList splitter makes (line breaks other
    than LF and CRLF, quoted scalars across a `---`, the size of each document); where the
    split cannot be trusted the stream is parsed whole."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.startswith("%") or "\n%" in text:
        _check_directives(text)
        return _stream_whole(text)  # a directive belongs to the document after the `---`
    if _odd_line_breaks(text):
        return _stream_whole(text)
    seps = list(_DOC_SEPARATOR.finditer(text))
    cuts = [0] + [m.start() for m in seps]
    ends = [m.start() for m in seps] + [len(text)]
    begins = [0] + [m.end() for m in seps]
    items: list[Item] = []
    at: dict = {}  # document index -> item
    for i, (begin, end) in enumerate(zip(begins, ends)):
        if _CONTENT_LINE.search(text, begin, end) is None:
            continue
        lead = _LEADING_BREAKS.match(text, begin, end).end() - begin  # type: ignore[union-attr]
        doc = text[begin + lead : end]
        if not doc.endswith("\n"):
            doc += "\n"
        _check_item_size(Item(raw="", layout=_STREAM_LAYOUT, body=doc, line=(text, begin + lead, 1)), end - begin)
        raw = "- " + _INDENT_2.sub("  ", doc)[2:]
        item = Item(raw=raw, layout=_STREAM_LAYOUT, body=doc, line=(text, begin + lead, 1))
        at[i] = item
        items.append(item)
    try:
        for q in _quotes_across(text, cuts[1:]):
            item = at.get(bisect_right(cuts, q) - 1)
            if item is not None:
                item.obj  # a document cut inside a quoted scalar does not parse
    except (_Unusual, InputError):
        return _stream_whole(text)
    return items


def _stream_whole(text: str) -> list[Item]:
    """A stream parsed as YAML reads it, each document an item (written out re-serialised)."""
    _check_whole_size(text)
    try:
        docs = yamlio.load_all(text)
    except yamlio.YAMLError as e:
        raise InputError(f"the input is not valid YAML: {_yaml_problem(e)}") from None
    items = []
    for i, doc in enumerate(d for d in docs if d is not None):
        if not isinstance(doc, dict):
            raise InputError(f"document {i + 1} of the input is not a mapping")
        items.append(Item(obj=doc))
    return items


def _check_directives(text: str) -> None:
    try:
        yamlio.check_directives(text)
    except yamlio.YAMLError as e:
        raise InputError(f"the input is not valid YAML: {_yaml_problem(e)}") from None


def read_input(text: str) -> "ResourceList":
    """A ResourceList, a List, or a plain multi-document stream of resources."""
    if not _several_documents(text):  # a stream of several is never one ResourceList: no whole-text parse
        try:
            return ResourceList.parse(text)
        except TooLargeError:
            raise
        except InputError:
            lines = re.sub("\r\n?|[\x85\u2028\u2029]", "\n", text) if _odd_line_breaks(text) else text
            if not _DOC_SEPARATOR.search(lines) and "\nkind:" not in "\n" + lines:
                raise
    items = items_from_stream(text)
    for item in items:
        if not item.kind:
            raise InputError(f"document {item._where()} has no kind: not a Kubernetes resource")
    return ResourceList(items, None, None, 0)
