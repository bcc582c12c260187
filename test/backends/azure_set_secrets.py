"""Sets Key Vault secrets with Debian's Azure SDK for Python (python3-azure): an independent client.

Usage: /usr/bin/python3 azure_set_secrets.py <vault-url> <ca-file> <token>  < {"<name>": "<value>", ...}

The credential hands out a static bearer token (what a test double accepts), and the SDK is told
to trust the double's CA and not to insist that the challenge names a *.vault.azure.net host.
Everything else (the challenge handshake, the paths, the JSON) is the SDK's own. Prints
{"<name>": {"version": "<id>", "read_back": true}, ...}.
"""

import json
import sys
import time

from azure.core.credentials import AccessToken
from azure.keyvault.secrets import SecretClient


class StaticToken:
    """A TokenCredential that returns one fixed token."""

    def __init__(self, token):
        self._token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self._token, int(time.time()) + 3600)


def main(url, ca_file, token):
    secrets = json.load(sys.stdin)
    client = SecretClient(
        url, StaticToken(token), verify_challenge_resource=False, connection_verify=ca_file
    )
    out = {}
    for name, value in secrets.items():
        created = client.set_secret(name, value)
        out[name] = {
            "version": created.properties.version,
            "read_back": client.get_secret(name).value == value,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
