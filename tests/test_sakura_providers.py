"""The Sakura dynamic providers, driven through real HTTP against the fake API on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import threading
import time

import pytest
from pulumi.runtime.rpc import UNKNOWN
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.sakura.archive import ArchiveType
from components.sakura.client import AuthenticationError, ClientSettings, Credentials, SakuraApiError, WaitTimeout
from components.sakura.disk import DiskType
from components.sakura.disk_edit import DiskEditType
from components.sakura.provider import PREVIOUS_ID_TAG, Diff, MissingCredentials, OwnedElsewhere, ProviderConfig, SakuraResourceType
from components.sakura.router_switch import RouterSwitchType
from components.sakura.server import ServerType
from components.sakura.server_size import ServerSizeType
from components.sakura.ssh_key import SshKeyType
from components.sakura.switch import SwitchType

from .fake_sakura import FakeSakura

ZONE = "is1b"
FAST = ClientSettings(requests_per_second=2000, max_retries=6, backoff_initial=0.01, backoff_cap=0.05, request_timeout=0.4,
                      poll_interval=0.01, poll_timeout=5, not_found_grace=5)


OWNER = "owner=0123456789abcdef"


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN", "fake-token")
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN_SECRET", "fake-secret")
    with FakeSakura() as api:
        yield api


def config(fake, **overrides) -> ProviderConfig:
    return ProviderConfig(**{"api_root_url": fake.root_url, "settings": FAST, **overrides})


def kind(cls, fake, **overrides) -> SakuraResourceType:
    """A resource type as the provider plugin serves it, pointed at the fake API."""
    return cls(config(fake, **overrides))


def base(fake, name: str, owner: str = OWNER, **extra) -> dict:
    return {"zone": ZONE, "name": name, "description": "test", "tags": ["contest-k8s", "stack=test", f"name={name}", owner], **extra}


def make_switch(fake, name="private-switch"):
    provider = kind(SwitchType, fake)
    return provider, provider.create(base(fake, name))


def make_server_inputs(fake, name="worker-1", cpu=4, memory=8):
    _, (switch_id, _) = make_switch(fake, f"{name}-switch")
    disks = kind(DiskType, fake)
    boot_id, _ = disks.create(base(fake, f"{name}-boot", sizeGb=40, planId=4, connection="virtio", source={"osTag": "ubuntu-24.04-latest"}))
    data_id, _ = disks.create(base(fake, f"{name}-data", sizeGb=100, planId=4, connection="virtio", source={}))
    return base(fake, name, hostName=name, cpu=cpu, memoryGb=memory, interfaceDriver="virtio", nics=[switch_id],
                diskIds=[boot_id, data_id])


# --------------------------------------------------------------------------- switch and router


def test_switch_create_read_diff_update_delete(fake):
    provider, (switch_id, outs) = make_switch(fake)
    obj = fake.objects(ZONE, "switch")[switch_id]
    assert obj["Name"] == "private-switch" and "name=private-switch" in obj["Tags"] and OWNER in obj["Tags"]
    assert any(t.startswith("spec=") for t in obj["Tags"])
    assert provider.read(switch_id, outs) == outs
    renamed = {**outs, "name": "private-2"}
    diff = provider.diff(outs, renamed)
    assert diff.updates == ("name",) and diff.replaces == ()
    assert provider.diff(outs, {**outs, "zone": "tk1a"}).replaces == ("zone",)
    assert not provider.diff(outs, dict(outs)).changed
    provider.update(switch_id, outs, renamed)
    assert fake.objects(ZONE, "switch")[switch_id]["Name"] == "private-2"
    provider.delete(switch_id, outs)
    assert switch_id not in fake.objects(ZONE, "switch")
    provider.delete(switch_id, outs)  # already gone: still a success
    assert provider.read(switch_id, outs) is None


def test_router_switch_reports_its_block_and_waits_out_404_after_create(fake):
    fake.faults.router_hidden_seconds = 0.3
    provider = kind(RouterSwitchType, fake)
    start = time.monotonic()
    _, outs = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    assert time.monotonic() - start >= 0.3
    block = ipaddress.IPv4Network(f"{outs['networkAddress']}/27")
    assert outs["gateway"] == str(block.network_address + 1)
    assert (outs["firstUsable"], outs["lastUsable"]) == (str(block.network_address + 4), str(block.broadcast_address - 1))
    assert fake.calls("POST") == 1 and fake.count("internet") == 1


def test_router_bandwidth_change_follows_the_new_id(fake):
    provider = kind(RouterSwitchType, fake)
    router_id, outs = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    faster = {**outs, "bandwidthMbps": 250}
    assert provider.diff(outs, faster) == type(provider.diff(outs, faster))(replaces=(), updates=("bandwidthMbps",))
    updated = provider.update(router_id, outs, faster)
    assert updated["sakuraId"] != router_id
    router = fake.objects(ZONE, "internet")[updated["sakuraId"]]
    assert PREVIOUS_ID_TAG + router_id in router["Tags"] and router["BandWidthMbps"] == 250
    # state that still holds the old ID finds the router through @previous-id
    read = provider.read(router_id, outs)
    assert read["sakuraId"] == updated["sakuraId"] and read["bandwidthMbps"] == 250
    assert provider.diff(outs, {**outs, "prefixLength": 28}).replaces == ("prefixLength",)
    provider.delete(router_id, updated)
    assert fake.count("internet") == 0 and fake.count("switch") == 0


def test_previous_id_tags_do_not_pile_up(fake):
    """Every plan change adds `@previous-id`; only the newest are kept, so the 10-tag limit is never reached."""
    provider = kind(RouterSwitchType, fake)
    router_id, outs = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    for bandwidth in (250, 500, 1000, 1500, 2000, 100):
        outs = provider.update(router_id, outs, {**outs, "bandwidthMbps": bandwidth})
    tags = fake.objects(ZONE, "internet")[outs["sakuraId"]]["Tags"]
    assert len([t for t in tags if t.startswith(PREVIOUS_ID_TAG)]) == 2 and len(tags) <= 10
    assert provider.read(router_id, {**outs, "sakuraId": outs["sakuraId"]})["bandwidthMbps"] == 100


def test_an_update_of_a_router_that_is_gone_says_so(fake):
    provider = kind(RouterSwitchType, fake)
    router_id, outs = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    provider.delete(router_id, outs)
    with pytest.raises(SakuraApiError, match="is gone; run `pulumi refresh`"):
        provider.update(router_id, outs, {**outs, "bandwidthMbps": 250})


# --------------------------------------------------------------------------- SSH key


def test_ssh_key_is_global_and_adopted_by_name_and_key(fake):
    provider = kind(SshKeyType, fake)
    props = {"name": "contest-k8s-test", "description": "d", "publicKey": "ssh-ed25519 AAAAfake test"}
    first_id, first = provider.create(props)
    again_id, _ = provider.create(props)
    assert first_id == again_id and fake.count("sshkey", zone="is1a") == 1
    assert provider.diff(first, {**first, "publicKey": "ssh-ed25519 BBBB"}).replaces == ("publicKey",)
    provider.update(first_id, first, {**first, "name": "renamed"})
    assert fake.objects("is1a", "sshkey")[first_id]["Name"] == "renamed"
    provider.delete(first_id, first)
    provider.delete(first_id, first)
    assert fake.count("sshkey", zone="is1a") == 0


# --------------------------------------------------------------------------- disks


EDIT = {"hostName": "cp-1", "sshKeyIds": ["113000000999"], "publicKeys": ["ssh-ed25519 AAAAoperator"], "password": "pw" * 8,
        "ipAddress": "192.0.2.7", "prefixLength": 27, "gateway": "192.0.2.1", "disablePasswordAuth": True}


def boot_disk(fake, name="cp-1-boot") -> tuple[str, dict]:
    return kind(DiskType, fake).create(base(fake, name, sizeGb=100, planId=4, connection="virtio", source={"osTag": "ubuntu-24.04-latest"}))


def edit_inputs(disk_id: str, **extra) -> dict:
    return {"zone": ZONE, "diskId": disk_id, "parameters": EDIT, "madeWithEdit": False, **extra}


EDIT_BODY = {"HostName": "cp-1", "SSHKeys": [{"ID": 113000000999}, {"PublicKey": "ssh-ed25519 AAAAoperator"}],
             "Password": "pw" * 8, "DisablePWAuth": True, "EnableDHCP": False, "ChangePartitionUUID": True,
             "UserIPAddress": "192.0.2.7", "UserSubnet": {"DefaultRoute": "192.0.2.1", "NetworkMaskLen": 27}}


def test_disk_from_os_tag_then_its_edit(fake):
    """The copy is posted without disk edit; the edit is its own PUT once the copy is available."""
    provider = kind(DiskType, fake)
    disk_id, outs = boot_disk(fake)
    disk = fake.objects(ZONE, "disk")[disk_id]
    archive = fake.objects(ZONE, "archive")[str(disk["SourceArchive"]["ID"])]
    assert "ubuntu-24.04-latest" in archive["Tags"] and outs["sourceArchiveId"] == str(archive["ID"])
    assert disk["Availability"] == "available" and disk["SizeMB"] == 100 * 1024 and disk["_edit"] is None
    edit_id, edit_outs = kind(DiskEditType, fake).create(edit_inputs(disk_id))
    assert disk["_edit"] == EDIT_BODY and disk["Availability"] == "available"
    assert (edit_id, edit_outs["applied"]) == (f"{disk_id}-edit", True)
    assert [p for m, p in fake.log if m == "PUT"] == [f"disk/{disk_id}/config"]
    for key in ("sizeGb", "source"):
        assert provider.diff(outs, {**outs, key: "changed"}).replaces == (key,)
    assert provider.diff(outs, {**outs, "tags": ["x"]}).replaces == ()
    provider.update(disk_id, outs, {**outs, "name": "cp-1-root"})
    assert fake.objects(ZONE, "disk")[disk_id]["Name"] == "cp-1-root"
    assert kind(DiskEditType, fake).read(edit_id, edit_outs) == edit_outs
    provider.delete(disk_id, outs)
    provider.delete(disk_id, outs)
    assert fake.count("disk") == 0
    assert kind(DiskEditType, fake).read(edit_id, edit_outs) is None


def test_disk_edit_is_create_only(fake):
    """Adding an operator key (or any disk-edit change) never edits or replaces a disk again; a new disk gets its own edit."""
    disk_id, _ = boot_disk(fake)
    edits = kind(DiskEditType, fake)
    _, outs = edits.create(edit_inputs(disk_id))
    more_keys = {**outs, "parameters": {**EDIT, "publicKeys": EDIT["publicKeys"] + ["ssh-ed25519 AAAAsecond"]}}
    assert edits.diff(outs, more_keys) == Diff()
    assert edits.diff(outs, {**outs, "diskId": "113000000777"}).replaces == ("diskId",)
    assert fake.calls("PUT") == 1


def test_a_disk_edited_at_creation_keeps_its_state_and_is_not_edited_again(fake):
    """Disks made before DiskEdit existed carry `edit` in their state: the new inputs (without it) change nothing,
    a refresh or an update keeps only that the disk was edited (not the password), and their DiskEdit records
    that without a request."""
    disk_id, outs = boot_disk(fake)
    legacy = {**outs, "edit": EDIT}
    disks = kind(DiskType, fake)
    assert disks.diff(legacy, outs) == Diff()
    assert disks.update(disk_id, legacy, {**outs, "tags": outs["tags"] + ["x=y"]})["edit"] == {"editedAtCreation": True}
    assert disks.read(disk_id, legacy)["edit"] == {"editedAtCreation": True}
    assert disks.preview_update(legacy, outs)["edit"] == {"editedAtCreation": True}
    assert "edit" not in disks.update(disk_id, outs, {**outs, "tags": outs["tags"] + ["x=y"]}), "a disk made without edit has none"
    puts = fake.calls("PUT")
    _, edit_outs = kind(DiskEditType, fake).create(edit_inputs(disk_id, madeWithEdit=True))
    assert edit_outs["applied"] is False and fake.calls("PUT") == puts and fake.objects(ZONE, "disk")[disk_id]["_edit"] is None


def test_disk_edit_never_edits_a_disk_in_use_by_a_vm(fake):
    """A VM is made only after its disk's edit: a disk in use was edited by a run whose state was lost."""
    inputs = make_server_inputs(fake)
    kind(ServerType, fake).create(inputs)
    puts = fake.calls("PUT")
    _, outs = kind(DiskEditType, fake).create(edit_inputs(inputs["diskIds"][0]))
    assert outs["applied"] is False and fake.calls("PUT") == puts


