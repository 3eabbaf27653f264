"""Untrusted repositories and full disks (issues 25 and 24), through the real CLI.

- `kfkrm build` on hostile repositories gives the verdict of the real `kubectl kustomize`
  (the same bytes, or a failure), runs nothing from the repository, and copies nothing the
  repository names next to its own `docker` stand-in;
- the fast path from any working directory and any path spelling;
- the kustomization's own values are kept (no YAML 1.1 round trip);
- all or nothing on stdout for every command (/dev/full, a file-size limit, a closed pipe),
  and argocd/generate.sh refuses a render cut short;
- SIGTERM stops kustomize's process group and removes the temporary folders;
- `kfkrm exec-check` reports every exec-function spelling the real kustomize recognises (and
  then skips silently), reading only regular files.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import EXAMPLES, REPO, example_render, stand_in_dir, yaml_load

pytestmark = pytest.mark.heavy  # scheduled first (tests/conftest.py)

IMAGE = "localhost/kfkrm:0.1.0"
ENV = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: kubeflow\ndata: {{a: b}}\n"
INJECTION = (
    "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata:\n  name: inject\n  annotations:\n"
    f"    config.kubernetes.io/function: |\n      container:\n        image: {IMAGE}\nnamespaces: [kubeflow]\n"
)


def kfkrm(*args: str, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kfkrm", *args], capture_output=True, text=True, cwd=cwd, env=env or ENV, **kw
    )


def kubectl_kustomize(directory: Path, *flags: str) -> subprocess.CompletedProcess:
    """The oracle: the real kustomize over the user's own folder, kfkrm's stand-in as docker."""
    env = dict(os.environ, PATH=f"{stand_in_dir()}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["kubectl", "kustomize", "--enable-alpha-plugins", *flags, str(directory)],
        capture_output=True,
        text=True,
        env=env,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def repo(tmp_path: Path, kustomization: str) -> Path:
    """repo/apps/kubeflow: a namespace, a trailing kfkrm function (so the fast path is taken
    when it can be), and `kustomization` above the transformers."""
    app = tmp_path / "repo" / "apps" / "kubeflow"
    write(app / "ns.yaml", NAMESPACE)
    write(app / "fns" / "inject.yaml", INJECTION)
    write(app / "kustomization.yaml", kustomization + "transformers:\n- fns/inject.yaml\n")
    write(tmp_path / "repo" / "outside.yaml", CONFIG_MAP.format(name="outside"))
    base = tmp_path / "repo" / "apps" / "base"
    write(base / "cm.yaml", CONFIG_MAP.format(name="base"))
    write(base / "kustomization.yaml", "resources: [cm.yaml]\n")
    return app


def _marker_docker(tmp_path: Path) -> Path:
    """The repository's own `docker`: a script that leaves a marker if it ever runs."""
    marker = tmp_path / "PWNED"
    script = write(tmp_path / "repo" / "apps" / "bin" / "docker", f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    # a sub-kustomization whose container function makes kustomize call `docker`
    sub = tmp_path / "repo" / "apps" / "kubeflow" / "sub"
    write(sub / "cm.yaml", CONFIG_MAP.format(name="sub"))
    write(sub / "fn.yaml", INJECTION)
    write(sub / "kustomization.yaml", "resources: [cm.yaml]\ntransformers: [fn.yaml]\n")
    return marker


def hostile(tmp_path: Path, case: str) -> tuple[Path, tuple]:
    """(the app folder, extra flags for both kustomize and kfkrm build) for a hostile case."""
    outside_dir = tmp_path / "elsewhere"
    write(outside_dir / "cm.yaml", CONFIG_MAP.format(name="elsewhere"))
    write(outside_dir / "kustomization.yaml", "resources: [cm.yaml]\n")
    flags: tuple = ()
    if case == "bases-file-over-the-docker-stand-in":
        _marker_docker(tmp_path)
        app = repo(tmp_path, "resources: [ns.yaml, sub]\nbases: [../bin/docker]\n")
    elif case == "symlink-to-a-folder-outside":
        app = repo(tmp_path, "resources: [ns.yaml, link/cm.yaml]\n")
        (app / "link").symlink_to(outside_dir)
    elif case == "symlinked-file-outside":
        app = repo(tmp_path, "resources: [ns.yaml, cm.yaml]\n")
        (app / "cm.yaml").symlink_to(outside_dir / "cm.yaml")
    elif case == "dotdot-file":
        app = repo(tmp_path, "resources: [ns.yaml, ../../outside.yaml]\n")
    elif case == "dotdot-file-load-restrictions-none":
        app = repo(tmp_path, "resources: [ns.yaml, ../../outside.yaml]\n")
        flags = ("--load-restrictor", "LoadRestrictionsNone")
    elif case == "dotdot-back-into-the-root":
        app = repo(tmp_path, "resources: [../kubeflow/ns.yaml]\n")
    elif case == "absolute-file-outside":
        app = repo(tmp_path, f"resources: [ns.yaml, {tmp_path / 'repo' / 'outside.yaml'}]\n")
    elif case == "absolute-file-inside":
        app = repo(tmp_path, f"resources: [{tmp_path / 'repo' / 'apps' / 'kubeflow' / 'ns.yaml'}]\n")
    elif case == "dotdot-base-folder":
        app = repo(tmp_path, "resources: [ns.yaml, ../base]\n")
    elif case == "symlinked-base-folder":
        app = repo(tmp_path, "resources: [ns.yaml, base]\n")
        (app / "base").symlink_to(outside_dir)
    elif case == "symlink-inside-the-root":
        app = repo(tmp_path, "resources: [alias.yaml]\n")
        (app / "alias.yaml").symlink_to("ns.yaml")
    elif case == "transformer-symlinked-outside":
        app = repo(tmp_path, "resources: [ns.yaml]\n")
        write(outside_dir / "fn.yaml", INJECTION)
        (app / "fns" / "inject.yaml").unlink()
        (app / "fns" / "inject.yaml").symlink_to(outside_dir / "fn.yaml")
    elif case == "resources-cycle":
        app = repo(tmp_path, "resources: [ns.yaml, ..]\n")
        write(app.parent / "kustomization.yaml", "resources: [kubeflow]\n")
    else:
        raise AssertionError(case)
    return app, flags


HOSTILE = [
    "bases-file-over-the-docker-stand-in",
    "symlink-to-a-folder-outside",
    "symlinked-file-outside",
    "dotdot-file",
    "dotdot-file-load-restrictions-none",
    "dotdot-back-into-the-root",
    "absolute-file-outside",
    "absolute-file-inside",
    "dotdot-base-folder",
    "symlinked-base-folder",
    "symlink-inside-the-root",
    "transformer-symlinked-outside",
    "resources-cycle",
]
# what the real kustomize does with each (the oracle is run too: this only guards the test)
KUSTOMIZE_ACCEPTS = {
    "dotdot-file-load-restrictions-none",
    "dotdot-back-into-the-root",
    "absolute-file-inside",
    "dotdot-base-folder",
    "symlinked-base-folder",
    "symlink-inside-the-root",
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_repository_gets_kustomizes_verdict(case, tmp_path):
    app, flags = hostile(tmp_path, case)
    reference = kubectl_kustomize(app, *flags)
    assert (reference.returncode == 0) == (case in KUSTOMIZE_ACCEPTS), reference.stderr
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    built = kfkrm("build", *flags, str(app), env=dict(ENV, TMPDIR=str(tmp)))
    assert "Traceback" not in built.stderr
    if reference.returncode == 0:
        assert built.returncode == 0, built.stderr
        assert built.stdout == reference.stdout
    else:
        assert built.returncode == 1 and built.stdout == "", built.stderr
        assert "error" in built.stderr.splitlines()[-1]
    assert not (tmp_path / "PWNED").exists(), "the repository's own docker script ran"
    assert list(tmp.iterdir()) == [], "temporary folders left behind"


def test_the_fast_path_is_taken_where_kustomize_would_load_the_same_files(tmp_path):
    """The hostile cases above run on the fast path (the mirror), not on a fallback that
    would make the comparison trivially true."""
    for case in ("bases-file-over-the-docker-stand-in", "symlink-to-a-folder-outside", "dotdot-base-folder"):
        app, flags = hostile(tmp_path / case, case)
        built = kfkrm("build", *flags, str(app))
        assert "(fast path)" in built.stderr.splitlines()[-1], (case, built.stderr[-500:])


# -- any working directory, any path spelling -------------------------------------------------


def test_dot_relative_absolute_and_symlinked_spellings_take_the_fast_path(tmp_path):
    """`kfkrm build .` used to fall back ("... is a file outside ."); every spelling of the
    folder now takes the fast path with the bytes of the real kustomize."""
    app = repo(tmp_path, "resources: [ns.yaml, ../base]\n")
    reference = kubectl_kustomize(app)
    assert reference.returncode == 0, reference.stderr
    (tmp_path / "link").symlink_to(app)
    spellings = [
        (".", app),
        ("../kubeflow", app),
        (os.path.relpath(app, tmp_path), tmp_path),
        (str(tmp_path / "link"), tmp_path),
        (".", tmp_path / "link"),
    ]
    for spelling, cwd in spellings:
        proc = kfkrm("build", spelling, cwd=cwd)
        assert proc.returncode == 0, (spelling, proc.stderr[-500:])
        assert "(fast path)" in proc.stderr.splitlines()[-1], (spelling, proc.stderr.splitlines()[-1])
        assert proc.stdout == reference.stdout, spelling


TIMESTAMPISH = {
    "a": "2001-12-14 21:59:43.10 -5",
    "b": "2001-12-14t21:59:43.10-05:00",
    "c": "2001-12-14 21:59:43.10",
    "d": "2001-12-14T21:59:43Z",
    "e": "2001-12-14",
    "f": "2001-12-14  21:59:43",
    "g": "2001-12-14T21:59:43+05",
    "h": "2001-12-14T21:59:43.5+05:00",
    "i": "2001-1-4 1:5:3",
    "j": "2001-12-14 21:59:43 Z",
}


@pytest.mark.parametrize("changed", [False, True])
def test_the_kustomizations_own_values_are_kept(changed, tmp_path):
    """YAML 1.1 reads these as timestamps: the fast path keeps the kustomization's text, so
    the values are kustomize's own reading of it; on an object a function changes, kfkrm's
    writer quotes exactly the ones go-yaml would read back as a timestamp."""
    annotations = "".join(f"  {k}: {v}\n" for k, v in TIMESTAMPISH.items())
    app = repo(tmp_path, f"resources: [ns.yaml, ../base]\ncommonAnnotations:\n{annotations}")
    if not changed:  # the function then changes nothing: kustomize's bytes pass through
        (app / "ns.yaml").write_text(NAMESPACE + "  labels: {istio-injection: enabled}\n")
    reference = kubectl_kustomize(app)
    built = kfkrm("build", str(app))
    assert reference.returncode == 0, reference.stderr
    assert built.returncode == 0 and "(fast path)" in built.stderr.splitlines()[-1], built.stderr
    assert built.stdout == reference.stdout
    for doc in yaml.load_all(
        built.stdout, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    ):  # no implicit types: the text
        assert doc["metadata"]["annotations"] == TIMESTAMPISH


# -- all or nothing on stdout ------------------------------------------------------------------


def big_app(tmp_path: Path, count: int = 40) -> Path:
    """An app whose render (about 4 KB per ConfigMap) is far larger than a pipe's buffer; its
    resources live outside the app's folder (so the file-size limit below hits the output,
    not the fast path's mirror)."""
    data = tmp_path / "data"
    big = CONFIG_MAP.replace("{{a: b}}", "{{a: '" + "x" * 4000 + "'}}")
    write(data / "cms.yaml", "---\n".join(big.format(name=f"cm-{i}") for i in range(count)))
    write(data / "kustomization.yaml", "resources: [cms.yaml]\n")
    app = tmp_path / "app"
    write(app / "ns.yaml", NAMESPACE)
    write(app / "fns" / "inject.yaml", INJECTION)
    write(app / "kustomization.yaml", "resources: [ns.yaml, ../data]\ntransformers: [fns/inject.yaml]\n")
    return app


def _one_line_failure(proc, status=1):
    assert proc.returncode == status, proc.stderr[-1000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot write the output" in last, proc.stderr[-1000:]
    return last


def _limit_file_size(limit: int):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_build_to_a_full_device_or_past_a_file_size_limit_fails_with_one_line(tmp_path):
    app = big_app(tmp_path)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "kfkrm", "build", str(app)], stdout=full, stderr=subprocess.PIPE, text=True, env=ENV
        )
    last = _one_line_failure(proc)
    assert last.startswith("kfkrm build: ") and "no space left" in last
    out = tmp_path / "out.yaml"
    with open(out, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "kfkrm", "build", str(app)],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            preexec_fn=_limit_file_size(50_000),
        )
    assert "file-size limit" in _one_line_failure(proc)
    assert out.stat().st_size <= 50_000


