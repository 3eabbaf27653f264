"""Image references: parsing them as the container runtime does, and finding every one in a
stream of resources, including the ones Kubeflow keeps outside container image fields.

Reused by ImageProxy (which rewrites what this finds), `kfkrm images` (which lists it) and
EnterprisePolicy (which checks it against allowed registries).

Where the finder looks:

* pod templates (the shared walker): every container, init and ephemeral container's
  `image`; with `embedded`, also env values whose name says image (`V2_DRIVER_IMAGE`,
  Knative's `BROKER_INGRESS_IMAGE`) and args of image flags (`--executor-image X`,
  `--acme-http01-solver-image=X`);
* ConfigMap data (with `embedded`): a value whose key says image (`cacheImage`,
  `queue-sidecar-image`, `TENSORBOARD_IMAGE`), and image fields inside JSON or YAML values
  (KServe's inferenceservice-config, Katib's katib-config and trial templates, the
  Jupyter spawner's image lists), Istio's `hub` (a registry prefix Istio completes with
  an image name and tag), image strings in Python source (the KFP profile
  controller's sync.py), and literal `image:` lines in Go template text, which is not
  YAML until rendered (Istio's injection templates: `templates.grpc-simple` of
  istio-sidecar-injector's data.config holds `image: busybox:1.28`); a template line
  whose value is a template expression (`{{ .ProxyImage }}`) is never taken;
* custom resources (with `embedded`): fields whose key says image (KServe
  ClusterServingRuntime containers, ClusterStorageContainer, Knative's caching Image).

A string is taken for an image only where its key (or flag, or env name) says so and it
parses as a reference: hostnames, URLs, API versions and version strings elsewhere are
never touched. `_example` data keys are documentation (Knative checksums them), skipped.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

from ..runtime import yamlio
from ..runtime.kinds import is_core
from ..runtime.paths import field_path, walk_strings
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.resourcelist import Item

# -- references ------------------------------------------------------------------------

_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
# A digest is valid only for an algorithm the runtime verifies, in its exact length and in
# lower case (opencontainers/go-digest, which containerd and CRI-O use, refuses anything else:
# `sha256:abc` is no image the kubelet can pull).
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST = "(?:" + "|".join(f"{alg}:[a-f0-9]{{{n}}}" for alg, n in _DIGEST_LENGTHS.items()) + ")"
_REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_REPOSITORY = re.compile(rf"^{_NAME}$")
DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")


def split_domain(name: str, prefix: bool = False) -> tuple[str, str]:
    """(registry host, path) of a repository name, by the runtime's rule: a first component
    with `.` or `:`, or `localhost`, is a host; anything else is a Docker Hub path, and a
    single Docker Hub component is an official image under `library/` (unless `name` is
    a prefix that a runtime completes, like Istio's hub `docker.io/istio`)."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
    if domain in _DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path and not prefix:
        path = "library/" + path
    return domain, path


@dataclass(frozen=True)
class Reference:
    """One image reference as written, and its normalised repository."""

    text: str  # exactly as written, e.g. "kfserving/agent:v0.5.1"
    name: str  # the repository part as written, e.g. "kfserving/agent"
    domain: str  # e.g. "docker.io"
    path: str  # e.g. "kfserving/agent", "library/python"

    @property
    def repository(self) -> str:
        """The normalised repository, e.g. docker.io/library/python."""
        return f"{self.domain}/{self.path}"

    @property
    def suffix(self) -> str:
        """`:tag`, `@digest` or both, exactly as written (kept on every rewrite)."""
        return self.text[len(self.name) :]

    @property
    def normalised(self) -> str:
        return self.repository + self.suffix

    def with_repository(self, repository: str) -> str:
        return repository + self.suffix


def parse_reference(text, prefix: bool = False) -> Optional[Reference]:
    """The reference `text` denotes, or None when it is not a valid image reference.
    With `prefix`, `text` is the start of a repository that a runtime completes."""
    if not isinstance(text, str) or not text or len(text) > 512:
        return None
    m = _REFERENCE.match(text)
    if not m:
        return None
    name = m.group("name")
    domain, path = split_domain(name, prefix)
    return Reference(text, name, domain, path)


def is_registry_path(text: str) -> bool:
    """A registry host with an optional path and no tag (a rule's `to`, an allowed
    registry): `registry.corp.example.com/proxy`, `localhost:5000`."""
    host = text.split("/")[0]
    return bool(_REPOSITORY.match(text)) and ("." in host or ":" in host or host == "localhost")


def normalise_prefix(text: str) -> str:
    """A repository prefix as a rule writes it, normalised: a first component that is not a
    host is a Docker Hub path (`kubeflow` -> docker.io/kubeflow; no `library/` is added)."""
    host, _, rest = text.partition("/")
    if "." in host or ":" in host or host == "localhost":
        return DOCKER_HUB + ("/" + rest if rest else "") if host in _DOCKER_HUB_ALIASES else text
    return f"{DOCKER_HUB}/{text}"


def under(repository: str, prefix: str) -> bool:
    """`repository` is `prefix` or lies below it, matching whole path components."""
    return repository == prefix or repository.startswith(prefix + "/")


# -- where a key names an image ----------------------------------------------------------

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_NOT_AN_IMAGE_WORDS = {"pull", "policy", "secret", "secrets", "version", "tag", "digest", "allow", "sha"}
_PASS_THROUGH_KEYS = ("value", "options")  # the Jupyter spawner: image: {value: X, options: [X, Y]}


def names_an_image(key) -> bool:
    """A key, env name or flag that holds an image: image, cacheImage, V2_DRIVER_IMAGE,
    queue-sidecar-image, imageGroupOne; not imagePullPolicy, defaultImageVersion."""
    if not isinstance(key, str):
        return False
    words = {w.lower() for w in _WORD.findall(key)}
    return bool(words & {"image", "images"}) and not words & _NOT_AN_IMAGE_WORDS


# -- what the finder returns -------------------------------------------------------------

CONTAINER, ARGS, ENV, CONFIGMAP, RESOURCE = "container", "args", "env", "configmap", "resource"


@dataclass
class Found:
    """One image reference in one place, and how to write a new value there."""

    item: Item
    field: str  # path in the resource, e.g. spec.template.spec.containers[0].image
    ref: Reference
    where: str  # CONTAINER, ARGS, ENV, CONFIGMAP or RESOURCE
    inner: str = ""  # path inside an embedded value, e.g. predictors.tensorflow.image
    prefix: bool = False  # a registry prefix completed at run time (Istio's hub, "repo:" + version)
    completions: tuple = ()  # the full references it stands for, when the input says (sibling tags, Istio images)
    _write: Optional[Callable[[str], None]] = field(default=None, repr=False)

    def write(self, new_text: str) -> None:
        self._write(new_text)

    def sources(self) -> tuple:
        """The full references to mirror for this place, normalised."""
        if self.completions:
            return tuple(c.normalised for c in self.completions)
        return (self.ref.normalised,)

    def where_text(self) -> str:
        return f"{self.item.ref()} {self.field}" + (f" ({self.inner})" if self.inner else "")


# -- the finder --------------------------------------------------------------------------

# An item whose text has neither can hold no image: it is skipped before it is parsed.
_MAY_HOLD_IMAGE = re.compile(r"image|\bhub\b", re.I)


def _may_hold_image(raw: str) -> bool:
    """_MAY_HOLD_IMAGE, with plain substring tests first (far faster than a case-insensitive scan)."""
    if "image" in raw or "Image" in raw or "IMAGE" in raw:
        return True
    return ("hub" in raw or "Hub" in raw or "HUB" in raw) and _MAY_HOLD_IMAGE.search(raw) is not None


_SKIPPED_KINDS = {"CustomResourceDefinition"}
_DOC_KEYS = ("_example",)


def find_images(items: Iterable[Item], embedded: bool = True) -> list[Found]:
    """Every image reference in `items`; with `embedded`, the ones outside container image
    fields too. Items are parsed only when their kind and text say they may hold one."""
    found: list[Found] = []
    for item in items:
        if item.kind in _SKIPPED_KINDS:  # read off the item's line: cheaper than its text
            continue
        if item.raw is not None and not _may_hold_image(item.raw):
            continue
        if item.is_local_config:
            continue
        if has_pod_template(item):
            found.extend(_in_pod_template(item, embedded))
        elif not embedded:
            continue
        elif is_core(item, "ConfigMap"):
            found.extend(_in_configmap(item))
        elif item.group != "":
            found.extend(_in_resource(item))
    return found


def unparsable_images(items: Iterable[Item]) -> Iterator[tuple[Item, str, object]]:
    """(item, field, value) of every container `image` that is set but is not an image
    reference (`"docker.io/nginx extra"`, a newline inside): the finder skips such strings
    (they are not images it can rewrite), so a policy must name them rather than pass them."""
    for item in items:
        if item.kind in _SKIPPED_KINDS or (item.raw is not None and not _may_hold_image(item.raw)):
            continue
        if item.is_local_config or not has_pod_template(item):
            continue
        tpl = pod_template(item)
        for path, container in tpl.containers() if tpl is not None else ():
            value = container.get("image")
            if value is not None and parse_reference(value) is None:
                yield item, f"{path}.image", value


def _in_pod_template(item: Item, embedded: bool) -> Iterator[Found]:
    tpl = pod_template(item)
    if tpl is None:
        return
    for path, container in tpl.containers():
        ref = parse_reference(container.get("image"))
        if ref:
            yield Found(item, f"{path}.image", ref, CONTAINER, _write=_setter(container, "image"))
        if not embedded:
            continue
        for i, env in enumerate(container.get("env") or []):
            if isinstance(env, dict) and names_an_image(env.get("name")) and "value" in env:
                ref = parse_reference(env.get("value"))
                if ref:
                    yield Found(
                        item,
                        f"{path}.env[{i}].value",
                        ref,
                        ENV,
                        inner=f"env {env['name']}",
                        _write=_setter(env, "value"),
                    )
        yield from _in_args(item, path, container)


def _in_args(item: Item, path: str, container: dict) -> Iterator[Found]:
    for key in ("args", "command"):
        args = container.get(key)
        if not isinstance(args, list):
            continue
        for i, arg in enumerate(args):
            if not isinstance(arg, str) or not arg.startswith("-"):
                continue
            flag, eq, value = arg.partition("=")
            if not names_an_image(flag.lstrip("-")):
                continue
            if eq:
                ref = parse_reference(value)
                if ref:
                    yield Found(
                        item, f"{path}.{key}[{i}]", ref, ARGS, inner=flag, _write=_list_setter(args, i, flag + "=")
                    )
            elif i + 1 < len(args):
                ref = parse_reference(args[i + 1])
                if ref:
                    yield Found(item, f"{path}.{key}[{i + 1}]", ref, ARGS, inner=flag, _write=_list_setter(args, i + 1))


def _setter(mapping, key) -> Callable[[str], None]:
    """Writes a new value at mapping[key] (a dict or a list), in the old value's quoting style."""

    def write(text: str) -> None:
        mapping[key] = _styled_like(mapping[key], text)

    return write


def _list_setter(values: list, index: int, before: str = "") -> Callable[[str], None]:
    def write(text: str) -> None:
        values[index] = _styled_like(values[index], before + text)

    return write


def _styled_like(old, new: str) -> str:
    """`new`, quoted or block-styled as `old` was in the input (yamlio keeps the style)."""
    style = getattr(old, "style", None)
    return yamlio.Str(new, style) if style else new


def _in_resource(item: Item) -> Iterator[Found]:
    for parts, container, key, value in walk_strings(item.obj):
        if names_an_image(_image_key(parts)):
            ref = parse_reference(value)
            if ref:
                yield Found(item, field_path(parts), ref, RESOURCE, _write=_setter(container, key))


def _image_key(parts: tuple):
    """The key that says what a string at `parts` is: its own key, or for list entries and
    the spawner's value/options the key above them."""
    for part in reversed(parts):
        if isinstance(part, int) or part in _PASS_THROUGH_KEYS:
            continue
        return part
    return None


# -- ConfigMap data ----------------------------------------------------------------------


def _in_configmap(item: Item) -> Iterator[Found]:
    data = item.obj.get("data")
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if not isinstance(value, str) or key in _DOC_KEYS:
            continue
        where = f"data.{key}" if re.match(r"^[A-Za-z_][\w-]*$", key) else f'data["{key}"]'
        ref = parse_reference(value.strip()) if names_an_image(key) else None
        if ref:
            yield Found(item, where, ref, CONFIGMAP, _write=_plain_value_writer(data, key, value))
            continue
        embedded = EmbeddedValue.parse(data, key, value)
        if embedded is not None:
            for found in embedded.find(item, where):
                yield found


def _plain_value_writer(data: dict, key: str, value: str) -> Callable[[str], None]:
    stripped = value.strip()
    start = value.index(stripped)

    def write(text: str) -> None:
        data[key] = _styled_like(value, value[:start] + text + value[start + len(stripped) :])

    return write


class EmbeddedValue:
    """A JSON, YAML or Python text inside a ConfigMap value.

    Images are found through the parsed structure; they are rewritten in the text itself,
    so the value keeps its own format (indentation, key order, comments). Every rewrite of
    a value is checked by parsing the result again: JSON and YAML must parse to the
    original with exactly the intended strings replaced, Python must still parse.

    Its phases, each a function below: recognise the format (_recognise), find image
    strings (_find_in_doc, _python_image_literals), rewrite the text (_replace_bounded)
    and verify the result (_expected_documents).
    """

    def __init__(self, data: dict, key: str, text: str, fmt: str, docs):
        self.data, self.key, self.text, self.format, self.docs = data, key, text, fmt, docs
        self.images: dict = {}  # (doc index, path) -> the image string found there
        self.edits: dict = {}  # (doc index, path) -> (old string, new string)

    @classmethod
    def parse(cls, data: dict, key: str, text: str) -> Optional["EmbeddedValue"]:
        value = cls._parse(data, key, text)
        if value is None and _is_template(str(text)):
            return cls(data, key, str(text), "template", None)
        return value

    @classmethod
    def _parse(cls, data: dict, key: str, text: str) -> Optional["EmbeddedValue"]:
        text = str(text)  # a yamlio.Str remembers its style; the parsers want a plain str
        recognised = _recognise(key, text)
        return None if recognised is None else cls(data, key, text, *recognised)

    # -- finding -----------------------------------------------------------------------
    def find(self, item: Item, where: str) -> Iterator[Found]:
        if self.format == "python":
            yield from self._find_in_python(item, where)
            return
        if self.format == "template":
            yield from self._find_in_template(item, where, None, (), self.text)
            return
        for d, doc in enumerate(self.docs):
            yield from self._find_in_doc(item, where, d, doc)

    def _find_in_doc(self, item, where, d, doc) -> Iterator[Found]:
        strings = list(walk_strings(doc))
        hubs = [(parts, container, value) for parts, container, key, value in strings if key == "hub" and value]
        for parts, container, key, value in strings:
            inner = field_path(parts)
            if _is_template(value):
                yield from self._find_in_template(item, where, d, parts, value)
                continue
            if key == "hub" and value:
                ref = parse_reference(value, prefix=True)
                if ref and "/" in value:
                    yield Found(
                        item,
                        where,
                        ref,
                        CONFIGMAP,
                        inner=inner,
                        prefix=True,
                        completions=_hub_completions(ref, container, strings),
                        _write=self._editor(d, parts, value),
                    )
                continue
            if not names_an_image(_image_key(parts)):
                continue
            ref = parse_reference(value)
            if ref is None or (hubs and "/" not in value):
                continue  # with a hub, a bare name is completed by Istio: hub/name:tag
            completions = _sibling_tag_completions(ref, container) if isinstance(container, dict) else ()
            yield Found(
                item, where, ref, CONFIGMAP, inner=inner, completions=completions, _write=self._editor(d, parts, value)
            )

    def _find_in_python(self, item, where) -> Iterator[Found]:
        for line, column, text, concatenated in _python_image_literals(self.text):
            ref = parse_reference(text, prefix=concatenated)
            if ref is None or "/" not in text:
                continue
            yield Found(
                item,
                where,
                ref,
                CONFIGMAP,
                inner=f"line {line}",
                prefix=concatenated,
                _write=self._editor(None, (line, column), text),
            )

    def _find_in_template(self, item, where, d, parts, text: str) -> Iterator[Found]:
        """Literal image references on `key: value` lines of Go template text (at `parts` of
        doc `d`; the whole value when d is None). Templates are not YAML, so lines are read."""
        for i, line in enumerate(text.split("\n")):
            m = _TEMPLATE_LINE.match(line)
            if not m or not names_an_image(m["key"]):
                continue
            ref = parse_reference(m["value"])
            if ref is None:
                continue
            inner = (field_path(parts) + " " if parts else "") + f"line {i + 1}"
            yield Found(item, where, ref, CONFIGMAP, inner=inner, _write=self._editor(d, parts, m["value"], line=i))

    # -- rewriting ---------------------------------------------------------------------
    def _editor(self, d, parts, old: str, line: Optional[int] = None) -> Callable[[str], None]:
        """`line`: the image sits on that line of template text at `parts` (a 3-part key)."""
        at = (d, parts) if line is None else (d, parts, line)
        self.images[at] = old

        def write(new: str) -> None:
            self.edits[at] = (old, new)
            try:
                self._commit()
            except EmbeddedRewriteError:
                del self.edits[at]
                raise

        return write

    def _commit(self) -> None:
        replacements = {old: new for old, new in self.edits.values()}
        text = _replace_bounded(self.text, replacements)
        self._check(text, replacements)
        self.data[self.key] = _styled_like(self.text, text)

    def _check(self, text: str, replacements: dict) -> None:
        if self.format == "python":
            ast.parse(text)
            return
        lines = _template_line_edits(self.images, replacements)
        if self.format == "template":
            if text != _edit_lines(self.text, lines.get((None, ()), []), replacements):
                raise EmbeddedRewriteError(
                    f"the same text also appears outside image lines in data.{self.key}; not rewritten"
                )
            return
        got = [json.loads(text)] if self.format == "json" else yamlio.load_all(text)
        if json.loads(json.dumps(got)) != _expected_documents(self.docs, self.images, replacements, lines):
            raise EmbeddedRewriteError(
                f"the same text also appears outside image fields in data.{self.key}; not rewritten"
            )


def _recognise(key: str, text: str) -> Optional[tuple[str, Optional[list]]]:
    """(format, parsed documents) of a ConfigMap value that holds structured text, or None:
    Python for a `.py` key that parses, JSON when it parses as JSON, else multi-line YAML
    holding a mapping or a list."""
    if key.endswith(".py"):
        try:
            ast.parse(text)
        except SyntaxError:
            return None
        return "python", None
    stripped = text.lstrip()
    if not stripped or not ("\n" in stripped or stripped[0] in "{["):
        return None
    if stripped[0] in "{[":
        try:
            return "json", [json.loads(text)]
        except ValueError:
            pass
    try:
        docs = yamlio.load_all(text)
    except yamlio.YAMLError:
        return None
    if not any(isinstance(d, (dict, list)) for d in docs):
        return None
    return "yaml", docs


def _python_image_literals(text: str) -> Iterator[tuple[int, int, Optional[str], bool]]:
    """(line, column, string, concatenated) for each string literal assigned to an image:
    `"image": "repo:" + version`, `os.environ.get("FRONTEND_IMAGE", "repo")`,
    `frontend_image = "repo"`. `concatenated`: the literal is a prefix (`+` follows), its
    trailing `:` dropped."""
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING or i < 2 or tokens[i - 1].string not in (":", ",", "="):
            continue
        owner = tokens[i - 2]
        owner_name = (
            _literal(owner.string)
            if owner.type == tokenize.STRING
            else owner.string
            if owner.type == tokenize.NAME
            else None
        )
        if not names_an_image(owner_name):
            continue
        value = _literal(tok.string)
        concatenated = i + 1 < len(tokens) and tokens[i + 1].string == "+"
        literal = value[:-1] if concatenated and isinstance(value, str) and value.endswith(":") else value
        yield tok.start[0], tok.start[1], literal, concatenated


def _replace_bounded(text: str, replacements: dict) -> str:
    """Each old string replaced where it stands as a whole reference, longest first."""
    for old in sorted(replacements, key=len, reverse=True):
        text = _bounded(old).sub(lambda m, new=replacements[old]: new, text)
    return text


def _template_line_edits(images: dict, replacements: dict) -> dict:
    """(d, parts) of template text -> [(line, old image)] for the rewritten images on its lines."""
    lines: dict[tuple, list] = {}
    for at, old in images.items():
        if old in replacements and len(at) == 3:
            lines.setdefault(at[:2], []).append((at[2], old))
    return lines


def _expected_documents(docs: list, images: dict, replacements: dict, lines: dict) -> list:
    """The documents as they must parse after the rewrite: every image field holding a
    rewritten string changes with it (one image, one target), a template text changes on its
    image lines only, nothing else changes."""
    expected = json.loads(json.dumps(docs))
    for at, old in images.items():
        if old not in replacements:
            continue
        d, parts = at[:2]
        node = expected[d]
        for p in parts[:-1]:
            node = node[p]
        if len(at) == 3:
            node[parts[-1]] = _edit_lines(node[parts[-1]], lines[(d, parts)], replacements)
        else:
            node[parts[-1]] = replacements[old]
    return expected


class EmbeddedRewriteError(Exception):
    """A text rewrite of an embedded value would change more than the image fields."""


# `key: value` on one line of template text, optionally as a list entry; the value plain or
# quoted, holding no template action ({{ }}), no space, no comment.
_TEMPLATE_LINE = re.compile(
    r"""^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w-]*)\s*:\s+(?P<q>["']?)(?P<value>[^\s"'{}#]+)(?P=q)\s*(?:\s#.*)?$"""
)


def _is_template(text: str) -> bool:
    """Go template text spanning lines, with something that may name an image."""
    return "{{" in text and "\n" in text and ("image" in text or "Image" in text or "IMAGE" in text)


def _edit_lines(text: str, edits: list, replacements: dict) -> str:
    """`text` with each (line index, old) replaced on its own line only."""
    lines = text.split("\n")
    for i, old in edits:
        lines[i] = _bounded(old).sub(lambda m, new=replacements[old]: new, lines[i])
    return "\n".join(lines)


def _bounded(old: str):
    return re.compile(r"(?<![\w./-])" + re.escape(old) + r"(?![\w./-])")


def _literal(token_text: str):
    try:
        value = ast.literal_eval(token_text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _sibling_tag_completions(ref: Reference, mapping: dict) -> tuple:
    """KServe keeps the tag beside the repository: {image: tensorflow/serving,
    defaultImageVersion: 1.14.0, defaultGpuImageVersion: 1.14.0-gpu}."""
    if ref.suffix:
        return ()
    tags = [v for k, v in mapping.items() if isinstance(k, str) and k.endswith("ImageVersion") and isinstance(v, str)]
    return tuple(r for r in (parse_reference(f"{ref.text}:{t}") for t in tags) if r)


def _hub_completions(hub: Reference, mapping, strings) -> tuple:
    """Istio pulls hub/<image>:<tag> for each bare image name in its values."""
    tag = mapping.get("tag") if isinstance(mapping, dict) else None
    names = sorted(
        {v for parts, _, key, v in strings if names_an_image(_image_key(parts)) and "/" not in v and parse_reference(v)}
    )
    suffix = f":{tag}" if isinstance(tag, str) and tag else ""
    return tuple(r for r in (parse_reference(f"{hub.text}/{n}{suffix}") for n in names) if r)
