"""Reads Key Vault secrets with Debian's Azure SDK for Python (python3-azure): an independent client.

Usage: /usr/bin/python3 azure_get_secrets.py <vault-url> <ca-file> <token>  < ["<name>", ...]

Prints {"<name>": "<value>" or null (not found or deleted), ...}.
"""

import json
import os
import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "backends"))
from azure_set_secrets import StaticToken  # noqa: E402


def main(url, ca_file, token):
    client = SecretClient(
        url, StaticToken(token), verify_challenge_resource=False, connection_verify=ca_file
    )
    out = {}
    for name in json.load(sys.stdin):
        try:
            out[name] = client.get_secret(name).value
        except ResourceNotFoundError:
            out[name] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
