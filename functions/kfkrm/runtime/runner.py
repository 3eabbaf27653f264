"""Running one function over one ResourceList: the contract every kfkrm function shares.

success: the mutated ResourceList on stdout, a one-line summary on stderr, exit 0.
failure: the *input* items unchanged plus error results on stdout, one line on stderr,
         exit 1. Never a traceback (set KFKRM_DEBUG=1 to see one), never half-mutated items.
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from typing import Optional, cast

from .config import ConfigError, parse_config
from .contract import FunctionModule
from .resourcelist import InputError, ResourceList, TooLargeError
from .results import ERROR, WARNING, Result, escape


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the CLI name, e.g. pod-template-labels
    kind: str  # the config kind, e.g. PodTemplateLabels
    module: str  # the module with Config and transform() (fns.FunctionModule)
    summary: str

    def load(self) -> FunctionModule:
        return cast(FunctionModule, importlib.import_module(self.module))


@dataclass
class Outcome:
    stdout: str
    stderr: str
    exit_code: int
    results: list = field(default_factory=list)  # the Result objects, for callers that show them (kfkrm build)
    function: str = ""  # the function's CLI name, when known


def run(spec: Optional[FunctionSpec], text: str, find_spec=None, _whole: Optional[ResourceList] = None) -> Outcome:
    """Run `spec` (or the one `find_spec(kind)` names for the functionConfig) on `text`."""
    label = f"kfkrm {spec.name}" if spec else "kfkrm"
    given_spec = spec
    try:
        rl = _whole if _whole is not None else ResourceList.parse(text)
        if spec is None:
            spec = find_spec(rl.function_config)
            label = f"kfkrm {spec.name}"
        module = spec.load()
        config = parse_config(module.Config, rl.function_config, spec.name)
        summary = module.transform(rl, config)
        if rl.has_errors:
            return failure(label, text, rl.results)
        out = rl.emit()  # serialising may still meet a broken item
    except ConfigError as e:
        return failure(label, text, [Result(str(e), ERROR)])
    except InputError as e:  # broken input is not echoed: the results must stay readable
        if _whole is None and not isinstance(e, TooLargeError):  # an item split wrongly only looks broken
            whole = ResourceList.parse_whole(text)
            if whole is not None:
                return run(given_spec, text, find_spec, whole)
        return failure(label, "", [Result(str(e), ERROR)])
    except Exception as e:  # a bug: still one line and no half-mutated output
        if os.environ.get("KFKRM_DEBUG"):
            traceback.print_exc()
        return failure(label, text, [Result(f"internal error: {type(e).__name__}: {e}", ERROR)])
    warnings = sum(1 for r in rl.results if r.severity == WARNING)
    line = f"{label}: {summary}"
    if warnings:
        line += f"; {warnings} warning{'s' if warnings != 1 else ''} (see results)"
    return Outcome(out, escape(line) + "\n", 0, list(rl.results), spec.name)


def failure(label: str, text: str, results: list) -> Outcome:
    try:
        rl = ResourceList.parse(text)  # the input as it came: nothing half-mutated
    except Exception:
        rl = ResourceList([], None, None, 0)
    rl.results = [r for r in results]
    errors = [r for r in results if r.severity == ERROR]
    first = errors[0].one_line() if errors else ERROR
    if first.startswith("error: "):
        first = first[len("error: ") :]
    more = f" (and {len(errors) - 1} more errors, see results)" if len(errors) > 1 else ""
    try:
        out = rl.emit()
    except Exception:
        out = ResourceList([], None, None, 0).emit()
    function = label[len("kfkrm ") :] if label.startswith("kfkrm ") else ""
    return Outcome(out, escape(f"{label}: error: {first}{more}") + "\n", 1, list(results), function)
