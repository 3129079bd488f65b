"""C-FIND provider (PS3.4 C.4.1): a pending response per match, C-CANCEL honoured between
them, the store's refusals answered with their status. Pending is 0xFF01 rather than 0xFF00
when the identifier asks for optional keys the store does not support: the keys it leaves
out of its responses (PS3.4 C.2.2.1.3, table C.4-1)."""

import logging
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from desktop.core.access import QUERY
from desktop.core.archive import UNABLE_TO_PROCESS, Archive, InvalidQueryError, Level, Model
from desktop.net import dimse
from desktop.net.catalogue import PATIENT_ROOT_FIND, STUDY_ROOT_FIND
from desktop.net.exchange import Exchange, Service
from desktop.net.services.identifier import parse_query, query_keys

if TYPE_CHECKING:
    from pydicom import Dataset

log = logging.getLogger(__name__)

SUCCESS, CANCELLED, PENDING, PENDING_UNSUPPORTED = 0x0000, 0xFE00, 0xFF00, 0xFF01


def find_service(archive: Archive) -> Service:
    return Service(
        dimse.C_FIND_RQ,
        frozenset({PATIENT_ROOT_FIND, STUDY_ROOT_FIND}),
        QUERY,
        partial(serve_find, archive),
    )


def serve_find(archive: Archive, exchange: Exchange) -> None:
    """Answer one C-FIND request."""
    count, level, keys, unsupported = 0, "", {}, None
    try:
        model, level, identifier = parse_query(exchange.request)
        keys = query_keys(identifier)
        for match in _guarded(archive, model, level, identifier):
            if exchange.poll():
                _finish(exchange, CANCELLED, level, keys, count, unsupported=unsupported)
                return
            if unsupported is None:  # the same keys are missing from every match
                unsupported = unsupported_keys(identifier, match)
            pending = PENDING_UNSUPPORTED if unsupported else PENDING
            exchange.respond(pending, dataset=_encoded(exchange, match))
            count += 1
    except InvalidQueryError as refused:
        _finish(exchange, refused.status, level, keys, count, str(refused))
        return
    _finish(exchange, SUCCESS, level, keys, count, unsupported=unsupported)


def unsupported_keys(identifier: "Dataset", match: "Dataset") -> list[str]:
    """The keys ``identifier`` asks for that ``match`` does not return: optional keys the
    store does not support, by keyword, or by tag when private or unknown."""
    return [
        element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        for element in identifier
        if element.tag.element and element.tag.group > 2 and element.tag not in match
    ]


def _guarded(
    archive: Archive, model: Model, level: Level, identifier: "Dataset"
) -> "Iterator[Dataset]":
    """The store's matches; its own failure (not the peer's) is unable to process."""
    try:
        yield from archive.find(model=model, level=level, identifier=identifier)
    except InvalidQueryError:
        raise
    except Exception as error:
        log.exception("the store failed a query")
        raise InvalidQueryError(f"the store failed: {error}", status=UNABLE_TO_PROCESS) from error


def _encoded(exchange: Exchange, match: "Dataset") -> bytes:
    """A match in the context's syntax; one the store filled with a value its VR cannot
    hold ends the query as unable to process, not the association."""
    try:
        return exchange.encode(match)
    except Exception as error:  # pydicom raises many kinds on a value it cannot write
        log.warning("a C-FIND match cannot be encoded: %s", error)
        raise InvalidQueryError(
            f"a match cannot be encoded: {error}", status=UNABLE_TO_PROCESS
        ) from error


def _finish(
    exchange: Exchange,
    status: int,
    level: str,
    keys: dict[str, str],
    count: int,
    reason: str = "",
    *,
    unsupported: list[str] | None = None,
) -> None:
    exchange.respond(status, comment=reason)
    exchange.report(
        "query-answered",
        service="C-FIND",
        sop_class=exchange.request.sop_class,
        level=level,
        keys=keys,
        matches=count,
        status=status,
        **({"reason": reason} if reason else {}),
        **({"unsupported": unsupported} if unsupported else {}),
    )
