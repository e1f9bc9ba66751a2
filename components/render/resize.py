"""What the scripts around a size change of a VM share: a drain before it, a readiness gate after it.

A size change shuts the VM down (components/sakura/server_size.py). The layers chain it (see
components/resize.py): drain -> size -> gate, and the next node's drain and size wait for this
node's gate, so a control plane is resized only once the one before it is a Ready Node and etcd is
healthy again, a load balancer only once the other one serves and its VRRP has settled. The scripts
themselves are the layers' (render.node_scripts for Kubernetes nodes, render.api_lb for the load
balancers); this module holds what they share.

Both scripts name the wanted size, so a size change re-runs them (an update of the command, shown
in the preview), and both are no-ops unless a resize is really coming:
- the drain compares the VM's own vCPUs and memory (`getconf`) with the wanted size; when they
  match (every day-one run, a node added at the new size) it does nothing. Otherwise, if the node
  belongs to the cluster, it drains it and leaves the marker RESIZE_MARKER for the gate;
- the gate acts only on that marker, so on day one (no marker) it returns at once whatever the node
  is doing. With the marker it waits until the node serves again (a bounded number of tries, then a
  failure that names what did not come back: the next node is then not touched, and the next
  `pulumi up` waits again), and removes the marker.
"""

from __future__ import annotations

from ..plan import Plan
from ..sakura import catalog

RESIZE_MARKER = "/etc/contest-k8s/resize-pending"
# How long a gate waits for its node to come back: tries, seconds apart (15 minutes in all).
GATE_TRIES, GATE_INTERVAL = 180, 5
GATE_MINUTES = GATE_TRIES * GATE_INTERVAL // 60


def memory_window_kb(memory_gb: int) -> tuple[int, int]:
    """The memory (kB) a VM of `memory_gb` reports: above the next smaller plan, at most the plan (the kernel keeps some)."""
    smaller = [m for m in catalog.MEMORY_SIZES_GB if m < memory_gb]
    low_gb = smaller[-1] if smaller else memory_gb * 3 / 4
    return int(low_gb * 1024 * 1024), memory_gb * 1024 * 1024


def size_check(plan: Plan, node: str, nothing_to_do: str) -> str:
    """Stops the script (status 0, saying `nothing_to_do`) when the VM already has the wanted vCPUs and memory."""
    m = plan.machine(node)
    low, high = memory_window_kb(m.memory_gb)
    return f"""\
# wanted: {m.cpu} vCPU, {m.memory_gb} GB
cpus=$(getconf _NPROCESSORS_ONLN)
memory_kb=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) / 1024 ))
if [ "$cpus" -eq {m.cpu} ] && [ "$memory_kb" -gt {low} ] && [ "$memory_kb" -le {high} ]; then
  echo "contest-k8s: {node} already has {m.cpu} vCPU and {m.memory_gb} GB: {nothing_to_do}"
  exit 0
fi
"""


def mark_pending(plan: Plan, node: str) -> str:
    m = plan.machine(node)
    return f"install -d -m 0755 {RESIZE_MARKER.rsplit('/', 1)[0]}\necho '{m.cpu} {m.memory_gb}' > {RESIZE_MARKER}\n"


def unless_pending(plan: Plan, node: str) -> str:
    """The gate's start: its size in a comment (a size change re-runs it), and nothing to do without the drain's marker."""
    m = plan.machine(node)
    return f"""\
# size: {m.cpu} vCPU, {m.memory_gb} GB
if [ ! -f {RESIZE_MARKER} ]; then
  echo "contest-k8s: no resize of {node} is pending: nothing to wait for"
  exit 0
fi
"""


def wait_for(what: str, check: str, failure: str) -> str:
    """Retry `check` (a shell command) GATE_TRIES times, GATE_INTERVAL s apart, then fail with `failure`."""
    return f"""\
tries=0
until {check}; do
  tries=$((tries + 1))
  if [ "$tries" -ge {GATE_TRIES} ]; then
    echo "contest-k8s: {failure}" >&2
    exit 1
  fi
  sleep {GATE_INTERVAL}
done
echo "contest-k8s: {what}"
"""
