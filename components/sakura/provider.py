"""What every Sakura resource of the project's provider plugin shares: config, diff, preview, adoption.

The resources are served by the project's own provider plugin (`components.provider_plugin`), not by
Pulumi's dynamic providers, for three reasons the real engine imposes:
- previews: a dynamic provider cannot take part in a preview, so the engine hands back only the
  inputs of a resource that updates in place and every computed output (the router's block, a
  switch ID) turns unknown, and everything downstream previews as replaced. This provider supports
  preview: an update keeps every output it cannot change known (`preview_update`);
- concurrency: the dynamic-provider host serves four requests at a time, while a disk copy or a
  boot blocks its request for minutes;
- state: nothing is pickled into the state; resources carry only data.

The rules every resource type follows (facts in ../shared/reference/sakura-cloud-api.md):
- Create first looks for the resource by its tags (project, stack, logical name, role, a hash of the
  inputs that force replacement) and adopts it only if it also carries this state's owner tag
  (`owner=<id>`, made by pulumi-random inside the state). One carrying another owner is refused
  with a message naming it: a second state with the same project and stack never takes over the
  first one's cluster. A create that failed after its POST (a timeout, 409 still_creating) leaves
  nothing behind: this run or the next one finds its object and takes it over.
- Replace only where the API forces it (`replace_keys`); `update_keys` change in place;
  `create_only_keys` are used once, at creation (disk edit), and their later changes are ignored.
- Delete of something already gone succeeds.
- Servers and routers change ID on a plan or bandwidth change; the provider tags them with
  `@previous-id=<old>` first and follows that tag whenever an ID answers 404. The Pulumi ID stays
  the first ID; the live one is the `sakuraId` output.
- Credentials come from the provider's configuration (the stack secrets `contest-k8s:sakuraAccessToken`
  and `contest-k8s:sakuraAccessTokenSecret`) or from SAKURACLOUD_ACCESS_TOKEN and
  SAKURACLOUD_ACCESS_TOKEN_SECRET; they are never resource inputs or outputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime.rpc import UNKNOWN

from . import catalog
from .client import AmbiguousRequest, ClientSettings, Credentials, SakuraApiError, SakuraClient

PACKAGE = "contest-k8s"
PREVIOUS_ID_TAG = "@previous-id="
OWNER_TAG = "owner="
# A server or router keeps this many `@previous-id` tags: enough for a state saved one change ago.
KEPT_PREVIOUS_IDS = 2
DEFAULT_API_ROOT_URL = "https://secure.sakura.ad.jp/cloud/zone"


class MissingCredentials(Exception):
    pass


class OwnedElsewhere(Exception):
    """An object with this stack's tags belongs to another Pulumi state."""


def spec_tag(values: dict) -> str:
    """A tag from the inputs that force replacement, so a replacement never adopts its predecessor."""
    return "spec=" + hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (a preview), anywhere inside `value`."""
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return value == UNKNOWN


def is_still_creating(error: Exception) -> bool:
    return isinstance(error, SakuraApiError) and error.status == 409 and error.error_code == "still_creating"


def is_unclear_create(error: Exception) -> bool:
    """A POST whose answer was lost, or refused as `still_creating`: the object may exist, so it is looked for, not posted again."""
    return isinstance(error, AmbiguousRequest) or is_still_creating(error)


def previous_id_tags(obj: dict) -> list[str]:
    return [t for t in obj.get("Tags") or [] if t.startswith(PREVIOUS_ID_TAG)]


def owner_of(tags: list[str]) -> Optional[str]:
    return next((t[len(OWNER_TAG):] for t in tags if t.startswith(OWNER_TAG)), None)


@dataclass(frozen=True)
class ProviderConfig:
    """The plugin's configuration: where the API is, whose key, and how patiently to call it."""

    api_root_url: str = DEFAULT_API_ROOT_URL
    credentials: Optional[Credentials] = field(default=None, repr=False)
    settings: ClientSettings = field(default_factory=ClientSettings.from_env)

    def client(self, zone: str) -> SakuraClient:
        credentials = self.credentials or Credentials.from_env()
        if credentials is None:
            raise MissingCredentials(
                "no Sakura Cloud API key: export SAKURACLOUD_ACCESS_TOKEN and SAKURACLOUD_ACCESS_TOKEN_SECRET, "
                "or set the stack secrets contest-k8s:sakuraAccessToken and contest-k8s:sakuraAccessTokenSecret"
            )
        return SakuraClient(zone, credentials, self.api_root_url, self.settings)


