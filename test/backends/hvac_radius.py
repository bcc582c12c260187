"""Vault's radius auth method, set up and used with hvac (python3-hvac): an independent client.

Usage: /usr/bin/python3 hvac_radius.py <vault-url> <root-token>

As an operator: enable radius, configure its server (host, shared secret), register a user with
the policy (the double has no RADIUS server: the user's password is a double-only field), write
a secret. As the application: hvac's radius.login, a read, and a wrong password.
Prints one JSON object; a failure prints {"error": "<exception name>: <message>"} and exits 1.
"""


import hvac
from hvac_common import READ_VARIABLES_POLICY, outcome, run



def main(url, root_token):
    admin = hvac.Client(url=url, token=root_token)
    admin.sys.create_or_update_policy(name="airflow", policy=READ_VARIABLES_POLICY)
    admin.sys.enable_auth_method(method_type="radius")
    admin.auth.radius.configure(host="radius.example.com", secret="shared-secret", port=1812)
    admin.auth.radius.register_user(username="analyst", policies=["airflow"])
    # The double's stand-in for the RADIUS server's user database.
    admin.write("auth/radius/users/analyst", policies="airflow", password="radius-pa55")
    admin.secrets.kv.v2.create_or_update_secret(
        path="variables/from_radius", secret={"value": "read after a RADIUS login"}, mount_point="secret"
    )

    out = {"config_host": admin.read("auth/radius/config")["data"]["host"]}
    app = hvac.Client(url=url)
    login = app.auth.radius.login(username="analyst", password="radius-pa55")
    out["policies"] = login["auth"]["policies"]
    out["value"] = app.secrets.kv.v2.read_secret_version(
        path="variables/from_radius", mount_point="secret"
    )["data"]["data"]["value"]
    out["wrong_password"] = outcome(
        lambda: hvac.Client(url=url).auth.radius.login(username="analyst", password="wrong")
    )
    return out


if __name__ == "__main__":
    run(main)
