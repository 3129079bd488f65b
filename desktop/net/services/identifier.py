"""The identifier of a C-FIND, C-MOVE or C-GET request: its information model and level,
checked against the SOP class (PS3.4 C.4.1.1.4: 0xA900 when they do not match)."""

from typing import TYPE_CHECKING, cast

from desktop.core.archive import UNABLE_TO_PROCESS, InvalidQueryError, Level, Model
from desktop.net.catalogue import MODELS
from desktop.net.exchange import Request
from desktop.net.link import ProtocolError

if TYPE_CHECKING:
    from pydicom import Dataset

LEVELS: dict[str, tuple[str, ...]] = {
    "PATIENT": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "STUDY": ("STUDY", "SERIES", "IMAGE"),
}
MODEL_NAMES = {"PATIENT": "Patient Root", "STUDY": "Study Root"}
#: Value representations whose values are text: the keys an audit message repeats.
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
)


def parse_query(request: Request) -> tuple[Model, Level, "Dataset"]:
    """The model, level and identifier of ``request``; InvalidQueryError when the identifier
    cannot be read or names a level the model does not have."""
    model = cast(Model, MODELS[request.sop_class])
    if request.identifier is None:
        raise InvalidQueryError("the request carries no identifier")
    try:
        identifier = request.dataset()
    except ProtocolError as error:
        raise InvalidQueryError(
            f"the identifier cannot be read: {error}", status=UNABLE_TO_PROCESS
        ) from error
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in LEVELS[model]:
        raise InvalidQueryError(
            f"Query/Retrieve Level {level or '(empty)'!r} is not one of the "
            f"{MODEL_NAMES[model]} model's: {', '.join(LEVELS[model])}"
        )
    return model, cast(Level, level), identifier


def query_keys(identifier: "Dataset") -> dict[str, str]:
    """The identifier's text keys by keyword (values of several joined by backslash)."""
    return {
        e.keyword: "\\".join(map(str, e.value)) if e.VM > 1 else str(e.value or "")
        for e in identifier
        if e.keyword and e.VR in TEXT_VRS
    }