def test_build_into_a_pipe_closed_early_is_not_a_success(tmp_path):
    """`kfkrm build ... | head -1`: the reader goes away; no success summary, non-zero exit."""
    app = big_app(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfkrm", "build", str(app)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait()
    assert first
    assert proc.returncode == 1, stderr[-500:]
    last = stderr.strip().splitlines()[-1]
    assert "the reader closed the pipe" in last and "Traceback" not in stderr


COMMANDS = {
    "function runner": (["kfkrm"], "resourcelist"),
    "validate": (["kfkrm", "validate", "-", "--config", "policy"], "render"),
    "images": (["kfkrm", "images", "-"], "render"),
    "exec-check": (["kfkrm", "exec-check", "DIR"], None),
    "help": (["kfkrm", "--help"], None),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_to_dev_full_is_one_line(command, tmp_path):
    argv, stdin = COMMANDS[command]
    render = (REPO / "upstream" / "kubeflow" / "v1.3.0" / "all.yaml").read_text()
    policy = write(
        tmp_path / "policy.yaml",
        "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nallowedRegistries: [docker.io]\n",
    )
    execs = tmp_path / "execs"
    write(execs / "fn.yaml", INJECTION.replace(f"container:\n        image: {IMAGE}", "exec:\n        path: ./x"))
    text = {
        "resourcelist": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n"
        + "".join("  " + line + "\n" for line in INJECTION.splitlines())
        + "items:\n"
        + "".join("- " + CONFIG_MAP.format(name=f"c{i}").replace("\n", "\n  ").rstrip() + "\n" for i in range(50)),
        "render": render,
        None: None,
    }[stdin]
    argv = [{"policy": str(policy), "DIR": str(execs)}.get(a, a) for a in argv]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "kfkrm", *argv[1:]],
            input=text,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
    assert proc.returncode == 1, proc.stderr[-1000:]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-1000:]
    assert (
        proc.stderr.strip().splitlines()[-1]
        == "kfkrm: error: cannot write the output (no space left on the device); it is incomplete"
    )


