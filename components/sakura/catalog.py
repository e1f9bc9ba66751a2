"""What Sakura Cloud offers, as pure data, so a stack file is checked before any API call.

Sources are in ../shared/reference/sakura-cloud-api.md. The server provider still asks
`GET /product/server` for the exact plan at create time; this table only catches values
that can never exist (a 7-core VM, a 50 GB disk) while the config is read.
"""

# Zone name -> zone ID [IAG types/zone.go]. tk1v is the sandbox: its API works, its VMs never boot.
ZONES = {"tk1a": 21001, "tk1b": 21002, "is1a": 31001, "is1b": 31002, "is1c": 31003, "tk1v": 29001}
SANDBOX_ZONES = frozenset({"tk1v"})

# Standard-plan virtual cores and memory sizes (GB) of the public plan list.
CPU_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
MEMORY_SIZES_GB = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 224, 256, 384, 512)

# SSD plan (ID 4) sizes [MAN storage.html]; SizeMB = GB * 1024.
SSD_PLAN_ID = 4
DISK_SIZES_GB = (20, 40, 100, 250, 500, 1024, 2048, 4096)

# Archive sizes an upload may declare [IAG types/archive_size.go].
ARCHIVE_SIZES_GB = (20, 40, 60, 80, 100, 250, 500, 750, 1024)

# Router+switch ("Internet"): prefix lengths and bandwidths [IAG types/internet_constants.go].
ROUTER_PREFIX_LENGTHS = (26, 27, 28)
ROUTER_BANDWIDTHS_MBPS = (100, 250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000)

# In a router+switch block the network address, the gateway (+1), the router's own two
# addresses (+2, +3) and the broadcast address are reserved [IAG fake/pool.go]; the real
# reserved set is UNCONFIRMED, so the plan is checked again against the API's Min/Max.
FIRST_USABLE_OFFSET = 4

# OS name -> the tag that finds the public archive (Scope=shared) [IAG ostype/archive_ostype.go].
# Ubuntu only: the node and router scripts configure the network with netplan.
OS_ARCHIVE_TAGS = {
    "ubuntu2404": "ubuntu-24.04-latest",
    "ubuntu2204": "ubuntu-22.04-latest",
}

# NIC names inside the guest, in NIC order. virtio NICs on PCI slots 3, 4 give ens3, ens4 on
# Ubuntu (UNCONFIRMED for Sakura's images: every apply script checks the name holds the
# planned address and stops with a clear error, and the stack key `nodeNicNames` overrides them).
# VyOS names its NICs eth0, eth1 in order.
DEFAULT_NODE_NIC_NAMES = ("ens3", "ens4")
VYOS_NIC_NAMES = ("eth0", "eth1")

# Tags are capped at 10 per resource by the official library [IAG helper/plans/change_plan.go].
MAX_TAGS = 10


def block_size(prefix_length: int) -> int:
    return 2 ** (32 - prefix_length)


def last_usable_offset(prefix_length: int) -> int:
    """Offset of the last address a VM may take: the one before broadcast."""
    return block_size(prefix_length) - 2
