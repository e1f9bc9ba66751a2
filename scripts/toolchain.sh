#!/usr/bin/env bash
# Builds the pinned tools the engine and Kubernetes tests run, from the Go module proxy, into .tools/:
#
#   .tools/bin/          pulumi, pulumi-language-python (+ the SDK's pulumi-language-python-exec and
#                        pulumi-resource-pulumi-python scripts), helm, kubeadm, kube-apiserver, etcd, etcdctl
#   .tools/plugins/      resource plugin binaries (pulumi-kubernetes; the random/tls/command test stand-ins)
#   .tools/pulumi-home/  a PULUMI_HOME with those plugins installed offline (`pulumi plugin install --file`)
#
# Usage: scripts/toolchain.sh [GROUP|TOOL ...]   (no argument: every group)
#   pulumi             the CLI, the language host and the random/tls/command test stand-ins, installed
#                      as plugins in .tools/pulumi-home (what a program without Kubernetes resources needs)
#   pulumi-kubernetes  the pulumi-kubernetes plugin (the costly one: its Go SDK is ~26 MB of source)
#   kubernetes         helm, kubeadm, kube-apiserver, etcd, etcdctl
#   TOOL               one of the names in the table below
#
# Versions live in the go.mod files under tools/ (one module per compatible build list). A tool is
# rebuilt only when its stamp (version, go.sum hash, sources, Go version) changes; Go's module and
# build caches (GOMODCACHE, GOCACHE) are reused as set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.tools
mkdir -p "$out/bin" "$out/plugins" "$out/stamps" "$out/logs" "$out/pulumi-home"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
die() { echo "toolchain: $*" >&2; exit 1; }

# Go's official install location, in case the environment's PATH lacks it.
command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH=$PATH:/usr/local/go/bin; }
command -v go >/dev/null || die "Go is not installed (needs Go >= 1.26.6: the go directive of tools/go.mod)"
go_version=$(go env GOVERSION)

# name | module dir | package | pinned module (its version is read from the go.mod) | destination | -X flags
# The Pulumi CLI and the language host report the SDK version, pulumi-kubernetes its release (its
# module is served only by the commit of tag v4.25.0), helm and kubeadm/kube-apiserver theirs as
# their release builds set them.
TOOLS=(
  "pulumi|tools|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|github.com/pulumi/pulumi/pkg/v3|bin|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=@V"
  "pulumi-language-python|tools|./cmd/pulumi-language-python|github.com/pulumi/pulumi/sdk/v3|bin|github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=@V"
  "stand-ins|tools|./cmd/pulumi-resource-random-standin ./cmd/pulumi-resource-tls-standin ./cmd/pulumi-resource-command-standin|github.com/pulumi/pulumi/sdk/v3|plugins|"
  "pulumi-resource-kubernetes|tools/pulumi-kubernetes|./cmd/pulumi-resource-kubernetes|github.com/pulumi/pulumi-kubernetes/sdk/v4|plugins|github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=@v"
  "helm|tools/pulumi-kubernetes|helm.sh/helm/v3/cmd/helm|helm.sh/helm/v3|bin|helm.sh/helm/v3/internal/version.version=@V helm.sh/helm/v3/internal/version.gitTreeState=clean helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=33 helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=33"
  "kubeadm|tools/kubernetes|k8s.io/kubernetes/cmd/kubeadm|k8s.io/kubernetes|bin|@K8S"
  "kube-apiserver|tools/kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|k8s.io/kubernetes|bin|@K8S"
  "etcd|tools/kubernetes|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3|bin|"
  "etcdctl|tools/kubernetes|go.etcd.io/etcd/etcdctl/v3|go.etcd.io/etcd/etcdctl/v3|bin|"
)
PULUMI_GROUP="pulumi pulumi-language-python stand-ins"
KUBERNETES_GROUP="helm kubeadm kube-apiserver etcd etcdctl"
PLUGIN_TOOLS="stand-ins pulumi-resource-kubernetes"   # tools whose build ends with the plugin install step
# Plugins installed into .tools/pulumi-home: name version binary. The version must be the one the
# pinned Python SDK package asks for (its pulumi-plugin.json), i.e. requirements.txt's pin.
PLUGINS=(
  "kubernetes|pulumi-kubernetes|pulumi-resource-kubernetes"
  "random|pulumi-random|pulumi-resource-random-standin"
  "tls|pulumi-tls|pulumi-resource-tls-standin"
  "command|pulumi-command|pulumi-resource-command-standin"
)

