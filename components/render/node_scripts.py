"""The scripts that take a booted Ubuntu VM to a Kubernetes node, and keep it right afterwards.

Every script is safe to run twice (see `render.shell`), and each one's job is narrow:
- prepare: the OS (NIC check, swap off, modules, sysctls, the node firewall, routes the topology
  needs) and, on a fresh node, containerd 2.x (render.containerd) and kubelet/kubeadm/kubectl at
  the version the control plane runs (the lowest any control plane's API server reports, so a node
  added while an upgrade is under way is never newer than an API server; the upgrade chain then
  moves it); a control plane that is not one yet pulls the control plane's images. All nodes
  prepare at once, so the joins, one after another, start with everything in place. A version
  change re-runs it: a no-op on a node that has the packages;
- init (bootstrap control plane) / join: `kubeadm init|join --config`. A marker records the VM's identity once kubeadm
  succeeded; the script does nothing when it matches. Before it resets anything kubeadm left (an
  attempt that stopped halfway, or the membership of a VM this disk used to belong to), it asks
  the API whether this node is already a member (a Node, and for a control plane a started,
  healthy etcd member): then kubeadm had finished and only the marker was lost, so it writes the
  marker and resets nothing. The marker is written atomically (a rename);
- bootstrap: `kubeadm init` only when Pulumi's state says this cluster was not initialised by
  another VM (the `cluster-origin` record); otherwise it joins, and fails rather than initialise
  when the API does not answer. A VIP that answers is never initialised behind either;
- join ticket (on the bootstrap control plane, before each join): the node's own bootstrap token
  exists, valid for an hour, and for a control plane the shared certificates are uploaded again
  (they expire after 2 hours);
- upgrade: only when the node's kubelet is older than the plan's version or its containerd is not
  the pinned one: kubeadm first, then `kubeadm upgrade apply` (bootstrap) or `upgrade node` (each
  skipped when already done), then drain (a failed drain uncordons the node again and fails with
  the node and kubectl's reason; a rerun continues where it stopped), containerd, kubelet and
  kubectl, Ready, uncordon;
- resize drain and gate (render.resize): drain before a size change, Ready (and etcd healthy) after;
- leave (on another control plane, when a node is removed or replaced): drain, remove its etcd
  member if it is a control plane, delete the Node object.
"""

from __future__ import annotations

from typing import Optional

from ..plan import Plan
from .containerd import containerd_functions
from .firewall import install_node_firewall
from .kubeadm import BOOTSTRAP_TOKEN, CERTIFICATE_KEY, CRI_SOCKET, init_config, join_config
from .netplan import ROUTES_FILE, routes_netplan
from .resize import GATE_MINUTES, RESIZE_MARKER, mark_pending, size_check, unless_pending, wait_for
from .secrets import secret
from .shell import put, script

