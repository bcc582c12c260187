"""Vault's azure auth method, set up and used with hvac (python3-hvac): an independent client.

Usage: /usr/bin/python3 hvac_azure.py <vault-url> <root-token> <entra-authority> <tenant> <client-id> <object-id> <ca-file>

As an operator: enable azure auth, configure its tenant and resource, bind a role to the service
principal's object id, write the policy and a secret. As the application: an access token from
the Entra ID double's token endpoint (client-credentials flow, with requests), hvac's
azure.login, a read, and a login with a token for another resource.
Prints one JSON object; a failure prints {"error": "<exception name>: <message>"} and exits 1.
"""


import hvac
from hvac_common import READ_VARIABLES_POLICY, outcome, run
import requests



def token(authority, tenant, client_id, resource, ca_file):
    answer = requests.post(
        f"{authority}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "hvac-client-secret",
            "scope": f"{resource}/.default",
        },
        verify=ca_file,
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def main(url, root_token, authority, tenant, client_id, object_id, ca_file):
    admin = hvac.Client(url=url, token=root_token)
    admin.sys.create_or_update_policy(name="airflow", policy=READ_VARIABLES_POLICY)
    admin.sys.enable_auth_method(method_type="azure")
    admin.auth.azure.configure(tenant_id=tenant, resource="https://management.azure.com/")
    admin.auth.azure.create_role(
        name="airflow-azure", policies=["airflow"], bound_service_principal_ids=[object_id]
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/from_azure", secret={"value": "read after an Azure login"}, mount_point="secret"
    )

    out = {}
    jwt = token(authority, tenant, client_id, "https://management.azure.com", ca_file)
    app = hvac.Client(url=url)
    login = app.auth.azure.login(role="airflow-azure", jwt=jwt)
    out["policies"] = login["auth"]["policies"]
    out["value"] = app.secrets.kv.v2.read_secret_version(
        path="variables/from_azure", mount_point="secret"
    )["data"]["data"]["value"]
    other = token(authority, tenant, client_id, "https://vault.azure.net", ca_file)
    out["other_resource"] = outcome(
        lambda: hvac.Client(url=url).auth.azure.login(role="airflow-azure", jwt=other)
    )
    return out


if __name__ == "__main__":
    run(main)