wanted=()
[ $# -eq 0 ] && set -- pulumi pulumi-kubernetes kubernetes
for arg in "$@"; do
  case $arg in
    pulumi) read -ra group <<<"$PULUMI_GROUP"; wanted+=("${group[@]}") ;;
    pulumi-kubernetes) wanted+=(pulumi-resource-kubernetes) ;;
    kubernetes) read -ra group <<<"$KUBERNETES_GROUP"; wanted+=("${group[@]}") ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) printf '%s\n' "${TOOLS[@]}" | grep -q "^$arg|" || die "unknown tool or group '$arg' (pulumi, kubernetes, or: $(printf '%s\n' "${TOOLS[@]}" | cut -d'|' -f1 | tr '\n' ' '))"
       wanted+=("$arg") ;;
  esac
done

# The version a go.mod requires a module at (a require line or a replace target).
modversion() { # dir module
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { v = $2 } $1 == m && $2 == "=>" && $4 ~ /^v/ { r = $4 } END { print (r != "" ? r : v) }' "$root/$1/go.mod"
}
sha() { sha256sum | cut -c1-16; }
# The module cache directory of a module the go.mod in DIR requires (downloaded if need be).
moddir() { # dir module
  local d
  d=$(cd "$root/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2") || return 1
  [ -n "$d" ] && [ -d "$d" ] && echo "$d"
}

selected=()
for t in "${TOOLS[@]}"; do
  name=${t%%|*}
  for w in "${wanted[@]}"; do [ "$w" = "$name" ] && { selected+=("$t"); break; }; done
done
total=${#selected[@]}
pulumi_wanted=""
for w in "${wanted[@]}"; do case " $PLUGIN_TOOLS " in *" $w "*) pulumi_wanted=1 ;; esac; done
[ -n "$pulumi_wanted" ] && total=$((total + 1))

# The provider's main package embeds schema-embed.json and terraform-mapping-embed.json, which its
# release build generates with the package's own generate.go (go:generate) from the schema.json and
# terraform-mapping.json it ships. The module cache is read-only (and -overlay may not replace files
# in it), so this runs that step in .tools/gen/pulumi-kubernetes: a copy of tools/pulumi-kubernetes'
# go.mod/go.sum (the same build list) with the provider's cmd/pulumi-resource-kubernetes copied in.
# Prints the directory to build in.
prepare_kubernetes_provider() { # version-without-v
  local gen=$out/gen/pulumi-kubernetes src
  src=$(moddir tools/pulumi-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4) || return 1
  rm -rf "$gen" && mkdir -p "$gen/cmd/pulumi-resource-kubernetes"
  cp "$root/tools/pulumi-kubernetes/go.mod" "$root/tools/pulumi-kubernetes/go.sum" "$gen/"
  install -m 0644 "$src/cmd/pulumi-resource-kubernetes/main.go" "$src/cmd/pulumi-resource-kubernetes/schema.json" \
    "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$gen/cmd/pulumi-resource-kubernetes/"
  (cd "$gen" && go build -o "$gen/embedgen" "$src/cmd/pulumi-resource-kubernetes/generate.go") >&2 || return 1
  (cd "$gen/cmd/pulumi-resource-kubernetes" && VERSION=$1 "$gen/embedgen") >&2 || return 1
  rm -f "$gen/embedgen" "$gen/cmd/pulumi-resource-kubernetes/schema.json" "$gen/cmd/pulumi-resource-kubernetes/terraform-mapping.json"
  echo "$gen"
}

