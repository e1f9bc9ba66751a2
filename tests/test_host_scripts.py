"""Host scripts run for real against stubs: each twice, where the second run must change nothing.

Each script runs as root in a network namespace that holds the node's planned NIC and address, in
its own mount namespace where /etc is an overlay: the script reads the real /etc but every write
lands in a scratch directory, so the host is never touched. apt, dpkg, systemctl, kubeadm, kubectl
and the other commands that would change the machine are stubs that log their calls and keep just
enough state (installed packages and versions, the files kubeadm writes) to answer like the real
ones. The test compares the overlay's files after each run and the commands each run issued.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from components.config import PROJECT

from .conftest import filled, require_root, require_tools, run_stack, use_vyos, write_stack
from .netns import Lab

STUBS = {
    "apt-get": r"""
        args=()
        while [ $# -gt 0 ]; do if [ "$1" = -o ]; then shift 2; else args+=("$1"); shift; fi; done
        set -- "${args[@]}"
        echo "apt-get $*" >> "$STUB_LOG"
        if [ "$1" = install ] || [ "$2" = install ] || [ "$3" = install ]; then
          for arg in "$@"; do
            case "$arg" in -*|install) ;; *) echo "$arg" | sed "s/'//g" >> "$STUB_STATE/installed" ;; esac
          done
        fi""",
    "dpkg-query": r"""
        package="${@: -1}"
        line=$(grep -E "^$package(=|$)" "$STUB_STATE/installed" | tail -1)
        [ -n "$line" ] || exit 1
        case "$*" in
          *Status*) echo "install ok installed" ;;
          *Version*) version=${line#*=}; echo "${version%-\*}-1.1" ;;
        esac""",
    "gpg": r"""
        echo "gpg $*" >> "$STUB_LOG"
        case "$*" in *--show-keys*) echo "fpr:::::::::$(cat "$STUB_STATE/docker-key-fingerprint" 2>/dev/null || echo 9DC858229FC7DD38854AE2D88D81803C0EBFCD88):" ;; esac
        while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo fake-key > "$2"; }; shift; done""",
    "curl": r"""
        echo "curl $*" >> "$STUB_LOG"
        case "$*" in
          *livez*) [ -f "$STUB_STATE/api-answers" ] || exit 7 ;;
          */version*)  # an API server's /version, as kube-apiserver prints it
            api=$(echo "$*" | sed -n 's|.*https://\([^/]*\)/version.*|\1|p')
            [ -f "$STUB_STATE/version-$api" ] || exit 7
            printf '{\n  "major": "1",\n  "gitVersion": "v%s",\n  "platform": "linux/amd64"\n}\n' "$(cat "$STUB_STATE/version-$api")" ;;
          *healthz*) [ -f "$STUB_STATE/haproxy-up" ] || exit 7 ;;
        esac""",
    # The API as each test sets it up in STUB_STATE: nodes/<name> (exists), ready-after (Ready from that call on),
    # members (etcd member list), etcd-down, etcd-unhealthy, drain-fails, addons (CoreDNS and kube-proxy exist).
    "kubectl": r"""
        echo "kubectl $*" >> "$STUB_LOG"
        S=$STUB_STATE
        case "$*" in
          *"member list"*)
            [ -f "$S/etcd-down" ] && exit 1
            if [ -f "$S/members" ]; then cat "$S/members"; else
              echo "8e9e05c52164694d, started, cp-2, https://192.0.2.8:2380, https://192.0.2.8:2379, false"
              echo "91bc3c398fb3c146, started, cp-1, https://192.0.2.7:2380, https://192.0.2.7:2379, false"
            fi ;;
          *"endpoint health"*)
            if [ -f "$S/etcd-down" ] || [ -f "$S/etcd-unhealthy" ]; then echo "https://192.0.2.9:2379 is unhealthy: failed to commit proposal" >&2; exit 1; fi ;;
          "drain "*|*" drain "*)
            if [ -f "$S/drain-fails" ]; then
              echo 'error when evicting pods/"rook-ceph-osd-0" -n "rook-ceph": Cannot evict pod as it would violate the pod'"'"'s disruption budget.' >&2
              exit 1
            fi ;;
          *"get node "*)
            node=$(echo "$*" | sed -n 's/.*get node \([^ ]*\).*/\1/p')
            [ -f "$S/nodes/$node" ] || { echo "Error from server (NotFound): nodes \"$node\" not found" >&2; exit 1; }
            case "$*" in
              *Ready*)
                calls=$(( $(cat "$S/ready-calls" 2>/dev/null || echo 0) + 1 ))
                echo "$calls" > "$S/ready-calls"
                if [ -f "$S/ready-after" ] && [ "$calls" -ge "$(cat "$S/ready-after")" ]; then echo True; else echo False; fi ;;
              *"-o name"*) echo "node/$node" ;;
            esac ;;
          *"get deployment"*|*"get daemonset"*) [ -f "$S/addons" ] || exit 1 ;;
        esac""",
    "getconf": r"""
        case "$1" in
          _NPROCESSORS_ONLN) cat "$STUB_STATE/cpus" 2>/dev/null || echo 2 ;;
          _PHYS_PAGES) echo $(( $(cat "$STUB_STATE/memory-gb" 2>/dev/null || echo 24) * 262144 - 40000 )) ;;
          PAGESIZE) echo 4096 ;;
        esac""",
    "sudo": r"""
        echo "sudo $*" >> "$STUB_LOG"
        [ "$1" = -S ] && [ "$2" = -p ] && IFS= read -r given && [ "$given" = "$STUB_PASSWORD" ] \
          || { echo "sudo: wrong password" >&2; exit 1; }
        shift 3
        exec "$@"
        """,
    "getent": r"""
        [ "$1" = passwd ] && echo "$2:x:1000:1000::/etc/test-home/$2:/bin/bash"
        """,
    "visudo": r"""
        echo "visudo $*" >> "$STUB_LOG"
        grep -qE '^[a-z_]+ ALL=\(ALL\) NOPASSWD:ALL$' "${@: -1}"
        """,
    "kubeadm": r"""
        echo "kubeadm $*" >> "$STUB_LOG"
        case "$1" in
          init) mkdir -p /etc/kubernetes && echo fake > /etc/kubernetes/admin.conf && echo fake > /etc/kubernetes/kubelet.conf ;;
          join) mkdir -p /etc/kubernetes && echo fake > /etc/kubernetes/kubelet.conf ;;
          reset) rm -rf /etc/kubernetes/manifests /etc/kubernetes/*.conf ;;
        esac""",
}
LOGGED = ("apt-mark", "systemctl", "modprobe", "sysctl", "swapoff", "netplan", "haproxy", "keepalived", "nft",
          "vtysh", "chown", "sleep")
CHANGES = ("apt-get install", "apt-get update", "systemctl restart", "systemctl reload", "reload-or-restart", "netplan apply",
           "sysctl --system", "kubeadm init", "kubeadm join", "kubeadm upgrade", "kubeadm reset", "kubeadm config images pull",
           "nft -f", "chown", "kubectl drain", "kubectl uncordon")


def _stubs(directory: Path) -> Path:
    bin_dir = directory / "stubs"
    bin_dir.mkdir()
    for name in LOGGED:
        STUBS.setdefault(name, f'echo "{name} $*" >> "$STUB_LOG"')
    for name, body in STUBS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + textwrap.dedent(body).strip() + "\nexit 0\n")
        path.chmod(0o755)
    return bin_dir


def _tree(upper: Path) -> dict[str, str]:
    return {str(p.relative_to(upper)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(upper.rglob("*")) if p.is_file()}


def run_twice(workdir: Path, script: str, interfaces: dict[str, str], installed: str = "",
              api_answers: bool = False, etcd_down: bool = False, leftovers: tuple[str, ...] = (),
              opt_files: dict[str, str] | None = None, runs: int = 2, stub_state: dict[str, str] | None = None,
              run_files: dict[str, str] | None = None) -> tuple[list, list, dict, dict, list]:
    """Run `script` twice; return each run's logged commands and the overlay files after each run, and its output.
    With runs=1, return the log, two empty results and [output, exit status] instead (for scripts that fail)."""
    require_root()
    require_tools("bash", "unshare")
    stubs = _stubs(workdir)
    state = workdir / "state"
    state.mkdir()
    (state / "installed").write_text(installed)
    if api_answers:
        (state / "api-answers").touch()
    if etcd_down:
        (state / "etcd-down").touch()
    for name, content in (stub_state or {}).items():
        (state / name).parent.mkdir(parents=True, exist_ok=True)
        (state / name).write_text(content)
    upper, work = workdir / "upper", workdir / "work"
    upper.mkdir()
    work.mkdir()
    for leftover in leftovers:  # files under /etc that an earlier, interrupted attempt left
        (upper / leftover).parent.mkdir(parents=True, exist_ok=True)
        (upper / leftover).write_text("left behind")
    path = workdir / "script.sh"
    path.write_text(script)
    mount_opt = ""
    if opt_files:  # files that appear under /opt for the script only (an overlay, like /etc)
        opt_upper, opt_work = workdir / "opt-upper", workdir / "opt-work"
        for name, content in opt_files.items():
            (opt_upper / name).parent.mkdir(parents=True, exist_ok=True)
            (opt_upper / name).write_text(content)
        opt_work.mkdir()
        mount_opt = f"mount -t overlay overlay -o lowerdir=/opt,upperdir={opt_upper},workdir={opt_work} /opt && "
    if run_files:  # files under /run for the script only (Keepalived's state file)
        run_upper, run_work = workdir / "run-upper", workdir / "run-work"
        for name, content in run_files.items():
            (run_upper / name).parent.mkdir(parents=True, exist_ok=True)
            (run_upper / name).write_text(content)
        run_work.mkdir()
        mount_opt += f"mount -t overlay overlay -o lowerdir=/run,upperdir={run_upper},workdir={run_work} /run && "
    logs, trees, outputs = [], [], []
    with Lab("i", workdir) as lab:
        lab.switch("sw")
        for ifname, address in interfaces.items():
            lab.attach("node", ifname, address, "sw")
        for run in range(1, runs + 1):
            log = workdir / f"run{run}.log"
            log.touch()
            command = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc && {mount_opt}"
                       f"STUB_LOG={log} STUB_STATE={state} PATH={stubs}:/usr/sbin:/usr/bin:/sbin:/bin bash {path}")
            result = lab.exec("node", "sh", "-c", command, check=False, timeout=120)
            if runs == 1:
                return log.read_text().splitlines(), [], {}, {}, [result.stdout + result.stderr, str(result.returncode)]
            assert result.returncode == 0, f"run {run} failed:\n{result.stdout}\n{result.stderr}"
            outputs.append(result.stdout)
            logs.append(log.read_text().splitlines())
            trees.append(_tree(upper))
    return logs[0], logs[1], trees[0], trees[1], outputs


def assert_second_run_is_a_no_op(first, second, tree1, tree2, outputs, expect_first: tuple[str, ...]):
    changes_first = [c for c in first if c.startswith(CHANGES)]
    for expected in expect_first:
        assert any(c.startswith(expected) for c in first), f"first run did not {expected!r}: {first}"
    assert tree1, "the first run wrote nothing"
    assert tree2 == tree1, "the second run changed files"
    assert [c for c in second if c.startswith(CHANGES)] == [], f"the second run changed the machine: {second}"
    assert "wrote" not in outputs[1]
    assert changes_first


@pytest.fixture(scope="module")
def prd():
    return run_stack("prd")


@pytest.fixture(scope="module")
def vyos_prd(tmp_path_factory):
    return run_stack("prd", write_stack(tmp_path_factory.mktemp("vyos"), "prd", use_vyos))


def _nic(run, node: str) -> dict[str, str]:
    address = run.outputs["nodes"][node]
    prefix = run.outputs["routerBlock"].split("/")[1] if not node.startswith("worker") else "24"
    return {"ens3": f"{address}/{prefix}"}


@pytest.mark.parametrize("node", ["cp-1", "worker-1"])
def test_node_preparation_twice(prd, tmp_path, node):
    result = run_twice(tmp_path, prd.artifact(f"scripts/{node}/prepare.sh"), _nic(prd, node))
    expected = ("apt-get install", "systemctl restart containerd", "sysctl --system")
    if node == "cp-1":
        expected += ("netplan apply", "kubeadm config images pull --kubernetes-version v1.36.3")
    assert_second_run_is_a_no_op(*result, expect_first=expected)
    install = next(c for c in result[0] if c.startswith("apt-get install") and "kubelet=" in c)
    assert "kubelet=1.36.3-*" in install and "kubeadm=1.36.3-*" in install, "no API answers on day one: the plan's version"
    assert any(c.startswith("kubeadm config images pull") for c in result[0]) == (node == "cp-1"), "images for control planes"
    files = result[2]
    assert "containerd/config.toml" in files and "modules-load.d/60-contest-k8s.conf" in files
    assert ("netplan/60-contest-k8s-routes.yaml" in files) == (node == "cp-1")


def test_bootstrap_runs_kubeadm_init_once(prd, tmp_path):
    result = run_twice(tmp_path, filled(prd.artifact("scripts/cp-1/bootstrap.sh")), _nic(prd, "cp-1"))
    first = result[0]
    assert_second_run_is_a_no_op(*result, expect_first=("kubeadm init",))
    assert not any(c.startswith(("kubeadm join", "apt-get install")) for c in first), "packages come with the preparation"
    assert "already belongs to the cluster" in result[4][1]


def _prd_plan():
    """The plan the program computes for prd under mocks (the fake router block), to render variants of a script."""
    from components.mocking import fake_block
    from components.offline import load_stack
    from components.plan import GlobalBlock, build_plan

    loaded, _, _ = load_stack("prd")
    return build_plan(loaded, GlobalBlock.assumed(fake_block("prd", loaded.config.network.global_prefix_length)))


def _bootstrap_after_replacement(prd) -> str:
    """cp-1's script once the `cluster-origin` record names another VM as the one that made the cluster."""
    from components.render.kubeadm import ca_cert_hash
    from components.render.node_scripts import bootstrap_script

    init = prd.artifact("scripts/cp-1/bootstrap.sh")
    ca = init[init.index("-----BEGIN CERTIFICATE-----"):init.index("-----END CERTIFICATE-----") + 26]
    identity = prd.named("cluster-origin", "ClusterOrigin").inputs["bootstrap"]
    return filled(bootstrap_script(_prd_plan(), ca, ca_cert_hash(ca), identity.replace("vm ", "vm 1"), initialised_by=identity))


def _old_probe(script: str) -> str:
    """The broken variant: the decision taken from one 5-second probe of the VIP, as before the cluster-origin record."""
    start, end = script.index("# Pulumi's state records"), script.index('echo "contest-k8s: cp-1 joined the existing cluster"')
    endpoint = re.search(r"https://(\S+)/livez", script).group(1)
    return (script[:start] + f"if curl -sk --max-time 5 -o /dev/null https://{endpoint}/livez; then\n  kubeadm join --config "
            "/etc/kubernetes/contest-k8s/join.yaml >/dev/null\nelse\n  kubeadm init --config /etc/kubernetes/contest-k8s/init.yaml "
            ">/dev/null\nfi\n" + script[end:])


def test_the_program_records_which_vm_initialised_the_cluster(prd):
    origin = prd.named("cluster-origin", "ClusterOrigin")
    join = prd.named("cp-1-join", "Command")
    assert origin.inputs["bootstrap"].startswith("vm ") and origin.urn in join.depends_on
    assert "kubeadm init" in prd.artifact("scripts/cp-1/bootstrap.sh"), "day one: the record names this VM"


def test_a_replaced_bootstrap_node_joins_the_cluster_the_state_records(prd, tmp_path):
    """The record says another VM made the cluster: join, never init, even when the API answers late."""
    script = _bootstrap_after_replacement(prd)
    assert "kubeadm init" not in script.split("CONTEST_K8S_EOF")[-1]
    result = run_twice(tmp_path, script, _nic(prd, "cp-1"), api_answers=True)
    assert_second_run_is_a_no_op(*result, expect_first=("kubeadm join",))
    assert not any(c.startswith("kubeadm init") for c in result[0] + result[1])


@pytest.mark.parametrize("broken", [False, True])
def test_a_replaced_bootstrap_node_fails_closed_when_the_api_does_not_answer(prd, tmp_path, broken):
    """A transient failure of the VIP must never start a second cluster; the old 5-second probe did."""
    script = _bootstrap_after_replacement(prd)
    if broken:
        script = _old_probe(script)
    log, _, _, _, (output, status) = run_twice(tmp_path, script, _nic(prd, "cp-1"), runs=1)
    inits = [c for c in log if c.startswith("kubeadm init")]
    if broken:
        assert inits, "the probe variant initialises a second cluster: the check below catches it"
        return
    assert status == "1" and not inits and not any(c.startswith("kubeadm join") for c in log)
    assert "records that this cluster was initialised" in output and "does not start a second cluster" in output
    assert sum(1 for c in log if c.startswith("sleep")) >= 100, "it waited for the API before it gave up"


def test_the_first_vm_never_initialises_behind_an_api_that_answers(prd, tmp_path):
    log, _, _, _, (output, status) = run_twice(tmp_path, filled(prd.artifact("scripts/cp-1/bootstrap.sh")), _nic(prd, "cp-1"),
                                               api_answers=True, runs=1)
    assert status == "1" and "does not initialise a second one" in output
    assert not [c for c in log if c.startswith("kubeadm")]


def test_join_runs_kubeadm_join_once(prd, tmp_path):
    result = run_twice(tmp_path, filled(prd.artifact("scripts/worker-2/join.sh")), _nic(prd, "worker-2"))
    assert_second_run_is_a_no_op(*result, expect_first=("kubeadm join",))
    assert not any(c.startswith("kubeadm reset") for c in result[0])


def test_a_disk_from_a_replaced_vm_is_reset_and_joins_again(prd, tmp_path):
    """The server was replaced but kept its disk: the marker names the old VM, so the node starts clean."""
    result = run_twice(tmp_path, filled(prd.artifact("scripts/worker-2/join.sh")), _nic(prd, "worker-2"),
                       leftovers=("kubernetes/contest-k8s/member", "kubernetes/kubelet.conf"))
    assert [c.split()[1] for c in result[0] if c.startswith("kubeadm ")] == ["reset", "join"]
    assert [c for c in result[1] if c.startswith("kubeadm ")] == []


def test_an_interrupted_join_is_reset_before_the_retry(prd, tmp_path):
    result = run_twice(tmp_path, filled(prd.artifact("scripts/cp-2/join.sh")), _nic(prd, "cp-2"),
                       leftovers=("kubernetes/manifests/kube-apiserver.yaml",))
    kubeadm = [c.split()[1] for c in result[0] if c.startswith("kubeadm ")]
    assert kubeadm == ["reset", "join"] and "resetting what an earlier attempt or membership left" in result[4][0]
    assert [c for c in result[1] if c.startswith("kubeadm ")] == []


CURRENT = "kubelet=1.36.3-*\nkubeadm=1.36.3-*\nkubectl=1.36.3-*\ncontainerd.io=2.2.1-1~*\n"
OLDER = "kubelet=1.35.2-*\nkubeadm=1.35.2-*\nkubectl=1.35.2-*\ncontainerd.io=2.2.1-1~*\n"


def test_upgrade_runs_once_and_only_for_an_older_kubelet(prd, tmp_path):
    script = filled(prd.artifact("scripts/cp-2/upgrade.sh"))
    (tmp_path / "current").mkdir()
    current = run_twice(tmp_path / "current", script, _nic(prd, "cp-2"), installed=CURRENT)
    assert [c for c in current[0] + current[1] if c.startswith(CHANGES)] == [], "no upgrade at the planned version"
    (tmp_path / "older").mkdir()
    older = run_twice(tmp_path / "older", script, _nic(prd, "cp-2"), installed=OLDER, stub_state={"nodes/cp-2": "", "ready-after": "2"})
    assert_second_run_is_a_no_op(*older, expect_first=("apt-get install -y -qq kubeadm=1.36.3-*", "kubeadm upgrade node",
                                                       "kubectl drain cp-2", "systemctl restart kubelet", "kubectl uncordon cp-2"))
    order = [c.split()[0:3] for c in older[0] if c.startswith(("kubeadm upgrade", "kubectl drain", "systemctl restart kubelet", "kubectl uncordon"))]
    assert order == [["kubeadm", "upgrade", "node"], ["kubectl", "drain", "cp-2"], ["systemctl", "restart", "kubelet"],
                     ["kubectl", "uncordon", "cp-2"]]
    assert not any("containerd.io" in c for c in older[0] if c.startswith("apt-get install")), "containerd is at the pin already"


@pytest.mark.parametrize("broken", [False, True])
def test_a_failed_drain_in_the_upgrade_uncordons_the_node_and_the_rerun_continues(prd, tmp_path, broken):
    """A PodDisruptionBudget blocks the drain: the node is uncordoned again, the step fails naming the node and the
    reason, and the kubelet stays where it was; once the budget allows it, the rerun finishes the node."""
    script = filled(prd.artifact("scripts/worker-2/upgrade.sh"))
    if broken:  # the old step: a bare drain that stops the script with the node cordoned
        start = script.index("drain_log=$(mktemp)")
        script = script[:start] + "kubectl drain worker-2 --ignore-daemonsets --delete-emptydir-data --timeout=10m\n" + \
            script[script.index('rm -f "$drain_log"\nif [ "$(containerd_version)"') + len('rm -f "$drain_log"\n'):]
    (tmp_path / "blocked").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "blocked", script, _nic(prd, "worker-2"), installed=OLDER, runs=1,
                                               stub_state={"nodes/worker-2": "", "ready-after": "1", "drain-fails": ""})
    assert status == "1"
    assert not any(c.startswith("apt-get install -y -qq kubelet") for c in log), "the kubelet is not touched"
    uncordoned = any(c.startswith("kubectl uncordon worker-2") for c in log)
    if broken:
        assert not uncordoned, "the old step left the node cordoned: the check below catches it"
        return
    assert uncordoned and log.index(next(c for c in log if c.startswith("kubectl drain"))) < log.index(
        next(c for c in log if c.startswith("kubectl uncordon")))
    assert "the drain of worker-2 during its upgrade to 1.36.3 failed; worker-2 is uncordoned again" in output
    assert "violate the pod's disruption budget" in output and "it continues with worker-2" in output
    # the budget allows it now: the rerun continues with the same node and finishes it
    (tmp_path / "rerun").mkdir()
    first, second, _, _, _ = run_twice(tmp_path / "rerun", script, _nic(prd, "worker-2"),
                                       installed=OLDER + "kubeadm=1.36.3-*\n", stub_state={"nodes/worker-2": "", "ready-after": "1"})
    assert [c.split()[0:3] for c in first if c.startswith(("kubectl drain", "apt-get install -y -qq kubelet", "kubectl uncordon"))] == [
        ["kubectl", "drain", "worker-2"], ["apt-get", "install", "-y"], ["kubectl", "uncordon", "worker-2"]]
    assert [c for c in second if c.startswith(CHANGES)] == []


def test_the_upgrade_moves_containerd_to_the_pin_drained(prd, tmp_path):
    """A node made with Ubuntu's containerd 1.7: the upgrade chain installs containerd.io 2.x from Docker's
    repository (key checked) with the version-3 config, between drain and uncordon, even at the planned Kubernetes."""
    script = filled(prd.artifact("scripts/worker-1/upgrade.sh"))
    installed = "kubelet=1.36.3-*\nkubeadm=1.36.3-*\nkubectl=1.36.3-*\ncontainerd=1.7.28-0ubuntu1~24.04.1\n"
    first, second, tree, _, outputs = run_twice(tmp_path, script, _nic(prd, "worker-1"), installed=installed,
                                                stub_state={"nodes/worker-1": "", "ready-after": "1"})
    steps = [c for c in first if c.startswith(("kubectl drain", "apt-get install", "systemctl restart containerd", "kubectl uncordon"))]
    assert [c.split()[:2] for c in steps] == [["kubectl", "drain"], ["apt-get", "install"], ["systemctl", "restart"], ["kubectl", "uncordon"]]
    assert "containerd.io=2.2.1-1~*" in steps[1] and not any(c.startswith("kubeadm") for c in first)
    assert "-o Dpkg::Options::=--force-confold containerd.io=" in script, "our config stays (the stub drops -o options)"
    assert {"apt/keyrings/docker.gpg", "apt/sources.list.d/docker.list", "containerd/config.toml"} <= set(tree)
    config = (tmp_path / "upper" / "containerd" / "config.toml").read_text()
    assert "version = 3" in config and "SystemdCgroup = true" in config and "sandbox = 'registry.k8s.io/pause:3.10.2'" in config
    assert [c for c in second if c.startswith(CHANGES)] == []


def test_containerd_from_a_repository_whose_key_is_not_the_pinned_one_is_refused(prd, tmp_path):
    log, _, _, _, (output, status) = run_twice(tmp_path, prd.artifact("scripts/worker-1/prepare.sh"), _nic(prd, "worker-1"), runs=1,
                                               stub_state={"docker-key-fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567"})
    assert status == "6" and "not the pinned 9DC858229FC7DD38854AE2D88D81803C0EBFCD88" in output
    assert not any("containerd.io" in c for c in log if c.startswith("apt-get install"))


def test_preparation_leaves_an_existing_containerd_to_the_upgrade_chain(prd, tmp_path):
    """Re-run on a node of an older cluster (Ubuntu's containerd 1.7): no new runtime, no version-3 config under a 1.7."""
    first, _, tree, _, outputs = run_twice(tmp_path, prd.artifact("scripts/worker-1/prepare.sh"), _nic(prd, "worker-1"),
                                           installed="containerd=1.7.28-0ubuntu1~24.04.1\n")
    assert not any("containerd" in c for c in first if c.startswith(("apt-get install", "systemctl restart")))
    assert "containerd/config.toml" not in tree and "the upgrade chain moves it" in outputs[0]


def test_a_node_added_during_an_upgrade_installs_the_version_the_control_plane_runs(prd, tmp_path):
    """kubernetes.version went to 1.37.0 and worker-4 joins in the same run: while any API server still runs 1.36.3,
    the new node installs 1.36.3 (a kubelet newer than an API server is not supported); its upgrade step moves it on."""
    from components.render.node_scripts import prepare_script

    plan = _prd_plan()
    plan = dataclasses.replace(plan, kubernetes=dataclasses.replace(plan.kubernetes, version="1.37.0", minor="1.37"))
    script = filled(prepare_script(plan, "worker-2"))
    cps = {cp.name: f"{cp.address}:6443" for cp in plan.api.control_planes}
    skew = {f"version-{cps['cp-1']}": "1.37.0", f"version-{cps['cp-2']}": "1.36.3"}  # cp-3 does not answer
    for broken in (False, True):
        text = script.replace('  version=$running\n', '  :\n') if broken else script
        (tmp_path / str(broken)).mkdir()
        first, *_ = run_twice(tmp_path / str(broken), text, _nic(prd, "worker-2"), stub_state=skew)
        install = next(c for c in first if c.startswith("apt-get install") and "kubelet=" in c)
        if broken:
            assert "kubelet=1.37.0-*" in install, "without the version of the control plane it installs the plan's: caught below"
            continue
        assert "kubelet=1.36.3-*" in install and "kubeadm=1.36.3-*" in install
        assert any("stable:/v1.36/deb/Release.key" in c for c in first)
    (tmp_path / "day-one").mkdir()
    first, *_ = run_twice(tmp_path / "day-one", script, _nic(prd, "worker-2"))
    assert "kubelet=1.37.0-*" in next(c for c in first if c.startswith("apt-get install") and "kubelet=" in c), \
        "no API answers: the plan's version"


@pytest.mark.parametrize("broken", [False, True])
def test_preparation_rerun_on_a_member_after_a_version_change_installs_and_pulls_nothing(prd, tmp_path, broken):
    """kubernetes.version went to 1.37.0: every preparation script changes and runs again before the upgrade chain.
    On cp-2, a member at 1.36.3, it installs no package and pulls no image: the upgrade chain moves the node on."""
    from components.render.node_scripts import prepare_script

    plan = _prd_plan()
    plan = dataclasses.replace(plan, kubernetes=dataclasses.replace(plan.kubernetes, version="1.37.0", minor="1.37"))
    script = filled(prepare_script(plan, "cp-2"))
    if broken:  # without the member's guard, the control plane's images are pulled again
        script = script.replace("if [ ! -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && ", "if ")
    running = {f"version-{cp.address}:6443": "1.36.3" for cp in plan.api.control_planes}
    first, _, tree, _, _ = run_twice(tmp_path, script, _nic(prd, "cp-2"), installed=CURRENT, stub_state=running,
                                     leftovers=("kubernetes/manifests/kube-apiserver.yaml",))
    assert not any(c.startswith("apt-get install") and "kubelet=" in c for c in first)
    assert "apt/sources.list.d/kubernetes.list" not in tree, "nor the repository, which the upgrade chain keeps"
    pulled = [c for c in first if c.startswith("kubeadm config images pull")]
    assert pulled == (["kubeadm config images pull --kubernetes-version v1.36.3 --cri-socket unix:///run/containerd/containerd.sock"]
                      if broken else []), pulled


# --------------------------------------------------------------------------- the membership marker and the reset guard


CP2_MEMBER = {"nodes/cp-2": "", "addons": ""}


@pytest.mark.parametrize("broken", [False, True])
def test_a_member_whose_marker_was_lost_is_never_reset(prd, tmp_path, broken):
    """kubeadm join finished on cp-2, then the session dropped before the marker: the API knows cp-2 and etcd has it
    as a started, healthy member, so the retry writes the marker and resets nothing."""
    script = filled(prd.artifact("scripts/cp-2/join.sh"))
    if broken:  # the old guard: any leftover is reset
        script = script.replace("  if known_member; then", "  if false; then")
    first, second, tree, _, outputs = run_twice(tmp_path, script, _nic(prd, "cp-2"), stub_state=CP2_MEMBER,
                                                leftovers=("kubernetes/kubelet.conf", "kubernetes/admin.conf"))
    kubeadm = [c.split()[1] for c in first + second if c.startswith("kubeadm ")]
    if broken:
        assert kubeadm == ["reset", "join"], "the old guard resets a healthy member: the check below catches it"
        return
    assert kubeadm == [] and "marker written, nothing reset" in outputs[0]
    assert "kubernetes/contest-k8s/member" in tree and "already belongs to the cluster" in outputs[1]


@pytest.mark.parametrize("known, expected", [
    ({}, ["reset", "join"]),  # no Node: an attempt that stopped halfway
    ({"nodes/cp-2": "", "members": "91bc3c398fb3c146, started, cp-1, https://192.0.2.7:2380, https://192.0.2.7:2379, false\n"},
     ["reset", "join"]),  # a Node but no etcd member (removed when the node left)
    ({"nodes/cp-2": "", "members": "8e9e05c52164694d, unstarted, cp-2, https://192.0.2.8:2380, , false\n"}, ["reset", "join"]),
    ({"nodes/cp-2": "", "etcd-unhealthy": ""}, ["reset", "join"]),  # its etcd does not answer healthy
    ({"nodes/cp-2": ""}, []),  # a Node with the control-plane label, a started healthy member
])
def test_the_reset_guard_asks_the_api_and_etcd(prd, tmp_path, known, expected):
    first, second, *_ = run_twice(tmp_path, filled(prd.artifact("scripts/cp-2/join.sh")), _nic(prd, "cp-2"), stub_state=known,
                                  leftovers=("kubernetes/kubelet.conf", "kubernetes/admin.conf"))
    assert [c.split()[1] for c in first if c.startswith("kubeadm ")] == expected
    assert [c for c in second if c.startswith("kubeadm ")] == []


def test_a_worker_the_api_knows_keeps_its_membership(prd, tmp_path):
    first, _, tree, _, outputs = run_twice(tmp_path, filled(prd.artifact("scripts/worker-2/join.sh")), _nic(prd, "worker-2"),
                                           stub_state={"nodes/worker-2": ""}, leftovers=("kubernetes/kubelet.conf",))
    assert not [c for c in first if c.startswith("kubeadm ")] and "marker written, nothing reset" in outputs[0]
    assert any("--kubeconfig /etc/kubernetes/kubelet.conf" in c and "get node worker-2" in c for c in first), "its own credentials"


def test_the_bootstrap_node_counts_as_a_member_only_once_init_installed_its_addons(prd, tmp_path):
    """kubeadm init stopped after the control plane came up but before CoreDNS and kube-proxy: not a finished init."""
    script = filled(prd.artifact("scripts/cp-1/bootstrap.sh"))
    leftovers = ("kubernetes/kubelet.conf", "kubernetes/admin.conf")
    (tmp_path / "half").mkdir()
    half = run_twice(tmp_path / "half", script, _nic(prd, "cp-1"), stub_state={"nodes/cp-1": ""}, leftovers=leftovers)
    assert [c.split()[1] for c in half[0] if c.startswith("kubeadm ")] == ["reset", "init"]
    (tmp_path / "done").mkdir()
    done = run_twice(tmp_path / "done", script, _nic(prd, "cp-1"), stub_state={"nodes/cp-1": "", "addons": ""}, leftovers=leftovers)
    assert [c for c in done[0] if c.startswith("kubeadm ")] == []


# --------------------------------------------------------------------------- resize: drains and gates


def _size(cpus: int, memory_gb: int) -> dict[str, str]:
    return {"cpus": str(cpus), "memory-gb": str(memory_gb)}


MEMBER = ("kubernetes/contest-k8s/member",)


@pytest.mark.parametrize("node", ["cp-2", "worker-2"])
def test_a_resize_drain_does_nothing_on_day_one(prd, tmp_path, node):
    """The VM has the planned size (prd: cp 4/8, workers 8/32), or is no member yet: no kubectl, no marker."""
    size = _size(4, 8) if node == "cp-2" else _size(8, 32)
    script = filled(prd.artifact(f"scripts/{node}/resize-drain.sh"))
    (tmp_path / "same").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "same", script, _nic(prd, node), stub_state=size, leftovers=MEMBER, runs=1)
    assert status == "0" and log == [] and "no resize, nothing to drain" in output
    (tmp_path / "new").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "new", script, _nic(prd, node), stub_state=_size(2, 4), runs=1)
    assert status == "0" and log == [] and "does not belong to the cluster yet" in output


def test_a_resize_drain_drains_and_leaves_the_marker_for_the_gate(prd, tmp_path):
    first, _, tree, _, outputs = run_twice(tmp_path, filled(prd.artifact("scripts/worker-2/resize-drain.sh")), _nic(prd, "worker-2"),
                                           stub_state={**_size(4, 16), "nodes/worker-2": ""}, leftovers=MEMBER)
    assert any(c.startswith("kubectl drain worker-2") for c in first) and "contest-k8s/resize-pending" in tree
    assert not any(c.startswith("kubectl uncordon") for c in first), "the gate uncordons, after the size change"


@pytest.mark.parametrize("failure", ["drain-fails", "etcd-unhealthy"])
def test_a_resize_drain_that_cannot_drain_stops_the_resize(prd, tmp_path, failure):
    log, _, _, _, (output, status) = run_twice(tmp_path, filled(prd.artifact("scripts/cp-2/resize-drain.sh")), _nic(prd, "cp-2"),
                                               stub_state={**_size(2, 4), failure: ""}, leftovers=MEMBER, runs=1)
    assert status == "1" and not (tmp_path / "upper" / "contest-k8s" / "resize-pending").exists()
    if failure == "drain-fails":
        assert "kubectl uncordon cp-2" in log and "the drain of cp-2 before its resize failed" in output
    else:
        assert not any(c.startswith("kubectl drain") for c in log) and "could cost the quorum" in output


PENDING = ("contest-k8s/resize-pending",)


@pytest.mark.parametrize("broken", [False, True])
def test_a_control_plane_gate_waits_for_ready_and_for_etcd_on_every_member(prd, tmp_path, broken):
    script = filled(prd.artifact("scripts/cp-2/resize-gate.sh"))
    if broken:  # a gate that waits for the VM only (what the server update did): no Node, no etcd check
        script = script[:script.index("tries=0")] + "kubectl uncordon cp-2 >/dev/null\nrm -f /etc/contest-k8s/resize-pending\n"
    (tmp_path / "healthy").mkdir()
    first, second, tree, _, _ = run_twice(tmp_path / "healthy", script, _nic(prd, "cp-2"), leftovers=PENDING,
                                          stub_state={"nodes/cp-2": "", "ready-after": "3"})
    assert "kubectl uncordon cp-2" in first and "contest-k8s/resize-pending" not in tree and second == []
    (tmp_path / "etcd").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "etcd", script, _nic(prd, "cp-2"), leftovers=PENDING, runs=1,
                                               stub_state={"nodes/cp-2": "", "ready-after": "1", "etcd-unhealthy": ""})
    if broken:
        assert status == "0", "the broken gate lets cp-3 go down with etcd unhealthy: the check below catches it"
        return
    assert status == "1" and "etcd is not healthy on every member 15 minutes after the resize of cp-2" in output
    assert "kubectl uncordon cp-2" not in log and sum(1 for c in log if c == "sleep 5") == 179
    assert sum(1 for c in first if c.startswith("kubectl get node cp-2")) == 3, "Ready on the third look"


NODES = ("cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3")


def test_the_layers_above_start_once_every_node_is_ready_and_a_node_that_is_not_is_named(prd, tmp_path):
    """nodes-ready, after Cilium and every join: each node of the plan Ready; worker-3 without a working agent stops the
    run with its name and where to look, instead of a chart's timeout later."""
    script = filled(prd.artifact("scripts/cp-1/nodes-ready.sh"))
    (tmp_path / "ready").mkdir()
    first, second, _, _, outputs = run_twice(tmp_path / "ready", script, _nic(prd, "cp-1"),
                                             stub_state={**{f"nodes/{n}": "" for n in NODES}, "ready-after": "1"})
    assert [c.split()[3] for c in first if c.startswith("kubectl get node")] == list(NODES)
    assert "every node is Ready: cp-1 cp-2 cp-3 worker-1 worker-2 worker-3" in outputs[0]
    (tmp_path / "worker-3").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "worker-3", script, _nic(prd, "cp-1"), runs=1,
                                               stub_state={f"nodes/{n}": "" for n in NODES if n != "worker-3"} | {"ready-after": "1"})
    assert status == "1" and "worker-3 is not Ready 15 minutes after it joined and Cilium was installed" in output
    assert "spec.nodeName=worker-3" in output and "every node is Ready" not in output


def test_a_gate_gives_up_on_a_node_that_never_comes_back(prd, tmp_path):
    log, _, _, _, (output, status) = run_twice(tmp_path, filled(prd.artifact("scripts/worker-2/resize-gate.sh")), _nic(prd, "worker-2"),
                                               leftovers=PENDING, runs=1, stub_state={"nodes/worker-2": ""})
    assert status == "1" and "worker-2 is not Ready 15 minutes after its resize" in output and "kubectl uncordon worker-2" not in log
    assert (tmp_path / "upper" / "contest-k8s" / "resize-pending").exists(), "the next run waits again"


def test_a_gate_without_a_pending_resize_returns_at_once(prd, tmp_path):
    """Day one: the gate runs while the node may still be joining; it must neither wait nor fail."""
    for node in ("cp-2", "worker-2", "lb-2"):
        (tmp_path / node).mkdir()
        log, _, _, _, (output, status) = run_twice(tmp_path / node, filled(prd.artifact(f"scripts/{node}/resize-gate.sh")),
                                                   _nic(prd, node), runs=1)
        assert status == "0" and log == [] and "nothing to wait for" in output, node


@pytest.mark.parametrize("broken", [False, True])
def test_a_load_balancer_gate_waits_for_haproxy_and_a_settled_vrrp(prd, tmp_path, broken):
    script = filled(prd.artifact("scripts/lb-1/resize-gate.sh"))
    if broken:  # HAProxy only: the VRRP wait left out
        start = script.index('echo "contest-k8s: HAProxy serves"') + len('echo "contest-k8s: HAProxy serves"\n')
        script = script[:start] + script[script.index('echo "contest-k8s: Keepalived has settled"'):]
    (tmp_path / "backup").mkdir()
    first, second, tree, _, outputs = run_twice(tmp_path / "backup", script, _nic(prd, "lb-1"), leftovers=PENDING,
                                                stub_state={"haproxy-up": ""}, run_files={"contest-k8s/vrrp-state": "BACKUP\n"})
    assert "contest-k8s/resize-pending" not in tree
    (tmp_path / "fault").mkdir()
    log, _, _, _, (output, status) = run_twice(tmp_path / "fault", script, _nic(prd, "lb-1"), leftovers=PENDING, runs=1,
                                               stub_state={"haproxy-up": ""}, run_files={"contest-k8s/vrrp-state": "FAULT\n"})
    if broken:
        assert status == "0", "the broken gate takes lb-2 down while lb-1's VRRP is in FAULT: caught below"
        return
    assert status == "1" and "not MASTER or BACKUP 15 minutes after its resize (its state: FAULT)" in output


def test_a_load_balancer_drain_marks_a_resize_only_when_one_comes(prd, tmp_path):
    script = filled(prd.artifact("scripts/lb-1/resize-drain.sh"))
    conf = ("keepalived/keepalived.conf",)
    (tmp_path / "same").mkdir()
    same = run_twice(tmp_path / "same", script, _nic(prd, "lb-1"), stub_state=_size(4, 8), leftovers=conf, runs=1)
    assert same[4][1] == "0" and not (tmp_path / "same" / "upper" / "contest-k8s").exists()
    (tmp_path / "bigger").mkdir()
    bigger = run_twice(tmp_path / "bigger", script, _nic(prd, "lb-1"), stub_state=_size(2, 4), leftovers=conf, runs=1)
    assert bigger[4][1] == "0" and (tmp_path / "bigger" / "upper" / "contest-k8s" / "resize-pending").exists()


def test_api_load_balancer_setup_twice(prd, tmp_path):
    result = run_twice(tmp_path, filled(prd.artifact("scripts/lb-1/setup-api-lb.sh")), _nic(prd, "lb-1"))
    assert_second_run_is_a_no_op(*result, expect_first=("apt-get install", "systemctl reload-or-restart haproxy",
                                                        "systemctl reload-or-restart keepalived"))
    assert {"haproxy/haproxy.cfg", "keepalived/keepalived.conf", "keepalived/check_haproxy.sh"} <= set(result[2])


def test_frr_router_setup_twice(prd, tmp_path):
    require_tools("vtysh")
    nodes = prd.outputs["nodes"]
    prefix = prd.outputs["routerBlock"].split("/")[1]
    script = filled(prd.artifact("router/router/apply-base.sh")) + prd.artifact("router/router/apply-bgp.sh")
    result = run_twice(tmp_path, script, {"ens3": f"{nodes['router']}/{prefix}", "ens4": None})
    assert_second_run_is_a_no_op(*result, expect_first=("netplan apply", "sysctl --system", "nft -f", "systemctl reload frr",
                                                        "systemctl restart wg-quick@wg0"))
    assert {"frr/frr.conf", "nftables.conf", "wireguard/wg0.conf", "sysctl.d/60-contest-k8s-router.conf"} <= set(result[2])


def test_join_ticket_on_day_one_does_nothing(prd, tmp_path):
    """cp-1's ticket runs on cp-2 before any cluster exists; it must not block the init."""
    first, second, _, _, outputs = run_twice(tmp_path, filled(prd.artifact("scripts/cp-1/join-ticket.sh")), _nic(prd, "cp-2"))
    assert first == second == [] and "nothing to renew" in outputs[0]


def test_leave_drains_removes_the_etcd_member_then_deletes_the_node(prd, tmp_path):
    first, _, _, _, outputs = run_twice(tmp_path, prd.artifact("scripts/cp-2/leave.sh"), _nic(prd, "cp-1"), stub_state={"nodes/cp-2": ""})
    steps = [c for c in first if c.startswith(("kubectl drain", "kubectl -n kube-system exec etcd-cp-1", "kubectl delete node"))]
    assert steps[0].startswith("kubectl drain cp-2") and steps[-1] == "kubectl delete node cp-2 --ignore-not-found"
    assert any(c.endswith("member remove 8e9e05c52164694d") for c in first), "cp-2's member, not cp-1's"
    assert not any(c.endswith("member remove 91bc3c398fb3c146") for c in first)


def test_leave_goes_on_when_etcd_does_not_answer(prd, tmp_path):
    first, _, _, _, outputs = run_twice(tmp_path, prd.artifact("scripts/cp-2/leave.sh"), _nic(prd, "cp-1"), etcd_down=True)
    assert not any("member remove" in c for c in first) and "kubectl delete node cp-2 --ignore-not-found" in first


def test_sudo_grant_uses_the_disk_edit_password_once(prd, tmp_path):
    """The grant command as the program sends it: the password on stdin (never on the command line), a checked sudoers file."""
    grant = prd.named("cp-1-sudo", "Command")
    create, password = grant.inputs["create"], grant.inputs["stdin"].rstrip("\n")
    assert len(password) == 32 and password not in create
    assert "stdin" in grant.secret_inputs and "create" not in grant.secret_inputs
    # /etc/sudoers.d exists on every Ubuntu image; this test machine may lack the sudo package
    script = f"mkdir -p /etc/sudoers.d\nexport STUB_PASSWORD={password}\nprintf '%s\\n' '{password}' | {{ {create}; }}\n"
    first, second, tree1, tree2, _ = run_twice(tmp_path, script, _nic(prd, "cp-1"))
    assert tree1 == tree2 == {"sudoers.d/90-contest-k8s": tree1["sudoers.d/90-contest-k8s"]}
    assert first[0].startswith("sudo -S -p  sh -c") and any(c.startswith("visudo -cqf") for c in first)
    wrong = script.replace(f"STUB_PASSWORD={password}", "STUB_PASSWORD=wrong")
    (tmp_path / "wrong").mkdir()
    with pytest.raises(AssertionError, match="wrong password"):
        run_twice(tmp_path / "wrong", wrong, _nic(prd, "cp-1"))


VYOS_TEMPLATE = r"""
# A stand-in for VyOS's script template: configuration commands that log, and reject any value 'bad'.
configure() { echo "configure" >> "$STUB_LOG"; }
delete() { echo "delete $*" >> "$STUB_LOG"; return 1; }
set() { echo "set $*" >> "$STUB_LOG"; case "$*" in *bad*) return 1 ;; esac; }
commit() { echo "commit" >> "$STUB_LOG"; }
save() { echo "save" >> "$STUB_LOG"; }
"""


@pytest.mark.parametrize("broken", [False, True])
def test_vyos_script_commits_all_or_nothing(vyos_prd, tmp_path, broken):
    script = vyos_prd.artifact("router/router/apply-bgp.sh")
    if broken:
        script = script.replace("remote-as '65021'", "remote-as 'bad'", 1)
    log, _, _, _, (output, status) = run_twice(tmp_path, script, _nic(vyos_prd, "router"), runs=1,
                                               opt_files={"vyatta/etc/functions/script-template": VYOS_TEMPLATE})
    sets = [line for line in log if line.startswith("set ")]
    assert len(sets) == script.count("\nset "), "every set is tried, after the owned subtrees were deleted"
    assert log.index("delete protocols bgp") < log.index(sets[0])
    if broken:
        assert status == "1" and "commit" not in log and "rejected 1 commands of the BGP configuration" in output
    else:
        assert status == "0" and log[-2:] == ["commit", "save"]


def test_the_remote_command_lines_run_a_script_from_stdin_and_from_a_heredoc(prd, tmp_path):
    """The interpreter line as the program sends it: the script arrives on stdin (create) or in a
    heredoc (delete), is written to a private file and run from there; its exit status comes back."""
    from components.remote import NODE_INTERPRETER

    delete = prd.named("worker-1-membership", "Command").inputs["delete"]
    assert delete.startswith("{ " + NODE_INTERPRETER + "; } <<'CONTEST_K8S_SCRIPT'\n")
    probe = "#!/usr/bin/env bash\nread -r line || true\necho \"ran from $0, stdin gave: ${line:-nothing}\"\nexit 7\n"
    (tmp_path / "probe.sh").write_text(probe)
    heredoc_form = "{ " + NODE_INTERPRETER + "; } <<'CONTEST_K8S_SCRIPT'\n" + probe + "CONTEST_K8S_SCRIPT\n"
    # pulumi-command gives `stdin` to the remote shell that runs the command line
    for form, stdin in ((NODE_INTERPRETER, probe), (heredoc_form, "")):
        result = subprocess.run(["bash", "-c", f"sudo() {{ \"$@\"; }}; {form}"], input=stdin, capture_output=True, text=True)
        assert result.returncode == 7, result.stderr
        assert result.stdout.startswith("ran from /tmp/") and "stdin gave: nothing" in result.stdout


def test_operator_keys_follow_the_stack_file(tmp_path):
    """The keys script keeps the stack's key and writes exactly the stack file's operator keys; a second run changes nothing."""
    operator = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpH4aQvSnVuvbT6Jvn2XzvsQvKu1kQxVbV9x+BvGSUr alice@venue"
    run = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c.update({PROJECT + ":ssh": {"authorizedKeys": [operator]}})))
    script = run.artifact("scripts/cp-1/authorized-keys.sh")
    (tmp_path / "keys").mkdir()
    first, second, tree1, tree2, outputs = run_twice(tmp_path / "keys", script, _nic(run, "cp-1"))
    assert_second_run_is_a_no_op(first, second, tree1, tree2, outputs, expect_first=("chown ubuntu:ubuntu",))
    keys = (Path(tmp_path / "keys" / "upper" / "test-home" / "ubuntu" / ".ssh" / "authorized_keys")).read_text().splitlines()
    assert keys[1:] == [run.named("ssh-key", "sakura:SshKey").inputs["publicKey"].strip(), operator]


def test_adding_an_operator_key_changes_one_command_per_vm_and_no_disk(stack_runs, tmp_path):
    """Disk edit is create-only: the new key is written by the keys command, an in-place update."""
    from components.sakura.disk_edit import DiskEditType
    before = stack_runs["prd"]
    operator = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpH4aQvSnVuvbT6Jvn2XzvsQvKu1kQxVbV9x+BvGSUr alice@venue"
    after = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c.update({PROJECT + ":ssh": {"authorizedKeys": [operator]}})))
    old = {r.urn: r for r in before.resources}
    changed = sorted(r.name for r in after.resources if r.urn in old and old[r.urn].inputs != r.inputs)
    commands = [n for n in changed if n.endswith("-ssh-keys")]
    assert commands == sorted(f"{n}-ssh-keys" for n in ("router", "lb-1", "lb-2", "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"))
    edits = DiskEditType(None)
    assert sorted(set(changed) - set(commands)) == [c.replace("-ssh-keys", "-boot-edit") for c in commands]
    for name in set(changed) - set(commands):
        edit = after.named(name, "sakura:DiskEdit")
        assert not edits.diff(old[edit.urn].inputs, edit.inputs).changed, name
    for name in commands:
        command = after.named(name, "Command")
        assert command.inputs["triggers"] == old[command.urn].inputs["triggers"], "an update of the command, not a replacement"
