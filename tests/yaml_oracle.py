"""How the tests read what kfkrm, kustomize and kpt print: PyYAML, independently of kfkrm's
own reader, and fast enough to do it in hundreds of tests.

PyYAML's C loader (libyaml's scanner and parser, PyYAML's constructor and resolver) gives
the objects its pure-Python loader gives, five times faster. Most of what remains is
PyYAML's Python constructor, and most of a function's output is the input's objects,
unchanged, as the same text. So a big stream is cut into its documents (at `---` lines) and
a ResourceList into its items (at `- ` lines in column 0 of `items:`), and each piece is
parsed once per process: a test reading a v1.10 output pays for the items that changed,
not for 10 MB.

Cutting never changes what a text means, it can only fail loudly. Every line of a block
collection's content is indented, so a `- ` or `---` at column 0 starts the next item or
document. The one exception is a quoted scalar whose continuation line starts in column 0
(libyaml allows it): the piece before the cut then ends inside the quotes and does not
parse, and the whole text is parsed at once instead (`_pieces` returns None). A text that is
not laid out this way (flow style, indented items) is parsed whole too.

Each caller gets its own copy of the objects (pickled memo), free to change it.
"""

from __future__ import annotations

import pickle
import re

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MEMO: dict = {}
_MEMO_BYTES = [0]
_MEMO_LIMIT = 256 * 1024 * 1024  # forget everything past this; a file's tests refill it
_CUT_FROM = 64 * 1024  # a smaller text is parsed whole: cutting would not pay

_DOCUMENT_START = re.compile(r"^---[ \t]*(?:#.*)?$")
_TOP_KEY = re.compile(r"^[^\s#-]|^-[^ \t\n]")  # a column-0 line that is not an item's `- `


def _memo(loader, text: str, parse):
    key = (loader, text)
    found = _MEMO.get(key)
    if found is None:
        found = pickle.dumps(parse(), protocol=pickle.HIGHEST_PROTOCOL)
        if _MEMO_BYTES[0] + len(found) > _MEMO_LIMIT:
            _MEMO.clear()
            _MEMO_BYTES[0] = 0
        _MEMO[key] = found
        _MEMO_BYTES[0] += len(found)
    return pickle.loads(found)


def _one(text: str, loader):
    return _memo(loader, text, lambda: yaml.load(text, Loader=loader))


def _item(text: str, loader):
    """One `- ` entry of a sequence in column 0: the object it holds."""
    value = _memo(loader, text, lambda: yaml.load(text, Loader=loader))
    if not isinstance(value, list) or len(value) != 1:
        raise yaml.YAMLError("not one entry")  # the cut was not at an item: read it whole
    return value[0]


def _cut(text: str, starts) -> list[str]:
    lines = text.splitlines(keepends=True)
    pieces, current = [], []
    for line in lines:
        if starts(line) and current:
            pieces.append("".join(current))
            current = []
        current.append(line)
    if current:
        pieces.append("".join(current))
    return pieces


def load(text: str, loader=SAFE_LOADER):
    """yaml.load(text) with `loader`: a mapping whose `items:` is a block sequence in column 0
    (a ResourceList as kfkrm and kustomize write it) is read item by item."""
    text = str(text)  # libyaml reads a str, not a subclass (kfkrm's reader gives those)
    if len(text) < _CUT_FROM or "\nitems:\n- " not in text:
        return _one(text, loader)
    try:
        return _load_by_items(text, loader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=loader)  # a cut inside a quoted scalar: read it whole


def _load_by_items(text: str, loader):
    rest, items, in_items = [], [], False
    for section in _cut(text, lambda line: bool(_TOP_KEY.match(line))):
        if section.startswith("items:\n"):
            if in_items or items:
                raise yaml.YAMLError("two items keys")  # a duplicate: let the whole read say so
            in_items = True
            rest.append("items: []\n")
            entries = section[len("items:\n") :]
            items = [_item(entry, loader) for entry in _cut(entries, lambda line: line.startswith("- "))]
        else:
            rest.append(section)
    doc = _one("".join(rest), loader)
    if not isinstance(doc, dict) or doc.get("items") != []:
        raise yaml.YAMLError("not a mapping with items")
    doc["items"] = items
    return doc


def load_all(text: str, loader=SAFE_LOADER) -> list:
    """The non-empty documents of a YAML stream, as yaml.load_all with `loader` gives them."""
    text = str(text)
    if len(text) < _CUT_FROM:
        return [d for d in yaml.load_all(text, Loader=loader) if d]
    try:
        docs = []
        for piece in _cut(text, lambda line: bool(_DOCUMENT_START.match(line))):
            body = piece.split("\n", 1)[1] if _DOCUMENT_START.match(piece.split("\n", 1)[0]) else piece
            if "\n---" in body or body.startswith("%"):
                raise yaml.YAMLError("directives or an inner marker")
            docs.append(_one(body, loader))
    except yaml.YAMLError:
        return [d for d in yaml.load_all(text, Loader=loader) if d]
    return [d for d in docs if d]
