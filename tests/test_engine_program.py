"""The contest-k8s program under the real Pulumi engine: the CLI, the language host, the plugins, the state.

Each test copies the project into a temporary directory (the engine writes the stack's encryption
salt into its stack file), points `sakuraApiRootUrl` at the fake Sakura API on 127.0.0.1, and runs
the `pulumi` the toolchain built against a local file backend with a passphrase. The project's own
provider plugin is started by the engine from Pulumi.yaml's `plugins.providers`, exactly as for a user.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.critical_path import critical_path, json_documents, measured_seconds
from components.offline import load_stack, run_program
from tests.engine import SECRET_SIG
from tests.engine_project import K, engine_for, on_fake, program_project, write_config

from .conftest import STACKS, run_stack
from .fake_sakura import FakeSakura

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parent.parent


def steps(preview_json: str) -> dict[str, str]:
    """Resource name -> the step `pulumi preview --json` plans for it (same, create, update, replace, delete...)."""
    document = json.loads(preview_json)
    return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in document.get("steps", [])
            if not step["urn"].split("::")[2].startswith("pulumi:pulumi:Stack")}


def sakura_objects(fake: FakeSakura) -> dict[str, int]:
    return {kind: fake.count(kind, zone=zone) for zone, kind in (("is1b", "server"), ("is1b", "disk"), ("is1b", "switch"),
            ("is1b", "internet"), ("is1b", "packetfilter"), ("is1b", "archive"), ("is1b", "cdrom"), ("is1a", "sshkey"))}


# --------------------------------------------------------------------------- previews of new stacks


@pytest.mark.parametrize("stack", STACKS)
def test_preview_of_a_new_stack(tmp_path, stack):
    """What a pull request's preview runs: the whole program, every layer, no cloud call, no secret shown."""
    project = program_project(tmp_path / "project", stack)
    engine = engine_for(project, tmp_path / "engine", plugins=("random", "tls", "command", "kubernetes"))
    engine.stack_init(stack)
    plain = engine.run("preview", stack=stack, label="preview")
    as_json = engine.run("preview", "--json", stack=stack, label="preview --json")
    diff = engine.run("preview", "--diff", stack=stack, label="preview --diff")
    planned = steps(as_json.stdout)
    # Under mocks the other stacks exist (FakeCloud answers their outputs); in this fresh backend they do not, so
    # wsp's Argo CD registers no cluster yet and says so.
    under_mocks = {r.name for r in run_stack(stack).resources if not r.name.startswith("argo-cd-clusters-secret-")}
    if stack != "wsp":
        # prd and dev send their logs to wsp, which this engine never deployed: no log agent until wsp exists (the mocks
        # answer with wsp's outputs from its stack file), and the preview says so
        under_mocks.remove("fluent-bit")
        assert "monitoring peer wsp: stack organization/contest-k8s/wsp cannot be read" in plain.output
    assert set(planned) == under_mocks, (sorted(set(planned) - under_mocks), sorted(under_mocks - set(planned)))
    if stack == "wsp":
        for environment in ("prd", "dev"):
            assert f"Argo CD environment {environment}: stack organization/contest-k8s/{environment} cannot be read" in plain.output
    assert set(planned.values()) == {"create"}
    for text in (plain.output, as_json.output, diff.output):
        assert "PRIVATE KEY" not in text and "fake-secret" not in text
    if stack == "dev":  # what a reviewer sees in the pull request's comment
        out = ROOT / "build" / "engine"
        out.mkdir(parents=True, exist_ok=True)
        (out / "preview-dev.diff").write_text(diff.stdout)
    print(f"\n[measured] {stack}: {len(planned)} resources; {engine.report()}")


# --------------------------------------------------------------------------- the VM layer, up to destroy


