"""The GitOps layer under mocks: wsp's Argo CD registers prd and dev from their stacks' outputs (at the VIP, with their
CA, the token a secret everywhere), skips a stack that is missing or has not exported its access, restricts prd, and
renders its chart values and objects in the forms Argo CD reads; prd and dev give it access. The stacks' outputs are
FakeCloud's answers to readStackOutputs: what those stacks' own runs export (checked below)."""

from __future__ import annotations

import base64
import copy
import json
import logging

import pytest
import yaml
from jsonschema import Draft7Validator

from components import charts
from components.app_project import Destination, destination_permitted, source_permitted
from components.config import PROJECT
from components.mocking import fake_block
from components.offline import PROJECT_ROOT, ProgramRun, load_stack, manifest
from components.plan import GlobalBlock, build_plan
from components.render.charts.argo_cd import (HELMFILE_ENVIRONMENT, NOTIFICATIONS_SECRET, PLUGIN, SLACK_TOKEN_KEY, TRIGGERS,
                                              template_name)

from ..checks.schemas import PLUGIN_SPEC, crd_errors
from ..conftest import UPSTREAM, refusal, require_shared, run_stack, set_key, write_stack
from .test_addons import Graph, chart_resource

K = PROJECT + ":"
TARGETS = ("prd", "dev")


def layer(run: ProgramRun, component: str = "GitOps") -> list:
    parent = next(r for r in run.resources if r.type.endswith(":" + component))
    return [r for r in run.resources if r.parent == parent.urn]


def cluster_secret(run: ProgramRun, environment: str):
    return run.named(f"argo-cd-clusters-secret-cluster-{environment}", "Secret")


def rendered(run: ProgramRun, kind: str) -> dict[str, dict]:
    """The rendered objects of a kind in kubernetes/argo-cd.yaml, by name."""
    return {o["metadata"]["name"]: o for o in yaml.safe_load_all(run.artifact("kubernetes/argo-cd.yaml")) if o and o["kind"] == kind}


def argo_values(run: ProgramRun) -> dict:
    return yaml.safe_load(run.artifact("helm/argo-cd-values.yaml"))


# --------------------------------------------------------------------------- registration


@pytest.mark.parametrize("environment", TARGETS)
def test_wsp_registers_each_cluster_at_its_vip_with_its_ca(stack_runs, environment):
    target, wsp = stack_runs[environment], stack_runs["wsp"]
    data = cluster_secret(wsp, environment).inputs["stringData"]
    loaded = load_stack(environment)[0]
    plan = build_plan(loaded, GlobalBlock.assumed(fake_block(environment, loaded.config.network.global_prefix_length)))
    endpoint = target.outputs["apiEndpoint"]
    assert data["name"] == environment and data["server"] == f"https://{endpoint}" == f"https://{plan.api.vip.ip}:6443"
    control_planes = {address for name, address in target.outputs["nodes"].items() if name.startswith("cp-")}
    assert control_planes and endpoint.split(":")[0] not in control_planes, "the VIP the load balancers hold, never one control plane"
    config = json.loads(data["config"])
    assert base64.b64decode(config["tlsClientConfig"]["caData"]).decode() == target.outputs["kubernetesCa"]
    assert config["bearerToken"] == target.outputs["argocdToken"], "the token the cluster exported"
    assert "insecure" not in config["tlsClientConfig"]
    assert wsp.outputs["argocdClusters"] == {e: f"https://{stack_runs[e].outputs['apiEndpoint']}" for e in TARGETS}