def test_disk_edit_whose_answer_is_lost_is_sent_again_once_the_disk_is_available(fake):
    disk_id, _ = boot_disk(fake)
    fake.faults.after_effect["PUT disk/*/config"] = ["timeout"]
    _, outs = kind(DiskEditType, fake).create(edit_inputs(disk_id))
    assert outs["applied"] is True and fake.objects(ZONE, "disk")[disk_id]["_edit"] == EDIT_BODY
    assert [p for m, p in fake.log if m == "PUT"] == [f"disk/{disk_id}/config"] * 2


def test_a_re_sent_disk_edit_refused_as_running_waits_for_the_first(fake):
    """If the first edit had not started when the disk was seen available, the re-sent one is refused (409): the
    first one is running, and the create waits for it instead of failing."""
    disk_id, _ = boot_disk(fake)
    fake.faults.after_effect["PUT disk/*/config"] = ["timeout", "still_creating"]
    _, outs = kind(DiskEditType, fake).create(edit_inputs(disk_id))
    assert outs["applied"] is True and fake.objects(ZONE, "disk")[disk_id]["Availability"] == "available"
    assert fake.calls("PUT") == 2


def test_unknown_os_tag_is_a_clear_error(fake):
    with pytest.raises(SakuraApiError, match="no public archive tagged 'ubuntu-99.04-latest' in zone is1b"):
        kind(DiskType, fake).create(base(fake, "x-boot", sizeGb=20, source={"osTag": "ubuntu-99.04-latest"}))
    assert fake.count("disk") == 0


