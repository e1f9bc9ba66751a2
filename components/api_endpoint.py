"""HA API endpoint layer: HAProxy + Keepalived on the load balancer VMs, applied over SSH."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import artifacts
from .plan import Plan
from .remote import Host, SshAccess, run_script
from .render.api_lb import api_lb_setup_script
from .render.haproxy import haproxy_cfg
from .render.keepalived import check_script, keepalived_conf


@dataclass(frozen=True)
class ApiLoadBalancerArgs:
    plan: pulumi.Output[Plan]
    hosts: dict[str, Host]
    access: SshAccess


class ApiLoadBalancer(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ApiLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:ApiLoadBalancer", name, None, opts)
        plan = args.plan
        self.setups = {}
        for lb in args.hosts:
            artifacts.publish(f"haproxy/{lb}/haproxy.cfg", "haproxy", plan.apply(lambda p: haproxy_cfg(p.api)), host=lb)
            artifacts.publish(f"keepalived/{lb}/check_haproxy.sh", "script", check_script(), host=lb)
            artifacts.publish(f"keepalived/{lb}/keepalived.conf", "keepalived", plan.apply(lambda p, n=lb: keepalived_conf(p, n)), host=lb)
            setup = plan.apply(lambda p, n=lb: api_lb_setup_script(p, n))
            artifacts.publish(f"scripts/{lb}/setup-api-lb.sh", "script", setup, host=lb)
            self.setups[lb] = run_script(f"{lb}-api-lb", args.hosts[lb], args.access, setup, parent=self)
        self.endpoint = plan.apply(lambda p: p.api.endpoint)
        self.register_outputs({"endpoint": self.endpoint})
