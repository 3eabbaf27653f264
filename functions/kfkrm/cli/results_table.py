"""Every function's results, gathered across function calls and shown as one table.

kustomize discards the `results:` of a function's ResourceList: under kustomize the user
sees one summary line per function ("19 warnings (see results)") and nowhere to see them.
`kfkrm build` names a file in KFKRM_RESULTS_FILE; the `docker` stand-in (and the in-process
fast path) append one JSON line per function call to it, and the build prints them as a
table on stderr after the render.
"""

from __future__ import annotations

import json
import os
from typing import Iterable

from ..runtime.results import ERROR, WARNING

RESULTS_FILE_ENV = "KFKRM_RESULTS_FILE"
SHOWN = (ERROR, WARNING)
_MESSAGE_WIDTH = 160


def record(function: str, results: Iterable, path: str | None = None) -> None:
    """Append one call's results (Result objects or their dicts) to the results file, if one is named."""
    path = path or os.environ.get(RESULTS_FILE_ENV)
    if not path:
        return
    rows = [r if isinstance(r, dict) else r.to_dict() for r in results]
    line = json.dumps({"function": function, "results": rows}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as f:  # one write per call: lines of parallel calls never interleave
        f.write(line + "\n")


def read(path: str) -> list[dict]:
    """The calls recorded in `path`, in call order: [{"function": ..., "results": [...]}, ...]."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def rows(calls: list[dict]) -> list[tuple[str, str, str, str, str]]:
    """(function, severity, object, field, message) of every warning and error."""
    out = []
    for call in calls:
        for r in call.get("results") or []:
            if r.get("severity") not in SHOWN:
                continue
            ref = r.get("resourceRef") or {}
            obj = "-"
            if ref:
                ns = f"{ref['namespace']}/" if ref.get("namespace") else ""
                obj = f"{ref.get('kind', '?')} {ns}{ref.get('name', '?')}"
            field = (r.get("field") or {}).get("path") or "-"
            out.append(
                (call.get("function", "?"), r["severity"], obj, field, " ".join(str(r.get("message", "")).split()))
            )
    return out


def counts(calls: list[dict]) -> tuple[int, int]:
    found = rows(calls)
    return sum(1 for r in found if r[1] == ERROR), sum(1 for r in found if r[1] == WARNING)


def table(calls: list[dict]) -> str:
    """The warnings and errors as aligned columns, or "" when there are none."""
    found = rows(calls)
    if not found:
        return ""
    headers = ("FUNCTION", "SEVERITY", "OBJECT", "FIELD", "MESSAGE")
    widths = [max(len(r[i]) for r in found + [headers]) for i in range(4)]
    lines = []
    for row in [headers] + found:
        message = row[4] if len(row[4]) <= _MESSAGE_WIDTH else row[4][: _MESSAGE_WIDTH - 3] + "..."
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + message)
    return "\n".join(line.rstrip() for line in lines) + "\n"