def test_failed_disk_fails_fast_and_leaves_no_orphan(fake):
    fake.faults.disk_copy_fails = True
    start = time.monotonic()
    with pytest.raises(SakuraApiError) as caught:
        kind(DiskType, fake).create(base(fake, "worker-1-boot", sizeGb=250, source={"osTag": "ubuntu-24.04-latest"}))
    elapsed = time.monotonic() - start
    assert caught.value.error_code == "failed_state" and "worker-1-boot is in state 'failed'" in str(caught.value)
    assert elapsed < 1.0, f"took {elapsed:.2f}s: a failed disk must not wait for the poll timeout ({FAST.poll_timeout}s)"
    assert fake.count("disk") == 0


# --------------------------------------------------------------------------- servers


def test_server_create_attaches_disks_in_order_and_powers_on(fake):
    inputs = make_server_inputs(fake)
    server_id, outs = kind(ServerType, fake).create(inputs)
    server = fake.objects(ZONE, "server")[server_id]
    assert server["Instance"]["Status"] == "up" and outs["instanceStatus"] == "up"
    assert [str(d["ID"]) for d in server["Disks"]] == inputs["diskIds"]
    assert [str(n["Switch"]["ID"]) for n in server["Interfaces"]] == inputs["nics"]
    assert outs["macAddresses"] == [n["MACAddress"] for n in server["Interfaces"]]
    assert server["ServerPlan"] == {"CPU": 4, "MemoryMB": 8192, "Commitment": "standard"}
    assert server["HostName"] == "worker-1"


def make_sized_server(fake, **inputs):
    """A server and its size resource, created as the program creates them (the size's create changes nothing)."""
    servers, sizes = kind(ServerType, fake), kind(ServerSizeType, fake)
    server_inputs = make_server_inputs(fake, **inputs)
    server_id, server = servers.create(server_inputs)
    size_inputs = {"zone": ZONE, "serverId": server_id, "liveIdHint": server["sakuraId"], "cpu": server["cpu"], "memoryGb": server["memoryGb"]}
    size_id, size = sizes.create(size_inputs)
    return servers, server_id, server, sizes, size_id, size


