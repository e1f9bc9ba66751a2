"""The rendered kubeadm files through the real kubeadm v1.36.3 (built by scripts/toolchain.sh kubernetes).

`kubeadm config validate` for every file of every stack, and for the bootstrap control plane kubeadm's
own dry run of `init` with the program's CA in place: the certificates it makes, the static-pod
manifests and the admin kubeconfig it writes are checked for what the program intends. The dry run
happens in a mount namespace whose /etc is an overlay, so the host is never touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from tests.engine import BIN

from .conftest import STACKS, filled, require_root

pytestmark = pytest.mark.engine
KUBEADM = BIN / "kubeadm"


def require_kubeadm() -> Path:
    if not KUBEADM.exists():
        pytest.skip("needs .tools/bin/kubeadm: run scripts/toolchain.sh kubernetes")
    return KUBEADM


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(KUBEADM), "config", "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_kubeadm_file_passes_kubeadm_config_validate(stack_runs, tmp_path, stack):
    require_kubeadm()
    files = [(a.path, text) for a, text in stack_runs[stack].artifacts if a.kind == "kubeadm"]
    assert len(files) == 7  # cp-1's init and join, every node's join
    for path, text in files:
        target = tmp_path / path.replace("/", "-")
        target.write_text(filled(text))
        result = validate(target)
        assert result.returncode == 0 and result.stdout.strip() == "ok", f"{path}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("broken, expected", [
    (lambda t: t.replace("kind: InitConfiguration", "kind: InitConfig"), "unknown configuration APIs"),
    (lambda t: t.replace("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/33"), "podSubnet"),
    # how the files were once written: `---` after the comment, which kubeadm reads as an empty first document
    (lambda t: t.replace("\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration", "\n---\napiVersion: kubeadm.k8s.io/v1beta4\n"
                         "kind: InitConfiguration", 1), "kind and apiVersion is mandatory"),
])
def test_kubeadm_refuses_broken_variants(stack_runs, tmp_path, broken, expected):
    require_kubeadm()
    target = tmp_path / "init.yaml"
    target.write_text(broken(filled(stack_runs["prd"].artifact("kubeadm/cp-1/init.yaml"))))
    result = validate(target)
    assert result.returncode != 0 and expected in result.stdout + result.stderr, result.stdout + result.stderr


def test_kubeadm_init_dry_run_with_the_programs_ca(stack_runs, tmp_path):
    """What cp-1's `kubeadm init` would write, from the rendered init.yaml and the CA the program made."""
    require_kubeadm()
    require_root()
    run = stack_runs["prd"]
    config = tmp_path / "init.yaml"
    config.write_text(filled(run.artifact("kubeadm/cp-1/init.yaml")))
    dry = tmp_path / "dry"
    dry.mkdir()
    ca_pem = run.named("kubernetes-ca", "SelfSignedCert").outputs["certPem"]
    (dry / "ca.crt").write_text(ca_pem)
    (dry / "ca.key").write_text(run.named("kubernetes-ca-key", "PrivateKey").outputs["privateKeyPem"])
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    command = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc && "
               f"KUBEADM_INIT_DRYRUN_DIR={dry} {KUBEADM} init --dry-run --config {config} --skip-phases=preflight")
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'Using the existing "ca" certificate and key' in result.stdout

    plan_nodes = run.outputs["nodes"]
    vip = run.outputs["apiEndpoint"].split(":")[0]
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    serving = x509.load_pem_x509_certificate((dry / "apiserver.crt").read_bytes())
    assert serving.issuer == ca.subject
    serving.verify_directly_issued_by(ca)
    addresses = {str(a) for a in serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}
    assert {vip, plan_nodes["lb-1"], plan_nodes["lb-2"], plan_nodes["cp-1"]} <= addresses

    manifest = yaml.safe_load((dry / "kube-apiserver.yaml").read_text())
    flags = manifest["spec"]["containers"][0]["command"]
    assert "--default-not-ready-toleration-seconds=30" in flags and "--default-unreachable-toleration-seconds=30" in flags
    assert f"--advertise-address={plan_nodes['cp-1']}" in flags and "--service-cluster-ip-range=10.96.0.0/12" in flags
    assert yaml.safe_load((dry / "admin.conf").read_text())["clusters"][0]["cluster"]["server"] == f"https://{vip}:6443"
    controller = yaml.safe_load((dry / "kube-controller-manager.yaml").read_text())["spec"]["containers"][0]["command"]
    assert "--cluster-cidr=10.244.0.0/16" in controller
    assert not (upper / "kubernetes" / "manifests").exists() or not any((upper / "kubernetes" / "manifests").iterdir())
