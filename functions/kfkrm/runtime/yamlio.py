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
"""
from __future__ import annotations

import re

import yaml

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

YAMLError = yaml.YAMLError


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


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        value = int(text[2:], 8)
    elif text.startswith("0x"):
        value = int(text[2:], 16)
    else:
        value = int(text, 10)
    return Int(value, text)


def _construct_float(loader, node):
    text = loader.construct_scalar(node)
    lowered = text.lower()
    if lowered.endswith(".inf"):
        value = float("-inf") if text.startswith("-") else float("inf")
    elif lowered == ".nan":
        value = float("nan")
    else:
        value = float(text)
    return Float(value, text)


def _construct_bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


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
Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)
Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
# Explicit 1.1-only tags (!!timestamp, !!binary, !!set ...) keep PyYAML's safe meaning;
# implicit resolution can no longer produce them.


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

_WIDTH = 1 << 30  # never fold a long string


def load(text: str):
    """Parse one YAML document under the YAML 1.2 core schema."""
    return yaml.load(str.__str__(text), Loader=Loader)  # a plain str: libyaml refuses subclasses


def load_all(text: str):
    return list(yaml.load_all(str.__str__(text), Loader=Loader))


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