def test_a_size_create_changes_nothing_when_the_vm_has_that_size(fake):
    calls = len(fake.log)
    _, server_id, _, _, _, size = make_sized_server(fake)
    after_server = [c for c in fake.log[calls:] if c[0] != "GET"]
    assert size["sakuraId"] == server_id and size["instanceStatus"] == "up"
    calls = len(fake.log)
    kind(ServerSizeType, fake).create({**size, "sakuraId": None})
    assert [c for c in fake.log[calls:] if c[0] != "GET"] == [], "day one: one GET, no power request, no plan change"
    assert after_server


def test_server_size_change_follows_previous_id(fake):
    servers, server_id, server, sizes, size_id, size = make_sized_server(fake)
    bigger = {**size, "cpu": 8, "memoryGb": 32}
    diff = sizes.diff(size, bigger)
    assert diff.updates == ("cpu", "memoryGb") and diff.replaces == ()
    assert not servers.diff(server, {**server, "cpu": 8, "memoryGb": 32}).changed, "the server keeps the size it was made with"
    updated = sizes.update(size_id, size, bigger)
    new_id = updated["sakuraId"]
    assert new_id != server_id and fake.count("server") == 1
    live = fake.objects(ZONE, "server")[new_id]
    assert PREVIOUS_ID_TAG + server_id in live["Tags"] and live["Instance"]["Status"] == "up"
    assert live["ServerPlan"]["CPU"] == 8 and updated["cpu"] == 8
    read = servers.read(server_id, server)  # the server's state still holds the old ID: found through the tag
    assert read["sakuraId"] == new_id and read["cpu"] == 8
    # a later metadata update of the server keeps the @previous-id tag, so the chain survives
    servers.update(server_id, server, {**server, "name": "worker-1-renamed"})
    assert PREVIOUS_ID_TAG + server_id in fake.objects(ZONE, "server")[new_id]["Tags"]
    assert sizes.read(size_id, updated)["memoryGb"] == 32
    servers.delete(server_id, server)
    assert fake.count("server") == 0


def test_repeated_resizes_keep_two_previous_ids_and_the_first_id_always_finds_the_vm(fake):
    """However many size changes, the VM carries at most two `@previous-id` tags: the one before the last change and the
    first ID (the server's Pulumi ID), so a server state from any time still finds its VM."""
    servers, server_id, server, sizes, size_id, size = make_sized_server(fake)
    states = [server]
    for cpu, memory in ((8, 32), (6, 16), (4, 8), (12, 48), (2, 4)):
        size = sizes.update(size_id, size, {**size, "cpu": cpu, "memoryGb": memory})
        states.append(servers.read(server_id, states[-1]))
    live = fake.objects(ZONE, "server")[size["sakuraId"]]
    previous = sorted(t for t in live["Tags"] if t.startswith(PREVIOUS_ID_TAG))
    assert len(previous) == 2 and PREVIOUS_ID_TAG + server_id in previous and len(live["Tags"]) <= 10
    assert live["ServerPlan"] == {"CPU": 2, "MemoryMB": 4096, "Commitment": "standard"}
    for state in states:  # each a server state saved at some point: the live VM is found from each
        assert servers.read(server_id, state)["sakuraId"] == size["sakuraId"]
    servers.update(server_id, server, {**server, "description": "found from its first ID"})
    assert fake.objects(ZONE, "server")[size["sakuraId"]]["Description"] == "found from its first ID"


def test_a_resize_of_a_vm_with_too_many_tags_fails_before_it_is_shut_down(fake):
    servers, server_id, server, sizes, size_id, size = make_sized_server(fake)
    fake.objects(ZONE, "server")[server_id]["Tags"] += [f"extra={i}" for i in range(5)]  # added outside Pulumi
    assert len(fake.objects(ZONE, "server")[server_id]["Tags"]) == 10
    with pytest.raises(ValueError, match="nothing was changed"):
        sizes.update(size_id, size, {**size, "cpu": 8, "memoryGb": 32})
    assert fake.objects(ZONE, "server")[server_id]["Instance"]["Status"] == "up" and not _power_requests(fake)
    with pytest.raises(ValueError, match="are kept for @previous-id"):
        servers.update(server_id, server, {**server, "tags": server["tags"] + [f"extra={i}" for i in range(5)]})


def test_a_resize_leaves_a_stopped_vm_stopped(fake):
    servers, server_id, server, sizes, size_id, size = make_sized_server(fake)
    servers._power_off(servers.client(server), server_id)
    updated = sizes.update(size_id, size, {**size, "cpu": 8, "memoryGb": 32})
    assert fake.objects(ZONE, "server")[updated["sakuraId"]]["Instance"]["Status"] == "down" and updated["instanceStatus"] == "down"


def test_a_metadata_update_leaves_a_stopped_vm_stopped(fake):
    """An operator stopped the VM; adding a tag must not start it again (nor power-cycle a running one)."""
    provider = kind(ServerType, fake)
    server_id, outs = provider.create(make_server_inputs(fake))
    power_calls = lambda: [(m, p) for m, p in fake.log if p.endswith("/power") and m in ("PUT", "DELETE")]  # noqa: E731
    calls = len(power_calls())
    tagged = provider.update(server_id, outs, {**outs, "tags": outs["tags"] + ["extra=1"]})
    assert len(power_calls()) == calls and tagged["instanceStatus"] == "up"
    provider._power_off(provider.client(outs), server_id)
    again = provider.update(server_id, tagged, {**tagged, "description": "stopped by an operator"})
    assert fake.objects(ZONE, "server")[server_id]["Instance"]["Status"] == "down" and again["instanceStatus"] == "down"


