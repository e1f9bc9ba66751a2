"""A real Kubernetes control plane for tests: etcd and kube-apiserver v1.36.3 on 127.0.0.1, no kubelet.

`ControlPlane(workdir).start()` makes a CA, the API server's serving certificate, an admin client
certificate (group system:masters) and the service-account key pair with `cryptography`, starts etcd
(etcd's version is the one kubeadm 1.36 deploys) and kube-apiserver from .tools/bin, and waits for
/readyz. `apply()` applies objects server-side with strict field validation through the REST API
(discovery maps each kind to its resource), the way `kubectl apply --server-side
--validate=strict` does; a warning is an error too. `stop()` stops both by PID.

Pods are accepted but never run: there is no kubelet, scheduler or controller manager. With
`admission_webhooks=False` the API server calls no admission webhook: their servers are pods, which
never run here, so a chart's webhook configuration would otherwise refuse every object it guards
(the real engine applies a chart's objects in its own order, webhook configurations among them).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.engine import BIN

TOOLS = ("etcd", "kube-apiserver")


def missing_tools() -> list[str]:
    return [name for name in TOOLS if not os.access(BIN / name, os.X_OK)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _certificate(subject: x509.Name, public_key, issuer: x509.Name, signer, *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


class ApplyError(Exception):
    """The API server refused an object (or warned about it: strict validation treats both as errors)."""


@dataclass
class ControlPlane:
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    started_in: float = 0.0
    port: int = 0
    admission_webhooks: bool = True

    # -- lifecycle

    def start(self) -> "ControlPlane":
        started = time.monotonic()
        pki = self.workdir / "pki"
        pki.mkdir(parents=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-kubernetes-ca")])
        ca = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
        files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM)}
        for name, subject, server in (("apiserver", [x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")], True),
                                      ("admin", [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                                 x509.NameAttribute(NameOID.COMMON_NAME, "test-admin")], False)):
            key = ec.generate_private_key(ec.SECP256R1())
            files[f"{name}.crt"] = _certificate(x509.Name(subject), key.public_key(), ca_name, ca_key, server=server).public_bytes(
                serialization.Encoding.PEM)
            files[f"{name}.key"] = _pem(key)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files["sa.key"] = _pem(sa)
        files["sa.pub"] = sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        for name, data in files.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)

        etcd_port, peer_port, self.port = _free_port(), _free_port(), _free_port()
        etcd = f"http://127.0.0.1:{etcd_port}"
        self._start("etcd", str(BIN / "etcd"), "--data-dir", str(self.workdir / "etcd"), "--listen-client-urls", etcd,
                    "--advertise-client-urls", etcd, "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                    "--initial-cluster", f"default=http://127.0.0.1:{peer_port}", "--unsafe-no-fsync", "--log-level", "warn")
        self._start("kube-apiserver", str(BIN / "kube-apiserver"), "--etcd-servers", etcd, "--bind-address", "127.0.0.1",
                    "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
                    "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
                    "--client-ca-file", str(pki / "ca.crt"), "--authorization-mode", "Node,RBAC",
                    "--service-account-key-file", str(pki / "sa.pub"), "--service-account-signing-key-file", str(pki / "sa.key"),
                    "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                    "--service-cluster-ip-range", "10.96.0.0/12", "--allow-privileged=true", "--v=0",
                    *(() if self.admission_webhooks else
                      ("--disable-admission-plugins", "ValidatingAdmissionWebhook,MutatingAdmissionWebhook")))
        self._context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited {process.returncode}: see {self.workdir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server was not ready after 120 s: see {self.workdir}")
            time.sleep(0.2)
        self.started_in = time.monotonic() - started
        self._resources: dict[str, tuple[str, bool]] = {}
        return self

    def _start(self, name: str, *argv: str) -> None:
        log = open(self.workdir / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.processes.clear()

    def kubeconfig(self) -> str:
        pki = self.workdir / "pki"
        b64 = lambda name: __import__("base64").b64encode((pki / name).read_bytes()).decode()  # noqa: E731
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": f"https://127.0.0.1:{self.port}", "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
        })

    # -- the REST API

    def request(self, method: str, path: str, body: Optional[bytes] = None, content_type: str = "application/json"
                ) -> tuple[int, dict, list[str]]:
        """Status, decoded body and warnings of one request."""
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=body, method=method,
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=60) as response:
                status, raw, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), e.headers
        warnings = headers.get_all("Warning") or []
        try:
            decoded = json.loads(raw) if raw and raw.strip().startswith(b"{") else {"text": raw.decode(errors="replace")}
        except ValueError:
            decoded = {"text": raw.decode(errors="replace")}
        return status, decoded, warnings

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from discovery (asked again when a CRD just appeared)."""
        key = f"{api_version}/{kind}"
        if key not in self._resources:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            status, body, _ = self.request("GET", path)
            for resource in body.get("resources", []) if status == 200 else []:
                if "/" not in resource["name"]:
                    self._resources[f"{api_version}/{resource['kind']}"] = (resource["name"], resource["namespaced"])
        if key not in self._resources:
            raise ApplyError(f"the API server serves no {kind} in {api_version}")
        return self._resources[key]

    def apply(self, obj: dict, namespace: str = "default") -> dict:
        """Server-side apply with strict field validation; a refusal or any warning raises ApplyError."""
        plural, namespaced = self._resource(obj["apiVersion"], obj["kind"])
        name = obj["metadata"]["name"]
        group = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
        ns = obj["metadata"].get("namespace") or namespace
        path = f"{group}/namespaces/{ns}/{plural}/{name}" if namespaced else f"{group}/{plural}/{name}"
        status, body, warnings = self.request("PATCH", path + "?fieldManager=contest-k8s-test&fieldValidation=Strict&force=true",
                                              json.dumps(obj).encode(), "application/apply-patch+yaml")
        if status >= 300 or warnings:
            raise ApplyError(f"{obj['kind']}/{name}: HTTP {status}: {body.get('message', body)} {warnings}")
        return body

    def wait_established(self, crd_names: Iterable[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in crd_names:
            while True:
                _, body, _ = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                # A CRD just made may answer `conditions: null` until the API server's controllers have seen it.
                conditions = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions") or []}
                if conditions.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise ApplyError(f"CRD {name} not established: {conditions}")
                time.sleep(0.1)
        self._resources.clear()

    def apply_all(self, objects: list[dict], namespace: str = "default") -> int:
        """CRDs first (and wait until they are served), namespaces next, webhook configurations last (no
        webhook server runs here), everything else in between. Returns how many objects were applied."""
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        for crd in crds:
            self.apply(crd)
        self.wait_established(c["metadata"]["name"] for c in crds)
        webhooks = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
        rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
        ordered = ([o for o in rest if o["kind"] == "Namespace"] + [o for o in rest if o["kind"] not in webhooks + ("Namespace",)]
                   + [o for o in rest if o["kind"] in webhooks])
        for obj in ordered:
            self.apply(obj, namespace)
        return len(objects)
