"""`kfkrm-docker`: a `docker` stand-in that runs kfkrm's own images in-process.

kustomize runs container functions by calling `docker run ... IMAGE` from PATH. Where no
container engine exists (ArgoCD's repo-server, a laptop without docker, this README's
quick start), installing this program as `docker` first on PATH lets the *same*
kustomization, with its `container: image:` function annotations, render unchanged: a
kfkrm image runs the kfkrm code installed next to this program, and every other image
is refused with a clear message instead of being silently skipped.

Which images count as kfkrm's: any reference whose repository's last path component is
`kfkrm` (`kfkrm:latest`, `registry.corp.example.com/platform/kfkrm@sha256:...`), or the
repositories listed, comma-separated, in KFKRM_DOCKER_IMAGES.
"""

from __future__ import annotations

import os
import sys

# docker run options that take a value (kustomize and kpt use -a, -e, --network, --user,
# --security-opt, -v/--mount for mounts); everything else starting with - is a switch.
_VALUE_OPTIONS = {
    "-a",
    "--attach",
    "-e",
    "--env",
    "--network",
    "--net",
    "-u",
    "--user",
    "--security-opt",
    "-v",
    "--volume",
    "--mount",
    "--name",
    "-w",
    "--workdir",
    "--entrypoint",
    "--env-file",
    "--platform",
    "--pull",
    "--log-driver",
    "--cidfile",
    "-l",
    "--label",
    "--tmpfs",
}


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def is_kfkrm_image(image: str) -> bool:
    repo = _repository(image)
    extra = {r.strip() for r in os.environ.get("KFKRM_DOCKER_IMAGES", "").split(",") if r.strip()}
    return repo.rsplit("/", 1)[-1] == "kfkrm" or repo in extra


def parse_run(args: list[str]) -> tuple[str, list[str], dict]:
    """(image, arguments for its entrypoint, -e variables) from `docker run` arguments."""
    env: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        name, has_value, value = arg.partition("=")
        if name in _VALUE_OPTIONS and not has_value:
            if i + 1 >= len(args):
                raise ValueError(f"option {arg} needs a value")
            value = args[i + 1]
            i += 1
        if name in ("-e", "--env") and value:
            key, _, val = value.partition("=")
            env[key] = val
        i += 1
    if i >= len(args):
        raise ValueError("no image given")
    return args[i], args[i + 1 :], env


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "run":
        what = argv[0] if argv else "(nothing)"
        sys.stderr.write(f"kfkrm-docker: only `docker run` of kfkrm images is supported here, not `docker {what}`\n")
        return 1
    try:
        image, entry_args, _ = parse_run(argv[1:])
    except ValueError as e:
        sys.stderr.write(f"kfkrm-docker: error: {e}\n")
        return 1
    if not is_kfkrm_image(image):
        sys.stderr.write(
            f"kfkrm-docker: refusing to run {image}: no container engine here, only kfkrm images run "
            "(in-process); add its repository to KFKRM_DOCKER_IMAGES only if it is a kfkrm build\n"
        )
        return 1
    from .main import main as kfkrm_main

    return kfkrm_main(entry_args)


if __name__ == "__main__":
    raise SystemExit(main())