def test_the_token_is_a_secret_in_inputs_state_outputs_and_the_render(stack_runs):
    for environment in TARGETS:
        target, wsp = stack_runs[environment], stack_runs["wsp"]
        token = target.outputs["argocdToken"]
        assert "argocdToken" in target.secret_outputs
        made = target.named("argocd-access-token-secret-argocd-manager-token", "Secret")
        assert "data" in made.secret_outputs, "the token controller's token is secret in prd's state"
        registration = cluster_secret(wsp, environment)
        assert "stringData" in registration.secret_inputs and "metadata" not in registration.secret_inputs
        for run in (target, wsp):
            for r in run.resources:
                plain = {k: v for k, v in r.inputs.items() if k not in {p.split(".")[0].split("[")[0] for p in r.secret_inputs}}
                assert token not in json.dumps(plain), (run.stack, r.name)
            plain_outputs = {k: v for k, v in run.outputs.items() if k not in run.secret_outputs}
            assert token not in json.dumps(plain_outputs)
            assert not [a.path for a, text in run.artifacts if token in text], run.stack
        assert f"<secret:argocd-token-{environment}>" in wsp.artifact("kubernetes/argo-cd-clusters.yaml")
    entry = next(e for e in manifest(stack_runs["wsp"])["artifacts"] if e["path"] == "kubernetes/argo-cd-clusters.yaml")
    assert entry["secrets"] == ["argocd-token-dev", "argocd-token-prd"]


def _environment_stack(environment: str, stack: str):
    def edit(config: dict) -> None:
        config[K + "gitops"]["environments"][environment]["stack"] = stack
    return edit


@pytest.mark.parametrize("stack, says", [
    ("organization/contest-k8s/staging", "stack organization/contest-k8s/staging cannot be read"),  # no such stack yet
    ("organization/elsewhere/wsp", "has not exported apiEndpoint, kubernetesCa and argocdToken yet"),  # no access exported
], ids=["missing", "without-outputs"])
def test_a_stack_that_cannot_register_is_skipped_with_a_warning(tmp_path, caplog, stack, says):
    with caplog.at_level(logging.WARNING):
        run = run_stack("wsp", write_stack(tmp_path, "wsp", _environment_stack("dev", stack)))
    assert [m for m in caplog.messages if m.startswith("Argo CD environment dev: ") and says in m], caplog.messages
    assert [r.name for r in layer(run) if r.name.startswith("argo-cd-clusters-")] == ["argo-cd-clusters-secret-cluster-prd"]
    assert run.outputs["argocdClusters"] == {"prd": "https://192.0.2.6:6443"}
    assert "score-server-dev" in rendered(run, "Application"), "its project and applications wait for the cluster"


def test_registration_does_not_change_what_else_the_layer_makes(stack_runs, tmp_path):
    """A later `pulumi up`, once dev exists, adds its cluster Secret and changes nothing else."""
    before = run_stack("wsp", write_stack(tmp_path, "wsp", _environment_stack("dev", "organization/contest-k8s/staging")))
    after = stack_runs["wsp"]
    names = {r.name for r in after.resources} - {r.name for r in before.resources}
    assert names == {"argo-cd-clusters-secret-cluster-dev"}
    changed = {r.name for r in before.resources if r.inputs != after.named(r.name, r.type).inputs}
    assert changed == {"argo-cd-clusters-secret-cluster-dev"} - names


# --------------------------------------------------------------------------- order, provider, secrets


def test_argo_cd_comes_after_the_gateway_and_its_objects_after_argo_cd(stack_runs):
    run = stack_runs["wsp"]
    graph = Graph(run)
    argo = chart_resource(run, charts.ARGO_CD)
    assert graph.reaches(argo, chart_resource(run, charts.ENVOY_GATEWAY)), "its HTTPRoute needs the Gateway API CRDs"
    assert graph.reaches(argo, run.named("namespace-argocd"))
    assert not graph.reaches(argo, chart_resource(run, charts.ROOK_CEPH_CLUSTER)), "nothing else of the add-ons"
    for r in layer(run):
        if r.type.endswith(("AppProject", "Application")) or r.name.startswith("argo-cd-secret-"):
            assert graph.reaches(r, argo), r.name
    provider = run.named("kubernetes", "providers:kubernetes")
    assert {r.provider for r in layer(run) if r.custom} == {f"{provider.urn}::{provider.id}"}
    assert chart_resource(run, charts.ARGO_CD).protect is False


