"""Signed bundles: a centre key pair made once (private key 0600), Ed25519 as RFC 8032, and every way
a forger gets past a self-computed checksum refused: edited and rehashed, signature stripped, signed
by another key (named by its fingerprint), a borrowed fingerprint; an explicit acceptance is audited."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.models import signing
from core.models.bundle import Bundle, UntrustedBundleError, build_bundle, import_bundle, open_bundle, stored_bundle
from core.models.external import validate_bundle
from core.store import Study
from tests.hardening_store.conftest import copy_study, run, snapshot

CENTRE = "hospital_b"


def _fingerprint(public_b64: str) -> str:
    """The fingerprint as the docs define it: SHA-256 of the raw key, first 32 hex digits in groups of 4."""
    digest = hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:32]
    return ":".join(digest[i:i + 4] for i in range(0, 32, 4))


def _rehash(content: dict) -> str:
    """What a forger computes: SHA-256 over the sorted, compact JSON of the content."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture(scope="module")
def files(demo_study, tmp_path_factory, key_home) -> dict:
    """A bundle signed here, the same bundle signed at another centre, and a copy of the demo study."""
    folder = tmp_path_factory.mktemp("signing")
    with Study.open(demo_study, read_only=True) as study:
        bundle = build_bundle(study)
    own = bundle.signed().save(folder / "own.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(signing.HOME_VARIABLE, str(folder / "centre-a"))
        signing.set_label("Radiology A", "hospital_a")
        other = bundle.save(folder / "other.json")
    return {"own": own, "other": other, "folder": folder, "study": copy_study(demo_study, folder / "study")}


def _edited(files: dict, tmp_path: Path, edit) -> Path:
    data = json.loads(files["own"].read_text())
    edit(data)
    data["sha256"] = _rehash({k: v for k, v in data.items() if k not in ("sha256", "signature")})
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(data))
    return path


def test_key_pair_is_made_once_with_a_private_file(tmp_path, monkeypatch):
    monkeypatch.setenv(signing.HOME_VARIABLE, str(tmp_path / "home"))
    first = signing.local_identity()
    assert signing.local_identity() == first
    key = tmp_path / "home" / signing.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    stored = json.loads((tmp_path / "home" / signing.IDENTITY_FILE).read_text())
    assert stored["fingerprint"] == _fingerprint(stored["public_key"]) == first.fingerprint
    os.chmod(key, 0o644)
    with pytest.raises(signing.SigningError, match=r"readable by other users .*chmod 600"):
        signing.local_identity()


def test_signatures_are_ed25519_as_rfc_8032(tmp_path, monkeypatch):
    """RFC 8032 section 7.1, TEST 1: this secret key signs the empty message to this signature."""
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    expected = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
                "6bd25bf5f0595bbe24655141438e7a100b")
    home = tmp_path / "rfc"
    home.mkdir()
    pem = Ed25519PrivateKey.from_private_bytes(secret).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (home / signing.KEY_FILE).write_bytes(pem)
    os.chmod(home / signing.KEY_FILE, 0o600)
    monkeypatch.setenv(signing.HOME_VARIABLE, str(home))
    block = signing.signature_block(lambda _: b"")
    assert base64.b64decode(block["public_key"]).hex() == public
    assert base64.b64decode(block["value"]).hex() == expected
    assert signing.verify(block, lambda _: b"").status == "own"
    assert signing.verify(block, lambda _: b"x").status == "invalid"


def test_own_bundle_is_trusted(files):
    bundle = open_bundle(files["own"])
    provenance = bundle.provenance()
    assert provenance.status == "own" and provenance.fingerprint == _fingerprint(bundle.signature["public_key"])


def test_edited_and_rehashed_bundle_is_refused(files, tmp_path):
    def edit(data):
        data["models"]["models"]["combined"]["intercept"] += 0.5
    forged = _edited(files, tmp_path, edit)
    assert Bundle.load(forged).sha256 == json.loads(forged.read_text())["sha256"]  # the checksum alone passes
    before = snapshot(files["study"])
    code, _, err = run(["bundle", "import", "--study", str(files["study"]), "--bundle", str(forged)])
    assert code == 2
    assert "the bundle's signature does not match its content (the Ed25519 signature does not verify)" in err
    code, _, err = run(["validate", "--study", str(files["study"]), "--bundle", str(forged), "--center", CENTRE])
    assert code == 2 and "signature does not match" in err
    assert snapshot(files["study"]) == before


def test_stripped_signature_is_refused_as_unsigned(files, tmp_path):
    forged = _edited(files, tmp_path, lambda data: data.pop("signature"))
    with pytest.raises(UntrustedBundleError, match="the bundle is unsigned: nothing says who made it"):
        open_bundle(forged)


