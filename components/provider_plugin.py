"""The project's own Pulumi provider plugin: the Sakura resources and the cluster's day-one records.

The engine starts it as `pulumi-resource-contest-k8s` (Pulumi.yaml `plugins.providers` points at
`components/plugin/`) and talks to it over gRPC, like to any provider. Unlike Pulumi's dynamic
providers it supports preview (an in-place update keeps known every output it cannot change, see
`sakura.provider.SakuraResourceType.preview_update`) and serves many requests at once (a disk copy
or a boot holds a request for minutes).

Configuration (the explicit provider resource's inputs): `apiRootUrl`, and optionally
`accessToken`/`accessTokenSecret` from the stack secrets. Secrets are not accepted in resource
inputs: the engine removes their secret marks before calling and puts them back on the outputs.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from concurrent import futures
from typing import Any, Callable

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from .day_one import ClusterOriginType, DayOneSettingsType
from .sakura.archive import ArchiveType
from .sakura.client import Credentials
from .sakura.disk import DiskType
from .sakura.disk_edit import DiskEditType
from .sakura.packet_filter import PacketFilterType
from .sakura.provider import PACKAGE, ProviderConfig, is_unknown
from .sakura.router_switch import RouterSwitchType
from .sakura.seed_iso import SeedIsoType
from .sakura.server import ServerType
from .sakura.server_size import ServerSizeType
from .sakura.ssh_key import SshKeyType
from .sakura.switch import SwitchType

VERSION = "1.0.0"
RESOURCE_TYPES = (SwitchType, RouterSwitchType, SshKeyType, ArchiveType, SeedIsoType, DiskType, DiskEditType, PacketFilterType, ServerType,
                  ServerSizeType, DayOneSettingsType, ClusterOriginType)
# Requests served at once: every VM of a large stack may be copying a disk or booting at the same time.
MAX_CONCURRENT_REQUESTS = 64


def to_python(struct: struct_pb2.Struct) -> dict:
    """A property struct as plain data; whole numbers become ints (the wire has only doubles)."""
    def normal(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value
    return normal(json_format.MessageToDict(struct))


def to_struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def unwrap_secret(value: Any) -> Any:
    """The value inside the engine's secret envelope (provider configuration arrives with its secrets marked)."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return value.get("value")
    return value


def config_from(args: dict) -> ProviderConfig:
    token, secret = unwrap_secret(args.get("accessToken")), unwrap_secret(args.get("accessTokenSecret"))
    credentials = Credentials(token, secret) if token and secret and not is_unknown(token) and not is_unknown(secret) else None
    kwargs = {"api_root_url": args["apiRootUrl"]} if args.get("apiRootUrl") else {}
    return ProviderConfig(credentials=credentials, **kwargs)


class ContestProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types = self._instantiate(ProviderConfig())

    @staticmethod
    def _instantiate(config: ProviderConfig) -> dict:
        return {cls.token: cls(config) for cls in RESOURCE_TYPES}

    def _handler(self, request: Any):
        token = request.type or request.urn.split("::")[2].split("$")[-1]
        with self._lock:
            handler = self._types.get(token)
        if handler is None:
            raise KeyError(f"{PACKAGE} provider has no resource type {token}")
        return handler

    @staticmethod
    def _guard(method: Callable) -> Callable:
        def wrapper(self, request, context):
            try:
                return method(self, request, context)
            except Exception as e:  # noqa: BLE001: every failure goes back to the engine as the step's error
                detail = str(e) if not isinstance(e, (KeyError, TypeError, AttributeError)) else traceback.format_exc()
                context.abort(grpc.StatusCode.UNKNOWN, f"{e.__class__.__name__}: {detail}")
        return wrapper

    # -- plugin and provider configuration

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(self, request, context):
        resources = {cls.token: {"description": (cls.__doc__ or "").strip()} for cls in RESOURCE_TYPES}
        return provider_pb2.GetSchemaResponse(schema=json.dumps({"name": PACKAGE, "version": VERSION, "resources": resources}))

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        # New credentials or a new endpoint never replace anything the provider manages.
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    @_guard
    def Configure(self, request, context):
        config = config_from(to_python(request.args))
        with self._lock:
            self._types = self._instantiate(config)
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True, acceptResources=False)

    # -- resources

    @_guard
    def Check(self, request, context):
        inputs, failures = self._handler(request).check(to_python(request.olds), to_python(request.news))
        return provider_pb2.CheckResponse(inputs=to_struct(inputs),
                                          failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures])

    @_guard
    def Diff(self, request, context):
        diff = self._handler(request).diff(to_python(request.olds), to_python(request.news))
        detailed = {k: provider_pb2.PropertyDiff(kind=provider_pb2.PropertyDiff.UPDATE_REPLACE, inputDiff=True) for k in diff.replaces}
        detailed.update({k: provider_pb2.PropertyDiff(kind=provider_pb2.PropertyDiff.UPDATE, inputDiff=True) for k in diff.updates})
        changes = provider_pb2.DiffResponse.DIFF_SOME if diff.changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=changes, replaces=list(diff.replaces), diffs=list(diff.changed),
                                         detailedDiff=detailed, hasDetailedDiff=True)

    @_guard
    def Create(self, request, context):
        handler, news = self._handler(request), to_python(request.properties)
        if request.preview:
            return provider_pb2.CreateResponse(id="", properties=to_struct(handler.preview_create(news)))
        id_, outs = handler.create(news)
        return provider_pb2.CreateResponse(id=id_, properties=to_struct(outs))

    @_guard
    def Read(self, request, context):
        outs = self._handler(request).read(request.id, to_python(request.properties))
        if outs is None:
            return provider_pb2.ReadResponse(id="")
        return provider_pb2.ReadResponse(id=request.id, properties=to_struct(outs), inputs=request.inputs)

    @_guard
    def Update(self, request, context):
        handler, state, news = self._handler(request), to_python(request.olds), to_python(request.news)
        outs = handler.preview_update(state, news) if request.preview else handler.update(request.id, state, news)
        return provider_pb2.UpdateResponse(properties=to_struct(outs))

    @_guard
    def Delete(self, request, context):
        self._handler(request).delete(request.id, to_python(request.properties))
        return empty_pb2.Empty()

    def Cancel(self, request, context):
        return empty_pb2.Empty()


def serve() -> None:
    """Listen on a free loopback port and print it, as the engine expects of a plugin."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_CONCURRENT_REQUESTS),
                         options=[("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)])
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(ContestProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


if __name__ == "__main__":
    serve()
