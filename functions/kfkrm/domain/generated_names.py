"""Names the API server generates from `metadata.generateName`.

An object with `generateName` and no `name` is named by the API server on create:
generateName cut to 58 characters, then 5 random characters from
"bcdfghjklmnpqrstvwxz2456789" (k8s.io/apiserver storage/names SimpleNameGenerator,
k8s.io/apimachinery util/rand). A policy that forbids names by glob must ask whether any
such name can match, or an object spelled with generateName passes (issue 25).
"""

from __future__ import annotations

from typing import Optional

MAX_NAME_LENGTH = 63
RANDOM_LENGTH = 5
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generate_name(metadata: dict) -> Optional[str]:
    """The prefix the API server completes, when the object has generateName and no name."""
    if metadata.get("name"):
        return None
    prefix = metadata.get("generateName")
    return prefix if isinstance(prefix, str) and prefix else None


def could_match(glob: str, prefix: str) -> bool:
    """Whether `glob` (fnmatch syntax, case-sensitive, as selector terms use it) matches some
    name the API server can generate from `prefix`.

    Exact, by running the glob as a set of positions over the prefix and then over five
    characters, each any of the generator's alphabet."""
    tokens = _tokens(glob)
    states = _closure(tokens, {0})
    for ch in prefix[: MAX_NAME_LENGTH - RANDOM_LENGTH]:
        states = _closure(tokens, _step(tokens, states, ch))
    for _ in range(RANDOM_LENGTH):
        states = _closure(tokens, set().union(*(_step(tokens, states, ch) for ch in ALPHABET)))
        if not states:
            return False
    return len(tokens) in states


def _tokens(glob: str) -> list:
    """fnmatch's syntax: `*`, `?`, `[seq]`, `[!seq]` (ranges allowed), anything else literal."""
    tokens: list = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            tokens.append(("*", None))
        elif c == "?":
            tokens.append(("?", None))
        elif c == "[":
            j = i + 1
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            while j < len(glob) and glob[j] != "]":
                j += 1
            if j >= len(glob):
                tokens.append(("=", "["))  # no closing bracket: a literal, as fnmatch reads it
            else:
                body = glob[i + 1 : j]
                negate = body.startswith("!")
                tokens.append(("[", (negate, _ranges(body[1:] if negate else body))))
                i = j
        else:
            tokens.append(("=", c))
        i += 1
    return tokens


def _ranges(body: str) -> list:
    out = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out.append((body[i], body[i + 2]))
            i += 3
        else:
            out.append((body[i], body[i]))
            i += 1
    return out


def _accepts(token, ch: str) -> bool:
    kind, arg = token
    if kind == "?":
        return True
    if kind == "=":
        return ch == arg
    negate, ranges = arg
    return any(lo <= ch <= hi for lo, hi in ranges) != negate


def _step(tokens: list, states: set, ch: str) -> set:
    out = set()
    for s in states:
        if s < len(tokens):
            if tokens[s][0] == "*":
                out.add(s)
            elif _accepts(tokens[s], ch):
                out.add(s + 1)
    return out


def _closure(tokens: list, states: set) -> set:
    """A `*` may match nothing: its position also stands for the one after it."""
    out = set(states)
    todo = list(states)
    while todo:
        s = todo.pop()
        if s < len(tokens) and tokens[s][0] == "*" and s + 1 not in out:
            out.add(s + 1)
            todo.append(s + 1)
    return out