def test_borrowed_fingerprint_is_refused(files, tmp_path):
    """A forger's key under the trusted key's fingerprint: the fingerprint is the key's, not the label's."""
    own = json.loads(files["own"].read_text())["signature"]["fingerprint"]
    forged = tmp_path / "borrowed.json"
    data = json.loads(files["other"].read_text())
    data["signature"]["fingerprint"] = own
    forged.write_text(json.dumps(data))
    with pytest.raises(UntrustedBundleError, match=f"it names fingerprint {own} but its key's is"):
        open_bundle(forged)


def test_untrusted_key_is_refused_naming_its_fingerprint_until_trusted(files):
    fingerprint = _fingerprint(json.loads(files["other"].read_text())["signature"]["public_key"])
    study = files["study"]
    before = snapshot(study)
    code, _, err = run(["bundle", "import", "--study", str(study), "--bundle", str(files["other"])])
    assert code == 2, err
    assert (f"error: other.json: the bundle is signed by 'Radiology A' of centre 'hospital_a' with key {fingerprint}, "
            "which is not in your trusted keys; refused") in err
    assert f"compare fingerprint {fingerprint}" in err
    assert snapshot(study) == before
    code, _, err = run(["keys", "trust", "--bundle", str(files["other"]), "--fingerprint", "0000:1111"])
    assert code == 2 and f"the key's fingerprint is {fingerprint}, not 0000:1111: not trusted" in err
    code, out, _ = run(["keys", "trust", "--bundle", str(files["other"]), "--fingerprint", fingerprint])
    assert code == 0 and f"trusted key {fingerprint} (Radiology A, centre hospital_a)" in out
    try:
        code, out, err = run(["bundle", "import", "--study", str(study), "--bundle", str(files["other"])])
        assert code == 0, err
        assert f"with key {fingerprint}: a trusted key (trusted as 'Radiology A' of centre 'hospital_a')" in out
        code, out, _ = run(["keys", "list"])
        assert fingerprint in out
    finally:
        code, out, _ = run(["keys", "untrust", fingerprint[:9]])
    assert code == 0 and f"removed key {fingerprint}" in out
    with pytest.raises(UntrustedBundleError, match=fingerprint):
        open_bundle(files["other"])


def test_explicit_acceptance_is_recorded_in_the_audit_log(files, tmp_path):
    fingerprint = _fingerprint(json.loads(files["other"].read_text())["signature"]["public_key"])
    study = copy_study(files["study"], tmp_path / "copy")
    report = tmp_path / "validation.html"
    code, out, err = run(["validate", "--study", str(study), "--bundle", str(files["other"]), "--center", CENTRE,
                          "--accept-untrusted", "--report", str(report)])
    assert code == 0, err
    assert (f": the bundle is signed by 'Radiology A' of centre 'hospital_a' with key {fingerprint}, which is not in "
            "your trusted keys (accepted explicitly)") in out
    assert "Signature not trusted." in report.read_text() and fingerprint in report.read_text()
    with Study.open(study, read_only=True) as s:
        log = s.audit_log(20)
    accepted = [json.loads(p) for a, p in zip(log["action"], log["params"]) if a == "accept untrusted bundle"]
    assert len(accepted) == 1
    assert accepted[0]["fingerprint"] == fingerprint and accepted[0]["signature"] == "untrusted"
    assert accepted[0]["signer"] == "Radiology A" and "not in your trusted keys" in accepted[0]["problem"]
    assert accepted[0]["source"] == "other.json"


def test_bundle_registered_before_signing_still_loads_flagged(files, tmp_path):
    """An unsigned payload as older versions stored it: readable, validated, flagged as unsigned."""
    study = copy_study(files["study"], tmp_path / "copy")
    bundle = Bundle.load(files["own"])
    with Study.open(study) as s:
        s.register_model(bundle.bundle_id, "bundle", {**bundle.content, "sha256": bundle.sha256})
        stored = stored_bundle(s, bundle.bundle_id)
        assert stored.provenance().status == "unsigned"
        result = validate_bundle(s, stored, CENTRE)
    assert result["bundle"]["provenance"]["status"] == "unsigned"
    assert result["warnings"][0] == (f"bundle {bundle.bundle_id}: the bundle is unsigned: nothing says who made it, "
                                     "and anyone could have changed it (accepted explicitly)")


def test_import_into_a_new_study_keeps_the_signature(files, tmp_path):
    with Study.open(tmp_path / "new.duckdb") as s:
        bundle = import_bundle(s, files["own"])
        again = stored_bundle(s, bundle.bundle_id)
    assert again.signature == bundle.signature and again.provenance().status == "own"
