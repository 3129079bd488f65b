"""Sign before sending: signed copies of the queued instances in a private temporary area
(``desktop.net.copies``), never the sources; the area goes once its job is done or cancelled."""

import dataclasses
import datetime as dt
from pathlib import Path

from desktop.core.signatures.elements import EXPLICIT_LITTLE
from desktop.core.signatures.profiles import Profile
from desktop.net.store import StoreItem
from desktop.security.keystore import Keystore
from desktop.signing import Signed, sign_files, unrevoked_signer

AREA = "signing"


def signed_items(
    items: list[StoreItem],
    keystore: Keystore,
    identity: str,
    profile: Profile,
    area: Path,
) -> tuple[list[StoreItem], list[str]]:
    """The items pointing at signed copies (SHA-256) written in ``area``, and why any could not
    be signed (those are left out: a node that wants signatures never gets an unsigned
    instance)."""
    now = dt.datetime.now(dt.UTC)
    who = unrevoked_signer(keystore, keystore.unlock_identity(identity), now)
    jobs = [(item.path, area / f"{n:06d}.dcm") for n, item in enumerate(items)]
    results = sign_files(jobs, who, profile=profile, algorithm="SHA256")
    signed, refused = [], []
    for item, (source, target, done) in zip(items, results, strict=True):
        if not isinstance(done, Signed):
            refused.append(f"{source}: not sent, it could not be signed: {done}")
            continue
        signed.append(
            dataclasses.replace(
                item,
                path=target,
                size=target.stat().st_size,
                sha256="",
                dataset_offset=0,  # the copy's file meta is its own: read as it is sent
                transfer_syntax_uid=EXPLICIT_LITTLE if done.converted else item.transfer_syntax_uid,
            )
        )
    return signed, refused
