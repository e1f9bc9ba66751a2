"""Every Helm chart the program installs: one pin each, in one table.

Raising a chart is a one-line change here (`version=`); the offline render then shows the new
version in `manifest.json` and in the header of `helm/<chart>-values.yaml`. A stack may try another
version first with `charts.versions` in its stack file (dev as the canary), and may take every chart
from a local directory of unpacked chart folders named `<chart>-<version>` (`charts.source`, for an
air-gapped venue; the tests use ../shared/upstream/charts/) instead of the Helm repositories.

`kind` says how a chart is applied (components/helm.py):
- "chart": pulumi-kubernetes `helm.v4.Chart`. Helm renders, Pulumi applies every object as its own
  resource, so a pull request's preview shows each object's diff. Nothing is left to Helm: no hooks
  run at their point in the release, and deleting the chart deletes every object, CRDs included.
- "release": `helm.v3.Release`. Helm installs and upgrades the chart as one release: hooks run when
  Helm runs them, `helm.sh/resource-policy: keep` is honoured, `helm history` and
  `helm rollback` work. A preview shows only the change of values or version.
`why` says why each chart is one or the other (the README's chart table repeats it).

Pure data: nothing here imports Pulumi, the config or the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Optional

Kind = Literal["chart", "release"]

# A chart version: x.y.z with an optional pre-release, and a leading v where the chart's own versions have one.
VERSION = re.compile(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", re.ASCII)


@dataclass(frozen=True)
class Chart:
    name: str  # the chart's name (Chart.yaml `name`)
    version: str  # the pin (Chart.yaml `version`)
    repository: str  # Helm repository URL, or an oci:// registry path without the chart's name
    namespace: str  # where it is installed
    release: Optional[str]  # the Helm release name (resource names in the chart derive from it); None: Pulumi names it
    kind: Kind
    why: str
    upstream: str  # its folder in ../shared/upstream/ (default values, values schema, CRDs)

    def folder(self, version: Optional[str] = None) -> str:
        """The unpacked chart's folder name in a local chart source: `<chart>-<version>`."""
        return f"{self.name}-{version or self.version}"

    def reference(self, source: Optional[str], version: Optional[str] = None) -> tuple[str, Optional[str]]:
        """(chart, repository) as Helm takes them: a folder of `source`, else the chart in its repository."""
        if source is not None:
            return f"{source.rstrip('/')}/{self.folder(version)}", None
        if self.repository.startswith("oci://"):
            return f"{self.repository.rstrip('/')}/{self.name}", None
        return self.name, self.repository


# Cilium's release is auto-named (cilium-<suffix>), as the first clusters were made: naming it now would replace it.
CILIUM = Chart(
    "cilium", "1.20.0", "https://helm.cilium.io/", "kube-system", None, "release",
    "running clusters have it as a Release: as a Chart it would be deleted and made again, and the cluster's "
    "network with it; one Helm release, rolled back as a whole",
    "cilium")
METALLB = Chart(
    "metallb", "0.16.1", "https://metallb.github.io/metallb", "metallb-system", "metallb", "chart",
    "no hooks; every object (CRDs, speakers, webhooks) shows its own diff in a preview",
    "metallb")
ENVOY_GATEWAY = Chart(
    "gateway-helm", "v1.9.0", "oci://docker.io/envoyproxy", "envoy-gateway-system", "envoy-gateway", "release",
    "its pre-install/pre-upgrade hook Job (certgen) makes the TLS secrets the controller starts with",
    "gateway-helm")
CERT_MANAGER = Chart(
    "cert-manager", "v1.21.1", "https://charts.jetstack.io", "cert-manager", "cert-manager", "release",
    "its post-install hook (startupapicheck) holds the release until the webhook answers, so issuers "
    "and certificates made after it are accepted; its CRDs are kept by Helm when it is removed",
    "cert-manager")
