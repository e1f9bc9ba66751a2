"""VM layer: the router+switch, the private switch, the SSH key, the packet filters, and every VM with its disks.

Resource names are the node names from the stack file (`worker-1`, `worker-1-boot`), never list
positions, so adding a node only adds resources. Disks and the router block are `protect`ed when
the stack protects stateful resources (prd by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
from ipaddress import IPv4Address, IPv4Network

import pulumi

from . import artifacts
from .config import PROJECT, LoadedConfig
from .plan import GlobalBlock, MachineShape, Plan, build_plan, machine_shapes
from .render.inventory import inventory_json
from .render.cloud_init import vyos_seed
from .render.firewall import node_firewall
from .render.packet_filter import packet_filters_json, sakura_expression
from .sakura.archive import Archive
from .sakura.packet_filter import PacketFilter
from .sakura.seed_iso import SeedIso
from .sakura.disk import Disk
from .sakura.disk_edit import DiskEdit, DiskEditParameters
from .sakura.provider import OWNER_TAG, Common
from .sakura.router_switch import RouterSwitch
from .sakura.server import Server, ServerSpec
from .sakura.server_size import ServerSize
from .sakura.ssh_key import SshKey
from .sakura.switch import Switch


FILTERED_ROLES = ("router", "api-lb", "control-plane")  # the VMs with a NIC on the router's switch


@dataclass(frozen=True)
class ClusterMachinesArgs:
    loaded: LoadedConfig
    ssh_public_key: pulumi.Input[str]
    login_password: pulumi.Input[str]
    provider: pulumi.ProviderResource  # the project's provider plugin, configured with the Sakura API key
    owner: pulumi.Input[str]  # this state's identity: objects tagged with another owner are never adopted
    login_keys: pulumi.Input[tuple[str, ...]]  # the stack's and the operators' SSH keys, for the VyOS router's first boot


class ClusterMachines(pulumi.ComponentResource):
    plan: pulumi.Output[Plan]

    def __init__(self, name: str, args: ClusterMachinesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:ClusterMachines", name, None, opts)
        loaded, c = args.loaded, args.loaded.config
        stack = loaded.stack
        tags: dict[str, list[str]] = {}

        def common(resource: str, *extra: str) -> Common:
            tags[resource] = [PROJECT, f"stack={stack}", f"name={resource}", *extra]
            owner = pulumi.Output.concat(OWNER_TAG, args.owner)
            return Common(c.zone, (*tags[resource], owner), args.provider)

        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=loaded.protect_stateful)
        prefix = c.network.global_prefix_length
        router_switch = RouterSwitch("router-switch", common("router-switch"), f"{stack}-router",
                                     f"{PROJECT} {stack}: global block", prefix, c.network.bandwidth_mbps, stateful)
        private_switch = Switch("private-switch", common("private-switch"), f"{stack}-private",
                                f"{PROJECT} {stack}: router and workers", child)
        ssh_key = SshKey("ssh-key", common("ssh-key"), f"{PROJECT}-{stack}", args.ssh_public_key, child)
        switch_ids = {"global": router_switch.switchId, "private": private_switch.sakuraId}

        self.plan = pulumi.Output.all(
            router_switch.networkAddress, router_switch.gateway, router_switch.firstUsable, router_switch.lastUsable
        ).apply(lambda v: build_plan(loaded, GlobalBlock(IPv4Network(f"{v[0]}/{prefix}"), *map(IPv4Address, v[1:]))))

        # One packet filter per role on the router's switch; every such VM's NIC there takes its role's.
        filters = {role: PacketFilter(f"{role}-filter", common(f"{role}-filter"), f"{stack}-{role}", f"{PROJECT} {stack}: {role}",
                                      self.plan.apply(lambda p, r=role: sakura_expression(p.access.filter(r))), child)
                   for role in FILTERED_ROLES}
        artifacts.publish("sakura/packet-filters.json", "sakura", self.plan.apply(packet_filters_json))
        # What the load balancers' and the nodes' scripts install next to the filters (see render.firewall).
        artifacts.publish("firewall/nodes.nft", "firewall", self.plan.apply(node_firewall))

        self.servers: dict[str, Server] = {}
        self.boot_disks: dict[str, Disk] = {}
        self._shapes = {shape.name: shape for shape in machine_shapes(loaded)}
        self._zone, self._provider = c.zone, args.provider
        # A VM is deleted before its replacement is made, so the node leaves the cluster (drain, etcd
        # member removal) before anything with its name joins again. Servers are not chained: every VM
        # is created at once. Their later size changes are (`server_size`, components/resize.py).
        for shape in machine_shapes(loaded):
            node_tags = (f"node={shape.name}", f"role={shape.role}")
            source = self._source(shape, common, child)
            boot = Disk(f"{shape.name}-boot", common(f"{shape.name}-boot", *node_tags), f"{stack}-{shape.name}",
                        shape.disk_gb, source, stateful)
            self.boot_disks[shape.name] = boot
            disk_ids, seed_id, ready = [boot.sakuraId], None, []
            if shape.disk_source.os_tag is None:  # a VyOS image: no disk edit; its first boot reads a cloud-init seed
                files = pulumi.Output.all(self.plan, args.login_keys).apply(lambda v: vyos_seed(v[0], tuple(v[1])))
                for file_name in ("user-data", "meta-data"):
                    artifacts.publish(f"router/{shape.name}/seed/{file_name}", "router", files.apply(lambda f, n=file_name: f[n]),
                                      host=shape.name)
                seed = SeedIso(f"{shape.name}-seed", common(f"{shape.name}-seed", *node_tags), f"{stack}-{shape.name}-seed", files, child)
                seed_id = seed.sakuraId
            else:
                first_nic = self.plan.apply(lambda p, n=shape.name: p.machine(n).nics[0])
                parameters = DiskEditParameters(
                    host_name=shape.name,
                    ssh_key_ids=(ssh_key.sakuraId,),
                    password=args.login_password,
                    public_keys=c.ssh.authorized_keys,
                    ip_address=first_nic.apply(lambda nic: str(nic.address.ip)),
                    prefix_length=first_nic.apply(lambda nic: nic.address.network.prefixlen),
                    gateway=first_nic.apply(lambda nic: str(nic.gateway) if nic.gateway else ""),
                )
                ready.append(DiskEdit(f"{shape.name}-boot-edit", c.zone, boot, parameters, args.provider, self))
            if shape.data_disk_gb:
                data = Disk(f"{shape.name}-data", common(f"{shape.name}-data", *node_tags), f"{stack}-{shape.name}-data",
                            shape.data_disk_gb, {}, stateful)
                disk_ids.append(data.sakuraId)
            spec = ServerSpec(f"{stack}-{shape.name}", shape.name, shape.cpu, shape.memory_gb,
                              tuple(switch_ids[s] for s in shape.segments), tuple(disk_ids),
                              packet_filter_ids=tuple(filters[shape.role].sakuraId if s == "global" else "" for s in shape.segments),
                              cdrom_id=seed_id)
            self.servers[shape.name] = Server(shape.name, common(shape.name, *node_tags), spec,
                                              pulumi.ResourceOptions(parent=self, delete_before_replace=True, depends_on=ready))

        artifacts.publish("sakura/inventory.json", "sakura", self.plan.apply(lambda p: inventory_json(p, tags)))
        self.register_outputs({})

    def server_size(self, node: str, after: Sequence[pulumi.Resource] = ()) -> ServerSize:
        """`node`'s size as the stack file says, applied to its VM in place once everything in `after` is done.
        Called by the layer that drains and gates the node (components/resize.py): used by api_endpoint,
        kubernetes_cluster, and stack.py for the roles whose layer is off."""
        shape = self._shapes[node]
        return ServerSize(f"{node}-size", self._zone, self.servers[node], shape.cpu, shape.memory_gb, self._provider, self, after)

    def _source(self, shape: MachineShape, common, child: pulumi.ResourceOptions) -> dict:
        source = shape.disk_source
        if source.os_tag:
            return {"osTag": source.os_tag}
        if source.archive_id:
            return {"archiveId": source.archive_id}
        image = Archive(f"{shape.name}-image", common(f"{shape.name}-image"), f"{shape.name}-image", source.upload_file,
                        source.upload_size_gb, child)
        return {"archiveId": image.sakuraId}