# -- the Argo CD plugin cannot hand over a partial render ---------------------------------------


def _plugin(tmp_path: Path, app: Path, kfkrm_script: str | None = None, preexec=None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "plugin-bin"
    real = stand_in_dir() / "kfkrm"
    if kfkrm_script:
        write(bin_dir / "kfkrm", kfkrm_script.replace("REAL", str(real))).chmod(0o755)
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(bin_dir), str(stand_in_dir()), os.environ["PATH"]]),
        ARGOCD_APP_NAME="kubeflow",
        ARGOCD_APP_NAMESPACE="argocd",
        ARGOCD_APP_SOURCE_PATH="app",
        ARGOCD_APP_SOURCE_REPO_URL="https://git.example.com/kf.git",
        ARGOCD_APP_REVISION="abc",
        TMPDIR=str(tmp_path),
    )
    return subprocess.run(
        ["sh", str(REPO / "argocd" / "generate.sh")],
        cwd=app,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
    )


def test_generate_refuses_a_render_cut_short_by_a_file_size_limit(tmp_path):
    app = big_app(tmp_path)
    proc = _plugin(tmp_path, app, preexec=_limit_file_size(50_000))
    assert proc.returncode != 0 and proc.stdout == "", proc.stderr[-500:]
    assert "nothing was generated" in proc.stderr.strip().splitlines()[-1]


