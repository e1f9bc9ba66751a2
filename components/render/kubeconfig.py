"""The admin kubeconfig: the VIP as server, a client certificate from pulumi-tls signed by the cluster CA.

The certificate's group is `kubeadm:cluster-admins`, which kubeadm binds to cluster-admin at init,
so access can be revoked by removing that binding (unlike `system:masters`).
"""

from __future__ import annotations

import base64

import yaml

from ..plan import Plan


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def admin_kubeconfig(plan: Plan, ca_cert_pem: str, client_cert_pem: str, client_key_pem: str) -> str:
    name = plan.kubernetes.cluster_name
    user = f"{name}-admin"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": f"https://{plan.kubernetes.control_plane_endpoint}",
                                                "certificate-authority-data": _b64(ca_cert_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(client_cert_pem), "client-key-data": _b64(client_key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)
