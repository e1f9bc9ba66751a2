"""The Sakura dynamic providers, driven through real HTTP against the fake API on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.sakura.client import AuthenticationError, ClientSettings, SakuraApiError, WaitTimeout
from components.sakura.resources import (
    PREVIOUS_ID_TAG,
    ArchiveProvider,
    DiskProvider,
    MissingCredentials,
    RouterSwitchProvider,
    SakuraProvider,
    ServerProvider,
    SshKeyProvider,
    SwitchProvider,
)

from .fake_sakura import FakeSakura

ZONE = "is1b"
FAST = ClientSettings(requests_per_second=2000, max_retries=6, backoff_initial=0.01, backoff_cap=0.05, request_timeout=0.4,
                      poll_interval=0.01, poll_timeout=5, not_found_grace=5)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(SakuraProvider, "settings", FAST)
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN", "fake-token")
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN_SECRET", "fake-secret")
    with FakeSakura() as api:
        yield api


def base(fake, name: str, **extra) -> dict:
    return {"zone": ZONE, "apiRootUrl": fake.root_url, "name": name, "description": "test",
            "tags": ["contest-k8s", "stack=test", f"name={name}"], **extra}


def make_switch(fake, name="private-switch"):
    provider = SwitchProvider()
    result = provider.create(base(fake, name))
    return provider, result


def make_server_inputs(fake, name="worker-1", cpu=4, memory=8):
    _, switch = make_switch(fake, f"{name}-switch")
    disk = DiskProvider().create(base(fake, f"{name}-boot", sizeGb=40, planId=4, connection="virtio", source={"osTag": "ubuntu-24.04-latest"},
                                      edit=None))
    data = DiskProvider().create(base(fake, f"{name}-data", sizeGb=100, planId=4, connection="virtio", source={}, edit=None))
    return base(fake, name, hostName=name, cpu=cpu, memoryGb=memory, interfaceDriver="virtio", nics=[switch.outs["sakuraId"]],
                diskIds=[disk.outs["sakuraId"], data.outs["sakuraId"]])


# --------------------------------------------------------------------------- switch and router


def test_switch_create_read_diff_update_delete(fake):
    provider, created = make_switch(fake)
    obj = fake.objects(ZONE, "switch")[created.id]
    assert obj["Name"] == "private-switch" and "name=private-switch" in obj["Tags"] and any(t.startswith("spec=") for t in obj["Tags"])
    assert provider.read(created.id, created.outs).id == created.id
    renamed = {**created.outs, "name": "private-2"}
    diff = provider.diff(created.id, created.outs, renamed)
    assert diff.changes and diff.replaces == []
    assert provider.diff(created.id, created.outs, {**created.outs, "zone": "tk1a"}).replaces == ["zone"]
    assert not provider.diff(created.id, created.outs, dict(created.outs)).changes
    provider.update(created.id, created.outs, renamed)
    assert fake.objects(ZONE, "switch")[created.id]["Name"] == "private-2"
    provider.delete(created.id, created.outs)
    assert created.id not in fake.objects(ZONE, "switch")
    provider.delete(created.id, created.outs)  # already gone: still a success
    assert provider.read(created.id, created.outs).id == ""


def test_router_switch_reports_its_block_and_waits_out_404_after_create(fake):
    fake.faults.router_hidden_seconds = 0.3
    provider = RouterSwitchProvider()
    start = time.monotonic()
    created = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    assert time.monotonic() - start >= 0.3
    outs = created.outs
    block = ipaddress.IPv4Network(f"{outs['networkAddress']}/27")
    assert outs["gateway"] == str(block.network_address + 1)
    assert (outs["firstUsable"], outs["lastUsable"]) == (str(block.network_address + 4), str(block.broadcast_address - 1))
    assert fake.calls("POST") == 1 and fake.count("internet") == 1


def test_router_bandwidth_change_follows_the_new_id(fake):
    provider = RouterSwitchProvider()
    created = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
    faster = {**created.outs, "bandwidthMbps": 250}
    assert provider.diff(created.id, created.outs, faster).replaces == []
    updated = provider.update(created.id, created.outs, faster).outs
    assert updated["sakuraId"] != created.id
    router = fake.objects(ZONE, "internet")[updated["sakuraId"]]
    assert PREVIOUS_ID_TAG + created.id in router["Tags"] and router["BandWidthMbps"] == 250
    # state that still holds the old ID finds the router through @previous-id
    read = provider.read(created.id, created.outs)
    assert read.outs["sakuraId"] == updated["sakuraId"] and read.outs["bandwidthMbps"] == 250
    assert provider.diff(created.id, created.outs, {**created.outs, "prefixLength": 28}).replaces == ["prefixLength"]
    provider.delete(created.id, updated)
    assert fake.count("internet") == 0 and fake.count("switch") == 0


# --------------------------------------------------------------------------- SSH key


def test_ssh_key_is_global_and_adopted_by_name_and_key(fake):
    provider = SshKeyProvider()
    props = {"apiRootUrl": fake.root_url, "name": "contest-k8s-test", "description": "d", "publicKey": "ssh-ed25519 AAAAfake test"}
    first = provider.create(props)
    again = provider.create(props)
    assert first.id == again.id and fake.count("sshkey", zone="is1a") == 1
    assert provider.diff(first.id, first.outs, {**first.outs, "publicKey": "ssh-ed25519 BBBB"}).replaces == ["publicKey"]
    provider.update(first.id, first.outs, {**first.outs, "name": "renamed"})
    assert fake.objects("is1a", "sshkey")[first.id]["Name"] == "renamed"
    provider.delete(first.id, first.outs)
    provider.delete(first.id, first.outs)
    assert fake.count("sshkey", zone="is1a") == 0


# --------------------------------------------------------------------------- disks


def test_disk_from_os_tag_with_disk_edit(fake):
    provider = DiskProvider()
    edit = {"hostName": "cp-1", "sshKeyIds": ["113000000999"], "publicKeys": ["ssh-ed25519 AAAAoperator"], "password": "pw" * 8,
            "ipAddress": "192.0.2.7",
            "prefixLength": 27, "gateway": "192.0.2.1", "disablePasswordAuth": True}
    created = provider.create(base(fake, "cp-1-boot", sizeGb=100, planId=4, connection="virtio", source={"osTag": "ubuntu-24.04-latest"},
                                   edit=edit))
    disk = fake.objects(ZONE, "disk")[created.id]
    archive = fake.objects(ZONE, "archive")[str(disk["SourceArchive"]["ID"])]
    assert "ubuntu-24.04-latest" in archive["Tags"] and created.outs["sourceArchiveId"] == str(archive["ID"])
    assert disk["Availability"] == "available" and disk["SizeMB"] == 100 * 1024
    assert disk["_edit"] == {"HostName": "cp-1", "SSHKeys": [{"ID": 113000000999}, {"PublicKey": "ssh-ed25519 AAAAoperator"}],
                             "Password": "pw" * 8, "DisablePWAuth": True, "EnableDHCP": False, "ChangePartitionUUID": True, "UserIPAddress": "192.0.2.7",
                             "UserSubnet": {"DefaultRoute": "192.0.2.1", "NetworkMaskLen": 27}}
    for key in ("sizeGb", "source", "edit"):
        assert provider.diff(created.id, created.outs, {**created.outs, key: "changed"}).replaces == [key]
    assert provider.diff(created.id, created.outs, {**created.outs, "tags": ["x"]}).replaces == []
    provider.update(created.id, created.outs, {**created.outs, "name": "cp-1-root"})
    assert fake.objects(ZONE, "disk")[created.id]["Name"] == "cp-1-root"
    provider.delete(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert fake.count("disk") == 0


def test_unknown_os_tag_is_a_clear_error(fake):
    with pytest.raises(SakuraApiError, match="no public archive tagged 'ubuntu-99.04-latest' in zone is1b"):
        DiskProvider().create(base(fake, "x-boot", sizeGb=20, source={"osTag": "ubuntu-99.04-latest"}, edit=None))
    assert fake.count("disk") == 0


def test_failed_disk_fails_fast_and_leaves_no_orphan(fake):
    fake.faults.disk_copy_fails = True
    start = time.monotonic()
    with pytest.raises(SakuraApiError) as caught:
        DiskProvider().create(base(fake, "worker-1-boot", sizeGb=250, source={"osTag": "ubuntu-24.04-latest"}, edit=None))
    elapsed = time.monotonic() - start
    assert caught.value.error_code == "failed_state" and "worker-1-boot is in state 'failed'" in str(caught.value)
    assert elapsed < 1.0, f"took {elapsed:.2f}s: a failed disk must not wait for the poll timeout ({FAST.poll_timeout}s)"
    assert fake.count("disk") == 0


# --------------------------------------------------------------------------- servers


def test_server_create_attaches_disks_in_order_and_powers_on(fake):
    inputs = make_server_inputs(fake)
    created = ServerProvider().create(inputs)
    server = fake.objects(ZONE, "server")[created.id]
    assert server["Instance"]["Status"] == "up" and created.outs["instanceStatus"] == "up"
    assert [str(d["ID"]) for d in server["Disks"]] == inputs["diskIds"]
    assert [str(n["Switch"]["ID"]) for n in server["Interfaces"]] == inputs["nics"]
    assert created.outs["macAddresses"] == [n["MACAddress"] for n in server["Interfaces"]]
    assert server["ServerPlan"] == {"CPU": 4, "MemoryMB": 8192, "Commitment": "standard"}


def test_server_plan_change_follows_previous_id(fake):
    provider = ServerProvider()
    inputs = make_server_inputs(fake)
    created = provider.create(inputs)
    bigger = {**created.outs, "cpu": 8, "memoryGb": 32}
    diff = provider.diff(created.id, created.outs, bigger)
    assert diff.changes and diff.replaces == []
    updated = provider.update(created.id, created.outs, bigger).outs
    new_id = updated["sakuraId"]
    assert new_id != created.id and fake.count("server") == 1
    server = fake.objects(ZONE, "server")[new_id]
    assert PREVIOUS_ID_TAG + created.id in server["Tags"] and server["Instance"]["Status"] == "up"
    assert server["ServerPlan"]["CPU"] == 8
    read = provider.read(created.id, created.outs)  # old state, old ID: found through the tag
    assert read.id == created.id and read.outs["sakuraId"] == new_id and read.outs["cpu"] == 8
    # a later metadata update keeps the @previous-id tag, so the chain survives
    provider.update(created.id, updated, {**updated, "name": "worker-1-renamed"})
    assert PREVIOUS_ID_TAG + created.id in fake.objects(ZONE, "server")[new_id]["Tags"]
    provider.delete(created.id, {**updated, "sakuraId": created.id})
    assert fake.count("server") == 0


def test_server_disk_swap_and_delete(fake):
    provider = ServerProvider()
    inputs = make_server_inputs(fake)
    created = provider.create(inputs)
    spare = DiskProvider().create(base(fake, "spare", sizeGb=100, source={}, edit=None))
    swapped = {**created.outs, "diskIds": [inputs["diskIds"][0], spare.outs["sakuraId"]]}
    assert provider.diff(created.id, created.outs, swapped).replaces == []
    provider.update(created.id, created.outs, swapped)
    server = fake.objects(ZONE, "server")[created.id]
    assert [str(d["ID"]) for d in server["Disks"]] == swapped["diskIds"] and server["Instance"]["Status"] == "up"
    assert fake.objects(ZONE, "disk")[inputs["diskIds"][1]]["Server"] is None
    assert provider.diff(created.id, created.outs, {**created.outs, "nics": []}).replaces == ["nics"]
    provider.delete(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert fake.count("server") == 0 and all(d["Server"] is None for d in fake.objects(ZONE, "disk").values())


# --------------------------------------------------------------------------- faults


def test_503_storm_is_retried(fake):
    fake.faults.storm_503 = 4
    provider, created = make_switch(fake)
    assert fake.count("switch") == 1
    assert fake.calls() >= 6  # 4 refused + find + create


def test_409_still_creating_after_post_adopts_instead_of_duplicating(fake):
    inputs = make_server_inputs(fake)
    fake.faults.after_effect["POST server"] = ["still_creating"]
    created = ServerProvider().create(inputs)
    assert fake.count("server") == 1 and created.id in fake.objects(ZONE, "server")
    assert fake.objects(ZONE, "server")[created.id]["Instance"]["Status"] == "up"


def test_post_that_times_out_after_taking_effect_is_adopted(fake):
    fake.faults.after_effect["POST disk"] = ["timeout"]
    created = DiskProvider().create(base(fake, "worker-1-data", sizeGb=250, source={}, edit=None))
    assert fake.count("disk") == 1 and created.id in fake.objects(ZONE, "disk")


@pytest.mark.parametrize("resource", ["server", "internet", "switch", "disk"])
def test_next_run_adopts_what_a_failed_run_left_behind(fake, resource):
    """A run that died after the POST left a tagged resource; the next create takes it over."""
    if resource == "server":
        provider, inputs = ServerProvider(), make_server_inputs(fake)
    elif resource == "internet":
        provider, inputs = RouterSwitchProvider(), base(fake, "router-switch", prefixLength=27, bandwidthMbps=100)
    elif resource == "switch":
        provider, inputs = SwitchProvider(), base(fake, "private-switch")
    else:
        provider, inputs = DiskProvider(), base(fake, "d", sizeGb=20, source={}, edit=None)
    fake.faults.after_effect[f"POST {resource}"] = ["timeout"]
    fake.faults.timeout_sleep = 0.6
    tags = provider.tags_for(inputs)
    with pytest.MonkeyPatch.context() as m:  # the first run is cut off right after its POST
        m.setattr(SakuraProvider, "find_tagged", lambda self, c, t: None)
        m.setattr(SakuraProvider, "settings", dataclasses.replace(FAST, poll_timeout=0.05))
        with pytest.raises(WaitTimeout):
            provider.create(inputs)
    before = fake.count(resource)
    adopted = provider.create(inputs)
    assert fake.count(resource) == before == 1
    assert sorted(fake.objects(ZONE, resource)[adopted.id]["Tags"]) == sorted(tags)


def test_replacement_does_not_adopt_its_predecessor(fake):
    provider = DiskProvider()
    old = provider.create(base(fake, "worker-1-data", sizeGb=100, source={}, edit=None))
    new = provider.create(base(fake, "worker-1-data", sizeGb=250, source={}, edit=None))
    assert old.id != new.id and fake.count("disk") == 2


def test_power_on_still_creating_is_retried(fake):
    fake.faults.power_still_creating = 2
    created = ServerProvider().create(make_server_inputs(fake))
    assert fake.objects(ZONE, "server")[created.id]["Instance"]["Status"] == "up"
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


def test_credentials_from_stack_secrets_via_configure(fake, monkeypatch):
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN")
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN_SECRET")

    class Request:
        class config:
            values = {"sakuraAccessToken": "fake-token", "sakuraAccessTokenSecret": "fake-secret"}

            @classmethod
            def get(cls, key):
                return cls.values.get(key)

    provider = SwitchProvider()
    provider.configure(Request())
    provider.create(base(fake, "s"))
    assert fake.count("switch") == 1


def test_the_pickled_provider_holds_no_credentials(fake):
    from pulumi.dynamic.dynamic import serialize_provider
    import base64

    provider = SwitchProvider()
    provider.create(base(fake, "s"))
    blob = base64.b64decode(serialize_provider(provider))
    assert b"fake-secret" not in blob and b"fake-token" not in blob


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
    provider = ArchiveProvider()
    checked = provider.check({}, base(fake, "router-image", file=str(image), sizeGb=20))
    assert checked.failures == [] and len(checked.inputs["fileSha256"]) == 64
    created = provider.create(checked.inputs)
    archive = fake.objects(ZONE, "archive")[created.id]
    assert archive["Availability"] == "available" and archive["SizeMB"] == 20 * 1024
    assert (home / "vyos.qcow2").read_bytes() == image.read_bytes()
    again = provider.check(checked.inputs, checked.inputs).inputs
    assert provider.diff(created.id, created.outs, again).replaces == []
    image.write_bytes(b"another image")
    changed = provider.check(checked.inputs, checked.inputs).inputs
    assert provider.diff(created.id, created.outs, changed).replaces == ["fileSha256"]


def test_archive_check_names_a_missing_image(fake):
    result = ArchiveProvider().check({}, base(fake, "router-image", file="images/nope.qcow2", sizeGb=20))
    assert [(f.property, f.reason) for f in result.failures] == [("file", "image file images/nope.qcow2 not found (relative to the project root)")]


def _ftp_user(handle):
    """The fake names a per-archive FTP user (and a new password on reopening); the test FTP server has one user."""
    def wrapped(self, method, raw_path, headers, body):
        status, payload, delay = handle(self, method, raw_path, headers, body)
        if "FTPServer" in payload:
            payload["FTPServer"].update(User="upload", Password="fake-ftp-password")
        return status, payload, delay
    return wrapped


# --------------------------------------------------------------------------- after the review: changes that must be safe


def _power_requests(fake):
    return [(m, body) for m, path, body in fake.bodies if path.endswith("/power") and m == "DELETE"]


def test_plan_change_shuts_the_guest_down_cleanly_first(fake):
    provider = ServerProvider()
    created = provider.create(make_server_inputs(fake))
    provider.update(created.id, created.outs, {**created.outs, "cpu": 8, "memoryGb": 32})
    assert [body for _, body in _power_requests(fake)] == [None], "an ACPI shutdown, not a forced one"


def test_a_guest_that_ignores_acpi_is_forced_after_the_grace_time(fake, monkeypatch):
    monkeypatch.setattr(SakuraProvider, "settings", dataclasses.replace(FAST, shutdown_timeout=0.2))
    fake.faults.acpi_ignored = True
    provider = ServerProvider()
    created = provider.create(make_server_inputs(fake))
    updated = provider.update(created.id, created.outs, {**created.outs, "cpu": 8, "memoryGb": 32}).outs
    assert [body for _, body in _power_requests(fake)] == [None, {"Force": True}]
    assert fake.objects(ZONE, "server")[updated["sakuraId"]]["Instance"]["Status"] == "up"


@pytest.mark.parametrize("resource", ["server", "internet"])
def test_an_id_changing_put_that_loses_its_answer_is_not_repeated(fake, resource):
    if resource == "server":
        provider, created = ServerProvider(), None
        created = provider.create(make_server_inputs(fake))
        change, pattern = {"cpu": 8, "memoryGb": 32}, "PUT server/*/plan"
    else:
        provider = RouterSwitchProvider()
        created = provider.create(base(fake, "router-switch", prefixLength=27, bandwidthMbps=100))
        change, pattern = {"bandwidthMbps": 250}, "PUT internet/*/bandwidth"
    fake.faults.after_effect[pattern] = ["timeout"]
    updated = provider.update(created.id, created.outs, {**created.outs, **change}).outs
    changes = [p for m, p in fake.log if m == "PUT" and p.endswith(("/plan", "/bandwidth"))]
    assert len(changes) == 1, changes
    assert updated["sakuraId"] != created.id and fake.count(resource) == 1
    assert updated["sakuraId"] in fake.objects(ZONE, resource)


def test_a_new_boot_disk_is_attached_first(fake):
    provider = ServerProvider()
    inputs = make_server_inputs(fake)
    created = provider.create(inputs)
    new_boot = DiskProvider().create(base(fake, "worker-1-boot-2", sizeGb=40, source={"osTag": "ubuntu-24.04-latest"}, edit=None))
    swapped = {**created.outs, "diskIds": [new_boot.outs["sakuraId"], inputs["diskIds"][1]]}
    provider.update(created.id, created.outs, swapped)
    assert [str(d["ID"]) for d in fake.objects(ZONE, "server")[created.id]["Disks"]] == swapped["diskIds"]


def test_a_half_finished_upload_is_resumed(fake, ftps, tmp_path, monkeypatch):
    port, home = ftps
    monkeypatch.setattr(FakeSakura, "handle", _ftp_user(FakeSakura.handle))
    image = tmp_path / "vyos.qcow2"
    image.write_bytes(b"QFI\xfb" + bytes(range(256)) * 16)
    provider = ArchiveProvider()
    inputs = provider.check({}, base(fake, "router-image", file=str(image), sizeGb=20)).inputs
    fake.ftp_port = 1  # nothing listens there: the first run's upload fails after the archive exists
    with pytest.raises(OSError):
        provider.create(inputs)
    assert fake.count("archive") == 1
    fake.ftp_port = port
    created = provider.create(inputs)
    assert fake.count("archive") == 1 and fake.objects(ZONE, "archive")[created.id]["Availability"] == "available"
    assert (home / "vyos.qcow2").read_bytes() == image.read_bytes()
    assert ("PUT", f"archive/{created.id}/ftp") in fake.log, "the FTP server was opened again"