ROOK_CEPH = Chart(
    "rook-ceph", "v1.20.6", "https://charts.rook.io/release", "rook-ceph", "rook-ceph", "release",
    "its 21 CRDs carry helm.sh/resource-policy: keep, which only Helm honours: removing the chart "
    "must never delete CephCluster objects and with them the cluster's data; protected in prd as one resource",
    "rook-ceph")
ROOK_CEPH_CLUSTER = Chart(
    "rook-ceph-cluster", "v1.20.6", "https://charts.rook.io/release", "rook-ceph", "rook-ceph-cluster", "release",
    "the CephCluster and its pools hold data: one release, protected in prd, with Helm's history to roll back",
    "rook-ceph-cluster")
DESCHEDULER = Chart(
    "descheduler", "0.36.0", "https://kubernetes-sigs.github.io/descheduler/", "kube-system", "descheduler", "chart",
    "no hooks, no state; the CronJob and its policy show their diff in a preview",
    "descheduler")


# -- the monitoring layer (components/layers/monitoring.py)
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "monitoring", "kube-prometheus-stack",
    "release",
    "its admission webhook's certificates come from pre-install/post-install hook Jobs, and Helm installs its CRDs (crds/) "
    "before the operator that serves them and keeps them when the release is removed, with the rules and monitors in them",
    "kube-prometheus-stack")
PROMETHEUS_BLACKBOX_EXPORTER = Chart(
    "prometheus-blackbox-exporter", "11.17.2", "https://prometheus-community.github.io/helm-charts", "monitoring",
    "prometheus-blackbox-exporter", "chart",
    "no hooks, no state; its modules ConfigMap and Deployment show their diff in a preview",
    "prometheus-blackbox-exporter")
LOKI = Chart(
    "loki", "18.11.0", "https://grafana-community.github.io/helm-charts", "monitoring", "loki", "release",
    "its StatefulSet holds the logs on a volume: one release with Helm's history to roll back, and a preview that shows "
    "the change of values rather than a replacement of its many objects",
    "loki")
GRAFANA = Chart(
    "grafana", "12.11.1", "https://grafana-community.github.io/helm-charts", "monitoring", "grafana", "chart",
    "no hooks; the data sources, grafana.ini and the Deployment show their own diff in a preview (dashboards are the "
    "program's own ConfigMaps)",
    "grafana")
FLUENT_BIT = Chart(
    "fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts", "monitoring", "fluent-bit", "chart",
    "no hooks, no state; the DaemonSet and its configuration show their diff in a preview",
    "fluent-bit")

# -- the GitOps layer (wsp)
ARGO_CD = Chart(
    "argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm", "argocd", "argocd", "release",
    "its CRDs carry helm.sh/resource-policy: keep, which only Helm honours: removing the chart must never delete "
    "the Applications and AppProjects; its pre-install hook Job (redis-secret-init) makes Redis's password before "
    "Redis starts",
    "argo-cd")

# By layer, each in install order: the add-ons layer's, the monitoring layer's, the GitOps layer's (where layers.gitops is on).
ADDONS: tuple[Chart, ...] = (METALLB, ENVOY_GATEWAY, CERT_MANAGER, ROOK_CEPH, ROOK_CEPH_CLUSTER, DESCHEDULER)
MONITORING: tuple[Chart, ...] = (KUBE_PROMETHEUS_STACK, PROMETHEUS_BLACKBOX_EXPORTER, LOKI, GRAFANA, FLUENT_BIT)
GITOPS: tuple[Chart, ...] = (ARGO_CD,)
# In install order.
ALL: tuple[Chart, ...] = (CILIUM, *ADDONS, *MONITORING, *GITOPS)
BY_NAME: dict[str, Chart] = {c.name: c for c in ALL}


def version_problem(chart: Chart, version: str) -> Optional[str]:
    """None when `version` can stand for `chart`'s pin (same form, with or without the leading v), else what was expected."""
    if not VERSION.fullmatch(version):
        return "a chart version x.y.z (an optional -pre-release)"
    if version.startswith("v") != chart.version.startswith("v"):
        return f"a version written as {chart.name}'s own versions are ({chart.version})"
    return None
