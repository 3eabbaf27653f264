"""Every function's results, gathered across function calls and shown as one table.

kustomize discards the `results:` of a function's ResourceList: under kustomize the user
sees one summary line per function ("19 warnings (see results)") and nowhere to see them.
`kfkrm build` names a file in KFKRM_RESULTS_FILE; the `docker` stand-in (and the in-process
fast path) append one JSON line per function call to it, and the build prints them as a
table on stderr after the render, then the "to do on your cluster" list: the results a
function tagged as an action outside the render (kfkrm.dev/action), each once.

Nothing is cut: when stderr is not a terminal each row is one whole line; on a terminal the
message column wraps. Every cell is escaped (a newline or ESC in an object's name shows as
\\n or \\x1b), so no input can forge a line of the table or of the counts after it.
`--results FILE` writes every result (info included) as kpt's results file, a
FunctionResultList (kpt.dev/v1).
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import Iterable

from ..runtime import yamlio
from ..runtime.results import ACTION_TAG, ERROR, WARNING, escape

RESULTS_FILE_ENV = "KFKRM_RESULTS_FILE"
SHOWN = (ERROR, WARNING)
_MIN_MESSAGE_WIDTH = 40


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


def is_action(result: dict) -> bool:
    return bool((result.get("tags") or {}).get(ACTION_TAG))


def _object(result: dict) -> str:
    ref = result.get("resourceRef") or {}
    if not ref:
        return "-"
    ns = f"{ref['namespace']}/" if ref.get("namespace") else ""
    return escape(f"{ref.get('kind', '?')} {ns}{ref.get('name', '?')}")


def _message(result: dict) -> str:
    return escape(str(result.get("message", "")).strip())


def rows(calls: list[dict]) -> list[tuple[str, str, str, str, str]]:
    """(function, severity, object, field, message) of every warning and error that is not a to-do."""
    out = []
    for call in calls:
        for r in call.get("results") or []:
            if r.get("severity") not in SHOWN or (is_action(r) and r.get("severity") != ERROR):
                continue
            field = escape((r.get("field") or {}).get("path") or "-")
            out.append((escape(call.get("function", "?")), r["severity"], _object(r), field, _message(r)))
    return out


def actions(calls: list[dict]) -> list[str]:
    """What the operator must do on the cluster, outside the render: each once, in call order."""
    seen: dict[str, None] = {}
    for call in calls:
        for r in call.get("results") or []:
            if is_action(r) and r.get("severity") != ERROR:
                where = _object(r)
                seen.setdefault((f"{where}: " if where != "-" else "") + _message(r))
    return list(seen)


def counts(calls: list[dict]) -> tuple[int, int]:
    """(errors, warnings), to-do entries not counted as warnings."""
    found = rows(calls)
    return sum(1 for r in found if r[1] == ERROR), sum(1 for r in found if r[1] == WARNING)


def table(calls: list[dict], width: int | None = None) -> str:
    """The warnings and errors as aligned columns, or "" when there are none. `width` (a
    terminal's) wraps the message column; None writes each row whole on one line."""
    found = rows(calls)
    if not found:
        return ""
    headers = ("FUNCTION", "SEVERITY", "OBJECT", "FIELD", "MESSAGE")
    widths = [max(len(r[i]) for r in found + [headers]) for i in range(4)]
    indent = sum(widths) + 2 * 4
    lines = []
    for row in [headers] + found:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  "
        message = [row[4]]
        if width is not None:
            message = textwrap.wrap(row[4], max(width - indent, _MIN_MESSAGE_WIDTH), break_on_hyphens=False) or [""]
        lines.append(head + message[0])
        lines.extend(" " * indent + more for more in message[1:])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def todo(calls: list[dict], width: int | None = None) -> str:
    """The "to do on your cluster" list, or "" when there is nothing to do."""
    entries = actions(calls)
    if not entries:
        return ""
    out = ["To do on your cluster (outside the render):"]
    for n, entry in enumerate(entries, 1):
        lead = f"  {n}. "
        parts = [entry]
        if width is not None:
            parts = textwrap.wrap(entry, max(width - len(lead), _MIN_MESSAGE_WIDTH), break_on_hyphens=False) or [""]
        out.append(lead + parts[0])
        out.extend(" " * len(lead) + more for more in parts[1:])
    return "\n".join(out) + "\n"


def results_file(calls: list[dict], exit_code: int) -> str:
    """kpt's results file (`kpt fn render --results-dir`): a FunctionResultList with one item per call."""
    items = []
    for call in calls:
        results = call.get("results") or []
        failed = any(r.get("severity") == ERROR for r in results)
        entry: dict = {"exec": f"kfkrm {call.get('function', '?')}", "exitCode": 1 if failed else 0}
        if results:
            entry["results"] = results
        items.append(entry)
    doc = {
        "apiVersion": "kpt.dev/v1",
        "kind": "FunctionResultList",
        "metadata": {"name": "fnresults"},
        "exitCode": exit_code,
        "items": items,
    }
    return yamlio.dump(doc)
