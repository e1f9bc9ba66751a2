"""Argo CD in the hub cluster (wsp), and the access every other cluster gives it: both ends from one module.

The hub (`gitops_steps`):
- the argo-cd chart: served on the global Gateway at `gitops.hostname` (an HTTPRoute on its HTTPS listener; TLS
  ends at the Gateway, so the server runs plain HTTP behind it); log-in through GitHub (Dex's GitHub connector,
  members of `gitops.github.organization` only, read-only by default, `adminTeams` are admins); the admin account
  off; the helmfile config-management plugin as a sidecar of the repo server; notifications to Slack for the
  seeds' six triggers, which are the notifications catalog's (Argo CD v3.4.4) with templates of our own;
- the Secrets the chart's objects name (the GitHub OAuth client secret, the Slack token), one AppProject per
  environment and its Applications (after the chart: its CRDs);
- one cluster Secret per environment whose cluster registered (its stack's outputs: the API endpoint on the
  VIP, the CA, the token), the token a placeholder.

Every other cluster (`access_steps`): the ServiceAccount `argocd-manager` with the rights `argocd cluster add`
gives it (Argo CD reads everything to compare and applies whatever its projects allow: its AppProjects, not
this role, are what restricts it), then a long-lived token Secret for it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import yaml

from ...charts import ARGO_CD
from ...plan import EnvironmentPlan, GitOpsPlan, Plan
from ..secrets import secret
from . import WIDTH, Step
from .gateway_helm import GLOBAL, HTTPS_LISTENER
from .gateway_helm import NAMESPACE as GATEWAY_NAMESPACE

NAMESPACE = ARGO_CD.namespace
PLUGIN = "helmfile"
# The helmfile image by tag: helmfile v1.7.4 with helm v4.2.4 (its Dockerfile's HELM_VERSION at that tag).
HELMFILE_IMAGE = "ghcr.io/helmfile/helmfile:v1.7.4"
HELMFILE_ENVIRONMENT = "HELMFILE_ENVIRONMENT"  # the Application's plugin env; the plugin sees ARGOCD_ENV_HELMFILE_ENVIRONMENT
ARGOCD_USER = 999  # the user Argo CD's config-management plugins run as

GITHUB_SECRET, GITHUB_SECRET_KEY = "argocd-dex-github", "clientSecret"
GITHUB_CLIENT_SECRET = "argocd-github-client-secret"  # its placeholder
NOTIFICATIONS_SECRET, SLACK_TOKEN_KEY = "argocd-notifications-secret", "slack-token"
SLACK_TOKEN = "argocd-slack-token"  # its placeholder

# The seeds' notifications (seed 000), each the catalog's trigger of that name.
TRIGGERS = ("on-deployed", "on-health-degraded", "on-sync-failed", "on-sync-running", "on-sync-status-unknown", "on-sync-succeeded")
_ONCE_PER_REVISION = "app.status.operationState?.syncResult?.revision"
_OPERATION = "app.status.operationState != nil and app.status.operationState.phase in "
# trigger -> (description, condition): Argo CD v3.4.4's notifications catalog (notifications_catalog/install.yaml).
_CATALOG = {
    "on-deployed": (
        "Application is synced and healthy. Triggered once per commit.",
        _OPERATION + "['Succeeded'] and app.status.health.status == 'Healthy' and "
        "(!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) "
        "or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))"),
    "on-health-degraded": ("Application has degraded", "app.status.health.status == 'Degraded'"),
    "on-sync-failed": ("Application syncing has failed", _OPERATION + "['Error', 'Failed']"),
    "on-sync-running": ("Application is being synced", _OPERATION + "['Running']"),
    "on-sync-status-unknown": ("Application status is 'Unknown'", "app.status.sync.status == 'Unknown'"),
    "on-sync-succeeded": ("Application syncing has succeeded", _OPERATION + "['Succeeded']"),
}
_SAID = {
    "on-deployed": ":white_check_mark: is running the new version",
    "on-health-degraded": ":exclamation: has degraded",
    "on-sync-failed": ":x: failed to sync",
    "on-sync-running": ":arrows_counterclockwise: is syncing",
    "on-sync-status-unknown": ":grey_question: has an unknown sync status",
    "on-sync-succeeded": ":heavy_check_mark: synced",
}

# The access every other cluster gives Argo CD.
ACCESS_NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "argocd-manager"
TOKEN_SECRET = "argocd-manager-token"


@dataclass(frozen=True)
class ClusterRegistration:
    """An environment's cluster as its stack exported it: the API on the VIP, and the CA that signed its certificate."""

    environment: str
    server: str  # https://<VIP>:6443: the load balancers' address, never one control plane's
    ca_pem: str

    @property
    def token(self) -> str:
        """The placeholder of its token (a Pulumi secret the layer fills in)."""
        return f"argocd-token-{self.environment}"


def template_name(trigger: str) -> str:
    return "app-" + trigger.removeprefix("on-")


