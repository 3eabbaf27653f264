"""Rewrites of the Kubeflow Pipelines profile controller's `sync.py` (shipped in a ConfigMap),
so that what it creates in every profile namespace uses the organisation's object store.

The script is Python, and its shape differs between releases (module-level settings in KFP
1.5, `get_settings_from_env` later; `children` or `attachments`). So it is parsed with `ast`
and only the nodes that carry the store are rewritten, in place, by their exact source
positions; everything else keeps its text. The rewritten script is parsed again before it is
accepted. What is rewritten:

- the Secret it copies into each namespace (the dict with `"kind": "Secret"` that a
  `desired_resources.append(...)` adds): renamed to the organisation's Secret, its two data
  keys renamed to that Secret's keys; or, with SDK credentials, the statement is removed, the
  readiness check `len(...["Secret.v1"]) == 1` expects 0, and the `MINIO_*_KEY` environment
  reads get a "" default (the script would otherwise fail on the missing variable);
- the per-namespace artifact server (the container dict named `ml-pipeline-ui-artifact`): its
  `env` list gets the store's settings (`env` is added when absent);
- the per-namespace `kfp-launcher` ConfigMap's data: the `providers` entry, when given.

KFP 2.15 (SeaweedFS) writes more of the store into the script, and all of it follows:

- the Secret is no longer copied but made per namespace: an `if` on the observed
  `Secret.v1` attachments reuses it or creates an access key with SeaweedFS's IAM API
  (`iam.create_access_key`, `iam.put_user_policy`) and sets the bucket's lifecycle policy
  (`upsert_lifecycle_policy`, which deletes the bucket's lifecycle rules when retention is
  unset). The organisation's store is not SeaweedFS and its bucket's lifecycle is the
  organisation's, so that whole `if` becomes the copy older releases make (the organisation's
  Secret, its keys from the controller's `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`), or nothing with
  SDK credentials;
- the bucket constant (`S3_BUCKET_NAME = 'mlpipeline'`): the organisation's bucket;
- every `minio://` pipeline root (`defaultPipelineRoot` of the per-namespace kfp-launcher):
  scheme `s3://`, and a literal bucket after it becomes the organisation's;
- the per-namespace Argo `artifact-repositories` s3 block: endpoint, insecure, region and the
  credentials (its own keyFormat is kept);
- any other string that addresses a removed Service (the S3 endpoint default
  `http://seaweedfs.kubeflow:8333`): the organisation's endpoint.

The readiness count of Secrets is rewritten to 0 only when the script no longer creates one.

Each rewrite is returned as (what, before, after) for the caller's results; a node the
caller needs but that is not found is reported in `missing`."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Optional

ARTIFACT_SERVER = "ml-pipeline-ui-artifact"
LAUNCHER_CONFIGMAP = "kfp-launcher"
SECRET_ENV_NAMES = ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")


@dataclass
class SyncRewrite:
    secret: Optional[tuple[str, str, str]]  # (name, access key, secret key), or None: SDK credentials
    artifact_env: list[dict]  # env entries the artifact server must carry (set by name)
    drop_env: tuple[str, ...] = ()  # env names the artifact server must not carry
    launcher_providers: Optional[str] = None  # the kfp-launcher `providers` value
    bucket: Optional[str] = None  # the organisation's bucket (pipeline roots, artifact repositories)
    endpoint: str = ""  # host[:port] of the organisation's store
    endpoint_url: str = ""  # the same with its scheme
    insecure: bool = False
    region: Optional[str] = None
    removed_addresses: tuple[str, ...] = ()  # every DNS form of the removed store's Services


@dataclass
class Outcome:
    text: str
    changes: list = field(default_factory=list)  # human-readable, one per rewrite
    missing: list = field(default_factory=list)  # what the script did not have


class _Edits:
    """Source edits by (line, col) positions, applied back to front."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(True)
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self.edits: list[tuple[int, int, str]] = []

    def pos(self, lineno: int, col: int) -> int:
        # ast columns are UTF-8 byte offsets
        line = self.lines[lineno - 1]
        return self.offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def span(self, node) -> tuple[int, int]:
        return self.pos(node.lineno, node.col_offset), self.pos(node.end_lineno, node.end_col_offset)

    def source(self, node) -> str:
        """The node's source text (ast.get_source_segment, without splitting the whole text
        into lines on every call: a KFP 2.15 sync.py has hundreds of constants)."""
        start, end = self.span(node)
        return self.text[start:end]

    def replace(self, node, new: str) -> bool:
        start, end = self.span(node)
        if self.text[start:end] == new:
            return False
        self.edits.append((start, end, new))
        return True

    def insert(self, at: int, new: str) -> None:
        self.edits.append((at, at, new))

    def apply(self) -> str:
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text


