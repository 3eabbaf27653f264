"""What a function module provides: the contract the runner, the CLI and the profile rely on.

A function module (fns/<name>.py) is registered in fns.registry with its CLI name, config
kind and one-line summary; the module itself provides:

  Config      a FunctionConfig subclass; Config.KIND is the registered kind
  transform   transform(rl, config) -> str: changes rl in place (or adds error results,
              and the runner then emits the input unchanged) and returns the one-line
              summary printed on stderr

Its documented example lives in examples/<name>-simple/fn-config.yaml, its user docs in
docs/functions/<name>.md. tests/test_module_graph.py checks every registered module
against this protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import FunctionConfig
    from .resourcelist import ResourceList


class FunctionModule(Protocol):
    Config: type[FunctionConfig]

    def transform(self, rl: ResourceList, config: FunctionConfig) -> str: ...
