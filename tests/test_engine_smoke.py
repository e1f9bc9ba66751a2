"""Smoke test of the real engine toolchain on a throwaway project (not the contest-k8s program).

The CLI, our language host, the SDK's dynamic-provider host and the random/tls plugins must carry a
small Python program through preview, up, a no-change preview and refresh, and destroy, with secrets
only as ciphertext in the state.
"""

from __future__ import annotations

import json

import pytest

from tests.engine import SECRET_SIG, Engine, project_venv, python_project, require_engine

pytestmark = pytest.mark.engine

PROGRAM = '''\
import pulumi
import pulumi_random as random
import pulumi_tls as tls
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Reverse(ResourceProvider):
    """A Python dynamic provider: serialized into the state, run by the engine's dynamic host."""

    def create(self, props):
        return CreateResult(id_="reverse-" + props["text"][:4], outs={"text": props["text"], "reversed": props["text"][::-1]})


class Reversed(Resource):
    reversed: pulumi.Output[str]

    def __init__(self, name, text, opts=None):
        super().__init__(Reverse(), name, {"text": text, "reversed": None}, opts)


word = random.RandomString("word", length=12, special=False)
password = random.RandomPassword("password", length=24)
key = tls.PrivateKey("key", algorithm="ED25519")
ca_key = tls.PrivateKey("ca-key", algorithm="ECDSA", ecdsa_curve="P256")
reversed_word = Reversed("reversed", word.result)

pulumi.export("word", word.result)
pulumi.export("reversed", reversed_word.reversed)
pulumi.export("password", password.result)
pulumi.export("publicKey", key.public_key_openssh)
pulumi.export("privateKey", key.private_key_pem)
pulumi.export("caKey", ca_key.private_key_pem)
'''


def test_engine_smoke(tmp_path):
    require_engine()
    project = python_project(tmp_path / "project", "engine-smoke", PROGRAM, virtualenv=project_venv())
    engine = Engine(project, tmp_path / "engine")
    stack = "smoke"
    engine.stack_init(stack)

    preview = engine.run("preview", "--diff", stack=stack)
    for urn_part in ("random:index/randomString:RandomString", "tls:index/privateKey:PrivateKey",
                     "pulumi-python:dynamic:Resource"):
        assert urn_part in preview.stdout, preview.describe()

    engine.run("up", "--yes", "--skip-preview", stack=stack)
    outputs = json.loads(engine.run("stack", "output", "--json", "--show-secrets", stack=stack, timed=False).stdout)
    assert outputs["reversed"] == outputs["word"][::-1]
    assert len(outputs["word"]) == 12 and outputs["word"].isalnum()
    assert len(outputs["password"]) == 24
    assert outputs["publicKey"].startswith("ssh-ed25519 ")
    assert outputs["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert outputs["caKey"].startswith("-----BEGIN EC PRIVATE KEY-----")

    engine.run("preview", "--expect-no-changes", stack=stack, label="preview --expect-no-changes")
    engine.run("refresh", "--yes", "--expect-no-changes", stack=stack, label="refresh --expect-no-changes")

    exported = engine.run("stack", "export", stack=stack, label="stack export").stdout
    for name in ("password", "privateKey", "caKey"):
        assert outputs[name] not in exported, f"{name} is in plain text in the state"
        for line in outputs[name].splitlines()[1:2]:  # a line of the PEM body, as JSON escapes keep it whole
            assert line not in exported, f"{name} is in plain text in the state"
    assert SECRET_SIG in exported
    state = json.loads(exported)
    by_type = {r["type"]: r for r in state["deployment"]["resources"]}
    assert SECRET_SIG in json.dumps(by_type["random:index/randomPassword:RandomPassword"]["outputs"]["result"])
    assert SECRET_SIG in json.dumps(by_type["tls:index/privateKey:PrivateKey"]["outputs"]["privateKeyPem"])

    engine.run("destroy", "--yes", "--skip-preview", stack=stack)
    after = json.loads(engine.run("stack", "export", stack=stack, timed=False).stdout)
    assert not after["deployment"].get("resources"), after["deployment"].get("resources")
    print(f"engine smoke timings: {engine.report()}")
