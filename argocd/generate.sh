# kfkrm's ArgoCD generate command (run as `sh generate.sh`, never as ./generate.sh: ArgoCD
# hands plugins the repository without executable bits).
#
# ArgoCD runs it in the Application's source directory. It renders that kustomization
# exactly as a laptop with a container engine would, `kustomize build --enable-alpha-plugins`,
# through `kfkrm build` (the command users run), which runs kfkrm's container functions
# in-process. ArgoCD caches what the command returns, so it fails loudly rather
# than hand ArgoCD a partial or silently unmutated render:
#   - a function that fails, or a container function that is not a kfkrm image (kfkrm-docker
#     refuses it), fails kustomize: this exits 1 with kustomize's message and a last line
#     naming the application;
#   - an `exec:` function (which `kubectl kustomize` skips silently, exit 0) is refused
#     before rendering;
#   - an empty render is refused (ArgoCD would prune the whole application);
#   - a render cut short (a full temp disk, a file-size limit) is refused: kfkrm build writes
#     all or nothing and reports "DOCUMENTS BYTES" in a count file, which must match what the
#     temp file holds (ArgoCD would otherwise prune what is missing).
# Nothing reaches stdout unless the whole render succeeded.
#
# kustomize is, in order: $KFKRM_KUSTOMIZE (a command, e.g. "kustomize build"), `kustomize`
# on PATH (the sidecar image copies it from the official Argo CD image), `kubectl kustomize`.
set -eu

say() { printf 'kfkrm-argocd: %s\n' "$*" >&2; }  # printf, not echo: a `\c` in a value must not cut the line
fail() {
  say "$* (app ${ARGOCD_APP_NAMESPACE:-?}/${ARGOCD_APP_NAME:-?}, path ${ARGOCD_APP_SOURCE_PATH:-?}" \
      "of ${ARGOCD_APP_SOURCE_REPO_URL:-?} at ${ARGOCD_APP_REVISION:-?}); nothing was generated"
  exit 1
}

[ -f kustomization.yaml ] || [ -f kustomization.yml ] || [ -f Kustomization ] ||
  fail "no kustomization.yaml in $(pwd)"

# Plugin parameters: an Application's `spec.source.plugin.env` reaches the plugin as
# ARGOCD_ENV_<name>. kfkrm takes one, KFKRM_CLUSTER=<environment>/<region> (set by the
# multi-cluster ApplicationSet): the folder rendered must be that cluster's, so a template
# mistake never deploys one cluster's values to another. Any other KFKRM_ parameter is a
# mistake and is refused by name. The values themselves live in the cluster's folder.
for var in $(env | sed -n 's/^\(ARGOCD_ENV_KFKRM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  [ "$var" = ARGOCD_ENV_KFKRM_CLUSTER ] ||
    fail "unknown plugin parameter ${var#ARGOCD_ENV_} (kfkrm's plugin takes KFKRM_CLUSTER only)"
done
if [ -n "${ARGOCD_ENV_KFKRM_CLUSTER+set}" ]; then
  case "$(pwd)/" in
    */"$ARGOCD_ENV_KFKRM_CLUSTER"/) ;;
    *) fail "plugin parameter KFKRM_CLUSTER=$ARGOCD_ENV_KFKRM_CLUSTER does not name this folder ($(pwd))" ;;
  esac
fi

if [ -n "${KFKRM_KUSTOMIZE:-}" ]; then
  kustomize_build=$KFKRM_KUSTOMIZE
elif command -v kustomize >/dev/null 2>&1; then
  kustomize_build="kustomize build"
elif command -v kubectl >/dev/null 2>&1; then
  kustomize_build="kubectl kustomize"
else
  fail "neither kustomize nor kubectl is on PATH (the kfkrm argocd-cmp image copies kustomize from the Argo CD image)"
fi
command -v docker >/dev/null 2>&1 ||
  fail "no docker on PATH: the kfkrm argocd-cmp image puts kfkrm-docker there as docker"

# Files under this directory that declare an exec function (kustomize here runs without
# --enable-exec): `kfkrm exec-check` parses every YAML and JSON file, whatever the spelling.
exec_functions=$(kfkrm exec-check .) || fail "kfkrm exec-check could not read this directory"
[ -z "$exec_functions" ] ||
  fail "exec functions are not run here (no --enable-exec; kubectl kustomize would even skip them silently, exit 0): declare them as container functions with a kfkrm image instead, in: $(printf '%s' "$exec_functions" | tr '\n' ' ')"

rendered=$(mktemp "${TMPDIR:-/tmp}/kfkrm-argocd.XXXXXX") || fail "cannot create a temporary file"
counts=$(mktemp "${TMPDIR:-/tmp}/kfkrm-argocd-count.XXXXXX") || { rm -f "$rendered"; fail "cannot create a temporary file"; }
trap 'rm -f "$rendered" "$counts"' EXIT
command -v kfkrm >/dev/null 2>&1 ||
  fail "no kfkrm on PATH: the kfkrm argocd-cmp image has it in /opt/kfkrm/bin"
# The same code path as a user's `kfkrm build`: kustomize with kfkrm's functions in-process,
# every function's warnings and errors as a table on stderr.
if kfkrm build --kustomize "$kustomize_build" --count-file "$counts" . >"$rendered"; then
  :
else
  status=$?
  fail "kfkrm build ($kustomize_build --enable-alpha-plugins) failed (exit $status); the lines above name the function or file"
fi
[ -s "$rendered" ] || fail "$kustomize_build rendered no resources"
# What kfkrm says it wrote against what the file holds: documents (`---` lines + 1) and bytes.
read -r want_docs want_bytes <"$counts" || fail "kfkrm build reported no document count"
got_docs=$(( $(grep -c -x -e '---' "$rendered" || true) + 1 ))
got_bytes=$(wc -c <"$rendered" | tr -d ' ')
[ "$got_docs" = "$want_docs" ] && [ "$got_bytes" = "$want_bytes" ] ||
  fail "the render is incomplete: kfkrm build wrote $want_docs documents ($want_bytes bytes), the temporary file holds $got_docs ($got_bytes bytes)"
cat "$rendered" || fail "could not hand the render to Argo CD (cat failed)"