def _const(node) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict_get(node: ast.Dict, key: str):
    for k, v in zip(node.keys, node.values):
        if k is not None and _const(k) == key:
            return k, v
    return None, None


def _literal(value, column: int) -> str:
    """`value` as Python source (JSON is Python for strings, lists and dicts), indented to `column`."""
    text = json.dumps(value, indent=4)
    pad = " " * column
    return text.replace("\n", "\n" + pad)


def rewrite(text: str, want: SyncRewrite) -> Outcome:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        return Outcome(text, missing=[f"sync.py is not Python this reader parses ({e.msg}, line {e.lineno})"])
    edits, out = _Edits(text), Outcome(text)
    secret_found, still_creates = _secret(tree, edits, want, out)
    if not secret_found and want.secret is not None:  # with SDK credentials, none is the goal
        out.missing.append("the Secret it copies into each profile namespace")
    if not _artifact_server(tree, edits, want, out):
        out.missing.append(f"the {ARTIFACT_SERVER} container")
    if want.launcher_providers is not None:
        _launcher(tree, edits, want, out)
    if want.secret is None and not still_creates:  # readiness expects no Secret only when none is made
        _sdk_credentials(tree, edits, out)
    if want.bucket is not None:
        _bucket(tree, edits, want, out)
        _pipeline_roots(tree, edits, want, out)
        _artifact_repositories(tree, edits, want, out)
    _addresses(tree, edits, want, out)
    if not edits.edits:
        return out
    new_text = edits.apply()
    try:
        ast.parse(new_text)
    except SyntaxError as e:  # a bug of this module, never the user's
        return Outcome(text, missing=[f"the rewritten sync.py would not parse ({e.msg}); left unchanged"])
    out.text = new_text
    return out


def _secret_calls(tree):
    """(statement, call, resource) of each `X.append({... "kind": "Secret" ...})` or `X.insert(i, {...})`."""
    for stmt in ast.walk(tree):
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            continue
        call = stmt.value
        if not (
            isinstance(call.func, ast.Attribute)
            and (call.func.attr, len(call.args)) in (("append", 1), ("insert", 2))
            and isinstance(call.args[-1], ast.Dict)
        ):
            continue
        if _const(_dict_get(call.args[-1], "kind")[1]) == "Secret":
            yield stmt, call, call.args[-1]


