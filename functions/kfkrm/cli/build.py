"""`kfkrm build DIR`: render a kustomization with kfkrm's functions, no container engine needed.

The rendered manifests go to stdout (pipe them into `kfkrm validate -` or `kubectl apply`);
kustomize's own messages, one summary line per function, and then every function's
warnings and errors as a table (function, severity, object, field, message) go to stderr.
Exit 0 on success; 1 when kustomize or any function fails (nothing on stdout then); 2 on
bad arguments.

kustomize (`kustomize build`, or `kubectl kustomize`) renders with --enable-alpha-plugins
and kfkrm's `docker` stand-in first on PATH, so every `container: image:` function of a
kfkrm image runs in-process, and any other image fails the render loudly. Where the kfkrm
functions come last in the kustomization (possibly alternating with kustomize builtins), they
run after kustomize in one process, each builtin segment in one more plain kustomize run (the
fast path, same bytes); otherwise each call goes through kustomize. `--per-call` forces
that route. Which one ran, and why, is in the last line. See docs/build.md.

Untrusted repositories: kustomize renders the user's folder, or on the fast path a private
mirror of it (kustomize_plan.sandbox) in which every path resolves as in the original, so
kustomize's load restrictor decides what may be read; kfkrm copies nothing a kustomization
names, and the `docker` stand-in lives in its own private folder. The output is written all
or nothing (output.write_stdout); SIGTERM/SIGINT stop kustomize's process group and remove
the temporary folders.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import results_table
from .exec_check import exec_function_files
from .kustomize_plan import NotMirrored, Plan, PlanError, Stage, plan, sandbox, sort_order, stage_kustomization
from .output import OutputError, document_count, ignore_fsize_signal, silence_stdout, write_stdout

OK, FAILED, USAGE = 0, 1, 2
PROG = "kfkrm build"


class _Progress:
    """One line per phase on a terminal (stderr), nothing when stderr is a file or a pipe."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(f"{PROG}: [{time.monotonic() - self.start:5.1f}s] {message}\n")
            sys.stderr.flush()


def kustomize_command(explicit: str | None = None) -> list[str]:
    """$KFKRM_KUSTOMIZE or --kustomize (a command, e.g. "kustomize build"), else `kustomize build`
    from PATH, else `kubectl kustomize` (the same order as argocd/generate.sh)."""
    chosen = explicit or os.environ.get("KFKRM_KUSTOMIZE")
    if chosen:
        return shlex.split(chosen)
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise PlanError("neither kustomize nor kubectl is on PATH")


def stand_in(bin_dir: Path) -> Path:
    """A `docker` running this kfkrm (interpreter and package) in-process: kfkrm-docker."""
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(package_parent)}${{PYTHONPATH:+:$PYTHONPATH}} "
        f"exec {shlex.quote(sys.executable)} -m kfkrm.cli.docker_shim \"$@\"\n"
    )
    docker.chmod(0o755)
    return docker


