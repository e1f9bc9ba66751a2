"""Host scripts run for real against stubs: each twice, where the second run must change nothing.

Each script runs as root in a network namespace that holds the node's planned NIC and address, in
its own mount namespace where /etc is an overlay: the script reads the real /etc but every write
lands in a scratch directory, so the host is never touched. apt, dpkg, systemctl, kubeadm, kubectl
and the other commands that would change the machine are stubs that log their calls and keep just
enough state (installed packages and versions, the files kubeadm writes) to answer like the real
ones. The test compares the overlay's files after each run and the commands each run issued.
"""

from __future__ import annotations

import hashlib
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
        while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo fake-key > "$2"; }; shift; done""",
    "curl": r"""
        echo "curl $*" >> "$STUB_LOG"
        case "$*" in *livez*) [ -f "$STUB_STATE/api-answers" ] || exit 7 ;; esac""",
    "kubectl": r"""
        echo "kubectl $*" >> "$STUB_LOG"
        case "$*" in
          *"member list"*)
            [ -f "$STUB_STATE/etcd-down" ] && exit 1
            echo "8e9e05c52164694d, started, cp-2, https://192.0.2.8:2380, https://192.0.2.8:2379, false"
            echo "91bc3c398fb3c146, started, cp-1, https://192.0.2.7:2380, https://192.0.2.7:2379, false" ;;
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
          "vtysh", "chown")
CHANGES = ("apt-get install", "apt-get update", "systemctl restart", "systemctl reload", "reload-or-restart", "netplan apply",
           "sysctl --system", "kubeadm init", "kubeadm join", "kubeadm upgrade", "kubeadm reset", "nft -f", "chown", "kubectl drain")


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
              opt_files: dict[str, str] | None = None, runs: int = 2) -> tuple[list, list, dict, dict, list]:
    """Run `script` twice; return each run's logged commands and the overlay files after each run, and its output."""
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
        expected += ("netplan apply",)
    assert_second_run_is_a_no_op(*result, expect_first=expected)
    files = result[2]
    assert "containerd/config.toml" in files and "modules-load.d/60-contest-k8s.conf" in files
    assert ("netplan/60-contest-k8s-routes.yaml" in files) == (node == "cp-1")


def test_bootstrap_runs_kubeadm_init_once(prd, tmp_path):
    result = run_twice(tmp_path, filled(prd.artifact("scripts/cp-1/bootstrap.sh")), _nic(prd, "cp-1"))
    first = result[0]
    assert_second_run_is_a_no_op(*result, expect_first=("apt-get install", "kubeadm init"))
    assert not any(c.startswith("kubeadm join") for c in first)
    assert "already belongs to the cluster" in result[4][1]


def test_bootstrap_node_joins_when_the_cluster_already_exists(prd, tmp_path):
    """Replacing the bootstrap control plane later must never start a second cluster."""
    result = run_twice(tmp_path, filled(prd.artifact("scripts/cp-1/bootstrap.sh")), _nic(prd, "cp-1"), api_answers=True)
    assert_second_run_is_a_no_op(*result, expect_first=("kubeadm join",))
    assert not any(c.startswith("kubeadm init") for c in result[0] + result[1])


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


def test_upgrade_runs_once_and_only_for_an_older_kubelet(prd, tmp_path):
    script = filled(prd.artifact("scripts/cp-2/upgrade.sh"))
    (tmp_path / "current").mkdir()
    current = run_twice(tmp_path / "current", script, _nic(prd, "cp-2"), installed="kubelet=1.36.3-*\nkubeadm=1.36.3-*\nkubectl=1.36.3-*\n")
    assert [c for c in current[0] + current[1] if c.startswith(CHANGES)] == [], "no upgrade at the planned version"
    (tmp_path / "older").mkdir()
    older = run_twice(tmp_path / "older", script, _nic(prd, "cp-2"), installed="kubelet=1.35.2-*\nkubeadm=1.35.2-*\nkubectl=1.35.2-*\n")
    assert_second_run_is_a_no_op(*older, expect_first=("apt-get install -y -qq kubeadm=1.36.3-*", "kubeadm upgrade node",
                                                       "kubectl drain cp-2", "systemctl restart kubelet", "kubectl uncordon cp-2"))
    order = [c.split()[0:3] for c in older[0] if c.startswith(("kubeadm upgrade", "kubectl drain", "systemctl restart kubelet", "kubectl uncordon"))]
    assert order == [["kubeadm", "upgrade", "node"], ["kubectl", "drain", "cp-2"], ["systemctl", "restart", "kubelet"],
                     ["kubectl", "uncordon", "cp-2"]]


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
    first, _, _, _, outputs = run_twice(tmp_path, prd.artifact("scripts/cp-2/leave.sh"), _nic(prd, "cp-1"))
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
    from components.sakura.disk import DiskType
    before = stack_runs["prd"]
    operator = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpH4aQvSnVuvbT6Jvn2XzvsQvKu1kQxVbV9x+BvGSUr alice@venue"
    after = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c.update({PROJECT + ":ssh": {"authorizedKeys": [operator]}})))
    old = {r.urn: r for r in before.resources}
    changed = sorted(r.name for r in after.resources if r.urn in old and old[r.urn].inputs != r.inputs)
    commands = [n for n in changed if n.endswith("-ssh-keys")]
    assert commands == sorted(f"{n}-ssh-keys" for n in ("router", "lb-1", "lb-2", "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"))
    disks = DiskType(None)
    for name in set(changed) - set(commands):
        assert name.endswith("-boot"), name
        assert not disks.diff(old[after.named(name, "sakura:Disk").urn].inputs, after.named(name, "sakura:Disk").inputs).changed, name
    for name in commands:
        command = after.named(name, "Command")
        assert command.inputs["triggers"] == old[command.urn].inputs["triggers"], "an update of the command, not a replacement"