KUBERNETES_CA_KEY = "kubernetes-ca-key"
TOKEN_TTL = "1h"
MEMBER_MARKER = "/etc/kubernetes/contest-k8s/member"
# What kubeadm leaves on a node, from an attempt that stopped halfway or a membership of another identity.
KUBEADM_STATE = ("/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", "/etc/kubernetes/kubelet.conf",
                 "/etc/kubernetes/bootstrap-kubelet.conf", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/var/lib/etcd/member")


def _etcdctl(on: str) -> str:
    """`etcdctl ...` through the etcd static pod of control plane `on`, with its client certificate."""
    return f"""\
etcdctl() {{
  kubectl -n kube-system exec etcd-{on} -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \\
    --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key "$@"
}}
"""


def _known_member(plan: Plan, node: str) -> str:
    """`known_member`: true only when the API knows this node as what kubeadm's last phase makes of it.

    A worker: its Node exists (asked with its own kubelet credentials). A control plane: its Node
    carries the control-plane label (kubeadm's last join phase) and its etcd member is started and
    healthy; the bootstrap node also has the add-ons of init's last phase (CoreDNS, kube-proxy).
    """
    if plan.machine(node).role != "control-plane":
        return f"""\
known_member() {{
  [ -f /etc/kubernetes/kubelet.conf ] || return 1
  kubectl --kubeconfig /etc/kubernetes/kubelet.conf --request-timeout=10s get node {node} >/dev/null 2>&1
}}
"""
    addons = ""
    if node == plan.kubernetes.bootstrap_node:
        addons = ("  kubectl --request-timeout=10s -n kube-system get deployment coredns >/dev/null 2>&1 || return 1\n"
                  "  kubectl --request-timeout=10s -n kube-system get daemonset kube-proxy >/dev/null 2>&1 || return 1\n")
    return f"""\
known_member() {{
  local members
  [ -f {ADMIN_CONF} ] || return 1
  export KUBECONFIG={ADMIN_CONF}
  [ -n "$(kubectl --request-timeout=10s get node {node} -o name -l node-role.kubernetes.io/control-plane 2>/dev/null)" ] || return 1
{addons}  members=$(etcdctl member list 2>/dev/null) || return 1
  printf '%s\\n' "$members" | awk -F', ' '$2 == "started" && $3 == "{node}" {{found = 1}} END {{exit !found}}' || return 1
  etcdctl endpoint health >/dev/null 2>&1
}}
"""


def _membership_guard(plan: Plan, node: str, identity: str) -> str:
    """Done when the marker names this VM; a member the API knows gets its marker and nothing else; otherwise start clean."""
    leftovers = " || ".join(f"[ -e {path} ]" for path in KUBEADM_STATE)
    etcd = _etcdctl(node) if plan.machine(node).role == "control-plane" else ""
    return f"""\
if [ "$(cat {MEMBER_MARKER} 2>/dev/null)" = "{identity}" ]; then
  echo "contest-k8s: {node} already belongs to the cluster; nothing to do"
  exit 0
fi
{etcd}{_known_member(plan, node)}if {leftovers}; then
  if known_member; then
    # kubeadm had finished; only the marker was not written (the session ended in between)
    {_mark_member(identity).strip().replace(chr(10), chr(10) + "    ")}
    echo "contest-k8s: {node} is already a member the API knows: marker written, nothing reset"
    exit 0
  fi
  echo "contest-k8s: resetting what an earlier attempt or membership left on {node}"
  kubeadm reset -f >/dev/null
fi
"""


def _mark_member(identity: str) -> str:
    """The marker, written atomically: a retry sees either no marker or the whole identity."""
    return f"install -d -m 0700 {KUBEADM_DIR}\necho '{identity}' > {MEMBER_MARKER}.new\nmv -f {MEMBER_MARKER}.new {MEMBER_MARKER}\n"


ADMIN_KUBECONFIG = "admin-kubeconfig"
KUBEADM_DIR = "/etc/kubernetes/contest-k8s"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
DRAIN_TIMEOUT = "10m"

KERNEL_MODULES = "# Kubernetes networking. Generated by contest-k8s.\noverlay\nbr_netfilter\n"

SYSCTLS = """\
# Kubernetes networking. Generated by contest-k8s.
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
"""


def prepare_script(plan: Plan, node: str) -> str:
    machine = plan.machine(node)
    nic = machine.nics[0]
    routes = ""
    if nic.segment == "global":
        routes = put(ROUTES_FILE, "0600", routes_netplan(plan, node), "netplan apply")
    body = f"""\
expect_nic {nic.interface} {nic.address.ip}

swapoff -a
if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then
  sed -Ei 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# \\1/' /etc/fstab
fi

{put("/etc/modules-load.d/60-contest-k8s.conf", "0644", KERNEL_MODULES)}
modprobe overlay
modprobe br_netfilter
{put("/etc/sysctl.d/60-contest-k8s.conf", "0644", SYSCTLS, "sysctl --system >/dev/null")}
{routes}
{install_node_firewall(plan)}
need curl gpg ca-certificates conntrack
{containerd_functions(plan)}
if [ -z "$(containerd_version)" ] && ! dpkg-query -W -f='${{Status}}' containerd 2>/dev/null | grep -q "ok installed"; then
  install_containerd
elif [ "$(containerd_version)" != "{plan.kubernetes.containerd_version}" ]; then
  echo "contest-k8s: {node} runs another containerd; the upgrade chain moves it to containerd.io {plan.kubernetes.containerd_version}, drained"
fi
systemctl enable --quiet --now containerd
{_packages(plan)}{_control_plane_images() if machine.role == "control-plane" else ""}"""
    return script(f"Node preparation for {node} ({plan.stack}): OS, containerd, routes, kubelet, kubeadm, kubectl.", body)


def _control_plane_images() -> str:
    """The control plane's images for the kubeadm installed, pulled while the nodes prepare in parallel (once; never on a
    member): `kubeadm init` and each control-plane join, which run one after another, then start with them in place."""
    marker = f"{KUBEADM_DIR}/images-pulled"
    return f"""\
kubeadm_version=$(dpkg-query -W -f='${{Version}}' kubeadm 2>/dev/null | cut -d- -f1 || true)
if [ ! -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && [ "$(cat {marker} 2>/dev/null)" != "$kubeadm_version" ]; then
  kubeadm config images pull --kubernetes-version "v$kubeadm_version" --cri-socket {CRI_SOCKET} >/dev/null
  install -D -m 0644 /dev/stdin {marker} <<< "$kubeadm_version"
fi
"""


def _kubernetes_repo(minor: str) -> str:
    """The apt repository of a Kubernetes minor version (`minor` is literal, or a shell variable such as $minor)."""
    keyring = f"/etc/apt/keyrings/kubernetes-{minor}.gpg"
    return f"""\
if [ ! -s "{keyring}" ]; then
  key=$(mktemp)
  curl -fsSL "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/Release.key" | gpg --batch --yes --dearmor -o "$key"
  install -D -m 0644 "$key" "{keyring}"
  rm -f "$key"
fi
if put /etc/apt/sources.list.d/kubernetes.list 0644 <<< "deb [signed-by={keyring}] https://pkgs.k8s.io/core:/stable:/v{minor}/deb/ /"; then
  apt_get update -qq
fi
"""


def _version_of_the_control_plane(plan: Plan) -> str:
    """Sets `version`: the lowest Kubernetes version any control plane's API server reports (anonymous /version),
    or the plan's when none answers (day one). A node added during an upgrade is then never newer than an API server."""
    k = plan.kubernetes
    addresses = " ".join(f"{cp.address}:{plan.api.port}" for cp in plan.api.control_planes)
    return f"""\
version_lt() {{
  [ "$1" != "$2" ] && [ "$(printf '%s\\n%s\\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}}
version={k.version}
running=""
for api in {addresses}; do
  answer=$(curl -sk --connect-timeout 2 --max-time 5 "https://$api/version" | sed -n 's/.*"gitVersion": *"v\\([0-9][0-9.]*\\)".*/\\1/p' || true)
  if [ -n "$answer" ] && {{ [ -z "$running" ] || version_lt "$answer" "$running"; }}; then
    running=$answer
  fi
done
if [ -n "$running" ] && version_lt "$running" "$version"; then
  echo "contest-k8s: the control plane runs Kubernetes $running, the plan {k.version}: installing $running; the upgrade chain moves this node on"
  version=$running
fi
"""


def _packages(plan: Plan) -> str:
    """On a fresh node only: the apt repository and the packages at the version the control plane runs (the plan's on
    day one), so a node added during an upgrade is never newer than an API server. A node that has them is left to
    the upgrade chain, repository included."""
    return f"""\
if ! dpkg-query -W -f='${{Status}}' kubeadm 2>/dev/null | grep -q "ok installed"; then
{_indent(_version_of_the_control_plane(plan))}  minor=${{version%.*}}
{_indent(_kubernetes_repo("$minor"))}  apt_get update -qq
  apt_get install -y -qq kubelet="$version-*" kubeadm="$version-*" kubectl="$version-*"
  apt-mark hold kubelet kubeadm kubectl >/dev/null
fi
systemctl enable --quiet kubelet
"""


def bootstrap_script(plan: Plan, ca_cert_pem: str, ca_hash: str, identity: str, initialised_by: Optional[str] = None) -> str:
    """On the bootstrap control plane: `kubeadm init` on day one; a control-plane join once the state says the
    cluster was initialised (`initialised_by`: the VM that did, from the `cluster-origin` record)."""
    node = plan.kubernetes.bootstrap_node
    endpoint = plan.kubernetes.control_plane_endpoint
    api_answers = f"curl -sk --max-time 5 -o /dev/null https://{endpoint}/livez"
    if initialised_by:
        decide = f"""\
# Pulumi's state records that this cluster was initialised by {initialised_by}: join it, never init.
{wait_for("the cluster's API answers", api_answers,
          f"Pulumi's state records that this cluster was initialised (by {initialised_by}), but its API at {endpoint} "
          f"does not answer: {node} does not start a second cluster. Bring the API endpoint and the other control planes back, "
          "then run pulumi up again")}kubeadm join --config {KUBEADM_DIR}/join.yaml >/dev/null
echo "contest-k8s: {node} joined the existing cluster"
"""
    else:
        decide = f"""\
# Pulumi's state records no earlier cluster: this VM initialises it. An API that answers at the VIP all
# the same is a cluster this state does not know about: never a second one behind the same VIP.
if {api_answers}; then
  echo "contest-k8s: an API answers at {endpoint} although Pulumi's state records no cluster: {node} does not initialise a second one" >&2
  exit 1
fi
kubeadm init --config {KUBEADM_DIR}/init.yaml --upload-certs --skip-token-print >/dev/null
echo "contest-k8s: {node} initialized the cluster"
"""
    body = f"""\
{_membership_guard(plan, node, identity)}{put("/etc/kubernetes/pki/ca.crt", "0644", ca_cert_pem)}
{put("/etc/kubernetes/pki/ca.key", "0600", secret(KUBERNETES_CA_KEY))}
{put(f"{KUBEADM_DIR}/init.yaml", "0600", init_config(plan))}
{put(f"{KUBEADM_DIR}/join.yaml", "0600", join_config(plan, node, ca_hash))}
{decide}{_mark_member(identity)}"""
    what = "kubeadm join of the existing cluster" if initialised_by else "kubeadm init"
    return script(f"Bootstrap control plane {node} ({plan.stack}): {what}.", body)


def join_script(plan: Plan, node: str, ca_hash: str, identity: str) -> str:
    body = f"""\
{_membership_guard(plan, node, identity)}{put(f"{KUBEADM_DIR}/join.yaml", "0600", join_config(plan, node, ca_hash))}
kubeadm join --config {KUBEADM_DIR}/join.yaml >/dev/null
echo "contest-k8s: {node} joined"
{_mark_member(identity)}"""
    return script(f"kubeadm join of {node} ({plan.stack}).", body)


def join_ticket_script(plan: Plan, node: str) -> str:
    """Runs on the bootstrap control plane; prints no secret."""
    upload = ""
    if plan.machine(node).role == "control-plane":
        upload = f"kubeadm init phase upload-certs --upload-certs --certificate-key '{secret(CERTIFICATE_KEY)}' >/dev/null\n"
    body = f"""\
if [ ! -f {ADMIN_CONF} ]; then
  echo "contest-k8s: no cluster on $(hostname) yet (day one): nothing to renew for {node}"
  exit 0
fi
export KUBECONFIG={ADMIN_CONF}
token='{secret(BOOTSTRAP_TOKEN)}'
if ! kubeadm token list -o jsonpath='{{.token}}{{"\\n"}}' | grep -qxF "$token"; then
  kubeadm token create "$token" --ttl {TOKEN_TTL} --description "contest-k8s join of {node}" >/dev/null \\
    || kubeadm token list -o jsonpath='{{.token}}{{"\\n"}}' | grep -qxF "$token"
fi
{upload}echo "contest-k8s: {node} may join"
"""
    return script(f"Join ticket for {node} ({plan.stack}): bootstrap token and, for a control plane, its certificates.", body)


def _kubeconfig(plan: Plan, node: str) -> str:
    """A control plane has the admin kubeconfig; a worker gets it on stdin (secret), in a private temporary file."""
    if plan.machine(node).role == "control-plane":
        return f"export KUBECONFIG={ADMIN_CONF}\n"
    return f"""\
KUBECONFIG=$(mktemp)
export KUBECONFIG
trap 'rm -f "$KUBECONFIG"' EXIT
cat > "$KUBECONFIG" <<'CONTEST_K8S_EOF'
{secret(ADMIN_KUBECONFIG)}
CONTEST_K8S_EOF
"""


def _drain(node: str, why: str) -> str:
    """`kubectl drain`; on failure the node is uncordoned again and the step fails naming the node and kubectl's reason."""
    return f"""\
drain_log=$(mktemp)
if ! kubectl drain {node} --ignore-daemonsets --delete-emptydir-data --timeout={DRAIN_TIMEOUT} >"$drain_log" 2>&1; then
  kubectl uncordon {node} >/dev/null 2>&1 || true
  echo "contest-k8s: the drain of {node} {why} failed; {node} is uncordoned again. kubectl said:" >&2
  tail -n 5 "$drain_log" >&2
  rm -f "$drain_log"
  echo "contest-k8s: fix what blocks the eviction (a PodDisruptionBudget?), then run pulumi up again: it continues with {node}" >&2
  exit 1
fi
rm -f "$drain_log"
"""


def _is_ready(node: str) -> str:
    return f"[ \"$(kubectl get node {node} -o jsonpath='{{.status.conditions[?(@.type==\"Ready\")].status}}' 2>/dev/null)\" = True ]"


def _node_ready(node: str, after: str) -> str:
    return wait_for(f"{node} is Ready", _is_ready(node), f"{node} is not Ready {GATE_MINUTES} minutes {after}; it stays "
                    "cordoned and nothing after it runs. Look at its kubelet, then run pulumi up again: this step waits again")


def nodes_ready_script(plan: Plan, on: str) -> str:
    """On a control plane, once Cilium is installed and every node joined: every node of the plan Ready, so the layers
    above start on a working network, and a node whose CNI agent or kubelet fails is named here, not as a chart's
    timeout. Names every node, so adding one runs it again."""
    nodes = [m.name for m in plan.machines if m.role in ("control-plane", "worker")]
    waits = "".join(wait_for(f"{node} is Ready", _is_ready(node),
                             f"{node} is not Ready {GATE_MINUTES} minutes after it joined and Cilium was installed: look at its "
                             f"kubelet and its Cilium agent (kubectl -n kube-system get pods -o wide --field-selector "
                             f"spec.nodeName={node}), then run pulumi up again: this step waits again") for node in nodes)
    body = f"""\
{_kubeconfig(plan, on)}{waits}echo "contest-k8s: every node is Ready: {' '.join(nodes)}"
"""
    return script(f"Every node of {plan.stack} Ready on the cluster's network.", body)


def upgrade_script(plan: Plan, node: str) -> str:
    k = plan.kubernetes
    machine = plan.machine(node)
    if node == k.bootstrap_node:
        done = f'[ "$(kubectl -n kube-system get configmap kubeadm-config -o jsonpath=\'{{.data.ClusterConfiguration}}\' | sed -n \'s/^kubernetesVersion: //p\')" = "v$target" ]'
        step = f"kubeadm upgrade apply -y v{k.version} >/dev/null"
    elif machine.role == "control-plane":
        done = '[ "$(sed -n \'s/^ *image: .*kube-apiserver:v//p\' /etc/kubernetes/manifests/kube-apiserver.yaml)" = "$target" ]'
        step = "kubeadm upgrade node >/dev/null"
    else:
        done, step = "false", "kubeadm upgrade node >/dev/null"
    containerd = k.containerd_version
    body = f"""\
target={k.version}
{containerd_functions(plan)}
current=$(dpkg-query -W -f='${{Version}}' kubelet 2>/dev/null | cut -d- -f1 || true)
if [ "$current" = "$target" ] && [ "$(containerd_version)" = "{containerd}" ]; then
  echo "contest-k8s: {node} already runs Kubernetes $target on containerd {containerd}"
  exit 0
fi
{_kubeconfig(plan, node)}if [ "$current" != "$target" ]; then
{_indent(_kubernetes_repo(k.minor))}  apt_get update -qq
  apt-mark unhold kubeadm >/dev/null
  apt_get install -y -qq kubeadm="$target-*"
  apt-mark hold kubeadm >/dev/null
  if {done}; then
    echo "contest-k8s: the control plane on {node} is at $target already (an earlier run)"
  else
    {step}
  fi
fi
{_drain(node, f"during its upgrade to {k.version}")}if [ "$(containerd_version)" != "{containerd}" ]; then
  install_containerd
fi
if [ "$current" != "$target" ]; then
  apt-mark unhold kubelet kubectl >/dev/null
  apt_get install -y -qq kubelet="$target-*" kubectl="$target-*"
  apt-mark hold kubelet kubectl >/dev/null
fi
systemctl daemon-reload
systemctl restart kubelet
{_node_ready(node, "after its upgrade")}kubectl uncordon {node}
echo "contest-k8s: {node} upgraded to Kubernetes $target on containerd {containerd} (it ran ${{current:-nothing}})"
"""
    return script(f"Kubernetes upgrade of {node} ({plan.stack}) to {k.version}, containerd {containerd}.", body)


def _indent(text: str) -> str:
    return "".join(f"  {line}" if line.strip() else line for line in text.splitlines(keepends=True))


def resize_drain_script(plan: Plan, node: str) -> str:
    """Before a node's size change: drain it (a control plane only while etcd is healthy); the gate uncordons."""
    etcd = ""
    if plan.machine(node).role == "control-plane":
        etcd = f"""{_etcdctl(node)}if ! etcdctl endpoint health --cluster >/dev/null; then
  echo "contest-k8s: etcd is not healthy on every member: {node} is not taken down (its resize could cost the quorum). Fix etcd, then run pulumi up again" >&2
  exit 1
fi
"""
    m = plan.machine(node)
    body = f"""\
{size_check(plan, node, "no resize, nothing to drain")}if [ ! -f {MEMBER_MARKER} ]; then
  echo "contest-k8s: {node} does not belong to the cluster yet: nothing to drain before its resize"
  exit 0
fi
{_kubeconfig(plan, node)}{etcd}{_drain(node, "before its resize")}{mark_pending(plan, node)}echo "contest-k8s: {node} drained for its resize to {m.cpu} vCPU and {m.memory_gb} GB"
"""
    return script(f"Before the resize of {node} ({plan.stack}): drain it.", body)


def resize_gate_script(plan: Plan, node: str) -> str:
    """After a node's size change: its Node Ready (and, for a control plane, every etcd member healthy), then uncordon."""
    waits = _node_ready(node, "after its resize")
    if plan.machine(node).role == "control-plane":
        waits += _etcdctl(node) + wait_for(
            "etcd is healthy on every member", "etcdctl endpoint health --cluster >/dev/null 2>&1",
            f"etcd is not healthy on every member {GATE_MINUTES} minutes after the resize of {node}; the next control plane "
            "is not resized. Look at etcd (etcdctl endpoint health --cluster), then run pulumi up again: this step waits again")
    body = f"""\
{unless_pending(plan, node)}{_kubeconfig(plan, node)}{waits}kubectl uncordon {node} >/dev/null
rm -f {RESIZE_MARKER}
echo "contest-k8s: {node} serves again after its resize"
"""
    return script(f"After the resize of {node} ({plan.stack}): wait until it serves again.", body)


def leave_script(plan: Plan, node: str, on: str) -> str:
    """Runs on control plane `on` when `node` is removed or replaced: drain, etcd member, Node object.

    The etcd member is removed through `on`'s own etcd. If that etcd does not answer (the whole
    cluster is being destroyed), there is nothing safe to do and the script says so; if it answers,
    a failed removal fails the step, so a replacement never goes on with a stale member.
    """
    etcd = ""
    if plan.machine(node).role == "control-plane":
        etcd = f"""\
{_etcdctl(on)}if members=$(etcdctl member list); then
  member=$(printf '%s\\n' "$members" | awk -F', ' '$3 == "{node}" {{print $1}}')
  if [ -n "$member" ]; then
    etcdctl member remove "$member"
    echo "contest-k8s: removed etcd member {node} ($member)"
  fi
else
  echo "contest-k8s: etcd on {on} does not answer; the member of {node} cannot be removed from here" >&2
fi
"""
    body = f"""\
export KUBECONFIG={ADMIN_CONF}
if kubectl get node {node} >/dev/null 2>&1; then
  kubectl drain {node} --ignore-daemonsets --delete-emptydir-data --force --timeout=5m \\
    || echo "contest-k8s: drain of {node} did not finish; continuing" >&2
fi
{etcd}kubectl delete node {node} --ignore-not-found \\
  || echo "contest-k8s: the API does not answer; the Node object of {node} is left behind" >&2
echo "contest-k8s: {node} left the cluster"
"""
    return script(f"Removal of {node} from the cluster ({plan.stack}); runs on {on}.", body)