TIMEFORMAT='%R %U %S'
start_all=$(date +%s)
i=0
for t in "${selected[@]}"; do
  IFS='|' read -r name dir pkgs mod dest xflags <<<"$t"
  i=$((i + 1))
  version=$(modversion "$dir" "$mod")
  [ -n "$version" ] || die "$name: $mod has no version in $dir/go.mod"
  if [ "$xflags" = "@K8S" ]; then
    minor=$(echo "$version" | cut -d. -f2)
    xflags=""
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      xflags+=" $p.gitVersion=$version $p.gitMajor=1 $p.gitMinor=$minor $p.gitTreeState=clean $p.buildDate=1970-01-01T00:00:00Z"
    done
  fi
  xflags=${xflags//@V/$version}
  xflags=${xflags//@v/${version#v}}
  ldflags="-s -w"
  for x in $xflags; do ldflags+=" -X $x"; done
  srchash=""
  case "$dir:$pkgs" in tools:./*) srchash=$(cd "$root/tools" && find cmd internal -type f -name '*.go' -print0 | sort -z | xargs -0 cat | sha) ;; esac
  stamp="$name $version go.sum:$(sha <"$root/$dir/go.sum") go.mod:$(sha <"$root/$dir/go.mod") src:$srchash $go_version $ldflags"
  outputs=()
  for p in $pkgs; do
    b=$(basename "$p")
    case $b in v[0-9]*) b=$(basename "$(dirname "$p")") ;; esac   # go.etcd.io/etcd/server/v3 -> server
    case $p in go.etcd.io/etcd/server/v3) b=etcd ;; esac
    outputs+=("$out/$dest/$b")
  done
  label="[$i/$total] $name $version"
  fresh=1
  for o in "${outputs[@]}"; do [ -x "$o" ] || fresh=""; done
  if [ -n "$fresh" ] && [ "$(cat "$out/stamps/$name" 2>/dev/null)" = "$stamp" ]; then
    echo "$label ... up to date"
    continue
  fi
  printf '%s ... ' "$label"
  t0=$(date +%s)
  log=$out/logs/$name.log
  : >"$log"
  tmp=$out/tmp-$name
  rm -rf "$tmp" && mkdir -p "$tmp"
  builddir=$root/$dir
  if [ "$name" = pulumi-resource-kubernetes ] && ! builddir=$(prepare_kubernetes_provider "${version#v}" 2>>"$log"); then
    echo "FAILED"
    tail -n 20 "$log" >&2
    die "could not prepare $name: module github.com/pulumi/pulumi-kubernetes/provider/v4 (from $dir/go.mod); full log in ${log#"$root"/}"
  fi
  # shellcheck disable=SC2086  # several packages for the stand-ins
  if ! { time { (cd "$builddir" && go build -trimpath -ldflags "$ldflags" -o "$tmp/" $pkgs) >>"$log" 2>&1; }; } 2>"$tmp.time"; then
    echo "FAILED"
    tail -n 20 "$log" >&2
    die "could not build $name: module $mod $version (from $dir/go.mod); full log in ${log#"$root"/}"
  fi
  for p in $pkgs; do
    b=$(basename "$p"); case $b in v[0-9]*) b=$(basename "$(dirname "$p")") ;; esac
    target=$b; case $p in go.etcd.io/etcd/server/v3) target=etcd ;; esac
    mv -f "$tmp/$b" "$out/$dest/$target"
  done
  read -r _ user sys <"$tmp.time" || true
  rm -rf "$tmp" "$tmp.time"
  if [ "$name" = pulumi-language-python ]; then
    # The language host runs the SDK's own exec script; the engine runs Python dynamic providers
    # through the SDK's pulumi-resource-pulumi-python. Both come from the pinned sdk/v3 module.
    sdkdir=$(moddir tools github.com/pulumi/pulumi/sdk/v3) || die "$name: module github.com/pulumi/pulumi/sdk/v3 could not be had"
    install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$out/bin/pulumi-language-python-exec"
    install -m 0755 "$sdkdir/python/dist/pulumi-resource-pulumi-python" "$out/bin/pulumi-resource-pulumi-python"
  fi
  echo "$stamp" >"$out/stamps/$name"
  # Wall time, and the CPU time of the build (user + system): about twice the wall time on an idle
  # 2-core machine, and the figure to compare when the machine is busy with something else.
  echo "built in $(($(date +%s) - t0)) s (cpu $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", u + s }') s)"
done

if [ -n "$pulumi_wanted" ]; then
  i=$((i + 1))
  label="[$i/$total] plugins in .tools/pulumi-home"
  [ -x "$out/bin/pulumi" ] || die "plugins: .tools/bin/pulumi (which installs them) is missing: run scripts/toolchain.sh pulumi"
  printf '%s ... ' "$label"
  t0=$(date +%s)
  installed=""
  for p in "${PLUGINS[@]}"; do
    IFS='|' read -r pname pypkg binary <<<"$p"
    # The version the Python SDK package asks the engine for: requirements.txt's pin.
    pversion=$(sed -n "s/^$pypkg==\([^ ;#]*\).*/\1/p" "$root/requirements.txt")
    [ -n "$pversion" ] || die "plugins: $pypkg is not pinned in requirements.txt"
    [ -x "$out/plugins/$binary" ] || continue   # a group not built (yet)
    pstamp="$pname $pversion $(sha <"$out/plugins/$binary")"
    dirname=$out/pulumi-home/plugins/resource-$pname-v$pversion
    if [ -x "$dirname/pulumi-resource-$pname" ] && [ "$(cat "$out/stamps/plugin-$pname" 2>/dev/null)" = "$pstamp" ]; then
      continue
    fi
    if ! PULUMI_HOME=$out/pulumi-home PULUMI_SKIP_UPDATE_CHECK=1 \
        "$out/bin/pulumi" plugin install resource "$pname" "$pversion" --file "$out/plugins/$binary" --reinstall \
        >"$out/logs/plugin-$pname.log" 2>&1; then
      echo "FAILED"
      cat "$out/logs/plugin-$pname.log" >&2
      die "could not install plugin $pname $pversion from .tools/plugins/$binary"
    fi
    echo "$pstamp" >"$out/stamps/plugin-$pname"
    installed+=" $pname-$pversion"
  done
  if [ -n "$installed" ]; then echo "installed$installed in $(($(date +%s) - t0)) s"; else echo "up to date"; fi
fi
echo "toolchain: done in $(($(date +%s) - start_all)) s (.tools/bin, .tools/pulumi-home)"
