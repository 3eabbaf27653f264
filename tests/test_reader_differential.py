"""The fast ResourceList reader against a full PyYAML parse of the same text (issue 13).

The reader splits the `items:` block by lines and parses only what a function asks for.
Its oracle here is PyYAML (kfkrm's YAML 1.2 loader) parsing the whole ResourceList at
once: for the real Kubeflow renders, and for variations of them that hypothesis generates
(comments and blank lines anywhere between items at any indentation, `- # comment` and
dash-on-its-own-line entries, indented sequences, extra spaces after the dash, quoted
header values, flow-style items, CRLF, a BOM, document markers), every item the reader
yields must have the header and the object the oracle gives, and an untouched list must
come back byte for byte.
"""

import json
import random
import re
from functools import lru_cache

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import items_block, rendered_text
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import ResourceList

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

VERSIONS = ("v1.3.0", "v1.7.0", "v1.10")
HEAD = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
CONFIG = "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cfg\n  data:\n    a: b\n"


def _oracle(text: str) -> dict:
    return yaml.load(text.lstrip("\ufeff"), Loader=yamlio.Loader)


def _check(text: str, block: str, expected_items=None):
    """Every property, on one ResourceList text whose `items:` entries are `block`."""
    oracle = _oracle(text)
    want = oracle["items"] or []
    if expected_items is not None:
        assert len(want) == expected_items
    # headers, read off the text before any full parse
    rl = ResourceList.parse(text)
    assert len(rl.items) == len(want)
    for item, obj in zip(rl.items, want):
        md = obj.get("metadata") or {}
        assert (item.api_version, item.kind) == (obj.get("apiVersion"), obj.get("kind"))
        assert (item.name, item.namespace) == (str(md.get("name") or ""), str(md.get("namespace") or ""))
        assert item.labels == (md.get("labels") or {}) and item.annotations == (md.get("annotations") or {})
    # untouched: the very text
    out = rl.emit()
    assert block in out
    # objects, parsed item by item, equal the oracle's; still byte-identical once parsed
    rl = ResourceList.parse(text)
    assert [item.obj for item in rl.items] == want
    assert rl.function_config == oracle.get("functionConfig")
    assert block in rl.emit()
    # a changed item is written anew, the others stay as they were
    if rl.items:
        target = rl.items[len(rl.items) // 2]
        target.obj.setdefault("metadata", {})["annotations"] = {
            **(target.obj["metadata"].get("annotations") or {}),
            "kfkrm.dev/touched": "yes",
        }
        out = rl.emit()
        expected = list(want)
        expected[len(rl.items) // 2] = target.obj
        assert _oracle(out)["items"] == expected
        assert "".join(i.raw for i in rl.items[: len(rl.items) // 2]) in out
        assert "".join(i.raw for i in rl.items[len(rl.items) // 2 + 1 :]) in out


@pytest.mark.parametrize("version", VERSIONS)
def test_real_renders_read_exactly_as_pyyaml_reads_them(version):
    block = items_block(rendered_text(version))
    _check(HEAD + "items:\n" + block + CONFIG, block)


# -- generated variations ---------------------------------------------------------------


@lru_cache(maxsize=None)
def _pool():
    """Item entries (`- ...` text) of every render, grouped so small and odd ones are drawn often."""
    entries = []
    for version in VERSIONS:
        text = items_block(rendered_text(version))
        entries += [m.group(0) for m in re.finditer(r"^- [^\n]*\n(?:(?!- )[^\n]*\n)*", text, re.M)]
    small = [e for e in entries if len(e) < 4000]
    odd = [e for e in entries if any(s in e for s in (": |", ": >", "'", '"', "{", "#"))]
    return small, odd


_COMMENTS = ("# a comment", "#", "# - apiVersion: v1 (not an item)", "#kind: Secret", "# items: []  # nested #")


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + line if line.strip() else line for line in text.splitlines(True))


def _entry_variant(entry: str, draw) -> str:
    style = draw(st.sampled_from(["inline", "own-line", "own-line-comment", "extra-spaces", "flow"]))
    if draw(st.booleans()):
        entry = re.sub(
            r"^(  kind: )([A-Za-z0-9]+)$",
            lambda m: m.group(1) + draw(st.sampled_from(['"{}"', "'{}'"])).format(m.group(2)),
            entry,
            count=1,
            flags=re.M,
        )
    if draw(st.booleans()):
        entry = re.sub(r"^(    name: )([A-Za-z0-9.-]+)$", r'\1"\2"', entry, count=1, flags=re.M)
    first, rest = entry[2:].split("\n", 1)
    if style == "own-line":
        return "-\n  " + first + "\n" + rest
    if style == "own-line-comment":
        return "- " + draw(st.sampled_from(_COMMENTS)) + "\n  " + first + "\n" + rest
    if style == "extra-spaces":
        return "-   " + first + "\n" + _indent(rest, 2)
    if style == "flow":
        obj = yaml.load(entry, Loader=yamlio.Loader)[0]
        try:
            return "- " + json.dumps(obj, allow_nan=False) + "\n"
        except (TypeError, ValueError):
            return entry
    return entry


def _filler(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["comment", "blank", "spaces"]))
        if kind == "comment":
            lines.append(" " * draw(st.integers(0, 9)) + draw(st.sampled_from(_COMMENTS)) + "\n")
        elif kind == "blank":
            lines.append("\n")
        else:
            lines.append(" " * draw(st.integers(1, 9)) + "\n")
    return "".join(lines)


@st.composite
def resource_lists(draw):
    small, odd = _pool()
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(0, 6))
    chosen = [rng.choice(odd if draw(st.booleans()) else small) for _ in range(n)]
    d = draw(st.sampled_from([0, 2, 4]))
    block = ""
    for entry in chosen:
        block += _indent(_filler(draw), 0) + _indent(_entry_variant(entry, draw), d)
    block += _filler(draw)
    head = HEAD
    if draw(st.booleans()):
        head = "---\n" + head
    if draw(st.booleans()):
        head = "# a ResourceList\n" + head
    tail = CONFIG + ("...\n" if draw(st.booleans()) else "")
    items_line = "items:" + draw(st.sampled_from(["", "  # the items"])) + "\n" if chosen else "items: []\n"
    text, block = head + items_line + block + tail, block if chosen else ""
    if draw(st.booleans()):
        text, block = text.replace("\n", "\r\n"), block.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text, block, n


# How many examples, and whether they are fixed, is the profile's (tests/conftest.py): `ci`,
# the default, runs the same 150 on every machine; HYPOTHESIS_PROFILE=deep draws 2000 at random.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_variations_read_exactly_as_pyyaml_reads_them(data):
    text, block, n = data.draw(resource_lists())
    _check(text, block, expected_items=n)
