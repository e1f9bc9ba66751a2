"""SSH access to every VM, in one place: address, login user, jump host, and what must come first.

A host is ready for scripts once its VM exists and, on Ubuntu, its login user may sudo without a
password (`remote.grant_sudo`). Hosts on the private switch are reached through the router, so they
are also ready only once the router's base config (its private NIC, forwarding) is applied.
"""

from __future__ import annotations

from typing import Sequence

import pulumi

from .plan import MachineShape, Plan
from .remote import VYOS_INTERPRETER, Host, SshAccess, grant_sudo
from .sakura.disk import Disk
from .sakura.server import Server


def make_host(shape: MachineShape, plan: pulumi.Output[Plan], server: Server, boot_disk: Disk, access: SshAccess,
              password: pulumi.Input[str], parent: pulumi.Resource, jump: Host | None = None,
              after: Sequence[pulumi.Resource] = ()) -> Host:
    address = plan.apply(lambda p: str(p.machine(shape.name).address))
    identity = (server.id, boot_disk.id)
    if shape.disk_source.os_tag is None:  # the VyOS router: configured through vbash, no sudo
        return Host(shape.name, address, shape.ssh_user, jump, (server, *after), VYOS_INTERPRETER, identity)
    pending = Host(shape.name, address, shape.ssh_user, jump, (server, *after), identity=identity)
    sudo = grant_sudo(f"{shape.name}-sudo", pending, access, password, parent=parent)
    return Host(shape.name, address, shape.ssh_user, jump, (sudo,), identity=identity)


class NodeAccess(pulumi.ComponentResource):
    """Hosts for the given machines; private-switch machines go through `jump` after `after`."""

    hosts: dict[str, Host]

    def __init__(self, name: str, shapes: Sequence[MachineShape], plan: pulumi.Output[Plan], servers: dict[str, Server],
                 boot_disks: dict[str, Disk], access: SshAccess, password: pulumi.Input[str], jump: Host | None = None,
                 after: Sequence[pulumi.Resource] = (), opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:NodeAccess", name, None, opts)
        self.hosts = {}
        for shape in shapes:
            private = shape.segments[0] == "private"
            self.hosts[shape.name] = make_host(shape, plan, servers[shape.name], boot_disks[shape.name], access, password, self,
                                               jump if private else None, after if private else ())
        self.register_outputs({})
