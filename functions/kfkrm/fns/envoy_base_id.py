"""Gives Envoy-based containers their own `--base-id`, so they survive next to the Istio sidecar.

Envoy keeps a shared-memory region and a domain socket named after its base id, 0 by
default. The Istio sidecar is an Envoy too: once a pod gets one, an Envoy-based container
in the same pod (KFP's metadata-envoy) dies with "unable to bind domain socket with id=0
(see --base-id option)". The field report rebuilt the image to add `--base-id 1`; this
sets it on the container's args instead.

KFP's image runs `ENTRYPOINT ["/usr/local/bin/envoy", "-c"]` with `CMD ["/etc/envoy.yaml"]`
(third_party/metadata_envoy/Dockerfile). Kubernetes `args` replace the image's CMD, so a
container without args gets `["/etc/envoy.yaml", "--base-id", "N"]`: the image's own
command plus the flag. Existing args are kept and the flag is appended or its value
replaced. Default targets: containers running KFP's metadata-envoy image
(`gcr.io/ml-pipeline/metadata-envoy` in v1.3, `ghcr.io/kubeflow/kfp-metadata-envoy` in
v1.10, under any registry prefix); `images` and include/exclude reach other Envoy-based
containers. The id only matters when the pod gets a sidecar: a pod template that opts
out of injection gets the args anyway and a warning."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Optional

from pydantic import Field, field_validator

from ..domain.images import parse_reference
from ..runtime.config import FunctionConfig
from ..runtime.podtemplates import SIDECAR_INJECT, has_pod_template, pod_template
from ..runtime.results import ERROR, WARNING, error, info, warn
from ..runtime.selectors import Selecting, select

FLAG = "--base-id"
DYNAMIC_FLAG = "--use-dynamic-base-id"

# KFP's metadata-envoy image, matched on the repository so a registry proxy prefix
# (registry.corp/gcr.io/ml-pipeline/metadata-envoy) still matches.
KFP_METADATA_ENVOY_IMAGES = ["*ml-pipeline/metadata-envoy", "*kubeflow/kfp-metadata-envoy"]
# Its Dockerfile's CMD: what Kubernetes args replace.
KFP_METADATA_ENVOY_CMD = ["/etc/envoy.yaml"]


class Config(Selecting, FunctionConfig):
    KIND = "EnvoyBaseId"
    FROM_CONFIGMAP = "fields"

    baseId: int = Field(..., description="the Envoy base id for the selected containers (not 0, the sidecar's)")
    images: list[str] = Field(
        default_factory=lambda: list(KFP_METADATA_ENVOY_IMAGES),
        description="globs on the image repository (no tag or digest) of the Envoy-based containers to change",
    )
    imageCmd: Optional[list[str]] = Field(
        None,
        description="the CMD of those images, used for a container without args or command "
        '(default: KFP\'s metadata-envoy CMD ["/etc/envoy.yaml"] when images is left at its default)',
    )

    @field_validator("baseId")
    @classmethod
    def _valid_base_id(cls, base_id):
        if base_id < 1 or base_id > 0xFFFFFFFF:
            raise ValueError(
                "must be between 1 and 4294967295 (0 is Envoy's default, the id the sidecar already holds)"
            )
        return base_id

    @field_validator("images")
    @classmethod
    def _some_images(cls, images):
        if not images or any(not glob.strip() for glob in images):
            raise ValueError("must list at least one non-empty image repository glob")
        return images

    def default_args(self) -> Optional[list[str]]:
        """What a container without args or command runs: the image's CMD, when known."""
        if self.imageCmd is not None:
            return list(self.imageCmd)
        if self.images == KFP_METADATA_ENVOY_IMAGES:
            return list(KFP_METADATA_ENVOY_CMD)
        return None


def image_repository(image) -> str:
    """The repository as written (`registry/path/name`, no `:tag` or `@digest`); "" if not an image."""
    reference = parse_reference(image)
    return reference.name if reference else ""


