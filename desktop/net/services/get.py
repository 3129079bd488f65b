"""C-GET provider (PS3.4 C.4.3): the identifier's instances sent back as C-STORE
sub-operations on the same association, on the contexts where the peer took the SCP role;
a file in a syntax the peer did not accept is converted to the uncompressed one it did."""

import logging
from collections.abc import Generator
from functools import partial
from pathlib import Path

from desktop.core.access import RETRIEVE
from desktop.core.archive import Archive
from desktop.core.errors import HeaderError
from desktop.net import dimse
from desktop.net.association import UNCOMPRESSED_SYNTAXES
from desktop.net.catalogue import PATIENT_ROOT_GET, STUDY_ROOT_GET
from desktop.net.exchange import Exchange, OutgoingContext, Service
from desktop.net.services.retrieve import Result, file_meta, located, perform
from desktop.net.status import STORE, status

log = logging.getLogger(__name__)


def get_service(archive: Archive) -> Service:
    return Service(
        dimse.C_GET_RQ,
        frozenset({PATIENT_ROOT_GET, STUDY_ROOT_GET}),
        RETRIEVE,
        partial(serve_get, archive),
    )


def serve_get(archive: Archive, exchange: Exchange) -> None:
    """Answer one C-GET request."""
    files = located(archive, exchange)
    if files is not None:
        perform(exchange, files, partial(_send_each, exchange))


def _send_each(exchange: Exchange, files: list[Path]) -> Generator[Result, None, None]:
    for path in files:
        yield _send(exchange, path)


def _send(exchange: Exchange, path: Path) -> Result:
    """One C-STORE sub-operation: the file as stored, or converted; its result."""
    try:
        meta = file_meta(path)
    except (HeaderError, OSError) as error:
        log.warning("C-GET: %s cannot be read: %s", path, error)
        return "", "failure"
    context = _context(exchange.outgoing, meta.sop_class, meta.transfer_syntax)
    if context is None:
        log.warning("C-GET: the peer accepted no context to receive %s", meta.sop_class)
        return meta.sop_instance, "failure"
    payload = None
    if context.transfer_syntax != meta.transfer_syntax:
        try:
            payload = _converted(path, context.transfer_syntax)
        except Exception as error:
            log.warning("C-GET: %s cannot be converted: %s", path, error)
            return meta.sop_instance, "failure"
    message_id = exchange.next_message_id()
    command = dimse.store_request(message_id, meta.sop_class, meta.sop_instance)
    if payload is None:
        with path.open("rb") as handle:
            handle.seek(meta.dataset_offset)
            exchange.send_file(context.context_id, command, handle, meta.size - meta.dataset_offset)
    else:
        exchange.send(context.context_id, command, payload)
    answer, _ = exchange.response(message_id)
    return meta.sop_instance, status(STORE, int(answer.get(dimse.STATUS, 0xC000))).category


def _converted(path: Path, target: str) -> bytes:
    from pydicom import dcmread

    from desktop.net.encoding import transcode

    return transcode(dcmread(path), target)


def _context(
    outgoing: list[OutgoingContext], sop_class: str, syntax: str
) -> OutgoingContext | None:
    """The context for ``sop_class`` in the file's own syntax, else an uncompressed one."""
    candidates = [c for c in outgoing if c.sop_class == sop_class]
    exact = next((c for c in candidates if c.transfer_syntax == syntax), None)
    return exact or next(
        (c for c in candidates if c.transfer_syntax in UNCOMPRESSED_SYNTAXES), None
    )
