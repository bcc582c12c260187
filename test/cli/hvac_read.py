"""Reads KV secrets with hvac (python3-hvac): an independent client of what `airlock secrets put` wrote.

Usage: /usr/bin/python3 hvac_read.py <vault-url> <token>  < [[<kv-version>, <mount>, <path>], ...]

Prints [{"data": {...}} or {"missing": true}, ...] in the order asked: KV v2 through
`secrets.kv.v2.read_secret_version`, KV v1 through `secrets.kv.v1.read_secret`, as the docs' readers.
"""

import json
import os
import sys

import hvac
from hvac import exceptions

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "backends"))
from hvac_common import run  # noqa: E402


def main(url, token):
    client = hvac.Client(url=url, token=token)
    out = []
    for version, mount, path in json.load(sys.stdin):
        try:
            if version == 2:
                data = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount)["data"]["data"]
                out.append({"missing": True} if data is None else {"data": data})
            else:
                out.append({"data": client.secrets.kv.v1.read_secret(path=path, mount_point=mount)["data"]})
        except exceptions.InvalidPath:
            out.append({"missing": True})
    return out


if __name__ == "__main__":
    run(main)