def test_vm_layer_up_no_spurious_diff_secrets_worker_4_and_destroy(tmp_path):
    with FakeSakura(copy_seconds=0.05, power_seconds=0.05) as fake:
        project = program_project(tmp_path / "project", "dev", on_fake(fake))
        engine = engine_for(project, tmp_path / "engine")
        engine.stack_init("dev")
        # credentials only as stack secrets: the test engine's environment has no SAKURACLOUD_*
        engine.run("config", "set", "--secret", "sakuraAccessToken", fake.token, stack="dev", timed=False)
        engine.run("config", "set", "--secret", "sakuraAccessTokenSecret", fake.secret, stack="dev", timed=False)
        engine.run("up", "--yes", "--skip-preview", stack="dev", label="up")
        created = sakura_objects(fake)
        assert created == {"server": 9, "disk": 12, "switch": 2, "internet": 1, "packetfilter": 3, "archive": 0, "cdrom": 0, "sshkey": 1}

        engine.run("preview", "--expect-no-changes", stack="dev", label="preview (no changes)")
        engine.run("refresh", "--yes", "--expect-no-changes", stack="dev", label="refresh (no changes)")
        assert_secrets_only_ciphertext(engine, fake)

        write_config(project, "dev", lambda c: (on_fake(fake)(c), c[K + "workers"]["nodes"].update({"worker-4": 14})))
        planned = steps(engine.run("preview", "--json", stack="dev", label="preview worker-4").stdout)
        changed = {name: op for name, op in planned.items() if op != "same"}
        assert set(changed.values()) == {"create"} and all(name.startswith("worker-4") for name in changed), changed
        assert {"worker-4-day-one", "worker-4", "worker-4-boot", "worker-4-data"} <= set(changed)

        # ordinary changes of a running stack preview as what they do (issue: previews showed the cluster replaced)
        write_config(project, "dev", lambda c: (on_fake(fake)(c), c[K + "network"].update(bandwidthMbps=250)))
        planned = steps(engine.run("preview", "--json", stack="dev", label="preview bandwidth").stdout)
        assert {name: op for name, op in planned.items() if op != "same"} == {"router-switch": "update"}
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpH4aQvSnVuvbT6Jvn2XzvsQvKu1kQxVbV9x+BvGSUr alice@venue"
        write_config(project, "dev", lambda c: (on_fake(fake)(c), c.update({K + "ssh": {"authorizedKeys": [key]}})))
        planned = steps(engine.run("preview", "--json", stack="dev", label="preview operator key").stdout)
        assert {name: op for name, op in planned.items() if op != "same"} == {}, "disk edit is create-only: no disk changes"
        write_config(project, "dev", on_fake(fake))

        engine.run("destroy", "--yes", "--skip-preview", stack="dev", label="destroy")
        assert set(sakura_objects(fake).values()) == {0}
        calls = len(fake.log)
    print(f"\n[measured] VM layer of dev: {calls} API calls; {engine.report()}")


def _without_disk_edits(deployment: dict) -> dict:
    """The state as the program made it before DiskEdit existed: each boot disk edited by its own create
    (the parameters in its inputs and outputs), the servers depending on their disks only."""
    resources = deployment["deployment"]["resources"]
    edits = {r["urn"]: r for r in resources if r["type"] == "contest-k8s:sakura:DiskEdit"}
    parameters = {r["inputs"]["diskId"]: r["inputs"]["parameters"] for r in edits.values()}
    kept = []
    for r in resources:
        if r["urn"] in edits:
            continue
        if r["type"] == "contest-k8s:sakura:Disk" and r["outputs"]["sakuraId"] in parameters:
            r["inputs"]["edit"] = r["outputs"]["edit"] = parameters[r["outputs"]["sakuraId"]]
        r["dependencies"] = [d for d in r.get("dependencies") or [] if d not in edits]
        r["propertyDependencies"] = {k: [d for d in v if d not in edits] for k, v in (r.get("propertyDependencies") or {}).items()}
        kept.append(r)
    deployment["deployment"]["resources"] = kept
    return deployment


