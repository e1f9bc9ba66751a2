"""The Kubernetes layers under the real engine, against a real API server: Cilium, the add-ons, monitoring and GitOps, up
and no-change.

The project (tests/engine_project.py) runs its VM layer against the fake Sakura API, which gives the
plan its addresses, and its Kubernetes layers against the test control plane (tests/control_plane.py:
etcd and kube-apiserver v1.36.3 on 127.0.0.1) through `externalKubeconfig`, with charts from
../shared/upstream/charts. No pod runs there (no kubelet), so the stack says `kubernetes.awaitReadiness:
false`: nothing waits for readiness and no Helm hook runs (components/helm.py); and the API server calls
no admission webhook, whose servers would be pods. What is proven: pulumi-kubernetes and Helm, as the
engine drives them, render every chart with the program's values and the API server takes every object
with its validation; a second preview shows no change. Not proven here: that the pods start and the
controllers do their work (there are none). Nothing is destroyed: deleting a Namespace waits for the
namespace controller of kube-controller-manager, which is not run; the state is thrown away.
"""

from __future__ import annotations

import json

import pytest

from tests.engine_project import K, engine_for, on_fake, program_project

from .conftest import UPSTREAM, require_shared
from .fake_sakura import FakeSakura
from .test_engine_program import _plain_values, steps

pytestmark = pytest.mark.engine

LAYERS = {"edge": False, "apiLoadBalancer": False, "kubernetes": False, "addons": True, "gitops": True}
ARGOCD_HOST = "argocd.dev.contest.example.org"
# Argo CD in dev for this test (wsp runs it): dev is its own cluster; prd's stack does not exist here, so it is left out
# with a warning and its AppProject and Application are made anyway.
GITOPS = {
    "hostname": ARGOCD_HOST,
    "github": {"organization": "example-contest", "clientId": "0123456789abcdef0123", "adminTeams": ["infra"]},
    "slackChannel": "argocd",
    "environments": {
        "dev": {"stack": "organization/contest-k8s/dev", "helmfileEnvironment": "develop",
                "sourceRepos": ["https://github.com/example-contest/*"], "automatedSync": True,
                "applications": {"score-server": {"repoUrl": "https://github.com/example-contest/score-server-deploy.git",
                                                  "path": "score-server", "targetRevision": "main", "namespace": "score-server"}}},
        "prd": {"stack": "organization/contest-k8s/prd", "helmfileEnvironment": "production",
                "sourceRepos": ["https://github.com/example-contest/score-server-deploy.git"], "automatedSync": False,
                "applications": {"score-server": {"repoUrl": "https://github.com/example-contest/score-server-deploy.git",
                                                  "path": "score-server", "targetRevision": "main", "namespace": "score-server"}}},
    },
}
# (API path, what it is): objects the layers make, one of each kind of step, read back from the API server.
EXPECTED = (
    ("/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/global", "MetalLB's global pool"),
    ("/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers/edge-router", "MetalLB's BGP peer (the router)"),
    ("/apis/gateway.networking.k8s.io/v1/namespaces/envoy-gateway-system/gateways/global", "the global Gateway"),
    ("/apis/cert-manager.io/v1/clusterissuers/letsencrypt-production", "the production ClusterIssuer"),
    ("/apis/ceph.rook.io/v1/namespaces/rook-ceph/cephclusters/rook-ceph", "the Ceph cluster (rook-ceph-cluster's values)"),
    ("/apis/apps/v1/namespaces/kube-system/daemonsets/cilium", "Cilium's agents"),
    ("/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/prd", "prd's AppProject (its stack not deployed yet)"),
    ("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/score-server-dev", "dev's score server Application"),
    ("/apis/apps/v1/namespaces/argocd/deployments/argocd-server", "Argo CD's server"),
    ("/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/kube-prometheus-stack-prometheus",
     "Prometheus (kube-prometheus-stack's values: its volume and retention)"),
    ("/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheusrules/prometheus-storage", "the disk-filling alerts"),
    ("/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheusrules/heartbeats", "dev's watch of wsp's heartbeat"),
    ("/apis/monitoring.coreos.com/v1/namespaces/monitoring/probes/public-endpoints", "the blackbox exporter's probes"),
)
RELEASES = ("cilium", "envoy-gateway", "cert-manager", "rook-ceph", "rook-ceph-cluster", "kube-prometheus-stack", "argocd")  # helm.v3.Release: Helm's own record