def test_the_host_name_is_create_only(fake):
    provider = kind(ServerType, fake)
    _, outs = provider.create(make_server_inputs(fake))
    assert not provider.diff(outs, {**outs, "hostName": "other"}).changed


def test_server_disk_swap_and_delete(fake):
    provider = kind(ServerType, fake)
    inputs = make_server_inputs(fake)
    server_id, outs = provider.create(inputs)
    spare_id, _ = kind(DiskType, fake).create(base(fake, "spare", sizeGb=100, source={}))
    swapped = {**outs, "diskIds": [inputs["diskIds"][0], spare_id]}
    assert provider.diff(outs, swapped).replaces == ()
    provider.update(server_id, outs, swapped)
    server = fake.objects(ZONE, "server")[server_id]
    assert [str(d["ID"]) for d in server["Disks"]] == swapped["diskIds"] and server["Instance"]["Status"] == "up"
    assert fake.objects(ZONE, "disk")[inputs["diskIds"][1]]["Server"] is None
    assert provider.diff(outs, {**outs, "nics": []}).replaces == ("nics",)
    provider.delete(server_id, outs)
    provider.delete(server_id, outs)
    assert fake.count("server") == 0 and all(d["Server"] is None for d in fake.objects(ZONE, "disk").values())


# --------------------------------------------------------------------------- previews


def test_a_preview_of_an_update_keeps_what_the_update_cannot_change(fake):
    routers = kind(RouterSwitchType, fake)
    _, router = routers.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    preview = routers.preview_update(router, {**router, "bandwidthMbps": 250, "sakuraId": None, "networkAddress": None})
    assert preview["sakuraId"] == UNKNOWN, "a bandwidth change gives the router a new ID"
    assert [preview[k] for k in ("switchId", "networkAddress", "gateway", "firstUsable", "lastUsable")] == \
        [router[k] for k in ("switchId", "networkAddress", "gateway", "firstUsable", "lastUsable")]
    tagged = routers.preview_update(router, {**router, "tags": router["tags"] + ["x=y"], "sakuraId": None})
    assert tagged["sakuraId"] == router["sakuraId"]
    servers, _, server, sizes, _, size = make_sized_server(fake)
    assert servers.preview_update(server, {**server, "description": "x"})["sakuraId"] == server["sakuraId"]
    assert servers.preview_update(server, {**server, "cpu": 8, "memoryGb": 32})["cpu"] == server["cpu"], "made with that size"
    assert sizes.preview_update(size, {**size, "cpu": 8, "memoryGb": 32})["sakuraId"] == UNKNOWN, "a plan change gives a new ID"
    assert sizes.preview_update(size, dict(size))["sakuraId"] == size["sakuraId"]
    created = servers.preview_create({**server, "name": "new", "sakuraId": None})
    assert created["sakuraId"] == UNKNOWN and created["name"] == "new"


def test_an_unknown_replace_key_in_a_preview_counts_as_a_replacement(fake):
    servers = kind(ServerType, fake)
    _, server = servers.create(make_server_inputs(fake))
    assert servers.diff(server, {**server, "nics": [UNKNOWN]}).replaces == ("nics",)
    assert servers.diff(server, {**server, "diskIds": [server["diskIds"][0], UNKNOWN]}).updates == ("diskIds",)


# --------------------------------------------------------------------------- owners


def test_objects_of_another_state_are_never_adopted(fake):
    """A teammate's `pulumi login --local` with the same project and stack must not take over (and later delete) ours."""
    switches = kind(SwitchType, fake)
    switch_id, _ = switches.create(base(fake, "private-switch"))
    with pytest.raises(OwnedElsewhere) as caught:
        switches.create(base(fake, "private-switch", owner="owner=fedcba9876543210"))
    message = str(caught.value)
    assert f"switch {switch_id} (private-switch)" in message and "owner=0123456789abcdef" in message
    assert "owner=fedcba9876543210" in message and fake.count("switch") == 1
    assert switches.create(base(fake, "private-switch"))[0] == switch_id, "this state still adopts its own"


# --------------------------------------------------------------------------- faults


def test_503_storm_is_retried(fake):
    fake.faults.storm_503 = 4
    make_switch(fake)
    assert fake.count("switch") == 1
    assert fake.calls() >= 6  # 4 refused + find + create


def test_409_still_creating_after_post_adopts_instead_of_duplicating(fake):
    inputs = make_server_inputs(fake)
    fake.faults.after_effect["POST server"] = ["still_creating"]
    server_id, _ = kind(ServerType, fake).create(inputs)
    assert fake.count("server") == 1 and server_id in fake.objects(ZONE, "server")
    assert fake.objects(ZONE, "server")[server_id]["Instance"]["Status"] == "up"


def test_post_that_times_out_after_taking_effect_is_adopted(fake):
    fake.faults.after_effect["POST disk"] = ["timeout"]
    disk_id, _ = kind(DiskType, fake).create(base(fake, "worker-1-data", sizeGb=250, source={}))
    assert fake.count("disk") == 1 and disk_id in fake.objects(ZONE, "disk")


