"""Sign before sending: signed copies of the queued instances in a private temporary area,
never the sources; the area goes once its job is done or cancelled."""

import dataclasses
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from desktop.core.signatures.elements import EXPLICIT_LITTLE
from desktop.core.signatures.profiles import Profile
from desktop.net.queue import TransferQueue
from desktop.net.store import StoreItem
from desktop.security.keystore import Keystore
from desktop.security.signing import signer
from desktop.signing import Signed, sign_files

AREA = "signing"


def signed_items(
    items: list[StoreItem],
    keystore: Keystore,
    identity: str,
    profile: Profile,
    home: Path,
) -> tuple[list[StoreItem], list[str]]:
    """The items pointing at signed copies (SHA-256), and why any could not be signed (those
    are left out: a node that wants signatures never gets an unsigned instance)."""
    root = home / AREA
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    area = Path(tempfile.mkdtemp(prefix="job-", dir=root))
    who = signer(keystore.unlock_identity(identity), dt.datetime.now(dt.UTC))
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
                transfer_syntax_uid=EXPLICIT_LITTLE if done.converted else item.transfer_syntax_uid,
            )
        )
    if not signed:
        shutil.rmtree(area)
    return signed, refused


def discard_signed_copies(queue: TransferQueue, job_id: int, home: Path) -> bool:
    """Remove the job's signed copies once all were sent or the job was cancelled (failures
    keep theirs for 'queue retry'); True if removed."""
    job = queue.job(job_id)
    if job.sent < job.total and not job.cancelled:
        return False
    root = (home / AREA).resolve()
    areas = {i.item.path.parent for i in queue.instances(job_id)}
    for area in areas:
        if area.resolve().parent == root:
            shutil.rmtree(area, ignore_errors=True)
    return bool(areas)
