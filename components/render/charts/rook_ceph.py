"""Rook-Ceph: the operator, then one Ceph cluster on the workers' data disks, with two storage classes.

- One OSD per worker, on its data disk by device name from the plan (`plan.DATA_DISK_DEVICE`), never
  "use all devices" or "use all nodes": a boot disk or a disk added by hand is never taken.
- 3 mons (1 with fewer than 3 workers) and 2 mgrs, each on another worker (control planes keep
  their taint). Every pool keeps `addons.ceph.replicas` copies, one per worker (failure domain host).
- `ceph-block` (RBD, ReadWriteOnce) is the default StorageClass. `ceph-filesystem` (CephFS,
  ReadWriteMany) is for workloads that must come back on another node when theirs dies: a pod
  with an RBD volume waits for the dead node's attachment to be released (seed 003: a StatefulSet
  stuck until someone intervened), a CephFS volume mounts anywhere at once.
- The Ceph dashboard is on (the mgr's `rook-ceph-mgr-dashboard` Service, HTTPS). Ceph's Prometheus
  metrics are on (the mgr's `rook-ceph-mgr` Service, port `http-metrics`); the ServiceMonitor and
  alert rules need the Prometheus operator's CRDs, so they wait for the monitoring layer
  (`monitoring.enabled`).
- No object store: nothing here uses one.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ...charts import ROOK_CEPH, ROOK_CEPH_CLUSTER
from ...plan import Plan
from . import PRIVILEGED, Step

NAMESPACE = ROOK_CEPH.namespace
BLOCK_POOL, BLOCK_CLASS = "ceph-blockpool", "ceph-block"
FILESYSTEM, FILESYSTEM_CLASS, FILESYSTEM_DATA_POOL = "ceph-filesystem", "ceph-filesystem", "data0"
_RELEASE_NAMESPACE = "{{ .Release.Namespace }}"  # the chart fills it in (tpl), as in its defaults


def _csi_secrets(driver: str) -> dict[str, str]:
    """The CSI secrets a storage class names: the ones Rook makes for the driver, in the cluster's namespace."""
    parameters = {}
    for use, secret in (("provisioner", "provisioner"), ("controller-expand", "provisioner"), ("controller-publish", "provisioner"),
                        ("node-stage", "node")):
        parameters[f"csi.storage.k8s.io/{use}-secret-name"] = f"rook-csi-{driver}-{secret}"
        parameters[f"csi.storage.k8s.io/{use}-secret-namespace"] = _RELEASE_NAMESPACE
    return parameters


def operator_values(plan: Plan) -> dict:
    return {
        "crds": {"enabled": True},
        "monitoring": {"enabled": False},  # ServiceMonitors need the Prometheus operator's CRDs (monitoring layer)
    }


def cluster_values(plan: Plan) -> dict:
    addons = plan.addons
    assert addons is not None
    replicas = addons.ceph_replicas

    def replicated() -> dict:
        return {"size": replicas, "requireSafeReplicaSize": replicas > 1}

    return {
        "operatorNamespace": NAMESPACE,
        "toolbox": {"enabled": True},  # `kubectl -n rook-ceph exec deploy/rook-ceph-tools -- ceph status`
        "monitoring": {"enabled": False, "metricsDisabled": False},
        "cephClusterSpec": {
            "mon": {"count": addons.ceph_mons, "allowMultiplePerNode": False},
            "mgr": {"count": addons.ceph_mgrs, "allowMultiplePerNode": False},
            "dashboard": {"enabled": True, "ssl": True},
            "storage": {
                "useAllNodes": False,
                "useAllDevices": False,
                "nodes": [{"name": osd.node, "devices": [{"name": PurePosixPath(osd.device).name}]} for osd in addons.osds],
            },
        },
        "cephBlockPools": [{
            "name": BLOCK_POOL,
            "spec": {"failureDomain": "host", "replicated": replicated()},
            "storageClass": {
                "enabled": True, "name": BLOCK_CLASS, "isDefault": True, "reclaimPolicy": "Delete", "allowVolumeExpansion": True,
                "volumeBindingMode": "Immediate",
                "parameters": {"imageFormat": "2", "imageFeatures": "layering", **_csi_secrets("rbd"), "csi.storage.k8s.io/fstype": "ext4"},
            },
        }],
        "cephFileSystems": [{
            "name": FILESYSTEM,
            "spec": {
                "metadataPool": {"failureDomain": "host", "replicated": replicated()},
                "dataPools": [{"name": FILESYSTEM_DATA_POOL, "failureDomain": "host", "replicated": replicated()}],
                "metadataServer": {"activeCount": 1, "activeStandby": True, "priorityClassName": "system-cluster-critical",
                                   "resources": {"limits": {"memory": "4Gi"}, "requests": {"cpu": "1000m", "memory": "4Gi"}}},
            },
            "storageClass": {
                "enabled": True, "name": FILESYSTEM_CLASS, "isDefault": False, "pool": FILESYSTEM_DATA_POOL, "reclaimPolicy": "Delete",
                "allowVolumeExpansion": True, "volumeBindingMode": "Immediate",
                "parameters": {**_csi_secrets("cephfs"), "csi.storage.k8s.io/fstype": "ext4"},
            },
        }],
        "cephObjectStores": [],
    }


def operator_step(plan: Plan) -> Step:
    return Step("rook-ceph", NAMESPACE, ROOK_CEPH, plan.charts.version(ROOK_CEPH), operator_values(plan), pod_security=PRIVILEGED,
                stateful=True)


def cluster_step(plan: Plan) -> Step:
    return Step("rook-ceph-cluster", NAMESPACE, ROOK_CEPH_CLUSTER, plan.charts.version(ROOK_CEPH_CLUSTER), cluster_values(plan),
                needs=("rook-ceph",), pod_security=PRIVILEGED, stateful=True)