def _secret_decision(tree, stmt):
    """The `if` around `stmt` that reuses an observed Secret or makes one (KFP 2.15), if any."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and "Secret.v1" in ast.unparse(node.test)
            and any(inner is stmt for inner in ast.walk(node))
        ):
            return node
    return None


def _imports(tree) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def _secret(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> tuple[bool, bool]:
    """The statement that puts the per-namespace Secret into the desired resources:
    (found, the rewritten script still creates a Secret)."""
    found = next(_secret_calls(tree), None)
    if found is None:
        return False, False
    stmt, call, resource = found
    decision = _secret_decision(tree, stmt)
    if decision is not None:
        return True, _secret_decision_rewrite(tree, edits, want, out, decision, call, resource)
    if want.secret is None:
        start, end = edits.span(stmt)
        edits.edits.append((start, end, "pass  # kfkrm: workload identity, no object-store Secret is copied"))
        out.changes.append("no longer copies an object-store Secret into profile namespaces (SDK credentials)")
        return True, False
    name, access_key, secret_key = want.secret
    _, metadata = _dict_get(resource, "metadata")
    _, name_node = _dict_get(metadata, "name") if isinstance(metadata, ast.Dict) else (None, None)
    if name_node is not None and _const(name_node) is not None and edits.replace(name_node, json.dumps(name)):
        out.changes.append(f"copies Secret {name} (was {_const(name_node)})")
    _, data = _dict_get(resource, "data")
    if isinstance(data, ast.Dict):
        for key_node, value in zip(data.keys, data.values):
            source = ast.unparse(value).lower()
            wanted = access_key if "access" in source else secret_key if "secret" in source else None
            if (
                key_node is not None
                and wanted
                and _const(key_node) is not None
                and edits.replace(key_node, json.dumps(wanted))
            ):
                out.changes.append(f"Secret key {_const(key_node)} -> {wanted}")
    return True, True


def _secret_decision_rewrite(tree, edits: _Edits, want: SyncRewrite, out: Outcome, decision, call, resource) -> bool:
    """KFP 2.15: the `if` that reuses the observed Secret or makes a SeaweedFS access key (and sets
    the bucket's lifecycle policy) becomes the copy of the organisation's Secret, or nothing."""
    if want.secret is None:
        edits.replace(decision, "pass  # kfkrm: workload identity, no object-store Secret is made")
        out.changes.append(
            "makes no per-namespace access key on the bundled store (IAM) and no object-store Secret "
            "(SDK credentials); sets no lifecycle policy on the organisation's bucket"
        )
        return False
    missing = {"base64", "os"} - _imports(tree)
    if missing:
        out.missing.append(f"the imports the Secret copy needs ({', '.join(sorted(missing))})")
        return True
    name, access_key, secret_key = want.secret
    _, metadata = _dict_get(resource, "metadata")
    _, namespace = _dict_get(metadata, "namespace") if isinstance(metadata, ast.Dict) else (None, None)
    if namespace is None:
        out.missing.append("the namespace of the Secret it makes")
        return True
    target = edits.source(call.func.value)
    data = ", ".join(
        f'{json.dumps(key)}: base64.b64encode(os.environ["{env}"].encode("utf-8")).decode("utf-8")'
        for key, env in zip((access_key, secret_key), SECRET_ENV_NAMES)
    )
    copy = (
        f'{target}.insert(0, {{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": {json.dumps(name)}, '
        f'"namespace": {edits.source(namespace)}}}, "data": {{{data}}}}})'
    )
    if edits.replace(decision, copy):
        out.changes.append(
            f"copies Secret {name} (keys {access_key}, {secret_key} from the controller's "
            f"{', '.join(SECRET_ENV_NAMES)}) instead of making a per-namespace access key on the bundled "
            "store (IAM); sets no lifecycle policy on the organisation's bucket"
        )
    return True


def _env_name(node) -> Optional[str]:
    return _const(_dict_get(node, "name")[1]) if isinstance(node, ast.Dict) else None


def _artifact_server(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        _, name = _dict_get(node, "name")
        _, image = _dict_get(node, "image")
        if _const(name) != ARTIFACT_SERVER or image is None:
            continue
        env_key, env = _dict_get(node, "env")
        if env is not None and not isinstance(env, ast.List):
            out.missing.append(f"a literal env list on the {ARTIFACT_SERVER} container")
            return True
        elements = env.elts if env is not None else []
        wanted = {e["name"]: e for e in want.artifact_env}
        current = {}
        for element in elements:
            try:
                current[_env_name(element)] = ast.literal_eval(element)
            except ValueError:  # an entry with a variable (KFP 2.15: FRONTEND_SERVER_NAMESPACE: namespace)
                current[_env_name(element)] = None
        if (
            env is not None
            and all(current.get(n) == e for n, e in wanted.items())
            and not any(n in current for n in want.drop_env)
        ):
            return True
        column = (env_key or node.keys[0]).col_offset
        pad = " " * (column + 4)
        kept = []
        for element in elements:
            entry_name = _env_name(element)
            if entry_name in want.drop_env:
                continue
            if entry_name in wanted:
                kept.append(_literal(wanted.pop(entry_name), column + 4))
            else:
                kept.append(edits.source(element))
        kept += [_literal(e, column + 4) for e in wanted.values()]
        listing = "[\n" + ",\n".join(pad + k for k in kept) + "\n" + " " * column + "]"
        if env is None:
            first = node.keys[0]
            edits.insert(edits.pos(first.lineno, first.col_offset), '"env": ' + listing + ",\n" + " " * column)
        else:
            edits.replace(env, listing)
        out.changes.append(f"{ARTIFACT_SERVER} env: " + ", ".join(e["name"] for e in want.artifact_env))
        return True
    return False


def _launcher(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        _, metadata = _dict_get(node, "metadata")
        _, kind = _dict_get(node, "kind")
        if _const(kind) != "ConfigMap" or not isinstance(metadata, ast.Dict):
            continue
        if _const(_dict_get(metadata, "name")[1]) != LAUNCHER_CONFIGMAP:
            continue
        _, data = _dict_get(node, "data")
        if not isinstance(data, ast.Dict) or not data.keys:
            out.missing.append(f"the {LAUNCHER_CONFIGMAP} ConfigMap's data")
            return
        key_node, value = _dict_get(data, "providers")
        literal = json.dumps(want.launcher_providers)
        if value is not None:
            if edits.replace(value, literal):
                out.changes.append(f"{LAUNCHER_CONFIGMAP} providers set")
            return
        last = data.values[-1]
        edits.insert(
            edits.pos(last.end_lineno, last.end_col_offset),
            ",\n" + " " * data.keys[-1].col_offset + '"providers": ' + literal,
        )
        out.changes.append(f"{LAUNCHER_CONFIGMAP} providers added")
        return
    out.missing.append(f"the {LAUNCHER_CONFIGMAP} ConfigMap it creates")


def _sdk_credentials(tree, edits: _Edits, out: Outcome) -> None:
    """Readiness expects no Secret; the key variables may be absent."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            left = node.left
            if (
                isinstance(left, ast.Call)
                and isinstance(left.func, ast.Name)
                and left.func.id == "len"
                and left.args
                and isinstance(left.args[0], ast.Subscript)
                and _const(left.args[0].slice) == "Secret.v1"
            ):
                right = node.comparators[0]
                if isinstance(right, ast.Constant) and right.value != 0 and edits.replace(right, "0"):
                    out.changes.append("readiness expects no Secret")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 1
            and _const(node.args[0]) in SECRET_ENV_NAMES
            and ast.unparse(node.func.value) == "os.environ"
        ):
            edits.replace(node, f'os.environ.get("{_const(node.args[0])}", "")')
            out.changes.append(f"{_const(node.args[0])} may be unset")


