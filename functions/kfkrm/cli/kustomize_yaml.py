"""Writing a resource exactly as `kustomize build` prints it.

The fast path of `kfkrm build` applies functions after kustomize; per call, kustomize
parses each function's output and prints it its own way, so a changed resource must be
written the way kustomize writes, not the way a function keeps a user's file. kustomize
(v5, kubectl's included) prints a resource as JSON turned into YAML by go-yaml v2: keys
sorted, go-yaml v2's choice of scalar style, lines folded at 80 columns. go-yaml v2's
emitter is a port of libyaml, as PyYAML's is; what differs is the choice of style, which
`_represent_str` makes as go-yaml v2's encoder does:
  * a string with a line break: literal block (`|`);
  * a string go-yaml v2 would read back as something else (YAML 1.1 bools such as `on`,
    `y`, null, numbers including octal/hex/base 60, timestamps): double-quoted;
  * anything else: plain, unless the emitter finds it cannot be (then single-quoted).
tests/test_build.py checks this writer against every resource of the embedded upstream
renders, which kustomize printed.
"""

from __future__ import annotations

import re
from functools import cmp_to_key

import yaml

from ..runtime import yamlio

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# go-yaml v2 resolve.go: plain scalars that do not resolve to !!str.
_V2_SPECIAL = {
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    ".nan",
    ".NaN",
    ".NAN",
    ".inf",
    ".Inf",
    ".INF",
    "+.inf",
    "+.Inf",
    "+.INF",
    "-.inf",
    "-.Inf",
    "-.INF",
    "<<",
}
_V2_INT = re.compile(r"^[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_V2_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][-+]?[0-9]+)?$")
_V2_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
# go-yaml's allowedTimestampFormats (resolve.go), as Go's time.Parse reads them:
# "2006-1-2T15:4:5.999999999Z07:00", the same with a lowercase t, "2006-1-2 15:4:5.999999999"
# (one or more spaces, no zone) and "2006-1-2". Not YAML 1.1's wider timestamp (`... 21:59:43.10 -5`
# stays plain in kustomize's output).
_V2_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})"
    r"| +[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?$"
)


def _resolves_to_non_string(s: str) -> bool:
    if s in _V2_SPECIAL:
        return True
    if not s or s[0] not in "0123456789+-.":
        return False
    if _V2_INT.match(s) or _V2_BASE60.match(s) or _V2_TIMESTAMP.match(s):
        return True
    return bool(_V2_FLOAT.match(s)) and any(c.isdigit() for c in s)


class Dumper(_BaseDumper):
    def ignore_aliases(self, data):
        return True


# Only the plain forms this writer itself produces for booleans, null and numbers; which
# strings need quotes is decided by the representer alone.
Dumper.yaml_implicit_resolvers = {}
Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))
Dumper.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^null$"), ["n"])
Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^-?[0-9]+$"), list("-0123456789"))
Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?$"), list("-0123456789")
)


def _represent_str(dumper, data):
    s = str.__str__(data)
    if "\n" in s:
        style = "|"
    elif _resolves_to_non_string(s):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)


def _represent_int(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:int", str(int(data)))


def _represent_float(dumper, data):
    value = float(data)
    text = str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


def _represent_bool(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:bool", "true" if data else "false")


def _represent_none(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:null", "null")


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2's map key order (sorter.go): at the first difference, letters by code point,
    a non-letter before a letter, runs of digits by their value."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        al, bl = a[i].isalpha(), b[i].isalpha()
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


_KEY = cmp_to_key(lambda a, b: -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0))


def _represent_map(dumper, data):
    return dumper.represent_mapping("tag:yaml.org,2002:map", sorted(data.items(), key=lambda kv: _KEY(str(kv[0]))))


def _represent_seq(dumper, data):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data)


for _type, _representer in (
    (str, _represent_str),
    (yamlio.Str, _represent_str),
    (int, _represent_int),
    (yamlio.Int, _represent_int),
    (float, _represent_float),
    (yamlio.Float, _represent_float),
    (bool, _represent_bool),
    (type(None), _represent_none),
    (dict, _represent_map),
    (yamlio.FlowMap, _represent_map),
    (list, _represent_seq),
    (yamlio.FlowSeq, _represent_seq),
):
    Dumper.add_representer(_type, _representer)


def dump(obj: dict) -> str:
    """One resource as kustomize prints it (without the `---` separator)."""
    return yaml.dump(
        obj, Dumper=Dumper, default_flow_style=False, allow_unicode=True, width=80, indent=2, sort_keys=False
    )
