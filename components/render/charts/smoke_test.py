"""The smoke test (`addons.smokeTest: true`): how an operator checks a fresh cluster end to end.

A `writer` Deployment appends the time and its pod's name to `index.html` on a CephFS volume
(ReadWriteMany) every 10 seconds; a `web` Deployment of two nginx pods on other nodes serves that
file read-only, behind an HTTPRoute on the global Gateway's HTTPS listener at
`https://<first addons.gateway.hostnames>/smoke-test/`. A page that grows proves in one request:
DNS and the MetalLB address over BGP, the Gateway and its ACME certificate, the Service, and a
CephFS volume written on one node and read on others. Delete the writer's pod, or its node: it
comes back elsewhere with the same volume.
"""

from __future__ import annotations

from ...plan import Plan
from . import Step
from .gateway_helm import GLOBAL, HTTPS_LISTENER
from .gateway_helm import NAMESPACE as GATEWAY_NAMESPACE
from .rook_ceph import FILESYSTEM_CLASS

NAMESPACE = "smoke-test"
PATH = "/smoke-test"
WEB_IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.31-alpine"  # the image and tag loki-18.11.0's gateway uses
WRITER_IMAGE = "docker.io/library/busybox:1.38.0"  # the image and tag of kube-prometheus-stack-88.5.3's defaults
_NON_ROOT = {"runAsNonRoot": True, "runAsUser": 101, "runAsGroup": 101, "fsGroup": 101, "seccompProfile": {"type": "RuntimeDefault"}}
_CONTAINER = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
_WRITE = ('while true; do echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $POD_NAME<br>" >> /data/index.html; '
          'tail -n 100 /data/index.html > /data/.index && mv /data/.index /data/index.html; sleep 10; done')


def _labels(app: str) -> dict:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "contest-k8s-smoke-test"}


def _deployment(name: str, replicas: int, pod_spec: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(name)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": _labels(name)},
                 "template": {"metadata": {"labels": _labels(name)}, "spec": {"securityContext": _NON_ROOT, **pod_spec}}},
    }


def smoke_objects(plan: Plan) -> list[dict]:
    addons = plan.addons
    assert addons is not None
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}]
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": _labels("web")}}]
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "shared", "namespace": NAMESPACE},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": FILESYSTEM_CLASS, "resources": {"requests": {"storage": "1Gi"}}}},
        _deployment("writer", 1, {"containers": [{
            "name": "writer", "image": WRITER_IMAGE, "command": ["sh", "-c", _WRITE],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            # root without any capability: writes to a new volume whoever owns its root; nginx reads the files (0644)
            "securityContext": {**_CONTAINER, "runAsUser": 0, "runAsNonRoot": False},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}}], "volumes": volume}),
        _deployment("web", 2, {"topologySpreadConstraints": spread, "containers": [{
            "name": "nginx", "image": WEB_IMAGE, "ports": [{"name": "http", "containerPort": 8080}],
            "securityContext": _CONTAINER,
            "volumeMounts": [{"name": "data", "mountPath": "/usr/share/nginx/html", "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 10},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}}],
            "volumes": volume + [{"name": "tmp", "emptyDir": {}}]}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NAMESPACE},
         "spec": {"selector": _labels("web"), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web", "namespace": NAMESPACE},
         "spec": {
             "parentRefs": [{"name": GLOBAL, "namespace": GATEWAY_NAMESPACE, "sectionName": HTTPS_LISTENER}],
             "hostnames": [addons.hostnames[0]],
             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": PATH}}],
                        "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                        "backendRefs": [{"name": "web", "port": 80}]}]}},
    ]


def step(plan: Plan) -> Step:
    return Step("smoke-test", NAMESPACE, objects=tuple(smoke_objects(plan)), objects_need=("cert-manager", "rook-ceph-cluster"),
                describe="The smoke test: a page written to a CephFS volume, served over HTTPS through the global Gateway.")