@dataclass(frozen=True)
class Diff:
    """What an update would do: the inputs that force a new object, and those changed in place."""

    replaces: tuple[str, ...] = ()
    updates: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        return self.replaces + self.updates


class SakuraResourceType:
    """One Sakura resource type: its inputs' rules and its create/read/update/delete against the API."""

    token: str = ""
    resource: str = ""
    envelope: str = ""
    list_key: str = ""
    replace_keys: tuple[str, ...] = ("zone",)
    update_keys: tuple[str, ...] = ("name", "description", "tags")
    create_only_keys: tuple[str, ...] = ()
    computed_keys: tuple[str, ...] = ("sakuraId",)

    def __init__(self, config: ProviderConfig):
        self.config = config

    def client(self, props: dict) -> SakuraClient:
        return self.config.client(props["zone"])

    # -- what the engine asks before anything changes

    def check(self, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        """The inputs to store and (property, reason) failures. Never touches files or the API."""
        return news, []

    def diff(self, state: dict, news: dict) -> Diff:
        """Replace only on `replace_keys` (what the API cannot change in place), update on `update_keys`.
        A value still unknown in a preview counts as changed: that is what the update may find."""
        def changed(key: str) -> bool:
            return is_unknown(news.get(key)) or state.get(key) != news.get(key)
        return Diff(tuple(k for k in self.replace_keys if changed(k)), tuple(k for k in self.update_keys if changed(k)))

    def changed_by_update(self, state: dict, news: dict) -> tuple[str, ...]:
        """Computed outputs an in-place update of `state` to `news` gives new values (e.g. a new ID)."""
        return ()

    def preview_create(self, news: dict) -> dict:
        return {**news, **{k: UNKNOWN for k in self.computed_keys}}

    def preview_update(self, state: dict, news: dict) -> dict:
        """The outputs an update will have: everything it cannot change stays known in the preview."""
        outs = {**news, **self.kept(state)}
        return {**outs, **{k: UNKNOWN for k in self.changed_by_update(state, news)}}

    def kept(self, state: dict) -> dict:
        """Outputs an update carries over: computed values, and the create-only inputs the object was made with."""
        return {k: state[k] for k in self.computed_keys + self.create_only_keys if k in state}

    # -- create, read, update, delete

    def create(self, news: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def read(self, id_: str, state: dict) -> Optional[dict]:
        """The current outputs, or None when the object is gone."""
        raise NotImplementedError

    def update(self, id_: str, state: dict, news: dict) -> dict:
        """Name, description and tags are the only fields most resources can change in place."""
        self.put_metadata(self.client(news), state["sakuraId"], news, [])
        return {**news, **self.kept(state)}

    def delete(self, id_: str, state: dict) -> None:
        raise NotImplementedError

    # -- helpers shared by the resources

    def tags_for(self, props: dict) -> list[str]:
        spec = {k: props.get(k) for k in self.replace_keys}
        tags = sorted(set(props.get("tags") or []) | {spec_tag(spec)})
        if len(tags) + KEPT_PREVIOUS_IDS > catalog.MAX_TAGS:
            raise ValueError(f"{len(tags)} tags on {props.get('name')}: Sakura allows {catalog.MAX_TAGS}, "
                             f"and {KEPT_PREVIOUS_IDS} are kept for @previous-id")
        return tags

    def adopt_or_create(self, c: SakuraClient, tags: list[str], post: Callable[[], dict]) -> dict:
        """Return this state's resource carrying `tags`, creating it only if none exists."""
        found = self.find_tagged(c, tags)
        if found is not None:
            return found
        try:
            return post()[self.envelope]
        except (AmbiguousRequest, SakuraApiError) as e:
            if not is_unclear_create(e):
                raise
            return c.wait_until(f"{self.resource} tagged {tags} after an unclear create", lambda: self.find_tagged(c, tags), bool)

    def find_tagged(self, c: SakuraClient, tags: list[str]) -> Optional[dict]:
        """This state's object with `tags`; an object with the same tags but another owner is refused."""
        owner = owner_of(tags)
        identity = [t for t in tags if not t.startswith(OWNER_TAG)]
        found = c.find_by_tags(self.resource, self.list_key, identity)
        mine = [o for o in found if owner_of(o.get("Tags") or []) == owner]
        if mine:
            return min(mine, key=lambda o: int(o["ID"]))
        if found:
            other = min(found, key=lambda o: int(o["ID"]))
            raise OwnedElsewhere(
                f"Sakura {self.resource} {other['ID']} ({other.get('Name')}) in zone {c.zone} carries this stack's tags "
                f"but belongs to another Pulumi state (owner={owner_of(other.get('Tags') or []) or 'none'}; this state is "
                f"owner={owner}). It is not taken over: run `pulumi up` from the state that owns it (the shared backend), "
                "or delete it in the control panel if it is a leftover."
            )
        return None

    def live(self, c: SakuraClient, sakura_id: str) -> Optional[dict]:
        """The object for an ID, following `@previous-id` chains; None if it is gone."""
        seen: set[str] = set()
        current = str(sakura_id)
        while current not in seen:
            seen.add(current)
            found = c.get_or_none(f"{self.resource}/{current}")
            if found is not None:
                return found[self.envelope]
            successors = c.find_by_tags(self.resource, self.list_key, [PREVIOUS_ID_TAG + current])
            if not successors:
                return None
            current = str(successors[0]["ID"])
        return None

    def change_with_new_id(self, c: SakuraClient, live_id: str, path: str, body: dict) -> str:
        """A PUT that gives the resource a new ID (plan, bandwidth). The caller has already tagged it
        `@previous-id=<live_id>`; if the answer is lost, that tag tells whether the change happened."""
        try:
            return str(c.request("PUT", path, body, repeatable=False)[self.envelope]["ID"])
        except AmbiguousRequest:
            current = c.wait_until(f"{self.resource} {live_id} after an unclear change", lambda: self.live(c, live_id), bool)
            if str(current["ID"]) != live_id:
                return str(current["ID"])
            return str(c.request("PUT", path, body, repeatable=False)[self.envelope]["ID"])

    def put_metadata(self, c: SakuraClient, sakura_id: str, props: dict, keep: list[str]) -> None:
        body = {"Name": props["name"], "Description": props.get("description", ""), "Tags": sorted(set(self.tags_for(props)) | set(keep))}
        c.put(f"{self.resource}/{sakura_id}", {self.envelope: body})

    def keep_previous_ids(self, obj: dict, new_previous: Optional[str] = None) -> list[str]:
        """The `@previous-id` tags to keep: the newest ones (IDs only grow), plus `new_previous`."""
        tags = previous_id_tags(obj) + ([PREVIOUS_ID_TAG + new_previous] if new_previous else [])
        newest = sorted(set(tags), key=lambda t: int(t[len(PREVIOUS_ID_TAG):]))
        return newest[-KEPT_PREVIOUS_IDS:]

    def gone(self, c: SakuraClient, sakura_id: str) -> SakuraApiError:
        return SakuraApiError("GET", f"{c.endpoint}/{self.resource}/{sakura_id}", 404, "not_found",
                              f"{self.resource} {sakura_id} is gone; run `pulumi refresh` so the next `pulumi up` recreates it")


def failed_availability(obj: dict) -> Optional[str]:
    """Fail fast on `failed`; the official library would wait for the timeout instead."""
    if obj.get("Availability") == "failed":
        job = obj.get("JobStatus") or {}
        return f"{obj.get('Name', obj.get('ID'))} is in state 'failed'" + (f": {job.get('ConfigError')}" if job.get("ConfigError") else "")
    return None


# --------------------------------------------------------------------------- the program's side


@dataclass(frozen=True)
class Common:
    """What every Sakura resource of a stack shares: zone, tags (with the state's owner) and the provider."""

    zone: str
    tags: tuple[pulumi.Input[str], ...]
    provider: pulumi.ProviderResource

    def inputs(self, name: str, description: str) -> dict:
        return {"zone": self.zone, "tags": list(self.tags), "name": name, "description": description}

    def options(self, opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(provider=self.provider), opts)