class _Stopped(BaseException):
    """SIGTERM or SIGINT arrived: unwind (kill kustomize, remove the temporary folders)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise _Stopped(signum)


RESTRICTORS = ("LoadRestrictionsRootOnly", "LoadRestrictionsNone")


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("directory", help="the kustomization's folder")
    parser.add_argument(
        "--per-call",
        action="store_true",
        help="run every function through kustomize, one call each (the reference route)",
    )
    parser.add_argument(
        "--kustomize",
        metavar="COMMAND",
        help='the kustomize command (default: $KFKRM_KUSTOMIZE, "kustomize build", "kubectl kustomize")',
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="also write every function's results (info included) to FILE as kpt's results file (a FunctionResultList)",
    )
    parser.add_argument(
        "--load-restrictor",
        choices=RESTRICTORS,
        help="kustomize's own flag, passed through (default: kustomize's, files only in or below the root)",
    )
    parser.add_argument(
        "--count-file",
        metavar="FILE",
        help='after the whole output is written, write "DOCUMENTS BYTES" to FILE (argocd/generate.sh checks it)',
    )
    args = parser.parse_args(argv)
    ignore_fsize_signal()
    progress = _Progress(sys.stderr.isatty())
    directory = Path(args.directory)
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[signum] = signal.signal(signum, _stop)
        except ValueError:  # not the main thread
            pass
    try:
        return _build(directory, args, progress)
    except _Stopped as e:
        sys.stderr.write(f"{PROG}: error: stopped by {signal.Signals(e.signum).name}; nothing was rendered\n")
        return 128 + e.signum
    except PlanError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return FAILED
    except Exception as e:  # a bug: one line, never a traceback (KFKRM_DEBUG=1 shows it)
        if os.environ.get("KFKRM_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: internal error: {type(e).__name__}: {e}\n")
        return FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_kustomize(command: list[str], env: dict) -> subprocess.CompletedProcess:
    """kustomize in its own process group: on any exit from here (SIGTERM included) the whole
    group (kustomize and the stand-ins it started) is killed and reaped."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def render(directory: Path) -> tuple[int, str]:
    """(exit status, output) of `kfkrm build DIRECTORY` (its warnings table on stderr): for commands
    that take a kustomization where a render is expected (upgrade-plan)."""
    out = io.StringIO()
    args = argparse.Namespace(per_call=False, kustomize=None, load_restrictor=None, count_file=None, results=None)
    status = _build(directory, args, _Progress(False), out)
    return status, out.getvalue()


