"""How long each step of a fresh `pulumi up` takes on the real cloud: for the critical path and the fake API.

Sakura publishes no durations for its asynchronous operations: neither its manual's pages on disks,
servers, switches and router+switches nor the API reference (../shared/reference/sakura-cloud-api.md)
gives a number, and no published measurement was found. The values below are therefore choices,
made on the slow side, and named as such; the fake API (tests/fake_sakura.py) plays them, divided by
a time scale, and `python -m components critical-path` adds them up along the program's own graph.
Change them here when real measurements exist.
"""

from __future__ import annotations

# Sakura's asynchronous operations, in seconds (conservative choices: see above).
ROUTER_VISIBLE = 180.0  # POST /internet until its GET stops answering 404 (the provider waits up to 30 min)
DISK_FROM_ARCHIVE_BASE = 90.0  # a copy of a public archive (about 3 GB used of 20 GB) until `available`
DISK_EDIT = 60.0  # PUT /disk/{id}/config of an unattached copy until it is `available` again
DISK_PER_GB = 0.25  # and per GB of the new disk's size
BLANK_DISK = 15.0  # an empty disk (a worker's data disk)
SERVER_BOOT = 60.0  # power on until Instance.Status is `up`
SERVER_SHUTDOWN = 30.0  # an ACPI shutdown until `down` (forced after 3 minutes)
PLAN_CHANGE = 15.0  # PUT /server/{id}/plan or /internet/{id}/bandwidth
QUICK = 3.0  # a switch, an SSH key, a packet filter: created at once
ISO_UPLOAD = 60.0  # the seed ISO's upload and its `available`
ARCHIVE_UPLOAD = 600.0  # a VyOS image (about 1 GB) over FTPS, and the archive's `available`

# Work on the VMs, in seconds: estimates of the scripts' own time with a fast package mirror.
NODE_STEPS = {
    "host-key": 90.0,  # the guest's boot after the VM is up, until sshd answers (the first command waits for it)
    "sudo": 3.0,
    "ssh-keys": 3.0,
    "prepare": 270.0,  # apt update, containerd, modules, sysctls, firewall; kubelet/kubeadm/kubectl; a control plane's images
    "router-config": 150.0,  # frr, nftables, WireGuard installed and configured
    "router-bgp": 10.0,
    "api-lb": 90.0,  # HAProxy and Keepalived installed and configured
    "join-ticket": 5.0,
    # Packages (about 30 s) and the control plane's images (about 60 s) moved from these into "prepare".
    "init": 150.0,  # `kubeadm init` with packages and images in place: certificates, static pods healthy, addons
    "join": 60.0,  # `kubeadm join` with packages and images in place: for a control plane the etcd member and static pods
    "nodes-ready": 60.0,  # after Cilium's release: the agents of the nodes that joined last pull and start
    "membership": 1.0,
    "upgrade": 5.0,  # nothing to do on day one
}
CHART_INSTALL = 240.0  # a chart until what Helm or pulumi-kubernetes waits for is ready: image pulls, pods started


def disk_seconds(size_gb: int, from_archive: bool) -> float:
    return DISK_FROM_ARCHIVE_BASE + DISK_PER_GB * size_gb if from_archive else BLANK_DISK