@pytest.mark.parametrize("resource", ["server", "internet", "switch", "disk"])
def test_next_run_adopts_what_a_failed_run_left_behind(fake, resource):
    """A run that died after the POST left a tagged resource; the next create takes it over."""
    if resource == "server":
        cls, inputs = ServerType, make_server_inputs(fake)
    elif resource == "internet":
        cls, inputs = RouterSwitchType, base(fake, "router-switch", prefixLength=27, bandwidthMbps=100)
    elif resource == "switch":
        cls, inputs = SwitchType, base(fake, "private-switch")
    else:
        cls, inputs = DiskType, base(fake, "d", sizeGb=20, source={})
    fake.faults.after_effect[f"POST {resource}"] = ["timeout"]
    fake.faults.timeout_sleep = 0.6
    tags = kind(cls, fake).tags_for(inputs)
    with pytest.MonkeyPatch.context() as m:  # the first run is cut off right after its POST
        m.setattr(SakuraResourceType, "find_tagged", lambda self, c, t: None)
        with pytest.raises(WaitTimeout):
            kind(cls, fake, settings=dataclasses.replace(FAST, poll_timeout=0.05)).create(inputs)
    before = fake.count(resource)
    adopted_id, _ = kind(cls, fake).create(inputs)
    assert fake.count(resource) == before == 1
    assert sorted(fake.objects(ZONE, resource)[adopted_id]["Tags"]) == sorted(tags)


def test_replacement_does_not_adopt_its_predecessor(fake):
    disks = kind(DiskType, fake)
    old_id, _ = disks.create(base(fake, "worker-1-data", sizeGb=100, source={}))
    new_id, _ = disks.create(base(fake, "worker-1-data", sizeGb=250, source={}))
    assert old_id != new_id and fake.count("disk") == 2


def test_power_on_still_creating_is_retried(fake):
    fake.faults.power_still_creating = 2
    server_id, _ = kind(ServerType, fake).create(make_server_inputs(fake))
    assert fake.objects(ZONE, "server")[server_id]["Instance"]["Status"] == "up"
    assert sum(1 for m, p in fake.log if m == "PUT" and p.endswith("/power")) == 3


def test_bad_credentials_give_one_clear_error_without_the_secret(fake, monkeypatch):
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN_SECRET", "s3cr3t-not-the-right-one")
    with pytest.raises(AuthenticationError) as caught:
        make_switch(fake)
    message = str(caught.value)
    assert "zone is1b" in message and f"{fake.root_url}/is1b/api/cloud/1.1" in message and "HTTP 401 unauthorized" in message
    assert "s3cr3t" not in message and "fake-token" not in message
    assert fake.calls() == 1, "an authentication error is not retried"


def test_missing_credentials_say_where_to_put_them(fake, monkeypatch):
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN_SECRET")
    with pytest.raises(MissingCredentials, match="SAKURACLOUD_ACCESS_TOKEN_SECRET"):
        make_switch(fake)


def test_credentials_from_the_provider_configuration_win_over_the_environment(fake, monkeypatch):
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN")
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN_SECRET")
    switches = kind(SwitchType, fake, credentials=Credentials("fake-token", "fake-secret"))
    switches.create(base(fake, "s"))
    assert fake.count("switch") == 1
    assert "fake-secret" not in repr(switches.config), "the secret never shows in a repr or a log line"


# --------------------------------------------------------------------------- archive upload over FTPS


