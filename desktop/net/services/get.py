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
from desktop.core.header import read_header
from desktop.net import dimse
from desktop.net.catalogue import PATIENT_ROOT_GET, STUDY_ROOT_GET
from desktop.net.exchange import Exchange, OutgoingContext, Service
from desktop.net.services.retrieve import Result, located, perform
from desktop.net.status import STORE, status
from desktop.net.store import file_chunks, transcode

log = logging.getLogger(__name__)

UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


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
        header = read_header(path, ())
    except HeaderError as error:
        log.warning("C-GET: %s cannot be read: %s", path, error)
        return "", "failure"
    sop_class, instance = header.media_sop_class_uid, header.media_sop_instance_uid
    context, payload = _context(exchange.outgoing, sop_class, header.transfer_syntax_uid), None
    if context is None:
        log.warning("C-GET: the peer accepted no context to receive %s", sop_class)
        return instance, "failure"
    if context.transfer_syntax != header.transfer_syntax_uid:
        try:
            payload = transcode(path, context.transfer_syntax)
        except Exception as error:
            log.warning("C-GET: %s cannot be converted: %s", path, error)
            return instance, "failure"
    message_id = exchange.next_message_id()
    command = dimse.store_request(message_id, sop_class, instance)
    if payload is None:
        size = header.file_size - header.dataset_offset
        with path.open("rb") as handle:
            handle.seek(header.dataset_offset)
            chunks = file_chunks(handle, exchange.max_pdv)
            exchange.send_stream(context.context_id, command, chunks, size)
    else:
        exchange.send(context.context_id, command, payload)
    answer, _ = exchange.response(message_id)
    return instance, status(STORE, int(answer.get(dimse.STATUS, 0xC000))).category


def _context(
    outgoing: list[OutgoingContext], sop_class: str, syntax: str
) -> OutgoingContext | None:
    """The context for ``sop_class`` in the file's own syntax, else an uncompressed one."""
    candidates = [c for c in outgoing if c.sop_class == sop_class]
    exact = next((c for c in candidates if c.transfer_syntax == syntax), None)
    return exact or next((c for c in candidates if c.transfer_syntax in UNCOMPRESSED), None)
