"""`kfkrm images [FILE|-] [--config FILE] [--format text|json]`: which images Kubeflow needs.

Reads a rendered stream (what `kustomize build` prints) or a ResourceList and lists every
image reference with where it appears, embedded ones included. With `--config` (an
ImageProxy config) it prints the source -> target pairs instead, one per line, so the
platform team can fill its registry (skopeo, crane) before deploying. Sources are
normalised (docker.io/library/python:3.7); where the tag sits elsewhere (KServe's
defaultImageVersion, Istio's hub and tag) the full references are listed.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..domain.images import find_images
from ..runtime import yamlio
from ..runtime.config import ConfigError, parse_config
from ..runtime.resourcelist import InputError, read_input
from .output import write_stdout


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="kfkrm images", description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument(
        "file", nargs="?", default="-", help="rendered manifests or a ResourceList; - (default) for stdin"
    )
    parser.add_argument("--config", help="an ImageProxy config: print source -> target pairs")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.file == "-" else _read(args.file)
        proxy = _proxy(args.config) if args.config else None
        found = find_images(read_input(text).items, embedded=True)
    except (OSError, InputError, ConfigError, yamlio.YAMLError, UnicodeDecodeError) as e:
        sys.stderr.write(f"kfkrm images: error: {_one_line(e)}\n")
        return 1
    if proxy is None:
        write_stdout(_locations(found, args.format))
    else:
        write_stdout(_pairs(found, proxy, args.format))
    return 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _proxy(path: str):
    from ..fns.image_proxy import Config, Proxy

    try:
        raw = yamlio.load(_read(path))
    except yamlio.YAMLError as e:
        raise ConfigError(f"--config {path} is not valid YAML: {_one_line(e)}") from None
    return Proxy(parse_config(Config, raw, "image-proxy").rules)


def _one_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def image_locations(found) -> dict[str, list[str]]:
    """Each source image (as `kfkrm images` lists it) with the places it comes from."""
    by_image: dict[str, list[str]] = {}
    for f in found:
        for source in f.sources():
            by_image.setdefault(source, []).append(f.where_text())
    return by_image


def _locations(found, fmt: str) -> str:
    """Each source image with the places it comes from."""
    by_image = image_locations(found)
    if fmt == "json":
        return (
            json.dumps([{"image": image, "locations": places} for image, places in sorted(by_image.items())], indent=2)
            + "\n"
        )
    lines = []
    for image, places in sorted(by_image.items()):
        lines.append(image)
        lines.extend(f"  {place}" for place in places)
    return "".join(line + "\n" for line in lines)


def _pairs(found, proxy, fmt: str) -> str:
    """source -> target for every image to mirror; target None when no rule covers it."""
    pairs: dict[str, object] = {}
    for f in found:
        refs = f.completions or (f.ref,)
        for ref in refs:
            if f.prefix and not f.completions:
                continue  # a bare prefix: the full reference is only known at run time
            pairs.setdefault(ref.normalised, proxy.target(ref))
    if fmt == "json":
        return json.dumps([{"source": s, "target": t} for s, t in sorted(pairs.items())], indent=2) + "\n"
    return "".join(
        f"{s} -> {t if t else '(no rule; already internal or not covered)'}\n" for s, t in sorted(pairs.items())
    )
