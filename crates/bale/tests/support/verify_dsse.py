"""Verifies the DSSE envelope of a bale signature bundle with
securesystemslib, an implementation bale did not write.

    verify_dsse.py BUNDLE.json PUBLIC_KEY.pem KEYID

Exit 0 when the envelope verifies with the key, 1 when it does not.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

bundle_path, key_path, keyid = sys.argv[1:4]
with open(bundle_path, "rb") as f:
    bundle = json.load(f)
with open(key_path, "rb") as f:
    key = SSlibKey.from_crypto(load_pem_public_key(f.read()), keyid=keyid)
envelope = Envelope.from_dict(bundle["dsseEnvelope"])
try:
    envelope.verify([key], 1)
except VerificationError as e:
    print(f"not verified: {e}")
    sys.exit(1)
statement = json.loads(envelope.payload)
print("verified", statement["subject"][0]["name"])
