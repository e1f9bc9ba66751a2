"""The project's provider plugin over gRPC, called the way the engine calls it, against the fake Sakura API."""

from __future__ import annotations

import dataclasses
import subprocess
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN

from components import provider_plugin
from components.offline import PROJECT_ROOT
from components.provider_plugin import ContestProvider, to_python, to_struct

from .fake_sakura import FakeSakura
from .test_sakura_providers import FAST, OWNER

URN = "urn:pulumi:dev::contest-k8s::contest-k8s:index:ClusterMachines$contest-k8s:sakura:{kind}::{name}"
LAUNCHER = PROJECT_ROOT / "components" / "plugin" / "pulumi-resource-contest-k8s"


@pytest.fixture
def plugin():
    """The servicer on a loopback gRPC server, with a stub the test calls like the engine."""
    server = grpc.server(provider_plugin.futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(ContestProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield provider_pb2_grpc.ResourceProviderStub(channel)
    channel.close()
    server.stop(0)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("SAKURACLOUD_ACCESS_TOKEN_SECRET", raising=False)
    original = provider_plugin.config_from
    monkeypatch.setattr(provider_plugin, "config_from", lambda args: dataclasses.replace(original(args), settings=FAST))
    with FakeSakura() as api:
        yield api


def _secret(value: str) -> dict:
    """A value as the engine sends a secret of the provider's configuration."""
    return {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": value}


def configure(stub, fake, **extra) -> provider_pb2.ConfigureResponse:
    args = {"apiRootUrl": fake.root_url, "accessToken": _secret("fake-token"), "accessTokenSecret": _secret("fake-secret"),
            **{k: _secret(v) for k, v in extra.items()}}
    return stub.Configure(provider_pb2.ConfigureRequest(args=to_struct(args), acceptSecrets=True))


def router_inputs(**extra) -> dict:
    return {"zone": "is1b", "name": "dev-router", "description": "d", "tags": ["contest-k8s", "stack=dev", "name=router-switch", OWNER],
            "prefixLength": 27, "bandwidthMbps": 100, **extra}


def test_configure_turns_on_preview_and_credentials_come_from_the_stack_config(plugin, fake):
    answer = configure(plugin, fake)
    assert answer.supportsPreview and not answer.acceptSecrets
    urn = URN.format(kind="RouterSwitch", name="router-switch")
    created = plugin.Create(provider_pb2.CreateRequest(urn=urn, properties=to_struct(router_inputs())))
    assert created.id and fake.count("internet") == 1, "no SAKURACLOUD_* in the environment: the configured key was used"


def test_a_preview_of_an_in_place_update_keeps_the_block_known(plugin, fake):
    configure(plugin, fake)
    urn = URN.format(kind="RouterSwitch", name="router-switch")
    created = plugin.Create(provider_pb2.CreateRequest(urn=urn, properties=to_struct(router_inputs())))
    state = to_python(created.properties)
    news = router_inputs(bandwidthMbps=250)
    checked = plugin.Check(provider_pb2.CheckRequest(urn=urn, olds=to_struct(router_inputs()), news=to_struct(news)))
    diff = plugin.Diff(provider_pb2.DiffRequest(id=created.id, urn=urn, olds=created.properties, news=checked.inputs))
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    assert dict((k, v.kind) for k, v in diff.detailedDiff.items()) == {"bandwidthMbps": provider_pb2.PropertyDiff.UPDATE}
    preview = to_python(plugin.Update(provider_pb2.UpdateRequest(id=created.id, urn=urn, olds=created.properties,
                                                                 news=checked.inputs, preview=True)).properties)
    for key in ("switchId", "networkAddress", "gateway", "firstUsable", "lastUsable"):
        assert preview[key] == state[key], key
    assert preview["sakuraId"] == UNKNOWN and fake.objects("is1b", "internet")[created.id]["BandWidthMbps"] == 100
    done = to_python(plugin.Update(provider_pb2.UpdateRequest(id=created.id, urn=urn, olds=created.properties,
                                                              news=checked.inputs)).properties)
    assert done["networkAddress"] == state["networkAddress"] and done["sakuraId"] != state["sakuraId"]


def test_a_preview_of_a_create_touches_nothing(plugin, fake):
    configure(plugin, fake)
    urn = URN.format(kind="RouterSwitch", name="router-switch")
    preview = plugin.Create(provider_pb2.CreateRequest(urn=urn, properties=to_struct(router_inputs()), preview=True))
    assert preview.id == "" and to_python(preview.properties)["networkAddress"] == UNKNOWN
    assert fake.calls() == 0


def test_errors_reach_the_engine_as_the_step_error(plugin, fake):
    configure(plugin, fake, accessTokenSecret="wrong")
    urn = URN.format(kind="Switch", name="private-switch")
    with pytest.raises(grpc.RpcError) as caught:
        plugin.Create(provider_pb2.CreateRequest(urn=urn, properties=to_struct(
            {"zone": "is1b", "name": "s", "description": "", "tags": [OWNER]})))
    assert "AuthenticationError" in caught.value.details() and "wrong" not in caught.value.details()
    with pytest.raises(grpc.RpcError, match="no resource type contest-k8s:sakura:Nope"):
        plugin.Check(provider_pb2.CheckRequest(urn=URN.format(kind="Nope", name="x"), olds=to_struct({}), news=to_struct({})))


def test_the_day_one_record_refuses_a_changed_setting_in_check(plugin, fake):
    configure(plugin, fake)
    urn = "urn:pulumi:dev::contest-k8s::contest-k8s:cluster:DayOneSettings::day-one"
    olds = {"stack": "dev", "stackFile": "Pulumi.dev.yaml", "settings": {"kubernetes.podCidr": "10.244.0.0/16", "workers.nodes.worker-1": "11"}}
    same = plugin.Check(provider_pb2.CheckRequest(urn=urn, olds=to_struct(olds), news=to_struct(olds)))
    assert list(same.failures) == []
    grown = {**olds, "settings": {**olds["settings"], "workers.nodes.worker-4": "14"}}
    assert list(plugin.Check(provider_pb2.CheckRequest(urn=urn, olds=to_struct(olds), news=to_struct(grown))).failures) == []
    changed = {**olds, "settings": {"kubernetes.podCidr": "10.245.0.0/16", "workers.nodes.worker-1": "12"}}
    failures = plugin.Check(provider_pb2.CheckRequest(urn=urn, olds=to_struct(olds), news=to_struct(changed))).failures
    assert [f.property for f in failures] == ["contest-k8s:kubernetes.podCidr", "contest-k8s:workers.nodes.worker-1"]
    assert failures[0].reason.startswith("Pulumi.dev.yaml: contest-k8s:kubernetes.podCidr was 10.244.0.0/16 when the cluster was created; "
                                         "given 10.245.0.0/16")
    assert "`pulumi destroy -s dev`" in failures[0].reason and "remove worker-1 from the stack file" in failures[1].reason


def test_the_launcher_starts_the_plugin_from_the_project_virtualenv():
    """What the engine runs (Pulumi.yaml `plugins.providers`): it prints a port and serves the provider there."""
    started = time.monotonic()
    process = subprocess.Popen([str(LAUNCHER), "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty())
        assert info.version == provider_plugin.VERSION
        print(f"\nplugin start to first answer: {time.monotonic() - started:.2f} s")
    finally:
        process.kill()
        process.wait()
