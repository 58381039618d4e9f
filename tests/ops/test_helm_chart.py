"""The Helm chart: strict lint, offline render, Kubernetes schemas, values schema, behaviour."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.ops.conftest import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    VALUE_SETS,
    deep_merge,
    find,
    manifests,
    render,
)

FULLNAME = f"{RELEASE}-mdm-hub"
KUBE_VERSIONS = ["1.30", "1.33"]
# Custom resources the Kubernetes schemas cannot know; checked field by field below.
CUSTOM_RESOURCES = {"monitoring.coreos.com/v1"}
POD_KINDS = {"Deployment", "Job", "Pod"}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def pod_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["metadata"] if obj["kind"] == "Pod" else obj["spec"]["template"]["metadata"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# ---------------------------------------------------------------- lint and render


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", [None, *VALUE_SETS])
def test_strict_lint_is_clean(value_set: str | None, kube_version: str) -> None:
    values = VALUE_SETS[value_set] if value_set else None
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_version}.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warning or error
    assert report["errors"] == []
    assert problems == []


def test_bare_defaults_fail_with_a_clear_message() -> None:
    """No database, no install: an install that cannot work fails before creating anything."""
    with pytest.raises(helm.HelmError, match=r"needs a PostgreSQL database.*existingSecret"):
        render(None)


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            {"database": {"existingSecret": {"name": "other"}}},
            "only one of database.url and database.existingSecret.name",
        ),
        (
            {"api": {"terminationGracePeriodSeconds": 25}},
            r"terminationGracePeriodSeconds \(25\) must exceed",
        ),
        (
            {"api": {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}}},
            "only one of minAvailable and maxUnavailable",
        ),
        (
            {"api": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}},
            r"minReplicas \(5\) is greater than maxReplicas \(3\)",
        ),
        (
            {"secrets": {"existingSecret": "mine", "fieldEncryptionKey": "x"}},
            "secrets.existingSecret or the secret values",
        ),
    ],
)
def test_contradictory_values_fail(overlay: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(deep_merge(VALUE_SETS["minimal"], overlay))


def test_renders_what_each_value_set_promises(objects: dict[str, list[dict[str, Any]]]) -> None:
    def kinds(name: str) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objects[name]}

    core = {
        ("ConfigMap", FULLNAME),
        ("ServiceAccount", FULLNAME),
        ("Service", FULLNAME),
        ("Deployment", f"{FULLNAME}-api"),
        ("Deployment", f"{FULLNAME}-worker"),
        ("Job", f"{FULLNAME}-migrate"),
        ("ServiceAccount", f"{FULLNAME}-migrate"),
        ("PodDisruptionBudget", f"{FULLNAME}-api"),
        ("Pod", f"{FULLNAME}-test-readyz"),
    }
    assert kinds("minimal") == core | {
        ("Secret", f"{FULLNAME}-database"),
        ("Secret", f"{FULLNAME}-migrate"),
    }
    # Production: every secret comes from outside the chart; every optional object is on.
    assert kinds("production") == core | {
        ("Ingress", FULLNAME),
        ("HorizontalPodAutoscaler", f"{FULLNAME}-api"),
        ("NetworkPolicy", FULLNAME),
        ("NetworkPolicy", f"{FULLNAME}-api"),
        ("ServiceMonitor", f"{FULLNAME}-api"),
    }
    assert kinds("all-options") == kinds("production") | {
        ("Secret", f"{FULLNAME}-database"),
        ("Secret", f"{FULLNAME}-secrets"),
        ("Secret", f"{FULLNAME}-migrate"),
        ("NetworkPolicy", f"{FULLNAME}-worker"),
        ("PodMonitor", f"{FULLNAME}-worker"),
        ("CronJob", f"{FULLNAME}-nta-import"),
        ("CronJob", f"{FULLNAME}-invoice-import"),
        ("CronJob", f"{FULLNAME}-backup"),
    }
    for obj in objects["all-options"]:
        assert obj["metadata"]["namespace"] == NAMESPACE
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert obj["metadata"]["labels"]["cost-center"] == "crm-platform"


def test_optional_objects_can_be_turned_off() -> None:
    values = deep_merge(
        VALUE_SETS["minimal"],
        {
            "worker": {"enabled": False},
            "migrations": {"enabled": False},
            "api": {"podDisruptionBudget": {"enabled": False}},
            "serviceAccount": {"create": False, "name": "existing-sa"},
        },
    )
    objects = manifests(render(values))
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", f"{FULLNAME}-worker") not in names
    assert ("Job", f"{FULLNAME}-migrate") not in names
    assert not any(kind in {"PodDisruptionBudget", "ServiceAccount"} for kind, _ in names)
    api = find(objects, "Deployment", f"{FULLNAME}-api")
    assert pod_spec(api)["serviceAccountName"] == "existing-sa"
    # Without a worker Deployment the API pods deliver the webhooks themselves.
    [container] = pod_spec(api)["containers"]
    assert env_of(container)["MDM_SERVE_WORKER"] == "true"


def test_upgrade_renders_like_install() -> None:
    install = render(VALUE_SETS["production"], is_install=True)
    upgrade = render(VALUE_SETS["production"], is_install=False, is_upgrade=True)
    assert {k: v for k, v in install.items() if not k.endswith("NOTES.txt")} == {
        k: v for k, v in upgrade.items() if not k.endswith("NOTES.txt")
    }


# ---------------------------------------------------------------- Kubernetes schemas


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_manifests_validate_against_kubernetes_schemas(
    objects: dict[str, list[dict[str, Any]]], value_set: str, kube_version: str
) -> None:
    """Strict: unknown fields fail too, so a typo in a template cannot slip through."""
    checked = 0
    for obj in objects[value_set]:
        if obj["apiVersion"] in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {exc.message}")
        checked += 1
    assert checked >= 10


def test_prometheus_operator_objects(objects: dict[str, list[dict[str, Any]]]) -> None:
    service_monitor = find(objects["all-options"], "ServiceMonitor", f"{FULLNAME}-api")
    assert service_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = find(objects["all-options"], "Service", FULLNAME)
    assert (
        service_monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    )
    [endpoint] = service_monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    pod_monitor = find(objects["all-options"], "PodMonitor", f"{FULLNAME}-worker")
    [endpoint] = pod_monitor["spec"]["podMetricsEndpoints"]
    worker = find(objects["all-options"], "Deployment", f"{FULLNAME}-worker")
    [container] = pod_spec(worker)["containers"]
    assert endpoint["port"] in {p["name"] for p in container["ports"]}


# ---------------------------------------------------------------- values.schema.json


@pytest.mark.parametrize(
    ("overlay", "complaint"),
    [
        ({"api": {"replicaCount": "two"}}, "/api/replicaCount"),
        ({"api": {"replicaCount": -1}}, "/api/replicaCount"),
        ({"replicas": 2}, "'replicas' not allowed"),
        ({"api": {"replicas": 2}}, "'replicas' not allowed"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"database": {"url": "mysql://db/mdm"}}, "/database/url"),
        ({"config": {"logLevel": "verbose"}}, "/config/logLevel"),
        ({"config": {"extraEnv": {"not a name": "x"}}}, "invalid propertyName 'not a name'"),
        ({"api": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}}, "/api/resources"),
        ({"api": {"resources": {"limits": None}}}, "/api/resources"),
        ({"worker": {"dbPool": {"size": 0}}}, "/worker/dbPool/size"),
        ({"service": {"port": 70000}}, "/service/port"),
        ({"ingress": {"hosts": [{"host": "a.example", "paths": [{"path": "api"}]}]}}, "/ingress"),
        ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval"),
        ({"worker": {"enabled": "yes"}}, "/worker/enabled"),
    ],
)
def test_schema_rejects_wrong_values(overlay: dict[str, Any], complaint: str) -> None:
    """Wrong values fail at `helm install`/`upgrade` (the render), naming the key."""
    with pytest.raises(helm.HelmValuesError) as failure:
        render(deep_merge(VALUE_SETS["minimal"], overlay))
    assert complaint in str(failure.value)


def test_schema_accepts_every_value_set_and_documents_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    # Every top-level default is described by the schema, and nothing else is allowed.
    assert schema["additionalProperties"] is False
    assert set(defaults) <= set(schema["properties"])
    with helm.Chart.load(CHART) as chart:
        for values in VALUE_SETS.values():
            chart.validate_schema(values)


# ---------------------------------------------------------------- pods: security and life cycle


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_every_pod_is_locked_down(objects: dict[str, list[dict[str, Any]]], value_set: str) -> None:
    pods = [o for o in objects[value_set] if o["kind"] in POD_KINDS]
    assert {o["kind"] for o in pods} == POD_KINDS
    for obj in pods:
        spec = pod_spec(obj)
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["privileged"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["runAsNonRoot"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys()
            assert "memory" in resources["limits"]


def test_api_probes_and_graceful_shutdown(objects: dict[str, list[dict[str, Any]]]) -> None:
    api = find(objects["minimal"], "Deployment", f"{FULLNAME}-api")
    spec = pod_spec(api)
    [container] = spec["containers"]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Readiness must notice a lost database faster than liveness restarts anything.
    readiness = container["readinessProbe"]
    liveness = container["livenessProbe"]
    assert (
        readiness["periodSeconds"] * readiness["failureThreshold"]
        < liveness["periodSeconds"] * liveness["failureThreshold"]
    )
    # The worker Deployment delivers webhooks, not the API pods.
    assert env_of(container)["MDM_SERVE_WORKER"] == "false"
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = int(env_of(container)["MDM_SHUTDOWN_GRACE_SECONDS"])
    assert sleep > readiness["periodSeconds"]  # endpoints are gone before SIGTERM
    assert spec["terminationGracePeriodSeconds"] > sleep + drain
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert api["spec"]["replicas"] == 2
    # Config and secret changes roll the pods.
    annotations = pod_metadata(api)["annotations"]
    assert {"checksum/config", "checksum/secret"} <= annotations.keys()


def test_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        api = find(manifests(render(values)), "Deployment", f"{FULLNAME}-api")
        return pod_metadata(api)["annotations"]["checksum/config"]

    base = VALUE_SETS["minimal"]
    assert checksum(base) != checksum(deep_merge(base, {"config": {"logLevel": "DEBUG"}}))


def test_worker(objects: dict[str, list[dict[str, Any]]]) -> None:
    worker = find(objects["production"], "Deployment", f"{FULLNAME}-worker")
    [container] = pod_spec(worker)["containers"]
    assert container["args"] == ["worker"]
    assert worker["spec"]["replicas"] == 2
    assert pod_spec(worker)["terminationGracePeriodSeconds"] == 90
    assert "ports" not in container and "livenessProbe" not in container
    with_http = find(objects["all-options"], "Deployment", f"{FULLNAME}-worker")
    [container] = pod_spec(with_http)["containers"]
    assert env_of(container)["MDM_WORKER_HTTP_PORT"] == "9000"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_autoscaling_and_disruption_budget(objects: dict[str, list[dict[str, Any]]]) -> None:
    api = find(objects["production"], "Deployment", f"{FULLNAME}-api")
    assert "replicas" not in api["spec"]  # the HPA owns the replica count
    hpa = find(objects["production"], "HorizontalPodAutoscaler", f"{FULLNAME}-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 8)
    pdb = find(objects["production"], "PodDisruptionBudget", f"{FULLNAME}-api")
    assert pdb["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in pdb["spec"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector == api["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "api"
    default_pdb = find(objects["minimal"], "PodDisruptionBudget", f"{FULLNAME}-api")
    assert default_pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}


# ---------------------------------------------------------------- migrations hook


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    objs = objects["minimal"]
    job = find(objs, "Job", f"{FULLNAME}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == 600
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    assert container["args"] == ["migrate"]
    # Hooks run before the release's ordinary objects exist: the Job uses only hook objects
    # of a lower weight (created first), never the release's ServiceAccount or Secret.
    job_weight = int(annotations["helm.sh/hook-weight"])
    for kind in ("ServiceAccount", "Secret"):
        helper = find(objs, kind, f"{FULLNAME}-migrate")
        assert helper["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(helper["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight
    assert spec["serviceAccountName"] == f"{FULLNAME}-migrate"
    assert env_of(container)["DATABASE_URL"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-migrate", "key": "DATABASE_URL"}
    }
    # With an existing Secret (made before the install), the Job reads it directly.
    job = find(objects["production"], "Job", f"{FULLNAME}-migrate")
    [container] = pod_spec(job)["containers"]
    assert env_of(container)["DATABASE_URL"] == {
        "secretKeyRef": {"name": "mdm-db-app", "key": "uri"}
    }


# ---------------------------------------------------------------- settings and secrets


def test_settings_from_configmap_secrets_from_existing_secrets(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    objs = objects["production"]
    assert not [o for o in objs if o["kind"] == "Secret"]
    config = find(objs, "ConfigMap", FULLNAME)["data"]
    assert config == {
        "MDM_LOG_LEVEL": "INFO",
        "MDM_OIDC_ISSUER": "https://login.example.co.jp/realms/corp",
        "MDM_OIDC_AUDIENCE": "mdm-hub",
        "MDM_OIDC_CLIENT_ID": "mdm-hub-console",
        "MDM_CUSTOMER_CODE_PREFIX": "C",
    }
    for name in ("api", "worker"):
        deployment = find(objs, "Deployment", f"{FULLNAME}-{name}")
        [container] = pod_spec(deployment)["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]
        env = env_of(container)
        assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "mdm-db-app", "key": "uri"}}
        assert env["MDM_OIDC_CLIENT_SECRET"] == {
            "secretKeyRef": {"name": "mdm-hub-secrets", "key": "oidc-client-secret"}
        }
        assert env["MDM_FIELD_ENCRYPTION_KEY"] == {
            "secretKeyRef": {"name": "mdm-hub-secrets", "key": "field-encryption-key"}
        }
        # Read only while the KEK is replaced: the Secret may lack it.
        assert env["MDM_FIELD_ENCRYPTION_KEY_PREVIOUS"] == {
            "secretKeyRef": {
                "name": "mdm-hub-secrets",
                "key": "field-encryption-key-previous",
                "optional": True,
            }
        }
    api = find(objs, "Deployment", f"{FULLNAME}-api")
    [container] = pod_spec(api)["containers"]
    assert container["image"] == ("registry.example.co.jp/platform/mdm-hub@sha256:" + "0" * 64)
    assert env_of(container)["MDM_DB_POOL_SIZE"] == "5"
    assert pod_spec(api)["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_secret_values_stay_in_secrets(
    rendered: dict[str, dict[str, str]], objects: dict[str, list[dict[str, Any]]]
) -> None:
    url = VALUE_SETS["all-options"]["database"]["url"]
    holders = {path for path, text in rendered["all-options"].items() if url in text}
    assert holders == {"mdm-hub/templates/secret.yaml", "mdm-hub/templates/migrate-job.yaml"}
    secret = find(objects["all-options"], "Secret", f"{FULLNAME}-secrets")
    assert secret["stringData"] == {
        "oidc-client-secret": "placeholder",
        "field-encryption-key": "placeholder",
    }
    database = find(objects["minimal"], "Secret", f"{FULLNAME}-database")
    assert database["stringData"] == {"DATABASE_URL": VALUE_SETS["minimal"]["database"]["url"]}
    assert "DATABASE_URL" not in find(objects["minimal"], "ConfigMap", FULLNAME)["data"]


def test_the_previous_field_key_while_the_kek_is_replaced(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    """secrets.fieldEncryptionKeyPrevious: in the chart's Secret and the pods' environment
    only while it is set (`mdm-hub keys rewrap`, docs/operations.md)."""
    for obj in objects["all-options"]:
        if obj["kind"] == "Deployment":
            [container] = pod_spec(obj)["containers"]
            assert "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS" not in env_of(container)
    values = deep_merge(
        VALUE_SETS["all-options"], {"secrets": {"fieldEncryptionKeyPrevious": "old-placeholder"}}
    )
    objs = manifests(render(values))
    secret = find(objs, "Secret", f"{FULLNAME}-secrets")
    assert secret["stringData"]["field-encryption-key-previous"] == "old-placeholder"
    for name in ("api", "worker"):
        [container] = pod_spec(find(objs, "Deployment", f"{FULLNAME}-{name}"))["containers"]
        assert env_of(container)["MDM_FIELD_ENCRYPTION_KEY_PREVIOUS"] == {
            "secretKeyRef": {"name": f"{FULLNAME}-secrets", "key": "field-encryption-key-previous"}
        }


def test_image_tag_defaults_to_app_version(objects: dict[str, list[dict[str, Any]]]) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == pyproject["project"]["version"]
    for obj in objects["minimal"]:
        if obj["kind"] in POD_KINDS:
            for container in pod_spec(obj)["containers"]:
                assert container["image"] == f"mdm-hub:{chart['appVersion']}"


# ---------------------------------------------------------------- network


def test_ingress_and_network_policies(objects: dict[str, list[dict[str, Any]]]) -> None:
    objs = objects["all-options"]
    ingress = find(objs, "Ingress", FULLNAME)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "mdm-hub-tls", "hosts": ["mdm.example.co.jp"]}]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": FULLNAME, "port": {"name": "http"}}

    base = find(objs, "NetworkPolicy", FULLNAME)
    assert base["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in base["spec"]  # default deny for every pod of the release
    egress_ports = {
        (p["port"], p["protocol"]) for rule in base["spec"]["egress"] for p in rule["ports"]
    }
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (443, "TCP"), (8443, "TCP")} <= egress_ports
    database_rule = next(r for r in base["spec"]["egress"] if r["ports"][0]["port"] == 5432)
    assert database_rule["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "mdm-db"}}}]

    api = find(objs, "NetworkPolicy", f"{FULLNAME}-api")
    [rule] = api["spec"]["ingress"]
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    ]
    assert namespaces == ["ingress-nginx", "monitoring"]
    worker = find(objs, "NetworkPolicy", f"{FULLNAME}-worker")
    assert worker["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def test_notes(rendered: dict[str, dict[str, str]]) -> None:
    minimal = rendered["minimal"]["mdm-hub/templates/NOTES.txt"]
    assert f"kubectl -n {NAMESPACE} logs job/{FULLNAME}-migrate" in minimal
    assert "port-forward service/" in minimal
    assert "database.url was given as a value" in minimal
    assert "No field encryption key is set" in minimal
    assert "the pods refuse to start without one" in minimal
    production = rendered["production"]["mdm-hub/templates/NOTES.txt"]
    assert "https://mdm.example.co.jp/" in production
    assert "NOTE:" not in production and "No field encryption key" not in production
    # Every render says what is encrypted at rest and what is not, and where the key goes.
    for notes in (minimal, production):
        assert "birth dates, and contact\npersons' phones and e-mails are encrypted" in notes
        assert "NOT encrypted: names" in notes and "APART from the database backups" in notes
        assert "The pods require\nMDM_FIELD_ENCRYPTION_KEY" in notes


def test_registry_import_cronjobs(objects: dict[str, list[dict[str, Any]]]) -> None:
    """Off by default; when on, one CronJob per registry on the downloads volume (read-only)."""
    assert not any(o["kind"] == "CronJob" for o in objects["production"])
    cronjobs = {o["metadata"]["name"]: o for o in objects["all-options"] if o["kind"] == "CronJob"}
    assert set(cronjobs) >= {f"{FULLNAME}-nta-import", f"{FULLNAME}-invoice-import"}
    nta = cronjobs[f"{FULLNAME}-nta-import"]
    assert nta["spec"]["schedule"] == "30 6 * * 1-5"
    assert nta["spec"]["timeZone"] == "Asia/Tokyo"
    assert nta["spec"]["concurrencyPolicy"] == "Forbid"
    spec = nta["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["args"] == ["nta", "import", "/imports/nta"]
    assert "DATABASE_URL" in env_of(container)
    assert {"name": "imports", "mountPath": "/imports", "readOnly": True} in container[
        "volumeMounts"
    ]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["imports"]["persistentVolumeClaim"]["claimName"] == "nta-downloads"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    only_nta = manifests(
        render(
            deep_merge(
                VALUE_SETS["production"],
                {"registryImport": {"enabled": True, "existingClaim": "x", "invoiceFolder": ""}},
            )
        )
    )
    assert [o["metadata"]["name"] for o in only_nta if o["kind"] == "CronJob"] == [
        f"{FULLNAME}-nta-import"
    ]
    with pytest.raises(helm.HelmError) as failure:
        render(deep_merge(VALUE_SETS["production"], {"registryImport": {"enabled": True}}))
    assert "registryImport.existingClaim" in str(failure.value)


def test_worker_registry_folders(objects: dict[str, list[dict[str, Any]]]) -> None:
    """Off by default; when on, the worker gets the downloads volume read-only at mountPath and
    the folder settings it watches (MDM_REGISTRY_*), from a claim or any other volume source."""
    for value_set in ("minimal", "production"):
        worker = find(objects[value_set], "Deployment", f"{FULLNAME}-worker")
        [container] = pod_spec(worker)["containers"]
        assert not any(name.startswith("MDM_REGISTRY_") for name in env_of(container))
        assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]
        assert [v["name"] for v in pod_spec(worker)["volumes"]] == ["tmp"]

    worker = find(objects["all-options"], "Deployment", f"{FULLNAME}-worker")
    [container] = pod_spec(worker)["containers"]
    env = env_of(container)
    assert env["MDM_REGISTRY_NTA_FOLDER"] == "/imports/nta"
    assert env["MDM_REGISTRY_INVOICE_FOLDER"] == "/imports/invoice"
    assert env["MDM_REGISTRY_IMPORT_INTERVAL_SECONDS"] == "3600"
    assert {"name": "registry-files", "mountPath": "/imports", "readOnly": True} in container[
        "volumeMounts"
    ]
    volumes = {v["name"]: v for v in pod_spec(worker)["volumes"]}
    assert volumes["registry-files"] == {
        "name": "registry-files",
        "persistentVolumeClaim": {"claimName": "nta-downloads", "readOnly": True},
    }

    nfs = {"nfs": {"server": "files.example.co.jp", "path": "/exports/nta", "readOnly": True}}
    values = deep_merge(
        VALUE_SETS["production"],
        {
            "worker": {
                "registryFolders": {
                    "enabled": True,
                    "volume": nfs,
                    "mountPath": "/data/registry/",
                    "invoiceFolder": "",
                    "intervalSeconds": 600,
                }
            }
        },
    )
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
    worker = find(manifests(render(values)), "Deployment", f"{FULLNAME}-worker")
    for kube_version in KUBE_VERSIONS:
        kubernetes_validate.validate(worker, kube_version, strict=True)
    [container] = pod_spec(worker)["containers"]
    env = env_of(container)
    assert env["MDM_REGISTRY_NTA_FOLDER"] == "/data/registry/nta"
    assert "MDM_REGISTRY_INVOICE_FOLDER" not in env
    assert env["MDM_REGISTRY_IMPORT_INTERVAL_SECONDS"] == "600"
    assert {"name": "registry-files", "mountPath": "/data/registry/", "readOnly": True} in (
        container["volumeMounts"]
    )
    volumes = {v["name"]: v for v in pod_spec(worker)["volumes"]}
    assert volumes["registry-files"] == {"name": "registry-files", **nfs}

    for overlay, message in (
        ({"enabled": True}, "worker.registryFolders.existingClaim or"),
        ({"enabled": True, "existingClaim": "x", "volume": nfs}, "only one of existingClaim"),
        (
            {"enabled": True, "existingClaim": "x", "ntaFolder": "", "invoiceFolder": ""},
            "set ntaFolder or invoiceFolder",
        ),
    ):
        with pytest.raises(helm.HelmError) as failure:
            render(deep_merge(VALUE_SETS["production"], {"worker": {"registryFolders": overlay}}))
        assert message in str(failure.value)
    with pytest.raises(helm.HelmError, match="intervalSeconds"):
        render(
            deep_merge(
                VALUE_SETS["production"],
                {"worker": {"registryFolders": {"existingClaim": "x", "intervalSeconds": 5}}},
            )
        )


def test_backup_cronjob(objects: dict[str, list[dict[str, Any]]]) -> None:
    """Off by default; on a volume: `mdm-hub backup` into the claim, pruned after keepDays; to
    object storage: the dump into a scratch volume, then rclone copies it with the Secret's
    settings. Both render valid objects; the key is never given to the backup's pods."""
    assert not any(o["kind"] == "CronJob" for o in objects["minimal"])
    on_volume = find(objects["all-options"], "CronJob", f"{FULLNAME}-backup")
    assert on_volume["spec"]["concurrencyPolicy"] == "Forbid"
    assert on_volume["spec"]["timeZone"] == "Asia/Tokyo"
    spec = on_volume["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [dump] = spec["containers"]
    assert dump["args"] == ["backup", "--to", "/backup", "--keep-days", "14"]
    assert set(env_of(dump)) == {"DATABASE_URL"}  # no MDM_FIELD_ENCRYPTION_KEY: kept apart
    assert "envFrom" not in dump
    assert {"name": "backup", "mountPath": "/backup"} in dump["volumeMounts"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["backup"]["persistentVolumeClaim"]["claimName"] == "mdm-hub-backups"
    assert spec["automountServiceAccountToken"] is False
    assert dump["securityContext"]["readOnlyRootFilesystem"] is True

    bucket_values = deep_merge(
        VALUE_SETS["production"],
        {
            "backup": {
                "enabled": True,
                "destination": "objectStorage",
                "objectStorage": {"remote": ":s3:backups/mdm-hub", "existingSecret": "rclone-s3"},
            }
        },
    )
    report = helm.lint(CHART, bucket_values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
    to_bucket = find(manifests(render(bucket_values)), "CronJob", f"{FULLNAME}-backup")
    for kube_version in KUBE_VERSIONS:
        kubernetes_validate.validate(to_bucket, kube_version, strict=True)
    spec = to_bucket["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [first] = spec["initContainers"]
    [upload] = spec["containers"]
    assert first["args"] == ["backup", "--to", "/backup"]
    assert upload["args"] == ["copy", "--no-traverse", "/backup", ":s3:backups/mdm-hub"]
    assert upload["envFrom"] == [{"secretRef": {"name": "rclone-s3"}}]
    assert upload["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["backup"]["emptyDir"] == {"sizeLimit": "20Gi"}

    for overlay, message in (
        ({"backup": {"enabled": True}}, "backup.existingClaim"),
        (
            {"backup": {"enabled": True, "destination": "objectStorage"}},
            "backup.objectStorage.remote",
        ),
    ):
        with pytest.raises(helm.HelmError) as failure:
            render(deep_merge(VALUE_SETS["production"], overlay))
        assert message in str(failure.value)
