"""SSH access to every VM, in one place: address, login user, jump host, and what must come first.

A host is ready for scripts once its VM exists, its SSH host key is recorded (every later connection
accepts only that key) and, on Ubuntu, its login user may sudo without a password
(`remote.grant_sudo`). Its login user's authorized keys follow the stack file from then on
(`render.access`). Hosts on the private switch are reached through the router, so they
are also ready only once the router's base config (its private NIC, forwarding) is applied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import pulumi

from . import artifacts
from .plan import MachineShape, Plan
from .remote import VYOS_INTERPRETER, Host, SshAccess, grant_sudo, record_host_key, run_script
from .render.access import authorized_keys_script
from .sakura.disk import Disk
from .sakura.server import Server


@dataclass(frozen=True)
class NodeAccessArgs:
    shapes: Sequence[MachineShape]
    plan: pulumi.Output[Plan]
    servers: dict[str, Server]
    boot_disks: dict[str, Disk]
    access: SshAccess
    password: pulumi.Input[str]  # the login user's password set by disk edit, used once for the sudo grant
    stack_key: pulumi.Input[str]  # the stack's public key, always kept in authorized_keys
    operator_keys: tuple[str, ...] = ()
    jump: Host | None = None  # for machines on the private switch
    after: Sequence[pulumi.Resource] = ()  # what private-switch machines wait for (the router's base config)


class NodeAccess(pulumi.ComponentResource):
    """Hosts for the given machines, each with its sudo grant and its authorized keys kept in step with the stack file."""

    hosts: dict[str, Host]

    def __init__(self, name: str, args: NodeAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:NodeAccess", name, None, opts)
        self.hosts = {}
        for shape in args.shapes:
            private = shape.segments[0] == "private"
            self.hosts[shape.name] = self._host(shape, args, args.jump if private else None, args.after if private else ())
        self.register_outputs({})

    def _host(self, shape: MachineShape, args: NodeAccessArgs, jump: Host | None, after: Sequence[pulumi.Resource]) -> Host:
        server = args.servers[shape.name]
        address = args.plan.apply(lambda p: str(p.machine(shape.name).address))
        identity = (server.id, args.boot_disks[shape.name].id)
        first_contact = Host(shape.name, address, shape.ssh_user, jump, (server, *after), identity=identity)
        pinned = record_host_key(f"{shape.name}-host-key", first_contact, args.access, parent=self)
        if shape.disk_source.os_tag is None:  # the VyOS router: configured through vbash, no sudo; keys in its config
            return dataclasses.replace(pinned, interpreter=VYOS_INTERPRETER)
        sudo = grant_sudo(f"{shape.name}-sudo", pinned, args.access, args.password, parent=self)
        host = dataclasses.replace(pinned, ready=(sudo,))
        keys = pulumi.Output.from_input(args.stack_key).apply(
            lambda key: authorized_keys_script(shape.name, shape.ssh_user, key, args.operator_keys))
        artifacts.publish(f"scripts/{shape.name}/authorized-keys.sh", "script", keys, host=shape.name)
        run_script(f"{shape.name}-ssh-keys", host, args.access, keys, parent=self)
        return host