def test_a_stack_whose_disks_were_edited_at_creation_gets_edit_records_and_nothing_else(tmp_path):
    """Upgrading the program over a state from before DiskEdit: the preview creates one DiskEdit record per
    Ubuntu disk and changes nothing else (no disk or VM replaced); the up sends no edit to a disk in use."""
    with FakeSakura(copy_seconds=0.05, power_seconds=0.05) as fake:
        project = program_project(tmp_path / "project", "dev", on_fake(fake))
        engine = engine_for(project, tmp_path / "engine", SAKURACLOUD_ACCESS_TOKEN=fake.token,
                            SAKURACLOUD_ACCESS_TOKEN_SECRET=fake.secret)
        engine.stack_init("dev")
        engine.run("up", "--yes", "--skip-preview", stack="dev", label="up")
        revealed = json.loads(engine.run("stack", "export", "--show-secrets", stack="dev", timed=False).stdout)
        legacy = tmp_path / "legacy.json"
        legacy.write_text(json.dumps(_without_disk_edits(revealed)))
        engine.run("stack", "import", "--file", str(legacy), stack="dev", timed=False)
        assert "DiskEdit" not in engine.run("stack", "export", stack="dev", timed=False).stdout

        planned = steps(engine.run("preview", "--json", stack="dev", label="preview over the old state").stdout)
        nodes = ("router", "lb-1", "lb-2", "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3")
        assert {name: op for name, op in planned.items() if op != "same"} == {f"{n}-boot-edit": "create" for n in nodes}
        edits_before = [p for m, p in fake.log if m == "PUT" and p.endswith("/config")]
        assert len(edits_before) == 9
        engine.run("up", "--yes", "--skip-preview", stack="dev", label="up over the old state")
        assert [p for m, p in fake.log if m == "PUT" and p.endswith("/config")] == edits_before, "no disk in use is edited"
        records = [r for r in json.loads(engine.run("stack", "export", stack="dev", timed=False).stdout)["deployment"]["resources"]
                   if r["type"] == "contest-k8s:sakura:DiskEdit"]
        assert len(records) == 9 and not any(r["outputs"]["applied"] for r in records)
        assert all(r["inputs"]["madeWithEdit"] for r in records), "each read from its disk's state that it was edited"
        engine.run("preview", "--expect-no-changes", stack="dev", label="preview (no changes)")

        # A disk renamed in the control panel: the refresh reads the name, the next up puts it back (an update).
        password = next(d["_edit"]["Password"] for d in fake.objects("is1b", "disk").values() if d.get("_edit"))
        cp_1 = next(d for d in fake.objects("is1b", "disk").values() if d["Name"] == "dev-cp-1")
        cp_1["Name"] = "renamed"
        engine.run("refresh", "--yes", stack="dev", label="refresh (a renamed disk)")
        assert engine.run("preview", "--json", stack="dev", label="preview the rename back", timed=False).stdout.count('"op": "update"') == 1
        engine.run("up", "--yes", "--skip-preview", stack="dev", label="up (its name back)")
        assert cp_1["Name"] == "dev-cp-1"
        exported = json.loads(engine.run("stack", "export", stack="dev", timed=False).stdout)
        assert password not in "\n".join(_plain_values(exported)), "the login password is in the state in plain text"
        disks = {r["urn"].rsplit("::", 1)[-1]: r for r in exported["deployment"]["resources"] if r["type"] == "contest-k8s:sakura:Disk"}
        assert disks["cp-1-boot"]["outputs"]["edit"] == {"editedAtCreation": True}, "the update keeps only that it was edited"
        engine.run("preview", "--expect-no-changes", stack="dev", label="preview (no changes)")
    print(f"\n[measured] upgrade over disks edited at creation: {engine.report()}")


