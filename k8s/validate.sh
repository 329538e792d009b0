#!/usr/bin/env bash
# Render every kustomization (the base, each overlay, the base with each component) and validate the
# result offline against the Kubernetes API schemas. Needs kubectl (its built-in kustomize) and
# kubernetes-validate (pip). Exits non-zero on the first failure.
#
# Usage: k8s/validate.sh [OUT_DIR]       rendered manifests are kept in OUT_DIR (default: a temp dir)
# Env:   KUBERNETES_VERSION (default 1.30.0), KUBERNETES_VALIDATE (default: the one on PATH)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${KUBERNETES_VERSION:-1.30.0}"
validate="${KUBERNETES_VALIDATE:-kubernetes-validate}"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"

command -v kubectl >/dev/null || { echo "validate.sh: kubectl not found (apt-get install kubernetes-client)" >&2; exit 2; }
command -v "$validate" >/dev/null || { echo "validate.sh: $validate not found (pip install kubernetes-validate)" >&2; exit 2; }

render() {  # render NAME DIR
  kubectl kustomize "$2" > "$out/$1.yaml"
  "$validate" --strict --quiet -k "$version" "$out/$1.yaml"
  echo "ok  $1 ($(grep -c '^kind:' "$out/$1.yaml") resources)"
}

render base "$here/base"
for overlay in "$here"/overlays/*/; do
  render "overlay-$(basename "$overlay")" "$overlay"
done
# Each component on its own over the base, through a throwaway kustomization.
for component in "$here"/components/*/; do
  name="$(basename "$component")"
  tmp="$(mktemp -d)"
  cp -r "$here/base" "$here/components" "$tmp/"
  mkdir -p "$tmp/with"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: taxifare\nresources: [../base]\ncomponents: [../components/%s]\n' \
    "$name" > "$tmp/with/kustomization.yaml"
  render "component-$name" "$tmp/with"
  rm -rf "$tmp"
done
echo "all manifests valid for Kubernetes $version (rendered in $out)"