def _build(directory: Path, args, progress: _Progress, out=None) -> int:
    if not directory.is_dir():
        raise PlanError(f"{directory} is not a directory")
    execs = exec_function_files(str(directory))  # the same check as argocd/generate.sh
    if execs:
        raise PlanError(
            "exec functions are not run by kustomize here (kubectl kustomize would skip them silently): "
            "declare them as container functions with a kfkrm image, in: " + " ".join(map(str, execs))
        )
    restricted = args.load_restrictor != "LoadRestrictionsNone"
    kustomize = kustomize_command(args.kustomize)
    the_plan = plan(directory, restricted, kustomize)
    if args.per_call and the_plan.fast:
        the_plan = Plan(the_plan.directory, the_plan.kustomization, fallback="--per-call")
    if args.load_restrictor:
        kustomize += ["--load-restrictor", args.load_restrictor]
    # Two private folders: the stand-in's, and the mirror kustomize renders on the fast path.
    with (
        tempfile.TemporaryDirectory(prefix="kfkrm-build-tools-") as tools,
        tempfile.TemporaryDirectory(prefix="kfkrm-build-") as work,
    ):
        (Path(tools) / "bin").mkdir()
        stand_in(Path(tools) / "bin")
        results_file = Path(tools) / "results.jsonl"
        env = dict(os.environ, PATH=f"{Path(tools) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        env[results_table.RESULTS_FILE_ENV] = str(results_file)
        target = directory
        if the_plan.fast:
            try:
                target = sandbox(the_plan, Path(work))
            except NotMirrored as e:
                why = f"the folder is not mirrored: {e}"
                the_plan = Plan(the_plan.directory, the_plan.kustomization, fallback=why)
                target = directory
        if the_plan.fast:
            progress(
                f"kustomize: {' '.join(kustomize)} of {directory} cut before its "
                f"{len(the_plan.calls)} trailing kfkrm functions"
            )
        else:
            progress(
                f"kustomize: {' '.join(kustomize)} of {directory}, every function through kustomize "
                f"({the_plan.fallback})"
            )
        proc = _run_kustomize(kustomize + ["--enable-alpha-plugins", str(target)], env)
        stderr = proc.stderr.decode("utf-8", "replace")
        if the_plan.fast:  # kustomize names the mirror: show the user's folder and paths instead
            stderr = stderr.replace(str(target), str(directory)).replace(str(work), "")
        sys.stderr.write(stderr)
        if proc.returncode != 0:
            return _finish(
                args.results,
                results_table.read(str(results_file)),
                the_plan,
                FAILED,
                f"{' '.join(kustomize)} failed (exit {proc.returncode}); kustomize's message is above",
            )
        output = proc.stdout.decode("utf-8")
        if the_plan.fast:
            for number, stage in enumerate(the_plan.stages, start=2):
                last = stage is the_plan.stages[-1]
                if stage.calls:
                    progress(f"functions: {', '.join(call.config['kind'] for call in stage.calls)} in-process")
                    output, failed = _apply(output, stage.calls, the_plan, str(results_file), last)
                else:
                    progress(f"kustomize stage {number}: builtins {', '.join(stage.entries)}")
                    output, failed = _builtin_stage(output, stage, the_plan, target, work, kustomize, env, last)
                if failed:
                    return _finish(args.results, results_table.read(str(results_file)), the_plan, FAILED, failed)
        progress("done")
        calls = results_table.read(str(results_file))
        if out is not None:  # in-process callers (upgrade-plan) take the render as text
            out.write(output)
            return _finish(args.results, calls, the_plan, OK, "")
        try:
            written = write_stdout(output)
            if args.count_file:
                with open(args.count_file, "w", encoding="utf-8") as f:
                    f.write(f"{document_count(output)} {written}\n")
        except OutputError as e:
            silence_stdout()
            return _finish(args.results, calls, the_plan, FAILED, str(e))
        except OSError as e:
            return _finish(args.results, calls, the_plan, FAILED, f"cannot write {args.count_file}: {e.strerror or e}")
        return _finish(args.results, calls, the_plan, OK, "")


def _builtin_stage(
    stream: str, stage: Stage, the_plan: Plan, target: Path, work: str, kustomize: list, env: dict, last: bool
) -> tuple[str, str]:
    """Apply a segment of builtin transformers with one plain kustomize run (no plugins) in the
    mirror folder: the stream as a file next to the user's copied files, the kustomization
    replaced by stage_kustomization. When the segment's patches can only touch some kinds
    (Stage.kinds), only the objects of those kinds go through kustomize and the rest keep their
    bytes (kustomize would print them unchanged); the whole is then ordered as kustomize does.
    Returns (output, failure)."""
    if stage.kinds is not None:
        from ..runtime.resourcelist import items_from_stream

        items = items_from_stream(stream)
        chosen = [item for item in items if item.kind in stage.kinds]
        if chosen:
            output, failed = _builtin_stage(
                "---\n".join(item.body for item in chosen),
                Stage(entries=stage.entries),
                the_plan,
                target,
                work,
                kustomize,
                env,
                last,
            )
            if failed:
                return output, failed
            merged = [item for item in items if item.kind not in stage.kinds] + items_from_stream(output)
            if last:
                merged = [item for item in merged if not item.is_local_config]
            key = sort_order(the_plan.document)
            if key is not None:
                merged.sort(key=key)
            return "---\n".join(item.body for item in merged), ""
    entries = stage.entries
    names = set(os.listdir(target))
    number = 1
    while f".kfkrm-stage-{number}.yaml" in names:
        number += 1
    stream_file = f".kfkrm-stage-{number}.yaml"
    (target / stream_file).write_text(stream, encoding="utf-8")
    kustomization = target / the_plan.kustomization.name
    kustomization.unlink()
    kustomization.write_text(stage_kustomization(stream_file, entries, the_plan.document), encoding="utf-8")
    proc = _run_kustomize(kustomize + [str(target)], env)
    (target / stream_file).unlink()
    stderr = proc.stderr.decode("utf-8", "replace")
    sys.stderr.write(stderr.replace(str(target), str(the_plan.directory)).replace(work, ""))
    if proc.returncode != 0:
        return "", (
            f"{' '.join(kustomize)} failed (exit {proc.returncode}) on the builtin transformers "
            f"{', '.join(entries)} after the kfkrm functions; kustomize's message is above"
        )
    return proc.stdout.decode("utf-8"), ""


def _apply(stream: str, calls: list, the_plan: Plan, results_file: str, last: bool = True) -> tuple[str, str]:
    """Run `calls` over kustomize's output in one process, in order, as kustomize would have
    run them. When they are the last segment, order the result as kustomize does and drop local
    config; otherwise the next kustomize stage does both. Returns (output, failure)."""
    from ..fns.registry import BY_KIND
    from ..runtime.config import ConfigError, parse_config
    from ..runtime.resourcelist import ResourceList, items_from_stream
    from ..runtime.results import ERROR, WARNING, Result

    rl = ResourceList(items_from_stream(stream), None, None, 0)
    for call in calls:
        spec = BY_KIND[call.config["kind"]]
        rl.function_config, rl.results = call.config, []
        label = f"kfkrm {spec.name}"
        summary = ""
        try:
            module = spec.load()
            summary = module.transform(rl, parse_config(module.Config, call.config, spec.name))
        except ConfigError as e:  # name the file the config came from: the user's to fix
            rl.results.append(Result(f"{e} (in {call.source})", ERROR))
        except Exception as e:
            if os.environ.get("KFKRM_DEBUG"):
                traceback.print_exc()
            rl.results.append(Result(f"internal error: {type(e).__name__}: {e}", ERROR))
        results_table.record(spec.name, rl.results, results_file)
        errors = [r for r in rl.results if r.severity == ERROR]
        if errors:
            first = errors[0].one_line()
            first = first[len("error: ") :] if first.startswith("error: ") else first
            more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
            sys.stderr.write(f"{label}: error: {first}{more}\n")
            return "", f"{spec.name} failed ({call.source}); nothing was rendered"
        warnings = sum(1 for r in rl.results if r.severity == WARNING)
        sys.stderr.write(
            f"{label}: {summary}" + (f"; {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "") + "\n"
        )
    from .kustomize_yaml import dump

    if not last:
        return "---\n".join(item.body if not item.changed else dump(item.obj) for item in rl.items), ""
    key = sort_order(the_plan.document)
    items = [item for item in rl.items if not item.is_local_config]  # kustomize drops local config at the end
    if key is not None:
        items.sort(key=key)
    return "---\n".join(item.body if not item.changed else dump(item.obj) for item in items), ""


def _finish(results_out: str | None, calls: list, the_plan: Plan, status: int, failure: str) -> int:
    """The results table, the to-do list and the last line on stderr; `results_out` is --results FILE."""
    width = shutil.get_terminal_size().columns if sys.stderr.isatty() else None  # a file gets whole lines
    table = results_table.table(calls, width)
    if table:
        sys.stderr.write(table)
    todo = results_table.todo(calls, width)
    if todo:
        sys.stderr.write(todo)
    errors, warnings = results_table.counts(calls)
    actions = len(results_table.actions(calls))
    stages = 1 + sum(1 for stage in the_plan.stages if stage.entries)
    route = f"fast path, {stages} kustomize stages" if stages > 1 else "fast path"
    route = route if the_plan.fast else f"per call: {the_plan.fallback}"
    line = (
        f"{PROG}: {len(calls)} function call{'s' if len(calls) != 1 else ''} ({route}), "
        f"{warnings} warning{'s' if warnings != 1 else ''}, {actions} to do, {errors} error{'s' if errors != 1 else ''}"
    )
    if failure:
        line += f"; error: {failure}"
        status = FAILED
    elif errors:
        status = FAILED
    if results_out:
        try:
            with open(results_out, "w", encoding="utf-8") as f:
                f.write(results_table.results_file(calls, status))
        except OSError as e:
            line += f"; error: --results {results_out}: {e.strerror or e}"
            status = FAILED
    sys.stderr.write(line + "\n")
    return status
