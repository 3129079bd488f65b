"""C-MOVE provider (PS3.4 C.4.2): the identifier's instances sent to the move destination,
which must be a configured node (reached as the composition says: TLS when the node is TLS),
over an association of their own."""

import logging
from collections.abc import Callable, Generator
from functools import partial
from pathlib import Path

from desktop.core.access import RETRIEVE
from desktop.core.archive import Archive
from desktop.core.errors import HeaderError
from desktop.net import dimse
from desktop.net.catalogue import PATIENT_ROOT_MOVE, STUDY_ROOT_MOVE
from desktop.net.dimse import Originator
from desktop.net.exchange import Exchange, Service
from desktop.net.link import Connector
from desktop.net.services.retrieve import Result, Tally, file_meta, finish, located, perform
from desktop.net.store import Peer, StoreItem, StoreOutcome, store

log = logging.getLogger(__name__)

DESTINATION_UNKNOWN = 0xA801
UNABLE_TO_PROCESS = 0xC000
# A move destination's AE title → how to reach it; None when it is no configured node, or
# why it may not receive what the store holds.
Destinations = Callable[[str], tuple[Connector, Peer] | str | None]


def move_service(archive: Archive, destinations: Destinations) -> Service:
    return Service(
        dimse.C_MOVE_RQ,
        frozenset({PATIENT_ROOT_MOVE, STUDY_ROOT_MOVE}),
        RETRIEVE,
        partial(serve_move, archive, destinations),
    )


def serve_move(archive: Archive, destinations: Destinations, exchange: Exchange) -> None:
    """Answer one C-MOVE request."""
    title = str(exchange.request.command.get(dimse.MOVE_DESTINATION, "")).strip()
    route = destinations(title) if title else None
    if route is None:
        reason = f"move destination {title!r} is not a configured node"
        finish(exchange, Tally(0), DESTINATION_UNKNOWN, reason, destination_refused=True)
        return
    if isinstance(route, str):
        finish(exchange, Tally(0), UNABLE_TO_PROCESS, route, destination_refused=True)
        return
    files = located(archive, exchange)
    if files is not None:
        request = exchange.request
        originator = (request.calling, request.message_id)
        perform(exchange, files, partial(_send_all, *route, originator))


def _send_all(
    connect: Connector, peer: Peer, originator: Originator, files: list[Path]
) -> Generator[Result, None, None]:
    items = []
    for path in files:
        try:
            meta = file_meta(path)
        except (HeaderError, OSError) as error:
            log.warning("C-MOVE: %s cannot be read: %s", path, error)
            yield "", "failure"
            continue
        items.append(
            StoreItem(
                path,
                meta.sop_class,
                meta.sop_instance,
                meta.transfer_syntax,
                meta.size,
                dataset_offset=meta.dataset_offset,
            )
        )
    if not items:
        return
    outcomes = store(connect, peer, items, originator=originator)
    try:
        for outcome in outcomes:
            if isinstance(outcome, StoreOutcome):
                category = outcome.status.category if outcome.status else "failure"
                yield outcome.item.sop_instance_uid, category if outcome.ok else "failure"
    finally:
        close = getattr(outcomes, "close", None)  # a generator: its association ends
        if close is not None:
            close()
