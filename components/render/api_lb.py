"""The scripts of an API load balancer VM: its setup (HAProxy and Keepalived, each file validated before use),
and the two around a size change of it (see render.resize)."""

from __future__ import annotations

from ..plan import Plan
from .firewall import install_node_firewall
from .haproxy import haproxy_cfg
from .haproxy import HEALTH_PORT
from .keepalived import CHECK_SCRIPT, NOTIFY_SCRIPT, VRRP_STATE_FILE, check_script, keepalived_conf, notify_script
from .netplan import ROUTES_FILE, routes_netplan
from .resize import GATE_MINUTES, RESIZE_MARKER, mark_pending, size_check, unless_pending, wait_for
from .shell import put, script


def api_lb_setup_script(plan: Plan, lb_name: str) -> str:
    nic = plan.machine(lb_name).nics[0]
    body = f"""\
expect_nic {nic.interface} {nic.address.ip}
{put(ROUTES_FILE, "0600", routes_netplan(plan, lb_name), "netplan apply")}
{install_node_firewall(plan)}
need haproxy keepalived curl

{put("/etc/haproxy/haproxy.cfg", "0644", haproxy_cfg(plan.api), "systemctl reload-or-restart haproxy", check="haproxy -q -c -f")}
systemctl enable --quiet --now haproxy

{put(CHECK_SCRIPT, "0755", check_script())}
{put(NOTIFY_SCRIPT, "0755", notify_script())}
{put("/etc/keepalived/keepalived.conf", "0600", keepalived_conf(plan, lb_name), "systemctl reload-or-restart keepalived", check="keepalived -t -f")}
systemctl enable --quiet --now keepalived
"""
    return script(f"API load balancer {lb_name} ({plan.stack}): HAProxy to every control plane, Keepalived for the VIP {plan.api.vip.ip}.", body)


def lb_resize_drain_script(plan: Plan, lb_name: str) -> str:
    """Before a load balancer's size change: only the marker for its gate. Its ACPI shutdown stops Keepalived,
    which says goodbye (priority 0), so the other load balancer takes the VIP at once."""
    m = plan.machine(lb_name)
    body = f"""\
{size_check(plan, lb_name, "no resize")}if [ ! -f /etc/keepalived/keepalived.conf ]; then
  echo "contest-k8s: {lb_name} does not serve the API endpoint yet: nothing to prepare for its resize"
  exit 0
fi
{mark_pending(plan, lb_name)}echo "contest-k8s: {lb_name} may be resized to {m.cpu} vCPU and {m.memory_gb} GB"
"""
    return script(f"Before the resize of {lb_name} ({plan.stack}).", body)


def lb_resize_gate_script(plan: Plan, lb_name: str) -> str:
    """After a load balancer's size change: HAProxy answers its /healthz and Keepalived has settled in MASTER or BACKUP."""
    state = f"$(cat {VRRP_STATE_FILE} 2>/dev/null || echo none)"
    haproxy = wait_for("HAProxy serves", f"curl -fsS --max-time 2 -o /dev/null http://127.0.0.1:{HEALTH_PORT}/healthz",
                       f"HAProxy on {lb_name} does not answer {GATE_MINUTES} minutes after its resize; the next load balancer is "
                       "not resized. Look at haproxy, then run pulumi up again: this step waits again")
    vrrp = wait_for("Keepalived has settled", f"grep -qxE 'MASTER|BACKUP' {VRRP_STATE_FILE} 2>/dev/null",
                    f"Keepalived on {lb_name} is not MASTER or BACKUP {GATE_MINUTES} minutes after its resize (its state: {state}); "
                    "the next load balancer is not resized. Look at keepalived, then run pulumi up again: this step waits again")
    body = f"""\
{unless_pending(plan, lb_name)}{haproxy}{vrrp}rm -f {RESIZE_MARKER}
echo "contest-k8s: {lb_name} serves again after its resize (VRRP {state})"
"""
    return script(f"After the resize of {lb_name} ({plan.stack}): wait until it serves again.", body)
