"""The `kfkrm` command: dispatches to a function, or to one of the commands (build, validate,
images, schema, exec-check). USAGE is what `kfkrm --help` prints above the function list."""

from __future__ import annotations

import json
import sys

from .. import __version__
from ..fns.examples import EXAMPLES
from ..fns.registry import BY_KIND, BY_NAME, COMMANDS, FUNCTIONS
from ..runtime.config import API_VERSION, ConfigError
from ..runtime.runner import run

USAGE = (
    'The `kfkrm` command.\n'
    '\n'
    '  kfkrm                      read a ResourceList on stdin, run the function its functionConfig names\n'
    '  kfkrm FUNCTION             run one function by name (exec functions, kpt, ConfigMap configs)\n'
    "  kfkrm FUNCTION --help      the function's config, with an example\n"
    '  kfkrm schema [KIND]        JSON Schema of every config kind (or of one)\n'
    "  kfkrm build DIR            render a kustomization with kfkrm's functions (no container engine)\n"
    "  kfkrm validate FILE --config POLICY|PROFILE   check rendered manifests against the platform's rules\n"
    '  kfkrm images FILE --config IMAGEPROXY         the image mirror list\n'
    "  kfkrm footprint FILE [--baseline OLD]         what the render does beyond Kubeflow's namespaces\n"
    "  kfkrm upgrade-plan OLD NEW --config PROFILE   what applying NEW over OLD does: blockers, CRDs, images"
)


def main(argv=None) -> int:
    """`kfkrm`; all or nothing on stdout: an output that cannot be written in full (a full disk,
    a file-size limit, a reader that stopped early, `kfkrm schema | head`) ends it with one line
    and exit 1, never a traceback, never the success summary."""
    from ..runtime.process import tune_gc
    from .output import WRITE_ERRNOS, OutputError, describe, ignore_fsize_signal, silence_stdout

    tune_gc()
    ignore_fsize_signal()
    try:
        status = _main(argv)
        sys.stdout.flush()  # print()ed text (help, schema) must reach its reader too
        return status
    except OutputError as e:
        reason = str(e)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        reason = f"cannot write the output ({describe(e)}); it is incomplete"
    silence_stdout()
    sys.stderr.write(f"kfkrm: error: {reason}\n")
    return 1


def _main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv and argv[0] == "--version":
        print(f"kfkrm {__version__}")
        return 0
    if argv and argv[0] == "schema":
        return _schema(argv[1:])
    if argv and argv[0] in COMMANDS:
        import importlib

        module, _, func = COMMANDS[argv[0]].partition(":")
        return getattr(importlib.import_module(module), func)(argv[1:])
    spec = None
    if argv:
        spec = BY_NAME.get(argv[0])
        if spec is None:
            hint = _did_you_mean(argv[0], list(BY_NAME) + list(COMMANDS) + ["schema"])
            sys.stderr.write(
                f"kfkrm: error: unknown function or command {argv[0]!r}{hint}; `kfkrm --help` lists them\n"
            )
            return 2
        rest = argv[1:]
        if rest and rest[0] in ("-h", "--help"):
            print(function_help(spec))
            return 0
        if rest:
            sys.stderr.write(
                f"kfkrm {spec.name}: error: unexpected arguments {' '.join(rest)!r}; the config comes in the "
                f"ResourceList\n"
            )
            return 2
    if sys.stdin is None or sys.stdin.isatty():
        sys.stderr.write("kfkrm: error: expected a ResourceList on stdin; `kfkrm --help` explains\n")
        return 2
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        text = None
        error = f"the input is not UTF-8 text (byte {e.start})"
    outcome = run(spec, text, _spec_for_config) if text is not None else None
    if outcome is None:
        from ..runtime.results import ERROR, Result
        from ..runtime.runner import failure

        outcome = failure("kfkrm" + (f" {spec.name}" if spec else ""), "", [Result(error, ERROR)])
    from .results_table import record

    record(outcome.function or "kfkrm", outcome.results)  # only when KFKRM_RESULTS_FILE names a file (kfkrm build)
    from .output import write_stdout

    write_stdout(outcome.stdout)  # raises OutputError: then no summary on stderr
    sys.stderr.write(outcome.stderr)
    return outcome.exit_code


