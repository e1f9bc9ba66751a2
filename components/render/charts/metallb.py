"""MetalLB in BGP mode, and its side of the BGP sessions: address pools, the router as BGP peer, the advertisement.

The objects are made from the same plan as the router's side (`render.vyos`, `render.frr`), so ASNs, the
peer address, timers and pools cannot disagree. A Service picks a pool by the annotation
`metallb.io/address-pool: global|private`; only `global` is handed out without one.

Speakers (and frr-k8s, which speaks BGP for them) run on the workers only: the router's BGP
neighbours are the workers, and control planes keep their kubeadm taint, which they no longer tolerate.
"""

from __future__ import annotations

from ...charts import METALLB
from ...plan import Plan
from . import PRIVILEGED, Step

NAMESPACE = METALLB.namespace
PEER = "edge-router"


def values(plan: Plan) -> dict:
    return {
        "speaker": {"tolerateMaster": False},
        "frr-k8s": {"frrk8s": {"tolerateMaster": False}},
    }


def metallb_objects(plan: Plan) -> list[dict]:
    bgp = plan.bgp
    pools = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": pool.name, "namespace": NAMESPACE},
            "spec": {"addresses": list(pool.addresses), "autoAssign": pool.name == "global", "avoidBuggyIPs": pool.name == "private"},
        }
        for pool in plan.pools
    ]
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": PEER, "namespace": NAMESPACE},
        "spec": {
            "myASN": bgp.speaker_asn,
            "peerASN": bgp.router_asn,
            "peerAddress": str(bgp.router_address),
            "holdTime": f"{bgp.hold_time}s",
            "keepaliveTime": f"{bgp.keepalive}s",
        },
    }
    advertisement = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "pools", "namespace": NAMESPACE},
        "spec": {"ipAddressPools": [pool.name for pool in plan.pools], "aggregationLength": 32, "peers": [PEER]},
    }
    return pools + [peer, advertisement]


def step(plan: Plan) -> Step:
    return Step("metallb-bgp", NAMESPACE, METALLB, plan.charts.version(METALLB), values(plan), tuple(metallb_objects(plan)),
                pod_security=PRIVILEGED,
                describe="MetalLB's side of the BGP sessions, from the same plan as the router.")
