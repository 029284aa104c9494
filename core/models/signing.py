"""Centre key pairs, Ed25519 signatures of bundles, and the trusted-keys list.

Each installation has one key pair, created on first use in its key folder: ``$PTLF_HOME``,
else ``$XDG_CONFIG_HOME/ptlf``, else ``~/.config/ptlf``. The folder holds

- ``signing_key.pem``: the private key (PKCS#8, file mode 0600; refused when others can read it);
- ``identity.json``: its public key and the label signatures carry (a name and a centre);
- ``trusted_keys.json``: the public keys whose signatures the user trusts, each with the label
  it was trusted under and when.

A key is named by its fingerprint: the first 128 bits of the SHA-256 of its 32 raw bytes, as
eight groups of four hex digits. This installation's own key is always trusted. The module
signs and verifies bytes; what is signed (a bundle's canonical content) is ``core.models.bundle``'s.
"""
from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HOME_VARIABLE = "PTLF_HOME"
ALGORITHM = "Ed25519"
KEY_FILE, IDENTITY_FILE, TRUSTED_FILE = "signing_key.pem", "identity.json", "trusted_keys.json"
STATUSES = {"own": "signed by this installation", "trusted": "signed by a trusted key",
            "untrusted": "signed by a key not in the trusted keys", "invalid": "signature does not verify",
            "unsigned": "unsigned"}


class SigningError(ValueError):
    """A key folder, key file or public key that cannot be used (the message names it)."""


def home() -> Path:
    """The key folder of this installation (see the module docstring)."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config).expanduser() / "ptlf"


def fingerprint(public_key: bytes) -> str:
    """``xxxx:xxxx:...`` (8 groups): the first 128 bits of SHA-256 over the raw public key."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return ":".join(digest[i:i + 4] for i in range(0, 32, 4))


def encode_key(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode()


def decode_key(text: str) -> bytes:
    """Raw 32-byte public key from its base64 text; SigningError naming the problem otherwise."""
    try:
        raw = base64.b64decode(str(text).strip(), validate=True)
    except (ValueError, TypeError):
        raise SigningError(f"public key {str(text)[:20]!r}...: not base64 text") from None
    if len(raw) != 32:
        raise SigningError(f"public key {str(text)[:20]!r}...: {len(raw)} bytes; an Ed25519 public key has 32")
    return raw


@dataclass(frozen=True)
class Identity:
    """This installation's public key and label."""

    public_key: bytes
    name: str
    centre: str
    created_at: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_dict(self) -> dict[str, str]:
        return {"public_key": encode_key(self.public_key), "fingerprint": self.fingerprint, "name": self.name,
                "centre": self.centre, "created_at": self.created_at}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` with mode 0600 unless it exists (atomic: two processes never both
    write it); True when this call wrote it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates the file with mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically with ``data`` as JSON."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _private_key() -> Ed25519PrivateKey:
    """This installation's private key, created on first use."""
    folder = home()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        if _write_private(path, pem):
            public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            _write_json(folder / IDENTITY_FILE, Identity(public, _default_name(), "", _now()).to_dict())
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise SigningError(f"{path}: the private key is readable by other users (mode "
                        f"{oct(path.stat().st_mode & 0o777)}); restrict it with `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise SigningError(f"{path}: not a readable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an {ALGORITHM} private key")
    return key


def _default_name() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):  # no user name in a container without a passwd entry
        return socket.gethostname()


def local_identity() -> Identity:
    """This installation's identity (the key pair is created on first use)."""
    key = _private_key()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    path = home() / IDENTITY_FILE
    stored = json.loads(path.read_text()) if path.exists() else {}
    if stored.get("public_key") != encode_key(public):  # lost or from another key: rebuilt
        stored = Identity(public, _default_name(), "", _now()).to_dict()
        _write_json(path, stored)
    return Identity(public, stored.get("name", ""), stored.get("centre", ""), stored.get("created_at", ""))


def set_label(name: str, centre: str | None = None) -> Identity:
    """Change the name (and centre) that this installation's signatures carry."""
    if not name.strip():
        raise ValueError("the signer's name must not be empty")
    current = local_identity()
    identity = Identity(current.public_key, name.strip(), current.centre if centre is None else centre.strip(),
                        current.created_at)
    _write_json(home() / IDENTITY_FILE, identity.to_dict())
    return identity


def signature_block(message_for) -> dict[str, Any]:
    """A signature by this installation: ``message_for(block)`` gives the bytes to sign for the
    block without its ``value`` (so the signer's label is signed too)."""
    key, identity = _private_key(), local_identity()
    block = {"algorithm": ALGORITHM, "public_key": encode_key(identity.public_key),
             "fingerprint": identity.fingerprint, "signer": {"name": identity.name, "centre": identity.centre},
             "signed_at": _now()}
    return {**block, "value": base64.b64encode(key.sign(message_for(block))).decode()}