def with_base_id(command: list, args: list, base_id: int) -> tuple[list, list]:
    """command and args with `--base-id` set to base_id: replaced where it is, else appended to args."""
    value = str(base_id)
    for which in (args, command):
        for i, arg in enumerate(which):
            if arg == FLAG and i + 1 < len(which):
                which[i + 1] = value
                return command, args
            if isinstance(arg, str) and arg.startswith(FLAG + "="):
                which[i] = f"{FLAG}={value}"
                return command, args
    return command, args + [FLAG, value]


def opts_out_of_injection(tpl) -> Optional[str]:
    """'label' or 'annotation' when the pod template says sidecar.istio.io/inject: "false"."""
    for where, values in (("label", tpl.labels), ("annotation", tpl.annotations)):
        if str(values.get(SIDECAR_INJECT, "")).lower() == "false":
            return where
    return None


def raw_marker(glob: str) -> Optional[str]:
    """A plain substring every image matching `glob` contains (its last path part), if any."""
    last = glob.rsplit("/", 1)[-1].strip("*")
    return None if not last or any(ch in last for ch in "*?[") else last


def might_hold_image(item, markers: list) -> bool:
    """Cheap text prefilter: skip parsing workloads that cannot hold a matching image."""
    return item.raw is None or None in markers or any(m in item.raw for m in markers)


def set_base_id(container: dict, base_id: int, default_args: Optional[list]) -> Optional[bool]:
    """Set the flag on one container: True if it changed, False if already set, None if impossible."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command and not args:
        if default_args is None:
            return None
        args = default_args
    new_command, new_args = with_base_id(command, args, base_id)
    changed = False
    if new_command != list(container.get("command") or []):
        container["command"], changed = new_command, True
    if new_args != list(container.get("args") or []):
        container["args"], changed = new_args, True
    return changed


def transform(rl, config: Config) -> str:
    markers = [raw_marker(glob) for glob in config.images]
    candidates = [
        item
        for item in select(rl.items, config.include, config.exclude)
        if has_pod_template(item) and might_hold_image(item, markers)
    ]
    changed = found = 0
    for item in candidates:
        tpl = pod_template(item)
        if tpl is None:
            continue
        targets = [
            (path, c)
            for path, c in tpl.containers()
            if any(fnmatchcase(image_repository(c.get("image")), g) for g in config.images)
        ]
        if not targets:
            continue
        opt_out = opts_out_of_injection(tpl)
        if opt_out:
            warn(
                rl,
                f"the pod opts out of sidecar injection ({SIDECAR_INJECT}: \"false\" {opt_out}); "
                f"{FLAG} only matters next to a sidecar, so enable injection too",
                item,
                tpl.field("metadata", opt_out + "s", SIDECAR_INJECT),
            )
        for path, container in targets:
            found += 1
            name = container.get("name")
            if DYNAMIC_FLAG in list(container.get("command") or []) + list(container.get("args") or []):
                info(rl, f"container {name!r} already uses {DYNAMIC_FLAG}; left alone", item, path)
                continue
            outcome = set_base_id(container, config.baseId, config.default_args())
            if outcome is None:
                error(
                    rl,
                    f"container {name!r} sets neither command nor args and its image's CMD is unknown; "
                    "set imageCmd to that CMD so the image's own command is kept",
                    item,
                    path + ".args",
                )
            elif outcome:
                changed += 1
                info(rl, f"container {name!r} now runs with {FLAG} {config.baseId}", item, path + ".args")
    if not found:
        what = "include selects no container that runs" if config.include else "no container in the input runs"
        rl.result(
            f"{what} an image matching {', '.join(config.images)}; nothing to change",
            ERROR if config.include else WARNING,
        )
    skipped = found - changed
    return f"set {FLAG} {config.baseId} on {changed} of {found} Envoy containers ({skipped} already set or skipped)"