def test_kubernetes_layers_up_against_a_real_api_server_then_no_changes(tmp_path):
    from .control_plane import ControlPlane, missing_tools

    require_shared()
    if missing_tools():
        pytest.skip(f"needs .tools/bin/{missing_tools()[0]}: run scripts/toolchain.sh kubernetes")
    plane = ControlPlane(tmp_path / "control-plane", admission_webhooks=False).start()
    try:
        with FakeSakura(copy_seconds=0.05, power_seconds=0.05) as fake:
            def edit(config: dict) -> None:
                on_fake(fake, LAYERS)(config)
                config[K + "charts"] = {"source": str(UPSTREAM / "charts")}
                config[K + "kubernetes"] = {"awaitReadiness": False}
                config[K + "addons"]["gateway"]["hostnames"].append(ARGOCD_HOST)
                config[K + "gitops"] = GITOPS

            project = program_project(tmp_path / "project", "dev", edit)
            engine = engine_for(project, tmp_path / "engine", plugins=("random", "tls", "kubernetes"),
                                SAKURACLOUD_ACCESS_TOKEN=fake.token, SAKURACLOUD_ACCESS_TOKEN_SECRET=fake.secret)
            engine.stack_init("dev")
            engine.run("config", "set", "--secret", "externalKubeconfig", plane.kubeconfig(), stack="dev", timed=False)
            up = engine.run("up", "--yes", "--skip-preview", stack="dev", label="up")
            again = engine.run("preview", "--expect-no-changes", stack="dev", label="preview (no changes)")
            planned = steps(engine.run("preview", "--json", "--show-sames", stack="dev", timed=False).stdout)

            for path, what in EXPECTED:
                status, _, _ = plane.request("GET", path)
                assert status == 200, f"{what} is not in the API server ({path}: HTTP {status})"
            _, helm_records, _ = plane.request("GET", "/api/v1/secrets?labelSelector=owner%3Dhelm")
            names = {s["metadata"]["labels"].get("name") for s in helm_records["items"]}
            for release in RELEASES:
                assert any(name == release or name.startswith(release + "-") for name in names), (release, sorted(names))

            exported = json.loads(engine.run("stack", "export", stack="dev", timed=False).stdout)
            plain = "\n".join(_plain_values(exported))
            client_key = next(line for line in plane.kubeconfig().splitlines() if "client-key-data" in line).split(":", 1)[1].strip()
            assert client_key in json.dumps(json.loads(engine.run("stack", "export", "--show-secrets", stack="dev",
                                                                  timed=False).stdout)), "the scan would prove nothing"
            assert client_key not in plain, "the external cluster's kubeconfig is in the state in plain text"
            assert "PRIVATE KEY" not in plain, "an ACME account key is in the state in plain text"
        misspelled = _up_with_a_misspelled_field(plane, tmp_path)
    finally:
        plane.stop()
    # The same path refuses a misspelled field: server-side apply types the object against the schema, so the
    # up that passed above had none (pulumi-kubernetes asks for field validation `Warn`, yet a typed apply fails).
    assert misspelled.returncode != 0 and ".spec.gatewayClass: field not declared in schema" in misspelled.output, \
        misspelled.describe()
    assert len(planned) > 100 and set(planned.values()) == {"same"}, {name: op for name, op in planned.items() if op != "same"}
    kubernetes_resources = sum(1 for r in exported["deployment"]["resources"] if r["type"].startswith("kubernetes:"))
    print(f"\n[measured] Kubernetes layers of dev on a real API server: {kubernetes_resources} Kubernetes resources, "
          f"up {up.seconds:.1f} s, no-change preview {again.seconds:.1f} s; {engine.report()}")


def _up_with_a_misspelled_field(plane, tmp_path):
    """A throwaway program that applies a Gateway with `gatewayClass` for `gatewayClassName` through pulumi-kubernetes."""
    from .engine import Engine, project_venv, python_project

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(plane.kubeconfig())
    program = f"""import pulumi_kubernetes as k8s
provider = k8s.Provider("test", kubeconfig=open({str(kubeconfig)!r}).read(), enable_server_side_apply=True)
k8s.apiextensions.CustomResource("misspelled", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
    metadata={{"name": "misspelled", "namespace": "default"}},
    spec={{"gatewayClass": "envoy-gateway", "gatewayClassName": "envoy-gateway",
          "listeners": [{{"name": "http", "port": 80, "protocol": "HTTP"}}]}},
    opts=__import__("pulumi").ResourceOptions(provider=provider))
"""
    project = python_project(tmp_path / "misspelled", "misspelled", program, virtualenv=project_venv())
    engine = Engine(project, tmp_path / "misspelled-engine", plugins=("kubernetes",))
    engine.stack_init("test")
    return engine.run("up", "--yes", "--skip-preview", stack="test", check=False, label="up (misspelled)")