def _groups(gitops: GitOpsPlan, teams: tuple[str, ...]) -> list[str]:
    """GitHub teams as Dex names them in the `groups` claim: `organization:team-slug`."""
    return [f"{gitops.github_organization}:{team}" for team in teams]


def _dex_config(gitops: GitOpsPlan) -> str:
    connector = {"type": "github", "id": "github", "name": "GitHub", "config": {
        "clientID": gitops.github_client_id,
        "clientSecret": f"${GITHUB_SECRET}:{GITHUB_SECRET_KEY}",  # a Secret labelled part-of argocd, by name
        "orgs": [{"name": gitops.github_organization}],
        "teamNameField": "slug",
    }}
    return yaml.safe_dump({"connectors": [connector]}, sort_keys=False, width=WIDTH)


def _policy(gitops: GitOpsPlan) -> str:
    return "".join(f"g, {group}, role:admin\n" for group in _groups(gitops, gitops.admin_teams))


def plugin() -> dict:
    """The helmfile plugin's spec (argocd-cmp-cm, ConfigManagementPlugin): the Application's environment is passed on."""
    return {"generate": {"command": ["sh", "-c"], "args": [
        f'helmfile --environment "$ARGOCD_ENV_{HELMFILE_ENVIRONMENT}" --namespace "$ARGOCD_APP_NAMESPACE" template --include-crds --quiet']}}


def _plugin_sidecar() -> dict:
    return {
        "name": PLUGIN,
        "image": HELMFILE_IMAGE,
        "command": ["/var/run/argocd/argocd-cmp-server"],
        # helm's plugins stay where the image installed them; its caches, helmfile's and every temporary file go to /tmp
        "env": [{"name": "HELM_CACHE_HOME", "value": "/tmp/helm/cache"}, {"name": "HELM_CONFIG_HOME", "value": "/tmp/helm/config"},
                {"name": "HELMFILE_CACHE_HOME", "value": "/tmp/helmfile/cache"}, {"name": "HELMFILE_TEMPDIR", "value": "/tmp/helmfile"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": ARGOCD_USER, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [
            {"name": "var-files", "mountPath": "/var/run/argocd"},
            {"name": "plugins", "mountPath": "/home/argocd/cmp-server/plugins"},
            {"name": "argocd-cmp-cm", "mountPath": "/home/argocd/cmp-server/config/plugin.yaml", "subPath": f"{PLUGIN}.yaml"},
            {"name": "helmfile-tmp", "mountPath": "/tmp"},
        ],
    }


def _notifications(gitops: GitOpsPlan) -> dict:
    triggers = {f"trigger.{t}": yaml.safe_dump([{"description": _CATALOG[t][0], "oncePer": _ONCE_PER_REVISION,
                                                  "send": [template_name(t)], "when": _CATALOG[t][1]}], sort_keys=True, width=WIDTH)
                for t in TRIGGERS}
    templates = {f"template.{template_name(t)}": yaml.safe_dump({"message": (
        f"{_SAID[t]}: {{{{.app.metadata.name}}}} ({{{{.app.spec.project}}}}) at revision {{{{.app.status.sync.revision}}}}, "
        f"health {{{{.app.status.health.status}}}}. {{{{.context.argocdUrl}}}}/applications/{{{{.app.metadata.name}}}}")},
        sort_keys=True, width=WIDTH) for t in TRIGGERS}
    return {
        "secret": {"create": False},  # the program's own argocd-notifications-secret: the token never goes into values
        "notifiers": {"service.slack": f"token: ${SLACK_TOKEN_KEY}\n"},
        "subscriptions": [{"recipients": [f"slack:{gitops.slack_channel}"], "triggers": list(TRIGGERS)}],
        "templates": templates,
        "triggers": triggers,
    }


def values(plan: Plan) -> dict:
    gitops = plan.gitops
    assert gitops is not None
    return {
        "global": {"domain": gitops.hostname},
        "crds": {"install": True, "keep": True},
        "configs": {
            "cm": {"admin.enabled": False, "dex.config": _dex_config(gitops)},
            "params": {"server.insecure": True},  # TLS ends at the Gateway
            "rbac": {"policy.default": "role:readonly", "policy.csv": _policy(gitops), "scopes": "[groups]"},
            "cmp": {"create": True, "plugins": {PLUGIN: plugin()}},
        },
        "server": {"httproute": {"enabled": True, "hostnames": [gitops.hostname],
                                 "parentRefs": [{"name": GLOBAL, "namespace": GATEWAY_NAMESPACE, "sectionName": HTTPS_LISTENER}]}},
        "repoServer": {"extraContainers": [_plugin_sidecar()],
                       "volumes": [{"name": "argocd-cmp-cm", "configMap": {"name": "argocd-cmp-cm"}},
                                   {"name": "helmfile-tmp", "emptyDir": {}}]},
        "notifications": _notifications(gitops),
    }


def _secret(name: str, key: str, placeholder: str, labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "type": "Opaque", "stringData": {key: secret(placeholder)}}


def destinations(environment: EnvironmentPlan) -> list[dict]:
    """Its own cluster, in the namespaces of its applications only."""
    return [{"name": environment.cluster, "namespace": namespace}
            for namespace in sorted({a.namespace for a in environment.applications})]


def project(gitops: GitOpsPlan, environment: EnvironmentPlan) -> dict:
    spec: dict = {
        "description": f"{environment.name}: helmfile environment {environment.helmfile_environment}",
        "sourceRepos": list(environment.source_repos),
        "destinations": destinations(environment),
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],  # CreateNamespace=true
    }
    if environment.sync_windows:
        spec["syncWindows"] = [{"kind": w.kind, "schedule": w.schedule, "duration": w.duration, "timeZone": w.time_zone,
                                "manualSync": w.manual_sync, "applications": ["*"]} for w in environment.sync_windows]
    if environment.sync_teams:  # besides the admins, who may sync anything
        role = f"proj:{environment.name}:sync"
        spec["roles"] = [{"name": "sync", "description": "may sync this environment's applications",
                          "groups": _groups(gitops, environment.sync_teams),
                          "policies": [f"p, {role}, applications, {action}, {environment.name}/*, allow" for action in ("get", "sync")]}]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": environment.name, "namespace": NAMESPACE},
            "spec": spec}