def test_generate_compares_the_count_kfkrm_reports_with_what_it_wrote(tmp_path):
    """A kfkrm that loses output silently and exits 0 (what a short write used to do)."""
    app = big_app(tmp_path, 30)
    whole = _plugin(tmp_path, app)
    assert whole.returncode == 0, whole.stderr[-500:]
    assert len(list(yaml.safe_load_all(whole.stdout))) == 31
    lossy = (
        '#!/bin/sh\nif [ "$1" = build ]; then REAL "$@" >"$TMPDIR/whole" || exit; head -c 5000 "$TMPDIR/whole"; exit 0; fi\n'
        'exec REAL "$@"\n'
    )
    proc = _plugin(tmp_path, app, lossy)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr[-500:]
    assert "the render is incomplete" in proc.stderr


# -- SIGTERM ----------------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie waiting for init is gone
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_kustomize_and_removes_the_temporary_folders(signum, tmp_path):
    app = big_app(tmp_path, 3)
    pids = tmp_path / "pids"
    # a kustomize that starts a child of its own and waits: both must be gone after the signal
    kustomize = write(
        tmp_path / "slow" / "kustomize",
        f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pids}.tmp\nmv {pids}.tmp {pids}\nwait\n",
    )
    kustomize.chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfkrm", "build", "--kustomize", f"{kustomize} build", str(app)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(ENV, TMPDIR=str(tmp)),
    )
    deadline = time.monotonic() + 60
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids.exists(), "the stand-in kustomize never started"
    assert any(p.name.startswith("kfkrm-build-") for p in tmp.iterdir())
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, stderr
    assert stdout == b"" and b"Traceback" not in stderr
    assert stderr.decode().strip().splitlines()[-1].startswith("kfkrm build: error: stopped by")
    deadline = time.monotonic() + 10
    while not all(_gone(int(p)) for p in pids.read_text().split()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(int(p)) for p in pids.read_text().split()), "kustomize or its child still runs"
    assert list(tmp.iterdir()) == [], "temporary folders left behind"


