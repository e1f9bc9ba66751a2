"""Clearly fake cloud answers for running the program under Pulumi's mocks.

Used by the offline render and by the tests. Every value is derived from the resource's
type, name and stack with SHA-256, so two runs give the same answers whatever PYTHONHASHSEED
is. Addresses are TEST-NET (RFC 5737), MACs are from the documentation range (RFC 7042),
Sakura IDs start with 9999, and keys are real key material made from a hash so validators
accept them while no real secret exists.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any, Callable

import pulumi
from pulumi.runtime import rpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from .sakura import catalog

# A TEST-NET block per stack, so the venue's view of all three clusters has no collisions.
FAKE_BLOCKS = {"prd": "192.0.2.0", "dev": "198.51.100.0", "wsp": "203.0.113.0"}
FAKE_BLOCK_DEFAULT = "203.0.113.128"
CERT_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def fake_sakura_id(*parts: str) -> str:
    return "9999" + str(int.from_bytes(digest(*parts)[:8], "big") % 10**8).zfill(8)


def fake_mac(*parts: str) -> str:
    return "00:00:5e:00:53:" + digest(*parts)[:1].hex()


def fake_random_bytes(stack: str, resource_name: str, length: int) -> bytes:
    """What FakeCloud answers for a pulumi-random RandomBytes of that stack and name."""
    return (digest(stack, resource_name, "bytes") * 4)[:length]


def fake_service_account_token(stack: str, namespace: str, name: str) -> str:
    """What FakeCloud's token controller writes into a service-account-token Secret: a JWT-shaped string."""
    def part(*words: str) -> str:
        return base64.urlsafe_b64encode(digest(stack, namespace, name, *words)).decode().rstrip("=")
    return ".".join((part("header"), part("claims"), part("signature")))


def fake_block(stack: str, prefix_length: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{FAKE_BLOCKS.get(stack, FAKE_BLOCK_DEFAULT)}/{prefix_length}")


def _ecdsa_key(seed: bytes) -> ec.EllipticCurvePrivateKey:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256
    return ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())


def _openssh_private(key: Any) -> str:
    """OpenSSH private key text with its two random check integers fixed, so it is deterministic."""
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    lines = text.strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    offset = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher name, KDF name, KDF options
        offset += 4 + int.from_bytes(blob[offset:offset + 4], "big")
    offset += 4  # number of keys
    offset += 4 + int.from_bytes(blob[offset:offset + 4], "big")  # public key
    offset += 4  # length of the private section, which starts with the two check integers
    blob[offset:offset + 8] = b"\x00\x00\x5e\x53" * 2
    body = base64.b64encode(bytes(blob)).decode()
    return "\n".join([lines[0], *[body[i:i + 70] for i in range(0, len(body), 70)], lines[-1]]) + "\n"


