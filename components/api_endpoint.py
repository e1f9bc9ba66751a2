"""HA API endpoint layer: HAProxy + Keepalived on the load balancer VMs, applied over SSH.

Size changes of the load balancers go one at a time (components/resize.py): the next one's size
change waits for this one's gate (`<lb>-ready`: HAProxy answers, Keepalived in MASTER or BACKUP),
so the VIP always has a holder that serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from . import artifacts
from .plan import Plan
from .remote import Host, SshAccess, run_script
from .render.api_lb import api_lb_setup_script, lb_resize_drain_script, lb_resize_gate_script
from .render.haproxy import haproxy_cfg
from .render.keepalived import check_script, keepalived_conf, notify_script
from .resize import ResizeSteps, SizeFactory, chain_resizes


@dataclass(frozen=True)
class ApiLoadBalancerArgs:
    plan: pulumi.Output[Plan]
    hosts: dict[str, Host]
    access: SshAccess
    server_size: Optional[SizeFactory] = None  # a load balancer's ServerSize (ClusterMachines.server_size)


class ApiLoadBalancer(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ApiLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:ApiLoadBalancer", name, None, opts)
        plan = args.plan
        self._args = args
        self.setups = {}
        for lb in args.hosts:
            artifacts.publish(f"haproxy/{lb}/haproxy.cfg", "haproxy", plan.apply(lambda p: haproxy_cfg(p.api)), host=lb)
            artifacts.publish(f"keepalived/{lb}/check_haproxy.sh", "script", check_script(), host=lb)
            artifacts.publish(f"keepalived/{lb}/notify_state.sh", "script", notify_script(), host=lb)
            artifacts.publish(f"keepalived/{lb}/keepalived.conf", "keepalived", plan.apply(lambda p, n=lb: keepalived_conf(p, n)), host=lb)
            setup = plan.apply(lambda p, n=lb: api_lb_setup_script(p, n))
            artifacts.publish(f"scripts/{lb}/setup-api-lb.sh", "script", setup, host=lb)
            self.setups[lb] = run_script(f"{lb}-api-lb", args.hosts[lb], args.access, setup, parent=self)
        if args.server_size is not None:
            chain_resizes([[lb] for lb in args.hosts], args.server_size, ResizeSteps(self._drain, self._gate))
        self.endpoint = plan.apply(lambda p: p.api.endpoint)
        self.register_outputs({"endpoint": self.endpoint})

    def _drain(self, lb: str, after) -> pulumi.Resource:
        text = self._args.plan.apply(lambda p: lb_resize_drain_script(p, lb))
        artifacts.publish(f"scripts/{lb}/resize-drain.sh", "script", text, host=lb)
        return run_script(f"{lb}-drain", self._args.hosts[lb], self._args.access, text, parent=self, depends_on=after)

    def _gate(self, lb: str, size: pulumi.Resource) -> pulumi.Resource:
        text = self._args.plan.apply(lambda p: lb_resize_gate_script(p, lb))
        artifacts.publish(f"scripts/{lb}/resize-gate.sh", "script", text, host=lb)
        return run_script(f"{lb}-ready", self._args.hosts[lb], self._args.access, text, parent=self, depends_on=[size])