# -- exec-check, decided by what the real kustomize treats as a function ------------------------

PROBE = "apiVersion: kfkrm.dev/v1alpha1\nkind: Probe\n"
EXEC_SPEC = "      exec:\n        path: ./x\n"


def _annotated(spec: str = EXEC_SPEC, extra: str = "") -> str:
    return PROBE + f"metadata:\n  name: p\n  annotations:\n    config.kubernetes.io/function: |\n{spec}" + extra


SPELLINGS = {
    "no-yaml-suffix": ("fn.txt", _annotated(), "transformers"),
    "empty-container-next-to-exec": ("fn.yaml", _annotated("      container: {}\n" + EXEC_SPEC), "transformers"),
    "custom-tag-elsewhere": ("fn.yaml", _annotated(extra="spec: !custom {a: 1}\n"), "transformers"),
    "alias": (
        "fn.yaml",
        PROBE + "extra: &a\n  config.kubernetes.io/function: |\n    exec:\n      path: ./x\n"
        "metadata:\n  name: p\n  annotations: *a\n",
        "transformers",
    ),
    "merge-key": (
        "fn.yaml",
        PROBE + "extra: &a\n  config.kubernetes.io/function: |\n    exec:\n      path: ./x\n"
        "metadata:\n  name: p\n  annotations:\n    <<: *a\n",
        "transformers",
    ),
    "utf-16": ("fn.yaml", _annotated().encode("utf-16"), "transformers"),
    "tag-inside-the-annotation": ("fn.yaml", _annotated("      exec: !!map\n        path: ./x\n"), "transformers"),
    "legacy-configFn": (
        "fn.yaml",
        PROBE + "metadata:\n  name: p\n  configFn:\n    exec:\n      path: ./x\n",
        "transformers",
    ),
    "generator": ("fn.yaml", _annotated(), "generators"),
    "base-in-dotdot": ("fn.yaml", _annotated(), "base"),
    "component-in-dotdot": ("fn.yaml", _annotated(), "component"),
}


