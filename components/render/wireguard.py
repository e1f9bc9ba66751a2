"""WireGuard: public keys from private keys (X25519), wg-quick files, and the venue's view of the clusters.

Private keys are made by pulumi-random (32 bytes) and never leave secret Outputs; public keys are
derived here with the `cryptography` library, exactly as `wg pubkey` does, so no tool runs anywhere.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Optional

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..plan import Plan, WireGuardPeer
from .secrets import secret

VENUE_PRIVATE_KEY = "venue-private-key"


def public_key(private_key_b64: str) -> str:
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@dataclass(frozen=True)
class ClusterPeer:
    """What a peer (the venue, another cluster) needs to know about one cluster's router."""

    stack: str
    public_key: str
    endpoint: str
    address: IPv4Interface
    routed_prefixes: tuple[IPv4Network, ...]
    venue_address: str
    persistent_keepalive: int
    # The cluster's API VIP: other clusters (Argo CD in wsp) reach it through the tunnel; the venue does not route it
    # (operators reach it from access.operatorCidrs). None in the output of a stack made before it was exported.
    api_address: Optional[IPv4Address] = None

    @property
    def allowed_ips(self) -> tuple[IPv4Network, ...]:
        """What the venue routes to this cluster."""
        return (IPv4Network(f"{self.address.ip}/32"),) + self.routed_prefixes

    def peer_block(self) -> str:
        return (f"[Peer]\n# contest-k8s {self.stack}\nPublicKey = {self.public_key}\nEndpoint = {self.endpoint}\n"
                f"AllowedIPs = {', '.join(map(str, self.allowed_ips))}\nPersistentKeepalive = {self.persistent_keepalive}\n")

    def as_output(self) -> dict:
        """The stack output `wireguard`, also written by the offline render as wireguard/peer.json."""
        return {
            "stack": self.stack,
            "publicKey": self.public_key,
            "endpoint": self.endpoint,
            "address": str(self.address),
            "routedPrefixes": [str(p) for p in self.routed_prefixes],
            "venueAddress": self.venue_address,
            "persistentKeepalive": self.persistent_keepalive,
            "peerBlock": self.peer_block(),
            **({"apiAddress": str(self.api_address)} if self.api_address is not None else {}),
        }

    @classmethod
    def from_output(cls, output: dict) -> "ClusterPeer":
        api = output.get("apiAddress")
        return cls(output["stack"], output["publicKey"], output["endpoint"], IPv4Interface(output["address"]),
                   tuple(IPv4Network(p) for p in output["routedPrefixes"]), output["venueAddress"], int(output["persistentKeepalive"]),
                   IPv4Address(api) if api else None)

    def as_router_peer(self) -> WireGuardPeer:
        """This cluster as a peer on another cluster's router: its networks and its API VIP, which the other router
        reaches from its own tunnel address (this cluster's load balancers route the tunnel network back)."""
        api = (IPv4Network(f"{self.api_address}/32"),) if self.api_address is not None else ()
        return WireGuardPeer(self.stack, self.public_key, self.allowed_ips + api, self.endpoint, self.persistent_keepalive,
                             from_tunnel_address=api)


def cluster_peer(plan: Plan, router_public_key: str) -> ClusterPeer:
    wg = plan.wireguard
    venue = next((str(p.allowed_ips[0].network_address) for p in wg.peers if p.name == "venue"), "")
    return ClusterPeer(plan.stack, router_public_key, f"{wg.endpoint_host}:{wg.listen_port}", wg.address,
                       wg.routed_prefixes, venue, wg.persistent_keepalive, plan.api.vip.ip)


def wg_quick_conf(address: IPv4Interface, listen_port: int, private_key: str, peers: tuple[WireGuardPeer, ...],
                  comment: str) -> str:
    lines = [f"# {comment}", "[Interface]", f"Address = {address}"]
    if listen_port:
        lines.append(f"ListenPort = {listen_port}")
    lines.append(f"PrivateKey = {private_key}")
    for peer in peers:
        lines += ["", "[Peer]", f"# {peer.name}", f"PublicKey = {peer.public_key}",
                  f"AllowedIPs = {', '.join(map(str, peer.allowed_ips))}"]
        if peer.endpoint:
            lines.append(f"Endpoint = {peer.endpoint}")
        if peer.persistent_keepalive:
            lines.append(f"PersistentKeepalive = {peer.persistent_keepalive}")
    return "\n".join(lines) + "\n"


def router_wg_conf(plan: Plan, peers: tuple[WireGuardPeer, ...]) -> str:
    """The frr-flavor router's /etc/wireguard/wg0.conf (wg-quick adds routes for every AllowedIPs)."""
    wg = plan.wireguard
    return wg_quick_conf(wg.address, wg.listen_port, secret("wireguard-private-key"), peers,
                         f"contest-k8s {plan.stack} router: WireGuard to the venue and other clusters")


def venue_conf(clusters: list[ClusterPeer], listen_port: int = 51820) -> str:
    """The venue's whole wg-quick file: every cluster as a peer, the venue key left as a placeholder."""
    if not clusters:
        raise ValueError("no clusters to peer with")
    venue_addresses = {c.venue_address for c in clusters}
    if len(venue_addresses) != 1 or "" in venue_addresses:
        raise ValueError(f"the clusters expect different venue tunnel addresses: {sorted(venue_addresses)}")
    networks = {c.address.network for c in clusters}
    if len(networks) != 1:
        raise ValueError(f"the clusters use different tunnel networks: {sorted(map(str, networks))}")
    address = IPv4Interface(f"{venue_addresses.pop()}/{networks.pop().prefixlen}")
    blocks = "\n".join(c.peer_block() for c in sorted(clusters, key=lambda c: c.stack))
    return (f"# contest-k8s venue: WireGuard to every cluster ({', '.join(sorted(c.stack for c in clusters))}).\n"
            f"# Put the venue's own private key in place of the placeholder; its public key is in every stack file.\n"
            f"[Interface]\nAddress = {address}\nListenPort = {listen_port}\nPrivateKey = {secret(VENUE_PRIVATE_KEY)}\n\n{blocks}")
