"""Envoy Gateway and the shared Gateways: Gateway API is the L7 entry point (the community ingress-nginx
controller was retired in March 2026; the seed team's later clusters moved to Gateway API too).

- `global`: HTTP (80) and HTTPS (443) on the first address of MetalLB's `global` pool. Plain HTTP is
  redirected to HTTPS (`https-redirect`), except the ACME HTTP-01 challenges cert-manager routes on
  the same listener (an exact path match wins over the redirect's `/`). The HTTPS listener takes
  routes from every namespace and terminates TLS with the certificate cert-manager keeps in
  `global-gateway-tls` (render/charts/cert_manager.py).
- `private`: HTTP (80) on the first usable address of the `private` pool, reachable only over
  WireGuard, for operator-only services; made only when the stack has a private pool.

Envoy Gateway makes one LoadBalancer Service per Gateway; its EnvoyProxy (the Gateway's
`infrastructure.parametersRef`) annotates that Service with the MetalLB pool and address.
"""

from __future__ import annotations

from ...charts import ENVOY_GATEWAY
from ...plan import Plan
from . import Step

NAMESPACE = ENVOY_GATEWAY.namespace
GATEWAY_CLASS = "envoy-gateway"
CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
GLOBAL, PRIVATE = "global", "private"
TLS_SECRET = "global-gateway-tls"  # cert-manager writes the Gateway's certificate here
HTTP_LISTENER, HTTPS_LISTENER = "http", "https"


def values(plan: Plan) -> dict:
    return {
        "deployment": {"replicas": 2},  # leader election: one serves, the other takes over
        "podDisruptionBudget": {"minAvailable": 1},
    }


def _proxy(name: str, pool: str, address: str) -> dict:
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {
            "annotations": {"metallb.io/address-pool": pool, "metallb.io/loadBalancerIPs": address}}}}},
    }


def _gateway(name: str, listeners: list[dict]) -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "infrastructure": {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": name}},
            "listeners": listeners,
        },
    }


def gateway_objects(plan: Plan) -> list[dict]:
    addons = plan.addons
    assert addons is not None
    objects = [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS},
         "spec": {"controllerName": CONTROLLER}},
        _proxy(GLOBAL, "global", str(addons.global_gateway)),
        _gateway(GLOBAL, [
            {"name": HTTP_LISTENER, "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "Same"}}},
            {"name": HTTPS_LISTENER, "protocol": "HTTPS", "port": 443,
             "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": TLS_SECRET}]},
             "allowedRoutes": {"namespaces": {"from": "All"}}},
        ]),
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "https-redirect", "namespace": NAMESPACE},
         "spec": {"parentRefs": [{"name": GLOBAL, "sectionName": HTTP_LISTENER}],
                  "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}},
    ]
    if addons.private_gateway is not None:
        objects += [
            _proxy(PRIVATE, "private", str(addons.private_gateway)),
            _gateway(PRIVATE, [{"name": HTTP_LISTENER, "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]),
        ]
    return objects


def step(plan: Plan) -> Step:
    return Step("gateway", NAMESPACE, ENVOY_GATEWAY, plan.charts.version(ENVOY_GATEWAY), values(plan), tuple(gateway_objects(plan)),
                objects_need=("metallb-bgp",),  # the chart needs nothing; each Gateway's LoadBalancer Service needs the pools
                describe="Gateway API: the GatewayClass of Envoy Gateway, the global and private Gateways and the HTTPS redirect.")