def test_the_critical_path_takes_its_durations_from_a_real_up(tmp_path):
    """`critical-path --measured` reads the real CLI's `pulumi up --yes --json` of a new stack (the README's
    command: its preview, then its events): each Sakura step's measured duration replaces its estimate, and
    the projected VM layer is the one the up took."""
    with FakeSakura(copy_seconds=3.0, power_seconds=2.0) as fake:
        project = program_project(tmp_path / "project", "dev", on_fake(fake))
        engine = engine_for(project, tmp_path / "engine", SAKURACLOUD_ACCESS_TOKEN=fake.token,
                            SAKURACLOUD_ACCESS_TOKEN_SECRET=fake.secret)
        engine.stack_init("dev")
        up = engine.run("up", "--yes", "--json", stack="dev", label="up --json")
    events = tmp_path / "up-dev.json"
    events.write_text(up.stdout)
    measured = measured_seconds(up.stdout, str(events))
    sakura = {name: seconds for (kind, name), seconds in measured.items() if kind.startswith("contest-k8s:sakura:")}
    assert len(sakura) == 45 and set(sakura) >= {"router-switch", "cp-1-boot", "cp-1-boot-edit", "cp-1"}
    assert 2 <= sakura["cp-1-boot-edit"] <= 5, "the fake edits a disk in 3 s (events carry whole seconds)"
    run = run_program(*load_stack("dev", project / "Pulumi.dev.yaml"))
    chain = critical_path(run, measured)
    assert all(step.measured for step in chain), [s.name for s in chain if not s.measured]
    stream = [d for d in json_documents(up.stdout, "up") if "timestamp" in d]
    first = min(d["timestamp"] for d in stream if "resourcePreEvent" in d and d["resourcePreEvent"]["metadata"]["type"].startswith("contest-k8s:sakura:"))
    took = max(d["timestamp"] for d in stream if "resOutputsEvent" in d) - first
    # whole-second stamps: each step on the chain may be off by a second, and the engine's gaps between steps are not steps
    assert took - len(chain) - 2 <= chain[-1].end <= took + len(chain), (chain[-1].end, took, [(s.name, s.seconds) for s in chain])
    text = subprocess.run([sys.executable, "-m", "components", "critical-path", "dev", "--config", str(project / "Pulumi.dev.yaml"),
                           "--measured", str(events)], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"measured in {events} where marked *" in text and "*" in text.splitlines()[2]
    print(f"\n[measured] critical path from a real up: {chain[-1].end:.0f} s projected, {took} s taken; {engine.report()}")


# --------------------------------------------------------------------------- faults


def test_vm_layer_up_through_faults_converges_without_orphans_or_duplicates(tmp_path):
    """A bad day at the API: the first up completes or fails clearly; the second converges; nothing twice."""
    with FakeSakura(copy_seconds=0.05, power_seconds=0.05) as fake:
        fake.faults.storm_503 = 6
        fake.faults.after_effect["POST server"] = ["timeout", "still_creating"]
        fake.faults.after_effect["POST disk"] = ["timeout"]
        fake.faults.router_hidden_seconds = 0.5
        fake.faults.timeout_sleep = 3.0  # longer than the client's request timeout: the answer is lost
        project = program_project(tmp_path / "project", "dev", on_fake(fake))
        engine = engine_for(project, tmp_path / "engine", SAKURACLOUD_ACCESS_TOKEN=fake.token,
                            SAKURACLOUD_ACCESS_TOKEN_SECRET=fake.secret)
        engine.stack_init("dev")
        first = engine.run("up", "--yes", "--skip-preview", stack="dev", check=False, label="up with faults")
        if first.returncode != 0:
            assert "Traceback" not in first.output, first.describe()
        engine.run("up", "--yes", "--skip-preview", stack="dev", label="second up")
        assert sakura_objects(fake) == {"server": 9, "disk": 12, "switch": 2, "internet": 1, "packetfilter": 3, "archive": 0,
                                        "cdrom": 0, "sshkey": 1}
        for kind in ("server", "disk", "switch", "packetfilter"):
            names = [o["Name"] for o in fake.objects("is1b", kind).values()]
            assert len(names) == len(set(names)), f"a duplicate {kind}: {sorted(names)}"
        engine.run("preview", "--expect-no-changes", stack="dev", label="preview (no changes)")
    print(f"\n[measured] faults: first up exited {first.returncode}; {engine.report()}")


# --------------------------------------------------------------------------- secrets in state


def _plain_values(document) -> list[str]:
    """Every string in the state that is not inside a secret envelope."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
                return  # a secret: ciphertext only
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.append(value)
    walk(document)
    return found


def assert_secrets_only_ciphertext(engine, fake: FakeSakura) -> None:
    """The SSH key, the login password and the Sakura key are in the state, and only as ciphertext."""
    exported = json.loads(engine.run("stack", "export", stack="dev", timed=False).stdout)
    revealed = json.loads(engine.run("stack", "export", "--show-secrets", stack="dev", timed=False).stdout)
    outputs = json.loads(engine.run("stack", "output", "--json", "--show-secrets", stack="dev", timed=False).stdout)
    password = next(d["_edit"]["Password"] for d in fake.objects("is1b", "disk").values() if d.get("_edit"))
    secrets = {"SSH private key": outputs["sshPrivateKey"].splitlines()[1], "login password": password,
               "Sakura token secret": fake.secret}
    plain = "\n".join(_plain_values(exported))
    for what, value in secrets.items():
        assert value in json.dumps(revealed), f"{what} is not in the state at all: the scan would prove nothing"
        assert value not in plain, f"{what} is in the state in plain text"
    planted = json.loads(json.dumps(exported))
    planted["deployment"]["resources"][0].setdefault("outputs", {})["planted"] = secrets["login password"]
    assert secrets["login password"] in "\n".join(_plain_values(planted)), "the scan finds a planted plain secret"
