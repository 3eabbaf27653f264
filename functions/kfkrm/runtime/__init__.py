"""The shared runtime: ResourceList I/O, configs, selectors, the pod-template walker, results."""

from .config import API_VERSION, ConfigError, FunctionConfig, Model
from .resourcelist import InputError, Item, ResourceList
from .results import ERROR, INFO, WARNING, Result

__all__ = [
    "API_VERSION",
    "ConfigError",
    "FunctionConfig",
    "Model",
    "InputError",
    "Item",
    "ResourceList",
    "ERROR",
    "INFO",
    "WARNING",
    "Result",
]