def applications(environment: EnvironmentPlan) -> list[dict]:
    sync: dict = {"syncOptions": ["CreateNamespace=true"]}
    if environment.automated_sync:
        sync = {"automated": {"prune": True, "selfHeal": True}, **sync}
    return [{
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app.name, "namespace": NAMESPACE, "labels": {"contest-k8s/environment": environment.name}},
        "spec": {
            "project": environment.name,
            "source": {"repoURL": app.repo_url, "path": app.path, "targetRevision": app.target_revision,
                       "plugin": {"name": PLUGIN, "env": [{"name": HELMFILE_ENVIRONMENT, "value": environment.helmfile_environment}]}},
            "destination": {"name": environment.cluster, "namespace": app.namespace},
            "syncPolicy": sync,
        },
    } for app in environment.applications]


def argo_cd_objects(plan: Plan) -> list[dict]:
    gitops = plan.gitops
    assert gitops is not None
    objects = [_secret(GITHUB_SECRET, GITHUB_SECRET_KEY, GITHUB_CLIENT_SECRET, {"app.kubernetes.io/part-of": "argocd"}),
               _secret(NOTIFICATIONS_SECRET, SLACK_TOKEN_KEY, SLACK_TOKEN, {"app.kubernetes.io/part-of": "argocd"})]
    objects += [project(gitops, e) for e in gitops.environments]
    objects += [a for e in gitops.environments for a in applications(e)]
    return objects


def cluster_secret(registration: ClusterRegistration) -> dict:
    """Argo CD's declarative cluster: name, server and the bearer token with the CA to trust."""
    config = {"bearerToken": secret(registration.token),
              "tlsClientConfig": {"caData": base64.b64encode(registration.ca_pem.encode()).decode()}}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": f"cluster-{registration.environment}", "namespace": NAMESPACE,
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "type": "Opaque",
            "stringData": {"name": registration.environment, "server": registration.server, "config": json.dumps(config, sort_keys=True)}}


def gitops_steps(plan: Plan, clusters: tuple[ClusterRegistration, ...]) -> tuple[Step, ...]:
    """Argo CD and its objects, then the clusters that registered (plan.gitops must be set)."""
    return (
        Step("argo-cd", NAMESPACE, ARGO_CD, plan.charts.version(ARGO_CD), values(plan), tuple(argo_cd_objects(plan)),
             describe="Argo CD: the Secrets its chart names (GitHub OAuth, Slack), one AppProject per environment, the Applications."),
        Step("argo-cd-clusters", NAMESPACE, objects=tuple(cluster_secret(c) for c in clusters),
             describe="The clusters Argo CD deploys to, as their stacks exported them (the API on the VIP, the CA, a token)."),
    )


def access_steps(plan: Plan) -> tuple[Step, ...]:
    """The ServiceAccount Argo CD uses here and its rights, then its long-lived token (after the account: the token
    controller fills in the token of an account that exists)."""
    account = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ACCESS_NAMESPACE}
    role = f"{SERVICE_ACCOUNT}-role"
    return (
        Step("argocd-access", ACCESS_NAMESPACE, objects=(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": ACCESS_NAMESPACE}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
             "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": f"{role}-binding"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": [account]},
        ), describe="Argo CD's account in this cluster (wsp's Argo CD deploys here with it) and its rights."),
        Step("argocd-access-token", ACCESS_NAMESPACE, objects=(
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": TOKEN_SECRET, "namespace": ACCESS_NAMESPACE, "annotations": {"kubernetes.io/service-account.name": SERVICE_ACCOUNT}},
             "type": "kubernetes.io/service-account-token"},
        ), objects_need=("argocd-access",), describe="The long-lived token of Argo CD's account (the stack output argocdToken)."),
    )
