"""The Airflow docs' Vault setup, done with hvac (python3-hvac): an independent client.

Usage: /usr/bin/python3 hvac_walkthrough.py <url> <root-token>  < plan.json

plan.json: {
  "policy": {"name": "airflow", "rules": "<HCL>"},
  "approle": "airflow",                                   # enabled, role created with the policy
  "kv2": {"<mount>": {"<path>": {"<field>": "<value>"}}}, # mounts other than "secret" are enabled
  "kv1": {"<mount>": {"<path>": {"<field>": "<value>"}}}  # each mount enabled as KV version 1
}
Prints {"role_id", "secret_id", "kv2_versions": {"<mount>/<path>": n}, "kv1_read": {...}}.
A failure prints {"error": "<exception name>: <message>"} and exits 1.
"""

import json
import sys

import hvac
from hvac_common import run


def main(url, root_token):
    plan = json.load(sys.stdin)
    admin = hvac.Client(url=url, token=root_token)
    out = {}

    # vault policy write airflow airflow.hcl
    policy = plan["policy"]
    admin.sys.create_or_update_policy(name=policy["name"], policy=policy["rules"])

    # vault auth enable approle; vault write auth/approle/role/airflow token_policies=airflow …
    role = plan["approle"]
    admin.sys.enable_auth_method(method_type="approle")
    admin.auth.approle.create_or_update_approle(
        role_name=role, token_policies=[policy["name"]], token_ttl="1h", token_max_ttl="4h"
    )
    out["role_id"] = admin.auth.approle.read_role_id(role_name=role)["data"]["role_id"]
    out["secret_id"] = admin.auth.approle.generate_secret_id(role_name=role)["data"]["secret_id"]

    # vault secrets enable -path=<mount> -version=2 kv; vault kv put <mount>/<path> k=v …
    out["kv2_versions"] = {}
    for mount, secrets in plan.get("kv2", {}).items():
        if mount != "secret":
            admin.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "2"})
        for path, data in secrets.items():
            written = admin.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, mount_point=mount
            )
            out["kv2_versions"][f"{mount}/{path}"] = written["data"]["version"]

    # vault secrets enable -path=<mount> -version=1 kv; vault kv put <mount>/<path> k=v …
    out["kv1_read"] = {}
    for mount, secrets in plan.get("kv1", {}).items():
        admin.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "1"})
        for path, data in secrets.items():
            admin.secrets.kv.v1.create_or_update_secret(path=path, secret=data, mount_point=mount)
            read = admin.secrets.kv.v1.read_secret(path=path, mount_point=mount)["data"]
            out["kv1_read"][f"{mount}/{path}"] = read == data
    return out


if __name__ == "__main__":
    run(main)
