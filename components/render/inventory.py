"""The VM layer as reviewable JSON: every server, disk, NIC and switch the stack asks Sakura for."""

from __future__ import annotations

import json

from ..plan import Plan


def inventory_json(plan: Plan, tags: dict[str, list[str]]) -> str:
    """`tags` maps each resource name to the tags it carries (without the replacement hash)."""
    servers = []
    for m in plan.machines:
        disks = [{"name": f"{m.name}-boot", "sizeGb": m.disk_gb, "source": _source(m.disk_source), "tags": tags[f"{m.name}-boot"]}]
        if m.data_disk_gb:
            disks.append({"name": f"{m.name}-data", "sizeGb": m.data_disk_gb, "source": "blank", "tags": tags[f"{m.name}-data"]})
        servers.append({
            "name": m.name,
            "role": m.role,
            "cpu": m.cpu,
            "memoryGb": m.memory_gb,
            "nics": [{"switch": "router-switch" if n.segment == "global" else "private-switch",
                      "address": str(n.address), "gateway": str(n.gateway) if n.gateway else None} for n in m.nics],
            "disks": disks,
            "sshUser": m.ssh_user,
            "tags": tags[m.name],
        })
    document = {
        "stack": plan.stack,
        "zone": plan.zone,
        "protectStateful": plan.protect_stateful,
        "routerSwitch": {"block": str(plan.global_block.network), "gateway": str(plan.global_block.gateway),
                         "usable": f"{plan.global_block.first_usable}-{plan.global_block.last_usable}",
                         "tags": tags["router-switch"]},
        "privateSwitch": {"network": str(plan.private_network), "tags": tags["private-switch"]},
        "servers": servers,
    }
    return json.dumps(document, indent=2) + "\n"


def _source(source) -> str:
    if source.os_tag:
        return f"public archive tagged {source.os_tag}"
    if source.archive_id:
        return f"archive {source.archive_id}"
    return f"archive uploaded from {source.upload_file}"
