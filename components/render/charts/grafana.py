"""Grafana, in the cluster that shows every cluster (`monitoring.grafana.enabled`, wsp), at `https://<grafana.hostname>/`
through the global Gateway.

- Data sources: this cluster's Prometheus (the default: it holds every sender's metrics too, by remote write), each
  cluster of `monitoring.receiveFrom` on its own Prometheus over the tunnel (`Prometheus (<cluster>)`), Loki,
  Alertmanager, and Zabbix when this stack runs it and Grafana has its plugin.
- Dashboards are the files of dashboards/, one ConfigMap each (render.dashboards), which the chart's sidecar loads and
  reloads: a dashboard change needs no restart.
- Sign-in with GitHub (`monitoring.grafana.github`): allowed organizations and numeric team ids, the client secret from
  the stack's secret `grafanaGithubClientSecret` through a Kubernetes Secret. The admin's password is made by Pulumi.
- One replica keeps its SQLite database on a Ceph volume; more replicas need `monitoring.grafana.database` (the config
  refuses them without: each replica's SQLite logged out the users the others had logged in, seed 000).
- Plugins from `monitoring.grafana.plugins` (the Zabbix app in wsp).

Grafana reads its Secrets as environment variables: the pod template carries their checksum (`checksum/secrets`), and
the chart its own of grafana.ini and the data sources; a dashboard changes neither.
"""

from __future__ import annotations

from typing import Mapping

from ...charts import GRAFANA
from ...plan import GrafanaPlan, Plan
from ..dashboards import Dashboard, config_map
from ..secrets import secret
from . import Step, config_checksum, gateway_route
from .gateway_helm import GLOBAL, HTTPS_LISTENER
from .kube_prometheus_stack import NAMESPACE, in_cluster_alertmanager, in_cluster_prometheus, monitoring
from .loki import in_cluster_url as loki_url
from .zabbix import api_url

SERVICE, PORT = GRAFANA.release, 80
ADMIN_SECRET = "grafana-admin"
ADMIN_PASSWORD = "grafana-admin-password"  # placeholders: the layer fills each
GITHUB_SECRET, GITHUB_CLIENT_SECRET = "grafana-github-oauth", "grafana-github-client-secret"
DATABASE_SECRET, DATABASE_PASSWORD = "grafana-database", "grafana-database-password"
ZABBIX_SECRET, ZABBIX_TOKEN = "grafana-zabbix", "zabbix-api-token"
DASHBOARD_LABEL = "grafana_dashboard"
GITHUB = {"auth_url": "https://github.com/login/oauth/authorize", "token_url": "https://github.com/login/oauth/access_token",
          "api_url": "https://api.github.com/user"}


def grafana_plan(plan: Plan) -> GrafanaPlan:
    g = monitoring(plan).grafana
    assert g is not None
    return g


def _secret(name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}, "type": "Opaque", "stringData": data}


def secrets(plan: Plan) -> list[dict]:
    """The Secrets Grafana reads (each value a placeholder)."""
    g = grafana_plan(plan)
    made = [_secret(ADMIN_SECRET, {"admin-user": "admin", "admin-password": secret(ADMIN_PASSWORD)})]
    if g.github_client_id is not None:
        made.append(_secret(GITHUB_SECRET, {"client-secret": secret(GITHUB_CLIENT_SECRET)}))
    if g.database is not None:
        made.append(_secret(DATABASE_SECRET, {"password": secret(DATABASE_PASSWORD)}))
    if g.zabbix_source:
        made.append(_secret(ZABBIX_SECRET, {"token": secret(ZABBIX_TOKEN)}))
    return made


def _environment(g: GrafanaPlan) -> dict:
    """Environment variables from the Secrets: Grafana reads GF_<SECTION>_<KEY> over grafana.ini."""
    env = {}
    if g.github_client_id is not None:
        env["GF_AUTH_GITHUB_CLIENT_SECRET"] = {"secretKeyRef": {"name": GITHUB_SECRET, "key": "client-secret"}}
    if g.database is not None:
        env["GF_DATABASE_PASSWORD"] = {"secretKeyRef": {"name": DATABASE_SECRET, "key": "password"}}
    if g.zabbix_source:
        env["ZABBIX_API_TOKEN"] = {"secretKeyRef": {"name": ZABBIX_SECRET, "key": "token"}}
    return env