def _spelling_app(tmp_path: Path, spelling: str, body) -> tuple[Path, Path]:
    name, text, how = SPELLINGS[spelling]
    app = tmp_path / "apps" / "app"
    write(app / "ns.yaml", NAMESPACE)
    holder = {"base": tmp_path / "apps" / "base", "component": tmp_path / "apps" / "component"}.get(how, app)
    fn = holder / name
    fn.parent.mkdir(parents=True, exist_ok=True)
    fn.write_bytes(body if isinstance(body, bytes) else body.encode())
    if how in ("transformers", "generators"):
        write(app / "kustomization.yaml", f"resources: [ns.yaml]\n{how}: [{name}]\n")
    elif how == "base":
        write(holder / "kustomization.yaml", f"transformers: [{name}]\n")
        write(app / "kustomization.yaml", "resources: [ns.yaml, ../base]\n")
    else:
        write(
            holder / "kustomization.yaml",
            f"apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ntransformers: [{name}]\n",
        )
        write(app / "kustomization.yaml", "resources: [ns.yaml]\ncomponents: [../component]\n")
    return app, fn


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_exec_check_reports_every_exec_spelling_kustomize_skips(spelling, tmp_path):
    _, text, _ = SPELLINGS[spelling]
    # the oracle: kustomize skips the file silently (exit 0) because it is an exec function...
    app, fn = _spelling_app(tmp_path / "exec", spelling, text)
    skipped = kubectl_kustomize(app)
    assert skipped.returncode == 0, skipped.stderr
    # ...and the same file without its function spec is an unknown plugin kind, which fails
    if isinstance(text, bytes):
        plain = text.decode("utf-16")
    else:
        plain = text
    plain = plain.split("metadata:")[0] + "metadata:\n  name: p\n"
    control, _ = _spelling_app(
        tmp_path / "control", spelling, plain.encode("utf-16") if isinstance(text, bytes) else plain
    )
    assert kubectl_kustomize(control).returncode != 0
    checked = kfkrm("exec-check", ".", cwd=app)
    assert checked.returncode == 0, checked.stderr
    assert [os.path.realpath(os.path.join(app, line)) for line in checked.stdout.splitlines()] == [str(fn.resolve())]
    built = kfkrm("build", str(app))
    assert built.returncode == 1 and "exec functions" in built.stderr, built.stderr


def test_exec_check_reads_only_regular_files_within_a_bound(tmp_path):
    app = tmp_path / "app"
    write(app / "kustomization.yaml", "resources: []\ntransformers: [zero.yaml]\n")
    (app / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(app / "fifo.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "kfkrm", "exec-check", str(app)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    big = write(app / "big.txt", _annotated() + "pad: '" + "x" * (17 << 20) + "'\n")
    write(app / "kustomization.yaml", "resources: []\ntransformers: [big.txt]\n")
    proc = kfkrm("exec-check", str(app))
    assert proc.returncode == 0 and str(big) in proc.stdout and "too large to check" in proc.stdout


def test_the_plugin_renders_v1_10_prod_on_the_fast_path_from_its_own_folder(tmp_path):
    """Argo CD runs generate.sh in the app's folder: the fast path, the bytes of `kfkrm build
    kustomization-examples/v1.10/envs/prod` from the repository root."""
    env_dir = "v1.10/envs/prod"
    reference = example_render(env_dir)
    assert reference.returncode == 0, reference.stderr[-500:]
    proc = _plugin(tmp_path, EXAMPLES / env_dir)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert "(fast path)" in proc.stderr.strip().splitlines()[-1], proc.stderr.strip().splitlines()[-1]
    assert proc.stdout == reference.stdout
    assert shutil.which("kubectl")


@pytest.mark.parametrize(
    "text",
    [
        "resources: [a]\ntransformers:\n- x.yaml\n- fns/k1.yaml\n- fns/k2.yaml\n",
        "transformers:\n  - x.yaml  # keep\n  # a comment\n  - fns/k1.yaml\n  - 'fns/k2.yaml'\nresources: [a]\n",
        "transformers: [x.yaml, fns/k1.yaml, \"fns/k2.yaml\"]\nresources: [a]\n",
        '{"resources": ["a"], "transformers": ["x.yaml", "fns/k1.yaml", "fns/k2.yaml"]}\n',
        "transformers:\n- fns/k1.yaml\n- fns/k2.yaml\nresources: [a]\ncommonAnnotations: {d: 2021-01-29}\n",
    ],
)
def test_the_trimmed_kustomization_is_the_users_text_minus_the_trailing_entries(text):
    from kfkrm.cli.kustomize_plan import trimmed_text

    doc = yaml_load(text)
    keep = len(doc["transformers"]) - 2
    trimmed = trimmed_text(text, keep, doc)
    again = yaml_load(trimmed)
    assert (again.get("transformers") or []) == doc["transformers"][:keep]
    assert {k: v for k, v in again.items() if k != "transformers"} == {
        k: v for k, v in doc.items() if k != "transformers"
    }
    # every byte outside the cut is the user's
    assert "fns/k" not in trimmed and len(text) - len(trimmed) < 60
    assert trimmed.startswith(text[: min(text.index("transformers"), len(trimmed))])