def test_prd_and_dev_give_access_and_wsp_runs_argo_cd(stack_runs):
    for stack in TARGETS:
        run = stack_runs[stack]
        graph = Graph(run)
        token = run.named("argocd-access-token-secret-argocd-manager-token", "Secret")
        assert token.inputs["type"] == "kubernetes.io/service-account-token"
        assert token.inputs["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "argocd-manager"}
        assert graph.reaches(token, run.named("argocd-access-serviceaccount-argocd-manager")), "the account first"
        binding = run.named("argocd-access-clusterrolebinding-argocd-manager-role-binding").inputs
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}]
        assert not run.of_type(":GitOps") and "argocdClusters" not in run.outputs
    assert not stack_runs["wsp"].of_type(":ArgoCdAccess") and "argocdToken" not in stack_runs["wsp"].outputs


def test_secrets_go_into_kubernetes_secrets_the_chart_names(stack_runs, tmp_path, caplog):
    run = stack_runs["wsp"]
    values = argo_values(run)
    assert values["configs"]["cm"]["admin.enabled"] is False
    dex = yaml.safe_load(values["configs"]["cm"]["dex.config"])["connectors"][0]["config"]
    assert dex["clientSecret"] == "$argocd-dex-github:clientSecret" and dex["orgs"] == [{"name": "example-contest"}]
    github = run.named("argo-cd-secret-argocd-dex-github", "Secret")
    assert github.inputs["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}, "Argo CD resolves $name:key only then"
    assert values["notifications"]["secret"]["create"] is False
    assert values["notifications"]["notifiers"]["service.slack"] == f"token: ${SLACK_TOKEN_KEY}\n"
    slack = run.named(f"argo-cd-secret-{NOTIFICATIONS_SECRET}", "Secret")
    assert list(slack.inputs["stringData"]) == [SLACK_TOKEN_KEY] and "stringData" in slack.secret_inputs
    assert "<secret:" not in run.artifact("helm/argo-cd-values.yaml")
    assert not [p for p in chart_resource(run, charts.ARGO_CD).secret_inputs if p.startswith("values")]
    # Set as secure values, they fill the Secrets; unset, the layer says what is missing.
    secure = {"secure": "v1:AAAA:BBBB"}
    with caplog.at_level(logging.WARNING):
        filled = run_stack("wsp", write_stack(tmp_path, "wsp", lambda c: c.update(
            {K + "gitopsSlackToken": secure, K + "gitopsGithubClientSecret": secure})))
    assert filled.named(f"argo-cd-secret-{NOTIFICATIONS_SECRET}", "Secret").inputs["stringData"] == {SLACK_TOKEN_KEY: "<secret:stack-config>"}
    assert not [m for m in caplog.messages if "is not set" in m]
    assert slack.inputs["stringData"] == {SLACK_TOKEN_KEY: ""}


# --------------------------------------------------------------------------- projects and applications


def test_prds_project_refuses_what_it_does_not_list(stack_runs):
    projects = rendered(stack_runs["wsp"], "AppProject")
    prd = projects["prd"]["spec"]
    repos = prd["sourceRepos"]
    allowed = [Destination(d["namespace"], d.get("server", ""), d.get("name", "")) for d in prd["destinations"]]
    vip = stack_runs["prd"].outputs["apiEndpoint"]
    assert source_permitted(repos, "https://github.com/example-contest/score-server-deploy.git")
    assert destination_permitted(allowed, Destination("score-server", f"https://{vip}", "prd"))
    assert not source_permitted(repos, "https://github.com/example-contest/experiments.git"), "a repository it does not list"
    assert not source_permitted(repos, "https://github.com/someone-else/score-server-deploy.git")
    assert not destination_permitted(allowed, Destination("score-server", f"https://{stack_runs['dev'].outputs['apiEndpoint']}", "dev"))
    assert not destination_permitted(allowed, Destination("kube-system", f"https://{vip}", "prd")), "a namespace it does not list"
    # dev's project is wider: any repository of the organization.
    assert source_permitted(projects["dev"]["spec"]["sourceRepos"], "https://github.com/example-contest/experiments.git")


def test_every_application_is_one_its_project_permits(stack_runs):
    projects = rendered(stack_runs["wsp"], "AppProject")
    applications = rendered(stack_runs["wsp"], "Application")
    assert sorted(applications) == ["score-server-dev", "score-server-prd"]
    for app in applications.values():
        spec = projects[app["spec"]["project"]]["spec"]
        allowed = [Destination(d["namespace"], d.get("server", ""), d.get("name", "")) for d in spec["destinations"]]
        destination = app["spec"]["destination"]
        assert source_permitted(spec["sourceRepos"], app["spec"]["source"]["repoURL"])
        assert destination_permitted(allowed, Destination(destination["namespace"], name=destination["name"]))


def test_dev_syncs_itself_and_prd_only_by_an_admin_outside_its_windows(stack_runs):
    run = stack_runs["wsp"]
    projects, applications = rendered(run, "AppProject"), rendered(run, "Application")
    dev, prd = applications["score-server-dev"]["spec"], applications["score-server-prd"]["spec"]
    assert dev["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]}
    assert prd["syncPolicy"] == {"syncOptions": ["CreateNamespace=true"]}, "manual"
    for app, environment in ((dev, "develop"), (prd, "production")):
        assert app["source"]["plugin"] == {"name": PLUGIN, "env": [{"name": HELMFILE_ENVIRONMENT, "value": environment}]}
    assert projects["prd"]["spec"]["syncWindows"] == [{"kind": "deny", "schedule": "0 9 * * *", "duration": "10h",
                                                       "timeZone": "Asia/Tokyo", "manualSync": False, "applications": ["*"]}]
    assert "roles" not in projects["prd"]["spec"], "no project role: only Argo CD's admins sync prd"
    assert projects["dev"]["spec"]["roles"][0]["groups"] == ["example-contest:score-server"]
    rbac = argo_values(run)["configs"]["rbac"]
    assert rbac["policy.csv"] == "g, example-contest:infra, role:admin\n" and rbac["policy.default"] == "role:readonly"
    assert projects["wsp"]["spec"]["destinations"] == [], "no application yet: nothing deployable"


def test_argo_cd_objects_validate_against_the_pinned_crds_and_a_broken_one_does_not(stack_runs):
    require_shared()
    crds = UPSTREAM / charts.ARGO_CD.upstream / "crds"
    objects = list(rendered(stack_runs["wsp"], "AppProject").values()) + list(rendered(stack_runs["wsp"], "Application").values())
    assert crd_errors(objects, crds) == []
    window = copy.deepcopy(rendered(stack_runs["wsp"], "AppProject")["prd"])
    window["spec"]["syncWindows"][0]["manualSync"] = "no"
    app = copy.deepcopy(rendered(stack_runs["wsp"], "Application")["score-server-prd"])
    app["spec"]["source"]["plugin"]["environment"] = [{"name": "ENV", "value": "production"}]
    errors = crd_errors([window, app], crds)
    assert any("manualSync" in e for e in errors) and any("environment" in e for e in errors), errors


# --------------------------------------------------------------------------- the chart's free-form values


def test_the_helmfile_plugin_is_a_configuration_the_sidecar_reads(stack_runs):
    values = argo_values(stack_runs["wsp"])
    plugins = values["configs"]["cmp"]["plugins"]
    assert values["configs"]["cmp"]["create"] is True and list(plugins) == [PLUGIN]
    validator = Draft7Validator(PLUGIN_SPEC)
    assert list(validator.iter_errors(plugins[PLUGIN])) == []
    assert f"$ARGOCD_ENV_{HELMFILE_ENVIRONMENT}" in plugins[PLUGIN]["generate"]["args"][0], "the Application's env, as Argo CD passes it"
    broken = copy.deepcopy(plugins[PLUGIN])
    broken["generate"]["commands"] = broken["generate"].pop("command")
    assert list(validator.iter_errors(broken))
    sidecar = values["repoServer"]["extraContainers"][0]
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == f"{PLUGIN}.yaml", "argocd-cmp-cm's key for it"
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"] and sidecar["securityContext"]["runAsUser"] == 999
    assert sidecar["image"].startswith("ghcr.io/helmfile/helmfile:v") and "latest" not in sidecar["image"]


def test_notifications_are_the_catalogs_triggers_for_the_seeds_list(stack_runs):
    require_shared()
    catalog = yaml.safe_load((UPSTREAM / charts.ARGO_CD.upstream / "notifications-catalog.yaml").read_text())["data"]
    notifications = argo_values(stack_runs["wsp"])["notifications"]
    assert TRIGGERS == ("on-deployed", "on-health-degraded", "on-sync-failed", "on-sync-running", "on-sync-status-unknown",
                        "on-sync-succeeded")
    assert sorted(notifications["triggers"]) == sorted(f"trigger.{t}" for t in TRIGGERS)
    for trigger in TRIGGERS:
        key = f"trigger.{trigger}"
        assert yaml.safe_load(notifications["triggers"][key]) == yaml.safe_load(catalog[key]), trigger
        template = yaml.safe_load(notifications["templates"][f"template.{template_name(trigger)}"])
        assert set(template) == {"message"} and "{{.app.metadata.name}}" in template["message"]
    assert notifications["subscriptions"] == [{"recipients": ["slack:argocd"], "triggers": list(TRIGGERS)}]
    broken = yaml.safe_load(notifications["triggers"]["trigger.on-sync-failed"])
    broken[0]["when"] = "app.status.operationState.phase in ['Failed']"
    assert broken != yaml.safe_load(catalog["trigger.on-sync-failed"])


def test_every_argo_cd_config_key_is_one_the_chart_documents(stack_runs):
    """argocd-cm and argocd-cmd-params-cm take any key: each one set is in the chart's values.yaml (its commented examples
    count) or read by one of its templates, so a misspelled one is caught."""
    require_shared()
    folder = UPSTREAM / "charts" / charts.ARGO_CD.folder()
    known = (folder / "values.yaml").read_text() + "".join(p.read_text() for p in (folder / "templates").rglob("*.yaml"))
    configs = argo_values(stack_runs["wsp"])["configs"]
    keys = list(configs["cm"]) + list(configs["params"])
    assert keys and not [k for k in keys if k not in known]
    assert "dex.confg" not in known and "server.insecur:" not in known


def test_argo_cd_is_on_the_global_gateway_with_its_certificate(stack_runs):
    run = stack_runs["wsp"]
    route = argo_values(run)["server"]["httproute"]
    assert route["enabled"] and route["hostnames"] == ["argocd.wsp.contest.example.org"]
    assert route["parentRefs"] == [{"name": "global", "namespace": "envoy-gateway-system", "sectionName": "https"}]
    certificate = run.named("cert-manager-certificate-global-gateway").inputs["spec"]["dnsNames"]
    assert "argocd.wsp.contest.example.org" in certificate
    assert argo_values(run)["configs"]["params"]["server.insecure"] is True, "TLS ends at the Gateway"


# --------------------------------------------------------------------------- stack keys


BAD = [
    ("needs-addons", set_key("layers.addons", False), "layers.gitops", "false unless layers.addons is on"),
    ("no-section", lambda c: c.pop(K + "gitops"), "gitops", "a gitops section"),
    ("hostname-not-on-gateway", set_key("gitops.hostname", "argo.example.org"), "gitops.hostname", "one of addons.gateway.hostnames"),
    ("no-admins", set_key("gitops.github.adminTeams", []), "gitops.github.adminTeams", "at least one GitHub team"),
    ("team-case", set_key("gitops.github.adminTeams", ["Infra"]), "gitops.github.adminTeams[0]", "team slug"),
    ("client-id", set_key("gitops.github.clientId", "abc"), "gitops.github.clientId", "client ID"),
    ("slack-hash", set_key("gitops.slackChannel", "#argocd"), "gitops.slackChannel", "without #"),
    ("stack-short", set_key("gitops.environments.dev.stack", "dev"), "gitops.environments.dev.stack", "organization/project/stack"),
    ("stack-twice", set_key("gitops.environments.dev.stack", "organization/contest-k8s/prd"), "gitops.environments.prd.stack",
     "not already the cluster of gitops.environments.dev"),
    ("repo-not-permitted", set_key("gitops.environments.prd.sourceRepos", ["https://github.com/example-contest/other.git"]),
     "gitops.environments.prd.applications.score-server.repoUrl", "Argo CD would refuse the application"),
    ("no-repos", set_key("gitops.environments.prd.sourceRepos", []), "gitops.environments.prd.sourceRepos", "at least one repository"),
    ("repo-url", set_key("gitops.environments.prd.applications.score-server.repoUrl", "github.com/x"),
     "gitops.environments.prd.applications.score-server.repoUrl", "git repository URL"),
    ("window-duration", set_key("gitops.environments.prd.syncWindows", [{"kind": "deny", "schedule": "0 9 * * *", "duration": "10 hours"}]),
     "gitops.environments.prd.syncWindows[0].duration", "hours and minutes"),
    ("window-kind", set_key("gitops.environments.prd.syncWindows", [{"kind": "block", "schedule": "0 9 * * *", "duration": "1h"}]),
     "gitops.environments.prd.syncWindows[0].kind", "allow, deny"),
    ("environment-name", set_key("gitops.environments.Prd_1", {"stack": "organization/contest-k8s/x", "helmfileEnvironment": "x",
                                                             "sourceRepos": ["*"]}), "gitops.environments.Prd_1", "DNS label"),
    ("key-typo", set_key("gitops.environments.prd.automaticSync", True), "gitops.environments.prd.automaticSync", "did you mean 'automatedSync'"),
    ("plain-secret", set_key("gitopsSlackToken", "xoxb-1"), "gitopsSlackToken", "a secret"),
]


@pytest.mark.parametrize("case, edit, key, text", BAD, ids=[b[0] for b in BAD])
def test_a_bad_gitops_key_is_refused_by_name(tmp_path, case, edit, key, text):
    assert "xoxb-1" not in refusal(tmp_path, "wsp", edit, key, text)


def test_the_rules_between_gitops_keys_apply_only_where_argo_cd_runs(tmp_path):
    def off(c):
        c[K + "layers"]["gitops"] = False
        c[K + "gitops"]["hostname"] = "argo.example.org"
        c[K + "gitops"]["github"]["adminTeams"] = []
    loaded = load_stack("wsp", write_stack(tmp_path, "wsp", off))[0]
    assert not loaded.config.layers.gitops and loaded.config.gitops.hostname == "argo.example.org"
    assert load_stack("prd")[0].config.gitops is None


def test_every_gitops_key_is_documented():
    docs = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    for key in ("layers.gitops", "gitops.hostname", "gitops.github.organization", "gitops.github.clientId", "gitops.github.adminTeams",
                "gitops.slackChannel", "gitops.environments", "gitops.environments.<name>.stack",
                "gitops.environments.<name>.helmfileEnvironment", "gitops.environments.<name>.sourceRepos",
                "gitops.environments.<name>.syncTeams", "gitops.environments.<name>.automatedSync",
                "gitops.environments.<name>.syncWindows", "gitops.environments.<name>.applications",
                "gitopsGithubClientSecret", "gitopsSlackToken"):
        assert f"`{key}`" in docs, key
    assert (PROJECT_ROOT / "docs" / "layers" / "gitops.md").is_file()
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "docs/layers/gitops.md" in readme and "wsp, dev, prd, then wsp again" in readme


def test_the_offline_render_shows_every_argo_cd_object(stack_runs):
    """Every resource of the layer is in wsp's render: the Release as its values file, each object as a document."""
    run = stack_runs["wsp"]
    documents = {(d["kind"], d["metadata"]["name"]) for a, text in run.artifacts if a.kind == "kubernetes"
                 for d in yaml.safe_load_all(text) if d}
    made = [r for r in layer(run) if r.type.startswith("kubernetes:") and not r.type.endswith("Release")]
    assert len(made) == 10  # the namespace, 2 Secrets, 3 AppProjects, 2 Applications, 2 cluster Secrets
    for r in made:
        assert (r.type.rsplit(":", 1)[-1], r.inputs["metadata"]["name"]) in documents, r.name
    assert run.artifact("helm/argo-cd-values.yaml").startswith("# argo-cd 10.1.1 values for wsp: release argocd in argocd")
    paths = {e["path"] for e in manifest(run)["artifacts"]}
    assert {"helm/argo-cd-values.yaml", "kubernetes/argo-cd.yaml", "kubernetes/argo-cd-clusters.yaml",
            "kubernetes/gitops-namespaces.yaml"} <= paths
    for stack in TARGETS:
        assert {"kubernetes/argocd-access.yaml", "kubernetes/argocd-access-token.yaml"} <= {a.path for a, _ in stack_runs[stack].artifacts}


# --------------------------------------------------------------------------- what a failure or a rotation leaves


def test_a_registration_outlives_a_run_that_leaves_it_out_and_a_rotated_token_is_deleted_first(stack_runs):
    """A cluster Secret that leaves the program stays in the cluster (retainOnDelete), so a run that could not read
    prd never cuts Argo CD off from it; `--replace` of prd's token Secret deletes the old one before making the new
    one of the same name (server-side apply would otherwise take over the old object, which the delete then removes)."""
    wsp = [r for r in layer(stack_runs["wsp"]) if r.custom]
    clusters = [r for r in wsp if r.name.startswith("argo-cd-clusters-")]
    assert clusters and all(r.retain_on_delete for r in clusters)
    assert not [r.name for r in wsp if r.retain_on_delete and r not in clusters]
    access = [r for r in layer(stack_runs["prd"], "ArgoCdAccess") if r.custom]
    token = [r for r in access if r.type == "kubernetes:core/v1:Secret"]
    assert len(token) == 1 and token[0].delete_before_replace
    assert not [r.name for r in access if r.delete_before_replace and r not in token]


def test_only_a_missing_stack_is_left_out_and_any_other_read_failure_stops_the_run(monkeypatch, caplog):
    """The engine says `unknown stack "..."` for a stack its backend does not have; a backend that cannot be reached,
    or a state this run may not read, must not look like a stack that is not there yet."""
    import pulumi

    from components import stack_outputs

    def failing(message):
        def invoke(token, args, *rest, **kwargs):
            raise Exception(f"invoke of {token} failed: {message}")
        return invoke

    monkeypatch.setattr(stack_outputs.pulumi.runtime, "invoke", failing('unknown stack "organization/contest-k8s/prd"'))
    with caplog.at_level(logging.WARNING):
        assert stack_outputs.read_stack_outputs("organization/contest-k8s/prd", "Argo CD environment prd", None) is None
    monkeypatch.setattr(stack_outputs.pulumi.runtime, "invoke", failing("read s3://state/prd.json: AccessDenied"))
    with pytest.raises(pulumi.RunError, match="Argo CD environment prd: the outputs of stack organization/contest-k8s/prd "
                                              r"cannot be read \(.*AccessDenied\); nothing made from them is changed"):
        stack_outputs.read_stack_outputs("organization/contest-k8s/prd", "Argo CD environment prd", None)
