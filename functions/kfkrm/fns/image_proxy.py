"""Every image through the internal registry, the ones outside container fields included.

Enterprises pull only through an internal registry that proxies, scans and certifies
images. kustomize's ImageTagTransformer needs one entry per image and only sees container
fields; kpt's set-image misses initContainers, Jobs and CronJobs. Kubeflow keeps about
half of its images elsewhere: KServe's and Katib's JSON/YAML ConfigMaps, the Jupyter
spawner's image lists, Knative's queue-sidecar image and caching Image, KServe's
ClusterServingRuntimes, `--executor-image` args, `*_IMAGE` env vars, Istio's `hub`,
string literals in the KFP profile controller's sync.py, and literal `image:` lines in
Istio's injection templates (Go template text, not YAML). One forgotten image is a pod that
cannot start behind the firewall.

Rules are tried in order, first match wins, on whole path components of the normalised
repository (`nginx` is docker.io/library/nginx). Tags and digests are kept exactly. An image
already under a rule's `to` is left alone, so a second run changes nothing. Where a runtime
assembles an image from a prefix (Istio's hub + image + tag) and the rules would send its
parts to different places, the prefix is left alone and a warning says what to set.
With `allowedRegistries`, any image left outside them is an error. A container `image` that
is not an image reference (`"nginx "`, `"NGINX:1"`, a digest of the wrong length) is never
rewritten: a warning names it (an error with `allowedRegistries`), and the summary counts it."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..domain.images import (
    CONTAINER,
    EmbeddedRewriteError,
    Found,
    Reference,
    find_images,
    is_registry_path,
    normalise_prefix,
    parse_reference,
    under,
    unparsable_images,
)
from ..runtime.config import FunctionConfig, Model, non_empty_when_set
from ..runtime.results import error, info, warn

CATCH_ALL = "*"


class Rule(Model):
    source: str = Field(
        ...,
        alias="from",
        description='a registry host, optionally with a path prefix (docker.io also matches short names), or "*" for '
        'every image',
    )
    to: str = Field(..., description="the internal registry host and path that replaces it")

    @field_validator("source")
    @classmethod
    def _valid_source(cls, source: str) -> str:
        if source != CATCH_ALL and (parse_reference(source) is None or parse_reference(source).suffix):
            raise ValueError(f'{source!r} is not a registry host with an optional path (no tag, no scheme), nor "*"')
        return source

    @field_validator("to")
    @classmethod
    def _valid_to(cls, to: str) -> str:
        if not is_registry_path(to):
            raise ValueError(
                f"{to!r} is not a registry host with an optional path, e.g. registry.corp.example.com/proxy"
            )
        return to

    @property
    def repository(self) -> str:
        """`from` normalised: docker.io/kubeflow for `kubeflow`; a host stays as it is."""
        return CATCH_ALL if self.source == CATCH_ALL else normalise_prefix(self.source)


class Config(FunctionConfig):
    KIND = "ImageProxy"

    rules: list[Rule] = Field(..., description="from -> to rewrites, first match wins")
    embedded: bool = Field(True, description="also rewrite images in ConfigMap data, args, env and custom resources")
    allowedRegistries: Optional[list[str]] = Field(
        None,
        description="after rewriting, an image outside these registries (host, optionally with a path) is an error",
    )

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, rules: list[Rule]) -> list[Rule]:
        if not rules:
            raise ValueError("must hold at least one rule")
        seen = {}
        for i, rule in enumerate(rules):
            if rule.repository in seen:
                raise ValueError(f"rules[{i}].from {rule.source!r} duplicates rules[{seen[rule.repository]}].from")
            seen[rule.repository] = i
        return rules

    @field_validator("allowedRegistries")
    @classmethod
    def _valid_allowed(cls, allowed):
        if allowed is not None:
            non_empty_when_set(allowed, "must name at least one registry when set")
            for entry in allowed:
                if not is_registry_path(entry):
                    raise ValueError(f"{entry!r} is not a registry host with an optional path")
        return allowed

    @model_validator(mode="after")
    def _catch_all_last(self):
        for i, rule in enumerate(self.rules[:-1]):
            if rule.source == CATCH_ALL:
                raise ValueError(
                    f'rules[{i}]: the catch-all "*" must be the last rule (the rules after it could never match)'
                )
        return self


class Proxy:
    """The rules applied to references."""

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.internal = [rule.to for rule in rules]

    def target(self, ref: Reference) -> Optional[str]:
        """The rewritten reference, or None when no rule covers it or it is already internal."""
        repository = ref.repository
        if any(under(repository, to) for to in self.internal):
            return None
        for rule in self.rules:
            if rule.repository == CATCH_ALL:
                return ref.with_repository(f"{rule.to}/{repository}")
            if under(repository, rule.repository):
                return ref.with_repository(rule.to + repository[len(rule.repository) :])
        return None

    def prefix_target(self, found: Found) -> tuple[Optional[str], Optional[str]]:
        """(new prefix, problem) for a prefix a runtime completes (Istio's hub): rewritten
        only when every image it completes to lands where the rules send that image."""
        new = self.target(found.ref)
        for full in found.completions:
            expected = self.target(full)
            if new is None and expected is None:
                continue
            got = None if new is None else new + full.text[len(found.ref.text) :]
            if got != expected:
                return None, (
                    f"the runtime builds {full.text} from the prefix {found.ref.text!r} here; the rules send "
                    f"that image to {expected or 'no rule'} but the prefix to {new or 'no rule'}, which no single "
                    f"prefix can express: set the prefix (and image name) so that it pulls {expected or full.text}"
                )
        return new, None


def transform(rl, config: Config) -> str:
    proxy = Proxy(config.rules)
    found = find_images(rl.items, embedded=config.embedded)  # local-config items are skipped there
    final: dict[int, str] = {}
    rewritten = {CONTAINER: 0}
    touched = set()
    for f in found:
        if f.prefix:
            new, problem = proxy.prefix_target(f)
            if problem:
                warn(rl, problem, f.item, f.field)
        else:
            new = proxy.target(f.ref)
        if new is None:
            continue
        try:
            f.write(new)
        except EmbeddedRewriteError as e:
            warn(rl, f"{f.ref.text} left as it is: {e}", f.item, f.field)
            continue
        final[id(f)] = new
        rewritten[f.where] = rewritten.get(f.where, 0) + 1
        touched.add(id(f.item))
        if f.where != CONTAINER:
            at = f" ({f.inner})" if f.inner else ""
            info(rl, f"image {f.ref.text} -> {new}{at}", f.item, f.field)
    if config.allowedRegistries:
        _check_allowed(rl, found, final, config.allowedRegistries)
    unparsable = list(unparsable_images(rl.items))
    for item, field, value in unparsable:
        report = error if config.allowedRegistries else warn
        what = "it cannot be checked against allowedRegistries" if config.allowedRegistries else "left as it is"
        report(rl, f"image {value!r} is not a valid image reference: {what}; no registry proxy serves it", item, field)
    embedded = sum(n for where, n in rewritten.items() if where != CONTAINER)
    kept = len(found) - len(final)
    details = ", ".join(f"{n} {where}" for where, n in sorted(rewritten.items()) if where != CONTAINER and n)
    return (
        f"rewrote {len(final)} image references in {len(touched)} resources: {rewritten[CONTAINER]} container images, "
        f"{embedded} elsewhere"
        + (f" ({details})" if details else "")
        + f"; {kept} left as they were"
        + (f"; {len(unparsable)} container images not valid references (left as they were)" if unparsable else "")
    )


def _check_allowed(rl, found: list[Found], final: dict, allowed: list[str]) -> None:
    for f in found:
        text = final.get(id(f), f.ref.text)
        ref = parse_reference(text)
        if ref is not None and not any(under(ref.repository, a) for a in allowed):
            at = f" ({f.inner})" if f.inner else ""
            error(
                rl,
                f"image {text}{at} is outside allowedRegistries ({', '.join(allowed)}): add a rule that covers "
                f"{ref.domain}",
                f.item,
                f.field,
            )
