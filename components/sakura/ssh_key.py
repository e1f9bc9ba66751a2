"""An SSH key (a global resource, called through is1a). Keys carry no tags: one with the same name and
public key is adopted, and the public key is made inside this state, so another state never matches."""

from __future__ import annotations

from typing import Optional

import pulumi

from .client import GLOBAL_ZONE, AmbiguousRequest, SakuraClient
from .provider import PACKAGE, Common, SakuraResourceType


class SshKeyType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:SshKey"
    resource, envelope, list_key = "sshkey", "SSHKey", "SSHKeys"
    replace_keys = ("publicKey",)
    update_keys = ("name", "description")
    computed_keys = ("sakuraId", "fingerprint")

    def client(self, props: dict) -> SakuraClient:
        return self.config.client(GLOBAL_ZONE)

    def _same_key(self, c: SakuraClient, name: str, public_key: str) -> list[dict]:
        return [k for k in c.find("sshkey", "SSHKeys", {"Name": name}) if k.get("PublicKey", "").strip() == public_key]

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        public_key = news["publicKey"].strip()
        existing = self._same_key(c, news["name"], public_key)
        if existing:
            key = existing[0]
        else:
            body = {"SSHKey": {"Name": news["name"], "Description": news.get("description", ""), "PublicKey": public_key}}
            try:
                key = c.post("sshkey", body)["SSHKey"]
            except AmbiguousRequest:
                key = c.wait_until("SSH key after an unclear create", lambda: self._same_key(c, news["name"], public_key), bool)[0]
        return str(key["ID"]), {**news, "sakuraId": str(key["ID"]), "fingerprint": key.get("Fingerprint", "")}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        found = self.client(state).get_or_none(f"sshkey/{id_}")
        return {**state, "name": found["SSHKey"]["Name"]} if found else None

    def update(self, id_: str, state: dict, news: dict) -> dict:
        self.client(news).put(f"sshkey/{id_}", {"SSHKey": {"Name": news["name"], "Description": news.get("description", "")}})
        return {**news, **self.kept(state)}

    def delete(self, id_: str, state: dict) -> None:
        self.client(state).delete_if_exists(f"sshkey/{id_}")


class SshKey(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, public_key: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"name": sakura_name, "description": "managed by contest-k8s", "publicKey": public_key,
                 "sakuraId": None, "fingerprint": None}
        super().__init__(SshKeyType.token, resource_name, props, common.options(opts))
