"""Zabbix (`monitoring.zabbix`): the venue's hardware over IPMI and its network devices over SNMP, as the seeds watched
them, with Grafana's Zabbix app as the view.

PostgreSQL on a Ceph volume, the Zabbix server and its web UI (on an address of the private pool, reached over
WireGuard). Zabbix's default starts no IPMI poller, and IPMI items then never update (the seeds' trap):
`monitoring.zabbix.ipmiPollers` is at least 1. The server's settings are a ConfigMap and its database password a
Secret (made by Pulumi); each Deployment carries their checksum, so a changed setting restarts what reads it, and only
that. Images are pinned by tag; nothing here pulls them.
"""

from __future__ import annotations

from ...plan import Plan
from ..secrets import secret
from . import Step, config_checksum
from .kube_prometheus_stack import NAMESPACE, STORAGE_CLASS, monitoring

VERSION = "alpine-7.0.13"
IMAGES = {"server": f"docker.io/zabbix/zabbix-server-pgsql:{VERSION}", "web": f"docker.io/zabbix/zabbix-web-nginx-pgsql:{VERSION}",
          "database": "docker.io/library/postgres:16.9-alpine"}
DB_SECRET, DB_PASSWORD = "zabbix-database", "zabbix-database-password"
SERVER_SETTINGS = "zabbix-server"
DATABASE = "zabbix-database"
SERVER_PORT, WEB_PORT = 10051, 8080


def api_url() -> str:
    """Zabbix's JSON-RPC API for Grafana's data source."""
    return f"http://zabbix-web.{NAMESPACE}:{WEB_PORT}/api_jsonrpc.php"


def _labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "zabbix", "app.kubernetes.io/component": component}


def secrets() -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": DB_SECRET, "namespace": NAMESPACE}, "type": "Opaque",
             "stringData": {"POSTGRES_USER": "zabbix", "POSTGRES_PASSWORD": secret(DB_PASSWORD), "POSTGRES_DB": "zabbix"}}]


def settings(plan: Plan) -> dict:
    m = monitoring(plan)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": SERVER_SETTINGS, "namespace": NAMESPACE},
            "data": {"DB_SERVER_HOST": DATABASE, "ZBX_STARTIPMIPOLLERS": str(m.zabbix_ipmi_pollers), "ZBX_STARTSNMPPOLLERS": "5",
                     "ZBX_CACHESIZE": "128M", "ZBX_WEB_HOST": "zabbix-web"}}


def _deployment(component: str, containers: list[dict], configured_by: list[dict], volumes: tuple[dict, ...] = ()) -> dict:
    labels = _labels(component)
    pod: dict = {"containers": containers}
    if volumes:
        pod["volumes"] = list(volumes)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"zabbix-{component}" if component != "database" else DATABASE,
                                                                        "namespace": NAMESPACE, "labels": labels},
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": {"checksum/config": config_checksum(configured_by)}},
                                  "spec": pod}}}


def _service(name: str, component: str, port: int, target: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(component)},
            "spec": {"selector": _labels(component), "ports": [{"name": "main", "port": port, "targetPort": target}]}}


def _ui_service(address: str) -> dict:
    """The web UI on its address of the private pool, port 80."""
    service = _service("zabbix-ui", "web", 80, WEB_PORT)
    service["metadata"]["annotations"] = {"metallb.io/address-pool": "private", "metallb.io/loadBalancerIPs": address}
    service["spec"]["type"] = "LoadBalancer"
    return service


def objects(plan: Plan) -> list[dict]:
    m = monitoring(plan)
    assert m.zabbix is not None
    env_from = [{"configMapRef": {"name": SERVER_SETTINGS}}, {"secretRef": {"name": DB_SECRET}}]
    server_config, db_secret = settings(plan), secrets()
    data = {"name": "data", "persistentVolumeClaim": {"claimName": DATABASE}}
    return [
        server_config,
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": DATABASE, "namespace": NAMESPACE},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                  "resources": {"requests": {"storage": f"{m.zabbix_volume_gib}Gi"}}}},
        _deployment("database", [{"name": "postgres", "image": IMAGES["database"], "envFrom": [{"secretRef": {"name": DB_SECRET}}],
                                  "env": [{"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                                  "ports": [{"containerPort": 5432}],
                                  "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
                    db_secret, (data,)),
        _service(DATABASE, "database", 5432, 5432),
        _deployment("server", [{"name": "zabbix-server", "image": IMAGES["server"], "envFrom": env_from,
                                "ports": [{"containerPort": SERVER_PORT}]}], [server_config] + db_secret),
        _service("zabbix-server", "server", SERVER_PORT, SERVER_PORT),
        _deployment("web", [{"name": "zabbix-web", "image": IMAGES["web"], "envFrom": [{"secretRef": {"name": DB_SECRET}}],
                             "env": [{"name": "DB_SERVER_HOST", "value": DATABASE}, {"name": "ZBX_SERVER_HOST", "value": "zabbix-server"}],
                             "ports": [{"containerPort": WEB_PORT}]}], db_secret),
        _service("zabbix-web", "web", WEB_PORT, WEB_PORT),
        _ui_service(str(m.zabbix)),
    ]


def step(plan: Plan) -> Step:
    return Step("zabbix", NAMESPACE, objects=tuple(objects(plan)), needs=("monitoring-secrets",), stateful=True, storage=True,
                describe="Zabbix: PostgreSQL, the server (IPMI pollers on) and the web UI on the private pool.")