def _unwrap(value: Any) -> Any:
    """Input values as plain data: the mock sees secrets in their wire wrapper."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _name(subject: dict, default: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject.get("commonName", default))]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in ([subject["organization"]] if subject.get("organization") else [])]
    return x509.Name(attributes)


def _pem(key: Any) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


@dataclass(frozen=True)
class _Named:
    """The one attribute of MockResourceArgs the key and certificate answers read."""

    name: str


class FakeCloud(pulumi.runtime.Mocks):
    """Answers for every resource type the program creates."""

    def __init__(self, stack: str):
        self.stack = stack
        self._handlers: dict[str, Callable[[pulumi.runtime.MockResourceArgs, dict], dict]] = {
            "contest-k8s:sakura:RouterSwitch": self._router_switch,
            "contest-k8s:sakura:Server": self._server,
            "contest-k8s:sakura:ServerSize": self._server_size,
            "contest-k8s:cluster:ClusterOrigin": lambda args, state: {"initialisedBy": state.get("bootstrap")},
            "contest-k8s:sakura:Disk": self._with_sakura_id,
            "contest-k8s:sakura:DiskEdit": lambda args, state: {"id": f"{state['diskId']}-edit", "applied": not state.get("madeWithEdit")},
            "contest-k8s:sakura:Switch": self._with_sakura_id,
            "contest-k8s:sakura:Archive": self._with_sakura_id,
            "contest-k8s:sakura:SeedIso": self._with_sakura_id,
            "contest-k8s:sakura:PacketFilter": self._with_sakura_id,
            "contest-k8s:sakura:SshKey": self._ssh_key,
            "random:index/randomBytes:RandomBytes": self._random_bytes,
            "random:index/randomId:RandomId": self._random_id,
            "random:index/randomString:RandomString": self._random_string,
            "random:index/randomPassword:RandomPassword": self._random_string,
            "tls:index/privateKey:PrivateKey": self._private_key,
            "tls:index/selfSignedCert:SelfSignedCert": self._self_signed_cert,
            "tls:index/certRequest:CertRequest": self._cert_request,
            "tls:index/locallySignedCert:LocallySignedCert": self._locally_signed_cert,
            "command:remote:Command": self._command,
            "kubernetes:core/v1:Secret": self._secret,
        }

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = {k: _unwrap(v) for k, v in args.inputs.items() if k != "__provider"}
        handler = self._handlers.get(args.typ)
        if handler is not None:
            state.update(handler(args, state))
        resource_id = state.get("id") or f"{args.name}-fake-id"
        return str(resource_id), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        """Invokes: a failure comes back as a failure the program may catch, as the engine's error does."""
        if args.token == "pulumi:pulumi:readStackOutputs":
            name = str(args.args["name"])
            outputs = self._stack_outputs(name)
            return (outputs, []) if outputs is not None else ({}, [("name", f"unknown stack \"{name}\"")])
        raise NotImplementedError(f"the program must not call {args.token} (no fake answer for it)")

    # -- Sakura

    def _with_sakura_id(self, args, state: dict) -> dict:
        sakura_id = fake_sakura_id(self.stack, args.typ, args.name)
        return {"id": sakura_id, "sakuraId": sakura_id}

    def _router_switch(self, args, state: dict) -> dict:
        block = fake_block(self.stack, int(state["prefixLength"]))
        base = block.network_address
        return {
            **self._with_sakura_id(args, state),
            "switchId": fake_sakura_id(self.stack, args.typ, args.name, "switch"),
            "networkAddress": str(base),
            "gateway": str(base + 1),
            "firstUsable": str(base + catalog.FIRST_USABLE_OFFSET),
            "lastUsable": str(block.broadcast_address - 1),
        }

    def _server(self, args, state: dict) -> dict:
        nics = state.get("nics") or []
        # As after a plan change: Sakura's live ID differs from the Pulumi ID (the first one).
        return {
            "id": fake_sakura_id(self.stack, args.typ, args.name),
            "sakuraId": fake_sakura_id(self.stack, args.typ, args.name, "after a plan change"),
            "macAddresses": [fake_mac(self.stack, args.name, str(i)) for i in range(len(nics))],
            "instanceStatus": "up",
        }

    def _server_size(self, args, state: dict) -> dict:
        """The live VM after its size was applied (a no-op on day one): its live ID, up."""
        return {"id": f"{state.get('serverId')}-size", "sakuraId": state.get("liveIdHint") or state.get("serverId"), "instanceStatus": "up"}

    def _ssh_key(self, args, state: dict) -> dict:
        return {**self._with_sakura_id(args, state), "fingerprint": "fake:" + digest(args.name).hex()[:32]}

    # -- pulumi-random: deterministic stand-ins of the right shape

    def _random_bytes(self, args, state: dict) -> dict:
        raw = fake_random_bytes(self.stack, args.name, int(state["length"]))
        return {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}

    def _random_id(self, args, state: dict) -> dict:
        raw = fake_random_bytes(self.stack, args.name, int(state["byteLength"]))
        return {"hex": raw.hex(), "b64Std": base64.b64encode(raw).decode(), "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "dec": str(int.from_bytes(raw, "big"))}

    def _random_string(self, args, state: dict) -> dict:
        alphabet = ""
        if state.get("lower", True):
            alphabet += "abcdefghijklmnopqrstuvwxyz"
        if state.get("upper", True):
            alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if state.get("numeric", True):
            alphabet += "0123456789"
        seed = digest(self.stack, args.name, "string") * 4
        return {"result": "".join(alphabet[b % len(alphabet)] for b in seed[: int(state["length"])])}

    # -- pulumi-tls: real keys and certificates derived from a hash

    def _private_key(self, args, state: dict) -> dict:
        seed = digest(self.stack, args.name, "key")
        algorithm = state.get("algorithm")
        if algorithm == "ED25519":
            key: Any = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        elif algorithm == "ECDSA":
            key = _ecdsa_key(seed)
        else:
            raise NotImplementedError(f"fake {algorithm} keys")
        private_pem, public_pem = _pem(key)
        openssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        private_openssh = _openssh_private(key)
        return {
            "privateKeyPem": private_pem,
            "privateKeyOpenssh": private_openssh,
            "publicKeyPem": public_pem,
            "publicKeyOpenssh": openssh + "\n",
        }

    def _self_signed_cert(self, args, state: dict) -> dict:
        key = serialization.load_pem_private_key(state["privateKeyPem"].encode(), password=None)
        name = _name(state.get("subject") or {}, args.name)
        return {"certPem": self._sign(args, state, name, key.public_key(), name, key)}

    def _cert_request(self, args, state: dict) -> dict:
        key = serialization.load_pem_private_key(state["privateKeyPem"].encode(), password=None)
        subject = _name(state.get("subject") or {}, args.name)
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256(), ecdsa_deterministic=True)
        return {"certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode()}

    def _locally_signed_cert(self, args, state: dict) -> dict:
        csr = x509.load_pem_x509_csr(state["certRequestPem"].encode())
        ca_key = serialization.load_pem_private_key(state["caPrivateKeyPem"].encode(), password=None)
        ca = x509.load_pem_x509_certificate(state["caCertPem"].encode())
        return {"certPem": self._sign(args, state, csr.subject, csr.public_key(), ca.subject, ca_key)}

    def _sign(self, args, state: dict, subject: x509.Name, public_key: Any, issuer: x509.Name, signer: Any) -> str:
        hours = int(state.get("validityPeriodHours", 24))
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(int.from_bytes(digest(self.stack, args.name, "serial")[:16], "big") >> 1)
            .not_valid_before(CERT_EPOCH)
            .not_valid_after(CERT_EPOCH + datetime.timedelta(hours=hours))
            .add_extension(x509.BasicConstraints(ca=bool(state.get("isCaCertificate")), path_length=None), critical=True)
            .sign(signer, hashes.SHA256(), ecdsa_deterministic=True)
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    # -- Kubernetes

    def _secret(self, args, state: dict) -> dict:
        """A service-account-token Secret comes back with its token, as the token controller fills it in."""
        if state.get("type") != "kubernetes.io/service-account-token":
            return {}
        metadata = state.get("metadata") or {}
        token = fake_service_account_token(self.stack, metadata.get("namespace", "default"), metadata["name"])
        return {"data": {"token": base64.b64encode(token.encode()).decode()}}

    def kubernetes_ca(self) -> str:
        """The cluster CA the kubeadm layer makes under FakeCloud (its stack output kubernetesCa)."""
        from .kubernetes_cluster import TEN_YEARS_HOURS

        key = self._private_key(_Named("kubernetes-ca-key"), {"algorithm": "ECDSA"})["privateKeyPem"]
        return self._self_signed_cert(_Named("kubernetes-ca"), {"privateKeyPem": key, "isCaCertificate": True,
                                                                "validityPeriodHours": TEN_YEARS_HOURS,
                                                                "subject": {"commonName": "kubernetes"}})["certPem"]

    # -- other stacks

    def _stack_outputs(self, name: str) -> dict | None:
        """Another cluster's outputs as its own offline render would give them; None for a stack without a
        stack file (it does not exist)."""
        from .offline import PROJECT_ROOT, load_stack
        from .plan import GlobalBlock, build_plan
        from .render.charts import monitoring_endpoints
        from .render.wireguard import cluster_peer, public_key

        stack = name.rsplit("/", 1)[-1]
        if not (PROJECT_ROOT / f"Pulumi.{stack}.yaml").exists():
            return None
        from .render.charts.argo_cd import ACCESS_NAMESPACE, TOKEN_SECRET

        loaded, _, _ = load_stack(stack)
        plan = build_plan(loaded, GlobalBlock.assumed(fake_block(stack, loaded.config.network.global_prefix_length)))
        key = public_key(base64.b64encode(fake_random_bytes(stack, "wireguard-key", 32)).decode())
        outputs: dict = {"wireguard": cluster_peer(plan, key).as_output()}
        secret_names = []
        layers = loaded.config.layers
        if layers.kubernetes and not layers.gitops:  # what its ArgoCdAccess exports (components/stack.py)
            outputs.update(apiEndpoint=plan.api.endpoint, kubernetesCa=FakeCloud(stack).kubernetes_ca(),
                           argocdToken=fake_service_account_token(stack, ACCESS_NAMESPACE, TOKEN_SECRET))
            secret_names.append("argocdToken")
        if plan.monitoring is not None:  # what its Monitoring exports
            outputs["monitoring"] = monitoring_endpoints(plan)
        return {"name": name, "outputs": outputs, "secretOutputNames": secret_names}

    # -- pulumi-command

    def _command(self, args, state: dict) -> dict:
        """Scripts print nothing the program reads, except the host-key reading: a host key of the right form."""
        if str(state.get("create", "")).startswith("cat /etc/ssh/ssh_host_ed25519_key.pub"):
            key = ed25519.Ed25519PrivateKey.from_private_bytes(digest(self.stack, args.name, "host key"))
            public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
            return {"stdout": f"{public} root@{args.name.removesuffix('-host-key')}\n", "stderr": ""}
        return {"stdout": "", "stderr": ""}