@pytest.fixture
def ftps(tmp_path, monkeypatch):
    """pyftpdlib with TLS on 127.0.0.1; the provider verifies its certificate through SSL_CERT_FILE."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-sakura-ftp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "ftp.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    home = tmp_path / "ftp-home"
    home.mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_user("upload", "fake-ftp-password", str(home), perm="elradfmw")
    handler = type("Handler", (TLS_FTPHandler,), {"certfile": str(pem), "authorizer": authorizer, "tls_control_required": True,
                                                  "tls_data_required": True, "passive_ports": None})
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    yield server.address[1], home
    server.close_all()
    thread.join(timeout=5)


def test_archive_upload_over_ftps(fake, ftps, tmp_path, monkeypatch):
    port, home = ftps
    fake.ftp_port = port
    monkeypatch.setattr(FakeSakura, "handle", _ftp_user(FakeSakura.handle))
    image = tmp_path / "vyos.qcow2"
    image.write_bytes(b"QFI\xfb" + bytes(range(256)) * 64)
    provider = kind(ArchiveType, fake)
    inputs = base(fake, "router-image", file=str(image), sizeGb=20)
    archive_id, outs = provider.create(inputs)
    archive = fake.objects(ZONE, "archive")[archive_id]
    assert archive["Availability"] == "available" and archive["SizeMB"] == 20 * 1024
    assert (home / "vyos.qcow2").read_bytes() == image.read_bytes() and len(outs["fileSha256"]) == 64
    image.write_bytes(b"another image")
    assert not provider.diff(outs, {**inputs, "file": str(image)}).changed, "another build of the image replaces nothing"
    assert not provider.diff(outs, {**inputs, "file": "images/elsewhere.qcow2"}).changed


def test_the_image_file_is_needed_only_to_create_the_archive(fake, tmp_path):
    provider = kind(ArchiveType, fake)
    inputs = base(fake, "router-image", file="images/nope.qcow2", sizeGb=20)
    assert provider.check({}, inputs) == (inputs, []), "a preview on a clean checkout must pass"
    with pytest.raises(FileNotFoundError, match=r"images/nope.qcow2 not found .*router.vyosImage.archiveId"):
        provider.create(inputs)
    assert fake.count("archive") == 0


def _ftp_user(handle):
    """The fake names a per-archive FTP user (and a new password on reopening); the test FTP server has one user."""
    def wrapped(self, method, raw_path, headers, body):
        status, payload, delay = handle(self, method, raw_path, headers, body)
        if "FTPServer" in payload:
            payload["FTPServer"].update(User="upload", Password="fake-ftp-password")
        return status, payload, delay
    return wrapped


# --------------------------------------------------------------------------- changes that must be safe


def _power_requests(fake):
    return [(m, body) for m, path, body in fake.bodies if path.endswith("/power") and m == "DELETE"]


def test_plan_change_shuts_the_guest_down_cleanly_first(fake):
    _, _, _, sizes, size_id, size = make_sized_server(fake)
    sizes.update(size_id, size, {**size, "cpu": 8, "memoryGb": 32})
    assert [body for _, body in _power_requests(fake)] == [None], "an ACPI shutdown, not a forced one"


def test_a_guest_that_ignores_acpi_is_forced_after_the_grace_time(fake):
    fake.faults.acpi_ignored = True
    _, _, _, _, size_id, size = make_sized_server(fake)
    sizes = kind(ServerSizeType, fake, settings=dataclasses.replace(FAST, shutdown_timeout=0.2))
    updated = sizes.update(size_id, size, {**size, "cpu": 8, "memoryGb": 32})
    assert [body for _, body in _power_requests(fake)] == [None, {"Force": True}]
    assert fake.objects(ZONE, "server")[updated["sakuraId"]]["Instance"]["Status"] == "up"


@pytest.mark.parametrize("resource", ["server", "internet"])
def test_an_id_changing_put_that_loses_its_answer_is_not_repeated(fake, resource):
    if resource == "server":
        _, created_id, _, provider, size_id, outs = make_sized_server(fake)
        change, pattern = {"cpu": 8, "memoryGb": 32}, "PUT server/*/plan"
    else:
        provider = kind(RouterSwitchType, fake)
        created_id, outs = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
        change, pattern = {"bandwidthMbps": 250}, "PUT internet/*/bandwidth"
    fake.faults.after_effect[pattern] = ["timeout"]
    updated = provider.update(size_id if resource == "server" else created_id, outs, {**outs, **change})
    changes = [p for m, p in fake.log if m == "PUT" and p.endswith(("/plan", "/bandwidth"))]
    assert len(changes) == 1, changes
    assert updated["sakuraId"] != created_id and fake.count(resource) == 1
    assert updated["sakuraId"] in fake.objects(ZONE, resource)


def test_a_new_boot_disk_is_attached_first(fake):
    provider = kind(ServerType, fake)
    inputs = make_server_inputs(fake)
    server_id, outs = provider.create(inputs)
    new_boot, _ = kind(DiskType, fake).create(base(fake, "worker-1-boot-2", sizeGb=40, source={"osTag": "ubuntu-24.04-latest"}))
    swapped = {**outs, "diskIds": [new_boot, inputs["diskIds"][1]]}
    provider.update(server_id, outs, swapped)
    assert [str(d["ID"]) for d in fake.objects(ZONE, "server")[server_id]["Disks"]] == swapped["diskIds"]


def test_a_half_finished_upload_is_resumed(fake, ftps, tmp_path, monkeypatch):
    port, home = ftps
    monkeypatch.setattr(FakeSakura, "handle", _ftp_user(FakeSakura.handle))
    image = tmp_path / "vyos.qcow2"
    image.write_bytes(b"QFI\xfb" + bytes(range(256)) * 16)
    provider = kind(ArchiveType, fake)
    inputs = base(fake, "router-image", file=str(image), sizeGb=20)
    fake.ftp_port = 1  # nothing listens there: the first run's upload fails after the archive exists
    with pytest.raises(OSError):
        provider.create(inputs)
    assert fake.count("archive") == 1
    fake.ftp_port = port
    archive_id, _ = provider.create(inputs)
    assert fake.count("archive") == 1 and fake.objects(ZONE, "archive")[archive_id]["Availability"] == "available"
    assert (home / "vyos.qcow2").read_bytes() == image.read_bytes()
    assert ("PUT", f"archive/{archive_id}/ftp") in fake.log, "the FTP server was opened again"


def test_timings_can_be_scaled_for_a_fake_api_and_a_typo_is_refused():
    from components.sakura.client import TIMINGS_ENV, ClientSettings

    assert ClientSettings.from_env({}) == ClientSettings()
    scaled = ClientSettings.from_env({TIMINGS_ENV: "poll_interval=0.05, requests_per_second=200,max_retries=3"})
    assert (scaled.poll_interval, scaled.requests_per_second, scaled.max_retries) == (0.05, 200.0, 3)
    with pytest.raises(ValueError, match="unknown timing 'poll_intervall'"):
        ClientSettings.from_env({TIMINGS_ENV: "poll_intervall=1"})


# --------------------------------------------------------------------------- packet filters, seed ISOs


RULES = [{"Protocol": "tcp", "SourceNetwork": "203.0.113.64/26", "SourcePort": "", "DestinationPort": "22", "Action": "allow",
          "Description": "SSH from operators"},
         {"Protocol": "ip", "SourceNetwork": "", "SourcePort": "", "DestinationPort": "", "Action": "deny", "Description": "everything else"}]


def test_packet_filter_is_adopted_by_name_and_owner_and_changes_in_place(fake):
    from components.sakura.packet_filter import PacketFilterType

    filters = kind(PacketFilterType, fake)
    inputs = base(fake, "prd-control-plane", expression=RULES)
    filter_id, outs = filters.create(inputs)
    found = fake.objects(ZONE, "packetfilter")[filter_id]
    assert found["Expression"] == RULES and found["Description"].endswith(OWNER)
    assert filters.create(inputs)[0] == filter_id and fake.count("packetfilter") == 1, "adopted, not made twice"
    with pytest.raises(OwnedElsewhere, match=f"packet filter {filter_id}"):
        filters.create(base(fake, "prd-control-plane", owner="owner=fedcba9876543210", expression=RULES))
    wider = [{**RULES[0], "SourceNetwork": "203.0.113.0/24"}, RULES[1]]
    diff = filters.diff(outs, {**outs, "expression": wider})
    assert diff.updates == ("expression",) and not diff.replaces
    filters.update(filter_id, outs, {**outs, "expression": wider})
    assert fake.objects(ZONE, "packetfilter")[filter_id]["Expression"] == wider
    assert filters.read(filter_id, outs)["expression"] == wider, "a refresh sees the live rules"
    filters.delete(filter_id, outs)
    filters.delete(filter_id, outs)
    assert fake.count("packetfilter") == 0


def test_a_server_attaches_each_nic_s_filter_and_a_seed_before_its_first_boot(fake, monkeypatch):
    from components.sakura.packet_filter import PacketFilterType
    from components.sakura.seed_iso import SeedIsoType

    uploads = []
    monkeypatch.setattr("components.sakura.archive.ftps_upload", lambda server, name, stream: uploads.append((name, stream.read())))
    filter_id, _ = kind(PacketFilterType, fake).create(base(fake, "prd-router", expression=RULES))
    seed_id, seed = kind(SeedIsoType, fake).create(base(fake, "prd-router-seed", files={"user-data": "#cloud-config\n",
                                                                                          "meta-data": "instance-id: x\n"}))
    assert fake.objects(ZONE, "cdrom")[seed_id]["Availability"] == "available" and len(seed["filesSha256"]) == 64
    assert [name for name, _ in uploads] == ["seed.iso"] and uploads[0][1][0x8001:0x8006] == b"CD001", "an ISO 9660 image"
    servers = kind(ServerType, fake)
    inputs = {**make_server_inputs(fake), "packetFilterIds": [filter_id], "cdromId": seed_id}
    server_id, outs = servers.create(inputs)
    server = fake.objects(ZONE, "server")[server_id]
    assert server["Interfaces"][0]["PacketFilter"]["ID"] == int(filter_id)
    assert server["Instance"]["CDROM"] == {"ID": int(seed_id)} and server["Instance"]["Status"] == "up"
    assert servers.read(server_id, outs)["packetFilterIds"] == [filter_id]
    assert not servers.diff(outs, {**outs, "cdromId": "113999999999"}).changed, "the seed matters at the first boot only"
    calls = len(fake.log)
    servers.update(server_id, outs, {**outs, "packetFilterIds": [""]})
    assert fake.objects(ZONE, "server")[server_id]["Interfaces"][0]["PacketFilter"] is None
    assert not [p for m, p in fake.log[calls:] if p.endswith("/power")], "a filter changes without a reboot"


def test_the_seed_is_an_iso_labelled_cidata_with_the_files_named_as_cloud_init_expects(tmp_path):
    import io
    import shutil
    import subprocess

    import pycdlib

    from components.sakura.seed_iso import build_iso

    files = {"user-data": "#cloud-config\nvyos_config_commands:\n- set system host-name 'prd-router'\n", "meta-data": "instance-id: i\n"}
    image = build_iso(files)
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        for name, text in files.items():
            for path in ({"rr_path": f"/{name}"}, {"joliet_path": f"/{name}"}):
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **path)
                assert out.getvalue().decode() == text, (name, path)
    finally:
        iso.close()
    if shutil.which("blkid"):  # an independent reader: what cloud-init's NoCloud uses to find the seed
        (tmp_path / "seed.iso").write_bytes(image)
        probe = subprocess.run(["blkid", "-o", "export", str(tmp_path / "seed.iso")], capture_output=True, text=True, check=True)
        assert "LABEL=cidata" in probe.stdout and "TYPE=iso9660" in probe.stdout


@pytest.mark.parametrize("fault", ["timeout", "still_creating"])
def test_packet_filter_and_seed_iso_survive_a_lost_or_refused_post(fake, monkeypatch, fault):
    """Like every other resource: a POST that took effect but whose answer was lost (or 409) is adopted, not repeated."""
    from components.sakura.packet_filter import PacketFilterType
    from components.sakura.seed_iso import SeedIsoType

    monkeypatch.setattr("components.sakura.archive.ftps_upload", lambda server, name, stream: None)
    fake.faults.storm_503 = 2
    fake.faults.after_effect.update({"POST packetfilter": [fault], "POST cdrom": [fault]})
    fake.faults.timeout_sleep = 0.6
    filter_id, _ = kind(PacketFilterType, fake).create(base(fake, "prd-router", expression=RULES))
    seed_id, _ = kind(SeedIsoType, fake).create(base(fake, "prd-router-seed", files={"user-data": "#cloud-config\n"}))
    assert ("PUT", f"cdrom/{seed_id}/ftp") in fake.log, "the lost answer carried the FTP credentials: the FTP server is opened again"
    assert fake.count("packetfilter") == 1 and filter_id in fake.objects(ZONE, "packetfilter")
    assert fake.count("cdrom") == 1 and fake.objects(ZONE, "cdrom")[seed_id]["Availability"] == "available"
    assert fake.calls("POST") == 2, "neither POST was repeated"
