"""CURVE key pairs in Z85 text files (<name>.public, <name>.secret), as Wire.CurveKeyPair writes them."""

import os
from dataclasses import dataclass

import zmq
import zmq.utils.z85


@dataclass(frozen=True)
class CurveKeys:
    public: bytes  # Z85, 40 bytes
    secret: bytes  # Z85, 40 bytes


def _check(key: bytes, what: str, path: str) -> bytes:
    if len(key) != 40:
        raise ValueError(f"{what} in {path} has {len(key)} characters; a CURVE key in Z85 has exactly 40")
    try:
        zmq.utils.z85.decode(key)
    except Exception as error:  # noqa: BLE001 - any decoding problem means invalid text
        raise ValueError(f"{what} in {path} is not valid Z85 text") from error
    return key


def generate_keys(directory: str, name: str) -> CurveKeys:
    """Creates a key pair and writes <directory>/<name>.public and .secret (mode 0600)."""
    public, secret = zmq.curve_keypair()
    with open(os.path.join(directory, name + ".public"), "wb") as f:
        f.write(public + b"\n")
    secret_path = os.path.join(directory, name + ".secret")
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
    return CurveKeys(public, secret)


def load_public_key(path: str) -> bytes:
    with open(path, "rb") as f:
        return _check(f.read().strip(), "public key", path)


def load_secret_key(path: str) -> CurveKeys:
    """Reads a secret key file; the public key is derived from it."""
    with open(path, "rb") as f:
        secret = _check(f.read().strip(), "secret key", path)
    return CurveKeys(zmq.curve_public(secret), secret)
