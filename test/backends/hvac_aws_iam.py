"""Vault's aws auth method (IAM), set up and used with hvac (python3-hvac): an independent client.

Usage: /usr/bin/python3 hvac_aws_iam.py <vault-url> <root-token> <sts-endpoint> <access-key> <secret-key>

As an operator: enable the aws auth method, point it at the STS to replay logins to, bind a role
to IAM principals, write the policy and a secret. Then as the application: hvac's iam_login (a
SigV4-signed sts:GetCallerIdentity), a read, and a login signed with a wrong secret key.
Prints one JSON object; a failure prints {"error": "<exception name>: <message>"} and exits 1.
"""


import hvac
from hvac_common import READ_VARIABLES_POLICY, outcome, run



def main(url, root_token, sts_endpoint, access_key, secret_key):
    admin = hvac.Client(url=url, token=root_token)
    admin.sys.create_or_update_policy(name="airflow", policy=READ_VARIABLES_POLICY)
    admin.sys.enable_auth_method(method_type="aws")
    admin.auth.aws.configure(sts_endpoint=sts_endpoint)
    admin.auth.aws.create_role(
        role="airflow-iam",
        auth_type="iam",
        bound_iam_principal_arn=["arn:aws:iam::123456789012:user/*"],
        policies=["airflow"],
        ttl="1h",
    )
    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/from_iam", secret={"value": "read after an IAM login"}, mount_point="secret"
    )

    out = {}
    app = hvac.Client(url=url)
    login = app.auth.aws.iam_login(access_key, secret_key, role="airflow-iam")
    out["policies"] = login["auth"]["policies"]
    out["metadata_auth_type"] = login["auth"]["metadata"]["auth_type"]
    out["value"] = app.secrets.kv.v2.read_secret_version(
        path="variables/from_iam", mount_point="secret"
    )["data"]["data"]["value"]
    out["wrong_secret"] = outcome(
        lambda: hvac.Client(url=url).auth.aws.iam_login(access_key, "not-the-secret", role="airflow-iam")
    )
    return out


if __name__ == "__main__":
    run(main)
