"""Typed function configs: pydantic models under kfkrm.dev/v1alpha1, and ConfigMap configs.

Every config rejects unknown fields, and every validation message names the field path
and what was expected, on one line.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

API_VERSION = "kfkrm.dev/v1alpha1"


class ConfigError(Exception):
    """The functionConfig is missing, of the wrong kind, or invalid."""


class Model(BaseModel):
    """Base for every config model and sub-model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FunctionConfig(Model):
    """Base of a function's config kind."""

    apiVersion: str = API_VERSION
    kind: str
    metadata: dict[str, Any] = {}

    KIND: ClassVar[str] = ""
    # A ConfigMap config: None when the kind cannot be expressed flat; otherwise a
    # function turning the ConfigMap's string data into this model's fields.
    FROM_CONFIGMAP: ClassVar[Optional[str]] = None  # "fields" or "map:<field>"

    @classmethod
    def from_configmap_data(cls, data: dict) -> dict:
        """Map ConfigMap `data` (all strings) onto this kind's fields."""
        if cls.FROM_CONFIGMAP is None:
            raise ConfigError(
                f"{cls.KIND} cannot be configured with a ConfigMap; use apiVersion {API_VERSION}, kind {cls.KIND}"
            )
        if cls.FROM_CONFIGMAP.startswith("map:"):
            return {cls.FROM_CONFIGMAP[4:]: dict(data)}
        fields = {}
        for key, value in data.items():
            info = cls.model_fields.get(key)
            if info is not None and _is_list(info.annotation) and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            fields[key] = value
        return fields


def _is_list(annotation) -> bool:
    text = str(annotation)
    return (
        text.startswith("list[")
        or "List[" in text
        or text.startswith("typing.Optional[list[")
        or "Optional[list[" in text
    )


def parse_config(config_cls: type[FunctionConfig], raw: Any, function_name: str) -> FunctionConfig:
    """Validate a functionConfig (typed kind or ConfigMap) into `config_cls`."""
    if raw is None:
        raise ConfigError(
            f"no functionConfig: {function_name} needs a {API_VERSION} {config_cls.KIND} "
            f"(run `kfkrm {function_name} --help` for an example)"
        )
    if not isinstance(raw, dict):
        raise ConfigError("functionConfig is not a mapping")
    api_version, kind = raw.get("apiVersion"), raw.get("kind")
    if kind == "ConfigMap" and api_version == "v1":
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise ConfigError("functionConfig ConfigMap: data is not a mapping")
        fields = config_cls.from_configmap_data(data)
        fields.update(apiVersion=API_VERSION, kind=config_cls.KIND, metadata=raw.get("metadata") or {})
        raw = fields
    elif kind != config_cls.KIND or api_version != API_VERSION:
        raise ConfigError(
            f"functionConfig is {api_version} {kind}; {function_name} expects {API_VERSION} {config_cls.KIND}"
        )
    try:
        return config_cls.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"functionConfig {config_cls.KIND}: {format_validation_error(e, config_cls)}") from None


def format_validation_error(e: ValidationError, model: Optional[type] = None) -> str:
    problems = []
    for err in e.errors():
        path = _loc(err.get("loc", ()))
        kind = err.get("type")
        if kind == "extra_forbidden":
            problems.append(f"{path}: unknown field{did_you_mean(err.get('loc', ()), model)}")
        elif kind == "missing":
            problems.append(f"{path}: required field is missing")
        else:
            msg = err.get("msg", "invalid")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            value = err.get("input")
            got = f" (got {value!r})" if not isinstance(value, (dict, list)) or len(repr(value)) < 60 else ""
            problems.append(f"{path}: {msg[0].lower() + msg[1:]}{got}")
    return "; ".join(problems)


def _loc(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(config)"


def non_empty_when_set(value: Any, message: str) -> Any:
    """A validator body for optional lists and maps: unset (None) is fine, set but empty is
    an error with `message` (an empty list would otherwise silently mean "nothing allowed")."""
    if value is not None and not value:
        raise ValueError(message)
    return value


def did_you_mean(loc, model: Optional[type[BaseModel]]) -> str:
    """' (did you mean X?)' for a misspelled field at `loc` of `model`, else ''."""
    import difflib
    import typing

    def sub_model(annotation) -> Optional[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        for arg in typing.get_args(annotation):
            found = sub_model(arg)
            if found is not None:
                return found
        return None

    if model is None or not loc:
        return ""
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part) or next((i for i in model.model_fields.values() if i.alias == part), None)
        model = sub_model(info.annotation) if info is not None else None
    if model is None:
        return ""
    names = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