def _spec_for_config(function_config):
    if not isinstance(function_config, dict):
        raise ConfigError("no functionConfig: name the function (`kfkrm FUNCTION`) or pass a kfkrm config")
    api_version, kind = function_config.get("apiVersion"), function_config.get("kind")
    if kind == "ConfigMap":
        raise ConfigError("a ConfigMap functionConfig does not say which function to run: call `kfkrm FUNCTION`")
    if api_version != API_VERSION or kind not in BY_KIND:
        known = ", ".join(sorted(BY_KIND))
        hint = _did_you_mean(str(kind), list(BY_KIND)) if api_version == API_VERSION else ""
        raise ConfigError(f"unknown functionConfig {api_version} {kind}{hint}; kfkrm knows {API_VERSION} {known}")
    return BY_KIND[kind]


def _usage() -> str:
    width = max(len(f.name) for f in FUNCTIONS)
    lines = [USAGE, "", "Functions:"]
    lines += [f"  {f.name.ljust(width)}  {f.kind}: {f.summary}" for f in FUNCTIONS]
    if COMMANDS:
        names = sorted(COMMANDS) + ["schema"]
        cwidth = max(len(n) for n in names)
        lines += ["", "Commands:"] + [f"  {name.ljust(cwidth)}  {_command_summary(name)}" for name in names]
    lines += ["", "Every config is apiVersion " + API_VERSION + "; examples in fnconfigs/."]
    return "\n".join(lines)


def _did_you_mean(word: str, known: list) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _command_summary(name: str) -> str:
    """The first sentence of the command module's docstring, after its usage line."""
    if name == "schema":
        return "the JSON Schema of every config kind, or of one (for editors)"
    import importlib

    module = importlib.import_module(COMMANDS[name].partition(":")[0])
    first = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    summary = first.split("`: ", 1)[-1].strip()
    return summary[0].upper() + summary[1:] if summary else ""


def function_help(spec) -> str:
    module = spec.load()
    cfg = module.Config
    lines = [f"kfkrm {spec.name}: {spec.summary}", f"Docs: docs/functions/{spec.name}.md", ""]
    lines.append(f"Config: apiVersion {API_VERSION}, kind {spec.kind}")
    for name, info in cfg.model_fields.items():
        if name in ("apiVersion", "kind", "metadata"):
            continue
        required = "required" if info.is_required() else "optional"
        lines.append(f"  {info.alias or name} ({required}): {info.description or ''}")
    if cfg.FROM_CONFIGMAP:
        how = (
            "its data is the map"
            if cfg.FROM_CONFIGMAP.startswith("map:")
            else "data keys are the fields, lists comma-separated"
        )
        lines.append(f"  A v1 ConfigMap is accepted too: {how}.")
    lines += ["", "Example:", EXAMPLES[spec.name].strip()]
    return "\n".join(lines)


def config_schema(spec) -> dict:
    cfg = spec.load().Config
    schema = cfg.model_json_schema()
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": API_VERSION}
    props["kind"] = {"const": spec.kind}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
    schema["title"] = spec.kind
    return schema


def _schema(args) -> int:
    if args:
        spec = BY_KIND.get(args[0]) or BY_NAME.get(args[0])
        if spec is None:
            sys.stderr.write(f"kfkrm schema: error: unknown kind {args[0]!r}\n")
            return 2
        print(json.dumps(config_schema(spec), indent=2))
        return 0
    defs: dict = {}
    one_of = []
    for spec in FUNCTIONS:
        # Sub-models of different kinds may share a name (Gateway, S3): give each kind its own.
        text = json.dumps(config_schema(spec))
        for sub in config_schema(spec).get("$defs", {}):
            text = text.replace(f'"#/$defs/{sub}"', f'"#/$defs/{spec.kind}.{sub}"')
        schema = json.loads(text)
        defs.update({f"{spec.kind}.{sub}": body for sub, body in schema.pop("$defs", {}).items()})
        defs[spec.kind] = schema
        one_of.append({"$ref": f"#/$defs/{spec.kind}"})
    print(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "kfkrm function configs",
                "oneOf": one_of,
                "$defs": defs,
            },
            indent=2,
        )
    )
    return 0
