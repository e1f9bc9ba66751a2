"""The VyOS router's first boot: a cloud-init NoCloud seed (a `cidata` ISO holding user-data and meta-data).

Sakura guarantees disk edit only for its own public archives, and VyOS rebuilds its network and users
from its own configuration at boot, so a VyOS image is configured by cloud-init instead: VyOS reads
`vyos_config_commands` from the user-data on its first boot (a VyOS image built with cloud-init). The
seed holds no secret (addresses, public keys, the firewall); the rest arrives over SSH.
"""

from __future__ import annotations

import yaml

from ..plan import Plan
from .vyos import vyos_bootstrap_commands


def vyos_seed(plan: Plan, keys: tuple[str, ...]) -> dict[str, str]:
    """File name -> content of the seed: `user-data` and `meta-data`."""
    user_data = "#cloud-config\n" + yaml.safe_dump({"vyos_config_commands": vyos_bootstrap_commands(plan, keys)}, sort_keys=False, width=1000)
    meta_data = yaml.safe_dump({"instance-id": f"contest-k8s-{plan.stack}-router", "local-hostname": f"{plan.stack}-router"},
                               sort_keys=False)
    return {"meta-data": meta_data, "user-data": user_data}
