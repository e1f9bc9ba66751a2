"""cert-manager, the ACME issuers and the global Gateway's certificate.

Two ClusterIssuers, Let's Encrypt staging and production, both solving HTTP-01 through the global
Gateway's HTTP listener (cert-manager's Gateway API support, `enableGatewayAPI`). The stack file
chooses which one signs the Gateway's certificate (`addons.acme.server`: staging for dev,
production for prd and wsp). Each issuer's ACME account key is made by Pulumi (pulumi-tls, kept in
the state as a secret) and handed over as a Kubernetes Secret the issuer names; cert-manager is
told never to make one itself, so a rebuilt cluster keeps its ACME accounts.
"""

from __future__ import annotations

from ...charts import CERT_MANAGER
from ...plan import Plan
from ..secrets import secret
from . import Step
from .gateway_helm import GLOBAL, HTTP_LISTENER, TLS_SECRET
from .gateway_helm import NAMESPACE as GATEWAY_NAMESPACE

NAMESPACE = CERT_MANAGER.namespace
SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}


def issuer(server: str) -> str:
    return f"letsencrypt-{server}"


def account_key(server: str) -> str:
    """The name of the issuer's account key: the Secret's and its placeholder's (the layer fills it in)."""
    return f"acme-{server}-account-key"


def values(plan: Plan) -> dict:
    return {
        "crds": {"enabled": True, "keep": True},
        "replicaCount": 2,
        "podDisruptionBudget": {"enabled": True},
        "webhook": {"replicaCount": 2, "podDisruptionBudget": {"enabled": True}},
        "config": {"apiVersion": "controller.config.cert-manager.io/v1alpha1", "kind": "ControllerConfiguration",
                   "enableGatewayAPI": True},
    }


def issuer_objects(plan: Plan) -> list[dict]:
    addons = plan.addons
    assert addons is not None
    objects: list[dict] = []
    for server, url in SERVERS.items():
        objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": account_key(server), "namespace": NAMESPACE},
                        "type": "Opaque", "stringData": {"tls.key": secret(account_key(server))}})
    for server, url in SERVERS.items():
        objects.append({
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": issuer(server)},
            "spec": {"acme": {
                "email": addons.acme_email,
                "server": url,
                "privateKeySecretRef": {"name": account_key(server), "key": "tls.key"},
                "disableAccountKeyGeneration": True,
                "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [
                    {"kind": "Gateway", "name": GLOBAL, "namespace": GATEWAY_NAMESPACE, "sectionName": HTTP_LISTENER}]}}}],
            }},
        })
    objects.append({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "global-gateway", "namespace": GATEWAY_NAMESPACE},
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": list(addons.hostnames),
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer(addons.acme_server)},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    })
    return objects


def step(plan: Plan) -> Step:
    return Step("cert-manager", NAMESPACE, CERT_MANAGER, plan.charts.version(CERT_MANAGER), values(plan), tuple(issuer_objects(plan)),
                needs=("gateway",), objects_need=("gateway",),  # the Gateway API CRDs at start; the solver's Gateway
                describe="ACME ClusterIssuers (Let's Encrypt staging and production, HTTP-01 through the global Gateway), "
                         "their account keys, and the global Gateway's certificate.")