# ------------------------------------------------------------------------------ verification
@dataclass(frozen=True)
class Provenance:
    """Who signed a bundle and whether this installation trusts the key.

    status: "own" | "trusted" | "untrusted" | "invalid" | "unsigned"; detail: why an invalid
    signature is invalid; trusted_as: the label under which the key was trusted.
    """

    status: str
    fingerprint: str | None = None
    name: str | None = None
    centre: str | None = None
    signed_at: str | None = None
    detail: str | None = None
    trusted_as: str | None = None

    @property
    def ok(self) -> bool:
        """Signed by a key this installation trusts."""
        return self.status in ("own", "trusted")

    @property
    def signer(self) -> str:
        """'name (centre)' as the signature states it."""
        if self.name is None:
            return "nobody"
        return f"{self.name!r}" + (f" of centre {self.centre!r}" if self.centre else "")

    def describe(self) -> str:
        """One sentence for a page, a report or the command line."""
        if self.status == "unsigned":
            return "unsigned: nothing says who made it"
        if self.status == "invalid":
            return (f"signature INVALID ({self.detail}); it claims {self.signer}, key {self.fingerprint}")
        text = f"signed by {self.signer} with key {self.fingerprint}"
        return text + {"own": ": this installation's own key", "untrusted": ": a key NOT in your trusted keys",
                       "trusted": f": a trusted key (trusted as {self.trusted_as})"}[self.status]

    def problem(self) -> str | None:
        """Why the bundle must not be used without an explicit acceptance; None when it may."""
        if self.ok:
            return None
        if self.status == "unsigned":
            return "the bundle is unsigned: nothing says who made it, and anyone could have changed it"
        if self.status == "invalid":
            return (f"the bundle's signature does not match its content ({self.detail}): it was changed after "
                    f"it was signed, or the signature is forged (it claims {self.signer}, key {self.fingerprint})")
        return (f"the bundle is signed by {self.signer} with key {self.fingerprint}, which is not in your trusted "
                "keys")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ok": self.ok, "fingerprint": self.fingerprint, "name": self.name,
                "centre": self.centre, "signed_at": self.signed_at, "detail": self.detail,
                "trusted_as": self.trusted_as, "description": self.describe()}


def verify(block: Any, message_for) -> Provenance:
    """Check a signature block (None: unsigned) over ``message_for(block without value)``."""
    if block is None:
        return Provenance("unsigned")
    if not isinstance(block, dict):
        return Provenance("invalid", detail=f"the signature is a {type(block).__name__}, not a signature block")
    signer = block.get("signer") if isinstance(block.get("signer"), dict) else {}
    claimed = dict(fingerprint=str(block.get("fingerprint")), name=signer.get("name"), centre=signer.get("centre"),
                   signed_at=block.get("signed_at"))
    if block.get("algorithm") != ALGORITHM:
        return Provenance("invalid", **claimed, detail=f"algorithm {block.get('algorithm')!r}, expected {ALGORITHM}")
    try:
        public = decode_key(block.get("public_key", ""))
        value = base64.b64decode(str(block.get("value", "")), validate=True)
    except (SigningError, ValueError) as exc:
        return Provenance("invalid", **claimed, detail=str(exc))
    actual = fingerprint(public)
    if claimed["fingerprint"] != actual:
        return Provenance("invalid", **{**claimed, "fingerprint": actual},
                          detail=f"it names fingerprint {claimed['fingerprint']} but its key's is {actual}")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(value, message_for(
            {k: v for k, v in block.items() if k != "value"}))
    except InvalidSignature:
        return Provenance("invalid", **claimed, detail="the Ed25519 signature does not verify")
    if public == local_identity().public_key:
        return Provenance("own", **claimed, trusted_as="this installation")
    entry = next((k for k in trusted_keys() if k["public_key"] == encode_key(public)), None)
    if entry is None:
        return Provenance("untrusted", **claimed)
    label = repr(entry.get("name") or "") + (f" of centre {entry['centre']!r}" if entry.get("centre") else "")
    return Provenance("trusted", **claimed, trusted_as=label)


# ------------------------------------------------------------------------------ trusted keys
def trusted_keys() -> list[dict[str, str]]:
    """The trusted keys: public_key, fingerprint, name, centre, added_at (oldest first)."""
    path = home() / TRUSTED_FILE
    if not path.exists():
        return []
    try:
        keys = json.loads(path.read_text())["keys"]
    except (ValueError, KeyError, TypeError):
        raise SigningError(f"{path}: not a trusted-keys file (expected JSON with a 'keys' list)") from None
    return list(keys)


def trust(public_key: bytes, name: str, centre: str = "") -> dict[str, str]:
    """Add a public key to the trusted keys (or relabel it); the entry added."""
    entry = {"public_key": encode_key(public_key), "fingerprint": fingerprint(public_key), "name": name,
             "centre": centre, "added_at": _now()}
    keys = [k for k in trusted_keys() if k["public_key"] != entry["public_key"]] + [entry]
    home().mkdir(parents=True, exist_ok=True)
    _write_json(home() / TRUSTED_FILE, {"keys": keys})
    return entry


def untrust(fingerprint_: str) -> dict[str, str]:
    """Remove the trusted key with this fingerprint (colons optional, a unique prefix of at least 8
    hex digits suffices); the entry removed."""
    wanted = fingerprint_.replace(":", "").strip().lower()
    keys = trusted_keys()
    matches = [k for k in keys if len(wanted) >= 8 and k["fingerprint"].replace(":", "").startswith(wanted)]
    if len(matches) != 1:
        known = ", ".join(k["fingerprint"] for k in keys) or "none"
        raise ValueError(f"fingerprint {fingerprint_!r} matches {len(matches)} trusted key(s) (give at least 8 hex "
                         f"digits of one); trusted: {known}")
    _write_json(home() / TRUSTED_FILE, {"keys": [k for k in keys if k is not matches[0]]})
    return matches[0]