def data_sources(plan: Plan, peers: Mapping[str, dict]) -> list[dict]:
    m = monitoring(plan)
    g = grafana_plan(plan)
    sources = [
        {"name": f"Prometheus ({m.cluster})", "uid": f"prometheus-{m.cluster}", "type": "prometheus", "access": "proxy",
         "url": in_cluster_prometheus(), "isDefault": True, "editable": False},
    ]
    sources += [{"name": f"Prometheus ({name})", "uid": f"prometheus-{name}", "type": "prometheus", "access": "proxy",
                 "url": peers[name]["prometheus"], "editable": False} for name in m.receive_from if name in peers]
    sources += [
        {"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": loki_url(), "editable": False},
        {"name": "Alertmanager", "uid": "alertmanager", "type": "alertmanager", "access": "proxy", "url": in_cluster_alertmanager(),
         "jsonData": {"implementation": "prometheus"}, "editable": False},
    ]
    if g.zabbix_source:
        sources.append({"name": "Zabbix", "uid": "zabbix", "type": "alexanderzobnin-zabbix-datasource", "access": "proxy",
                        "url": api_url(), "jsonData": {"authType": "token"},
                        "secureJsonData": {"apiToken": "$__env{ZABBIX_API_TOKEN}"}, "editable": False})
    return sources


def grafana_ini(g: GrafanaPlan) -> dict:
    ini: dict = {
        "server": {"domain": g.hostname, "root_url": f"https://{g.hostname}/"},
        "analytics": {"check_for_updates": False},
        "users": {"allow_sign_up": False, "auto_assign_org_role": "Viewer"},
    }
    if g.github_client_id is not None:
        ini["auth.github"] = {
            "enabled": True, "allow_sign_up": True, "client_id": g.github_client_id, "scopes": "user:email,read:org", **GITHUB,
            "allowed_organizations": " ".join(g.github_organizations), "team_ids": ",".join(map(str, g.github_team_ids)),
        }
    if g.database is not None:
        kind, host, name, user = g.database
        ini["database"] = {"type": kind, "host": host, "name": name, "user": user}
    return ini


def values(plan: Plan, peers: Mapping[str, dict]) -> dict:
    g = grafana_plan(plan)
    return {
        "replicas": g.replicas,
        "admin": {"existingSecret": ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "persistence": {"enabled": g.database is None, "size": "10Gi"},
        # the one replica's volume is ReadWriteOnce: the old pod lets go of it before the new one starts
        "deploymentStrategy": {"type": "Recreate" if g.database is None else "RollingUpdate"},
        "plugins": list(g.plugins),
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": data_sources(plan, peers)}},
        "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"}},
        "grafana.ini": grafana_ini(g),
        "envValueFrom": _environment(g),
        "podAnnotations": {"checksum/secrets": config_checksum(secrets(plan))},
    }


def route(plan: Plan) -> dict:
    return gateway_route("grafana", NAMESPACE, GLOBAL, HTTPS_LISTENER, SERVICE, PORT, hostname=grafana_plan(plan).hostname)


def step(plan: Plan, peers: Mapping[str, dict]) -> Step:
    chart_values = values(plan, peers)
    return Step("grafana", NAMESPACE, GRAFANA, plan.charts.version(GRAFANA), chart_values, (route(plan),),
                needs=("monitoring-secrets",), storage=chart_values["persistence"]["enabled"],
                describe="Grafana's route on the global Gateway's HTTPS listener.")


def dashboards_step(dashboards: tuple[Dashboard, ...]) -> Step:
    """One ConfigMap per file of dashboards/ (render.dashboards), for the sidecar."""
    return Step("grafana-dashboards", NAMESPACE, objects=tuple(config_map(d, NAMESPACE, DASHBOARD_LABEL) for d in dashboards),
                describe="One ConfigMap per file of dashboards/, loaded by Grafana's sidecar.")