def _in_fstrings(tree) -> set:
    """ids of the nodes inside f-strings (their positions are the f-string's own before Python 3.12)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside |= {id(n) for n in ast.walk(node) if n is not node}
    return inside


def _bucket(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    """A module-level bucket constant (KFP 2.15: `S3_BUCKET_NAME = 'mlpipeline'`)."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and "BUCKET" in node.targets[0].id.upper()
            and _const(node.value) is not None
            and edits.replace(node.value, json.dumps(want.bucket))
        ):
            out.changes.append(f"{node.targets[0].id} = {want.bucket} (was {_const(node.value)})")


_MINIO_ROOT = re.compile(r"minio://(?:(?=\{)|[A-Za-z0-9.\-]+)")


def _pipeline_roots(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    """`minio://BUCKET/...` (or `f"minio://{BUCKET}/..."`): `s3://` on the organisation's bucket."""
    inside = _in_fstrings(tree)
    for node in ast.walk(tree):
        if id(node) in inside or not (isinstance(node, ast.JoinedStr) or _const(node) is not None):
            continue
        source = edits.source(node) or ""
        if "minio://" not in source:
            continue
        new = _MINIO_ROOT.sub(lambda m: "s3://" if m.group() == "minio://" else f"s3://{want.bucket}", source)
        if edits.replace(node, new):
            out.changes.append(f"pipeline root {source} -> {new}")


def _artifact_repositories(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    """The s3 block of the per-namespace Argo artifact repository (KFP 2.15's `artifact-repositories`)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        s3_key, s3 = _dict_get(node, "s3")
        if not isinstance(s3, ast.Dict) or _dict_get(s3, "endpoint")[1] is None:
            continue
        entries = []
        for key_node, value in zip(s3.keys, s3.values):
            key = _const(key_node) if key_node is not None else None
            source = edits.source(value)
            if key == "endpoint":
                entries.append((key, json.dumps(want.endpoint)))
            elif key == "insecure":
                entries.append((key, repr(want.insecure)))
            elif key == "bucket":
                entries.append((key, json.dumps(want.bucket) if _const(value) is not None else source))
            elif key in ("region", "useSDKCreds", "accessKeySecret", "secretKeySecret"):
                continue
            elif key is None:
                entries.append((None, "**" + source))
            else:
                entries.append((key, source))
        if want.region:
            entries.append(("region", json.dumps(want.region)))
        if want.secret is None:
            entries.append(("useSDKCreds", "True"))
        else:
            name, access_key, secret_key = want.secret
            entries.append(("accessKeySecret", json.dumps({"name": name, "key": access_key})))
            entries.append(("secretKeySecret", json.dumps({"name": name, "key": secret_key})))
        column = s3.keys[0].col_offset if s3.keys and s3.keys[0] is not None else s3_key.col_offset + 4
        lines = [" " * column + (f"{json.dumps(k)}: {v}" if k is not None else v) for k, v in entries]
        new = "{\n" + ",\n".join(lines) + "\n" + " " * s3_key.col_offset + "}"
        if edits.replace(s3, new):
            out.changes.append(
                f"per-namespace artifact repository: s3 endpoint {want.endpoint}, bucket {want.bucket}, "
                + ("SDK credentials" if want.secret is None else f"Secret {want.secret[0]}")
            )


def _addresses(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    """Any other string that is an address of a removed Service: the organisation's endpoint."""
    if not want.removed_addresses or not want.endpoint:
        return
    names = "|".join(re.escape(a) for a in sorted(want.removed_addresses, key=len, reverse=True))
    pattern = re.compile(rf"^(?P<scheme>https?://)?(?:{names})(?::[0-9]+)?(?P<rest>/.*)?$")
    inside = _in_fstrings(tree)
    taken = [(start, end) for start, end, _ in edits.edits]
    for node in ast.walk(tree):
        value = _const(node)
        if value is None or id(node) in inside:
            continue
        match = pattern.match(value)
        if not match:
            continue
        start, end = edits.span(node)
        if any(s <= start < e or s < end <= e for s, e in taken):
            continue  # inside a statement already rewritten
        new = (want.endpoint_url if match.group("scheme") else want.endpoint) + (match.group("rest") or "")
        if edits.replace(node, json.dumps(new)):
            out.changes.append(f"address {value} -> {new}")


def string_constants(text: str) -> Optional[list[str]]:
    """Every string the script holds (f-string parts included), without its comments; None when
    it does not parse. What the script addresses is in these, never in a comment."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    return [node.value for node in ast.walk(tree) if _const(node) is not None]
