"""Setup script of an API load balancer VM: HAProxy and Keepalived, each file validated before use."""

from __future__ import annotations

from ..plan import Plan
from .firewall import install_node_firewall
from .haproxy import haproxy_cfg
from .keepalived import CHECK_SCRIPT, check_script, keepalived_conf
from .netplan import ROUTES_FILE, routes_netplan
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
{put("/etc/keepalived/keepalived.conf", "0600", keepalived_conf(plan, lb_name), "systemctl reload-or-restart keepalived", check="keepalived -t -f")}
systemctl enable --quiet --now keepalived
"""
    return script(f"API load balancer {lb_name} ({plan.stack}): HAProxy to every control plane, Keepalived for the VIP {plan.api.vip.ip}.", body)
