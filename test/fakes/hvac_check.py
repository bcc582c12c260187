"""An independent Vault client (hvac) against airlock's Vault fake.

Usage: /usr/bin/python3 hvac_check.py <url> <root-token>

Sets the fake up with the root token the way an operator would with hvac (policy, AppRole,
userpass, a KV v1 mount, secrets), then logs in with AppRole and userpass and reads as the
application would. Prints one JSON object with what it observed; the vitest side asserts on it.
A failure prints {"error": "<exception name>: <message>"} and exits 1.
"""

import json
import sys

import hvac
from hvac import exceptions

POLICY = """
path "secret/data/variables/*" {
  capabilities = ["read"]
}
path "secret/metadata/variables/*" {
  capabilities = ["list"]
}
path "kv1/*" {
  capabilities = ["read", "list"]
}
"""


def outcome(call):
    """The exception class name a call raises, or "ok"."""
    try:
        call()
    except exceptions.VaultError as err:
        return type(err).__name__
    return "ok"


def main(url, root_token):
    admin = hvac.Client(url=url, token=root_token)
    out = {"admin_authenticated": admin.is_authenticated()}

    health = admin.sys.read_health_status(method="GET")
    out["health"] = {"initialized": health["initialized"], "sealed": health["sealed"]}

    admin.sys.create_or_update_policy(name="airflow", policy=POLICY)
    out["policy_listed"] = "airflow" in admin.sys.list_policies()["data"]["policies"]
    out["policy_text_kept"] = admin.sys.read_policy("airflow")["data"]["rules"] == POLICY

    admin.sys.enable_auth_method(method_type="approle")
    admin.sys.enable_auth_method(method_type="userpass")
    out["auth_methods"] = sorted(admin.sys.list_auth_methods()["data"].keys())

    admin.auth.approle.create_or_update_approle(
        role_name="airflow", token_policies=["airflow"], token_ttl="1h", token_max_ttl="4h"
    )
    role_id = admin.auth.approle.read_role_id(role_name="airflow")["data"]["role_id"]
    secret_id = admin.auth.approle.generate_secret_id(role_name="airflow")["data"]["secret_id"]
    admin.auth.userpass.create_or_update_user(
        username="analyst", password="pa55-word", policies=["airflow"]
    )

    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/hello", secret={"value": "world"}, mount_point="secret"
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/hello", secret={"value": "world, v2"}, mount_point="secret"
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="other/secret", secret={"value": "hidden"}, mount_point="secret"
    )
    admin.sys.enable_secrets_engine(backend_type="kv", path="kv1", options={"version": "1"})
    admin.secrets.kv.v1.create_or_update_secret(
        path="variables/legacy", secret={"value": "v1 value"}, mount_point="kv1"
    )
    out["mounts"] = sorted(admin.sys.list_mounted_secrets_engines()["data"].keys())

    # The application side: AppRole login, then reads.
    app = hvac.Client(url=url)
    login = app.auth.approle.login(role_id=role_id, secret_id=secret_id)
    out["approle_login"] = {
        "has_token": bool(login["auth"]["client_token"]),
        "policies": login["auth"]["policies"],
        "lease_duration": login["auth"]["lease_duration"],
        "renewable": login["auth"]["renewable"],
    }
    out["app_authenticated"] = app.is_authenticated()
    read = app.secrets.kv.v2.read_secret_version(path="variables/hello", mount_point="secret")
    out["kv2_value"] = read["data"]["data"]["value"]
    out["kv2_version"] = read["data"]["metadata"]["version"]
    first = app.secrets.kv.v2.read_secret_version(
        path="variables/hello", version=1, mount_point="secret"
    )
    out["kv2_version1_value"] = first["data"]["data"]["value"]
    out["kv2_list"] = app.secrets.kv.v2.list_secrets(path="variables", mount_point="secret")[
        "data"
    ]["keys"]
    out["kv1_value"] = app.secrets.kv.v1.read_secret(
        path="variables/legacy", mount_point="kv1"
    )["data"]["value"]
    out["missing"] = outcome(
        lambda: app.secrets.kv.v2.read_secret_version(path="variables/nope", mount_point="secret")
    )
    out["outside_policy"] = outcome(
        lambda: app.secrets.kv.v2.read_secret_version(path="other/secret", mount_point="secret")
    )
    out["write_denied"] = outcome(
        lambda: app.secrets.kv.v2.create_or_update_secret(
            path="variables/hello", secret={"value": "x"}, mount_point="secret"
        )
    )
    renewed = app.auth.token.renew_self()
    out["renewed_lease"] = renewed["auth"]["lease_duration"]
    out["lookup_policies"] = app.auth.token.lookup_self()["data"]["policies"]
    app.auth.token.revoke_self()
    out["after_revoke_authenticated"] = app.is_authenticated()

    user = hvac.Client(url=url)
    user.auth.userpass.login(username="analyst", password="pa55-word")
    out["userpass_value"] = user.secrets.kv.v2.read_secret_version(
        path="variables/hello", mount_point="secret"
    )["data"]["data"]["value"]
    out["userpass_bad_password"] = outcome(
        lambda: hvac.Client(url=url).auth.userpass.login(username="analyst", password="wrong")
    )

    admin.secrets.kv.v2.delete_latest_version_of_secret(path="variables/hello", mount_point="secret")
    out["deleted_latest"] = outcome(
        lambda: admin.secrets.kv.v2.read_secret_version(path="variables/hello", mount_point="secret")
    )
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as err:  # noqa: BLE001 - the vitest side reports it
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
