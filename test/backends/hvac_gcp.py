"""Vault's gcp auth method (iam roles), set up and used with hvac (python3-hvac): an independent client.

Usage: /usr/bin/python3 hvac_gcp.py <vault-url> <root-token> <service-account-key.json>

As an operator: enable the gcp auth method, bind an iam role to the service account, write the
policy and a secret. As the application: sign the login JWT with the service account's key
(python3-cryptography, RS256: what IAM's signJwt returns too), hvac's gcp.login, a read, and a
login whose JWT names another role in its audience. Prints one JSON object; a failure prints
{"error": "<exception name>: <message>"} and exits 1.
"""

import base64
import json
import time

import hvac
from hvac_common import READ_VARIABLES_POLICY, outcome, run
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding



def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_jwt(key, audience):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
    payload = {"iat": now, "exp": now + 600, "sub": key["client_email"], "aud": audience}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    private_key = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def main(url, root_token, key_file):
    with open(key_file) as f:
        key = json.load(f)
    admin = hvac.Client(url=url, token=root_token)
    admin.sys.create_or_update_policy(name="airflow", policy=READ_VARIABLES_POLICY)
    admin.sys.enable_auth_method(method_type="gcp")
    admin.auth.gcp.create_role(
        name="airflow-gcp",
        role_type="iam",
        project_id=key["project_id"],
        bound_service_accounts=[key["client_email"]],
        policies=["airflow"],
        max_jwt_exp=900,
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/from_gcp", secret={"value": "read after a GCP login"}, mount_point="secret"
    )

    out = {}
    app = hvac.Client(url=url)
    login = app.auth.gcp.login(role="airflow-gcp", jwt=signed_jwt(key, "vault/airflow-gcp"))
    out["policies"] = login["auth"]["policies"]
    out["service_account"] = login["auth"]["metadata"]["service_account_email"]
    out["value"] = app.secrets.kv.v2.read_secret_version(
        path="variables/from_gcp", mount_point="secret"
    )["data"]["data"]["value"]
    out["wrong_audience"] = outcome(
        lambda: hvac.Client(url=url).auth.gcp.login(
            role="airflow-gcp", jwt=signed_jwt(key, "vault/another-role")
        )
    )
    return out


if __name__ == "__main__":
    run(main)
