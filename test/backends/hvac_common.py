"""What the hvac scripts of the Vault tests share: the reader policy, outcomes and the entry point."""

import json
import sys

from hvac import exceptions

# Read access to the Variables under the docs' KV v2 mount, as the docs' airflow policy grants.
READ_VARIABLES_POLICY = """
path "secret/data/variables/*" {
  capabilities = ["read"]
}
"""


def outcome(call):
    """The name of the Vault error a call raises, or "ok"."""
    try:
        call()
    except exceptions.VaultError as err:
        return type(err).__name__
    return "ok"


def run(main):
    """Runs main(*argv) and prints its JSON result; any failure as {"error": ...}, exit status 1."""
    try:
        print(json.dumps(main(*sys.argv[1:])))
    except Exception as err:  # noqa: BLE001 - the vitest side reports it
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
