"""Remote DICOM nodes: a versioned JSON file under DICOM_COURIER_HOME, validated on every change."""

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from desktop.core.access import AccessError, AccessList
from desktop.core.ae_title import RULE, is_ae_title
from desktop.core.deid.table import parse_options
from desktop.core.errors import CourierError
from desktop.core.files import locked, private_folder, write_atomic

log = logging.getLogger(__name__)

CONFIG_VERSION = 1
PROFILES = ("bcp195-nd", "bcp195-rfc8996", "bcp195-rfc8996-mod", "bcp195")
SIGNATURE_PROFILES = ("", "base", "creator", "authorization")  # "": do not sign
DEFAULT_CALLING_AE = "COURIER"
#: A host name's labels (RFC 1123; '_' tolerated, as some hospital networks use it).
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
#: How sends compress for the wire: "auto" picks a lossless codec the peer accepts; the lossy
#: ones are used only when a user picks one for a node or a send.
LOSSY_COMPRESSIONS = ("jpeg-ls-near-lossless", "j2k-lossy")
COMPRESSIONS = ("none", "auto", "jpeg-ls-lossless", "j2k-lossless", "rle", *LOSSY_COMPRESSIONS)
#: Burned-in text in the pixels of copies de-identified before sending: "off" does not search
#: and holds back every image whose header says it may carry text; "auto" masks what is found.
SEND_PIXELS = ("off", "auto")
#: Why ``review`` is no choice for a send: the queue's sends run with nobody to look.
PIXELS_REVIEW_ON_SEND = (
    "burned-in text cannot be reviewed on a send: the queue sends with nobody there to look "
    "at the images; choose off (images that may show text are held back) or auto (the text "
    "found is masked), or review the boxes with `dicom-courier deid --pixels review` (the "
    "GUI's De-identify…) and send the reviewed copies"
)


def lossy_conflict(what: str) -> str:
    """Why a lossy compression cannot go with ``what`` (storage commitment or signing)."""
    why = (
        "the queue keeps the originals' instance UIDs, and the peer gets lossy copies with new ones"
        if what == "storage commitment"
        else "the signed copies would no longer match their signatures"
    )
    return f"lossy compression cannot be combined with {what}: {why}; choose a lossless one"


class ConfigError(CourierError):
    """A node setting is invalid, or the configuration file cannot be used; ``field`` names
    the Node field at fault, when one is."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class UnknownNodeError(ConfigError):
    """No node of that name: never added, or renamed or removed (perhaps by another
    process since the caller listed the nodes)."""


def is_host(text: str) -> bool:
    """An IPv4 or IPv6 address, or a host name a resolver could look up."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        name = text.removesuffix(".")
        return len(name) <= 253 and all(HOST_LABEL.fullmatch(label) for label in name.split("."))
    return True


@dataclass(frozen=True, slots=True)
class Node:
    """A remote DICOM application entity and how we reach it."""

    name: str
    ae_title: str
    host: str
    port: int
    tls: bool = False
    profile: str = "bcp195-nd"
    identity: str = ""
    calling_ae_title: str = DEFAULT_CALLING_AE
    server_name: str = ""
    check_hostname: bool = True
    connect_timeout: float = 10.0
    network_timeout: float = 60.0
    max_associations: int = 1
    sign_profile: str = ""  # sign copies before sending, with this PS3.15 Annex C profile
    sign_identity: str = ""  # ... and this keystore identity
    commit: bool = False  # ask for storage commitment after sending
    commit_wait: float = 60.0  # seconds to wait for the commitment report
    deid: bool = False  # send de-identified copies (PS3.15 Annex E), never the originals
    deid_options: tuple[str, ...] = ()  # ... with these profile options (retain-uids, ...)
    deid_recipient: str = ""  # ... keeping the originals encrypted for this certificate file
    deid_pixels: str = "off"  # ... burned-in text: held back unsearched (off) or masked (auto)
    compress: str = "none"  # compress uncompressed instances for the wire (COMPRESSIONS)

    def validated(self) -> "Node":
        """The node itself, or ConfigError naming the first invalid setting."""
        if not self.name.strip() or len(self.name) > 64:
            raise ConfigError("a node name is 1 to 64 characters", field="name")
        for label, title, field_name in (
            ("AE title", self.ae_title, "ae_title"),
            ("calling AE title", self.calling_ae_title, "calling_ae_title"),
        ):
            if not is_ae_title(title):
                raise ConfigError(f"the {label} {title!r} must be {RULE}", field=field_name)
        if not self.host.strip():
            raise ConfigError("a node needs a host name or address", field="host")
        if not is_host(self.host):
            raise ConfigError(
                f"{self.host!r} is neither an IP address nor a host name (letters, digits, "
                "'-' and '.', up to 253 characters)",
                field="host",
            )
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"the port {self.port} is not between 1 and 65535", field="port")
        if self.profile not in PROFILES:
            raise ConfigError(
                f"unknown TLS profile {self.profile!r}; choose one of {', '.join(PROFILES)}"
            )
        if self.identity and not self.tls:
            raise ConfigError("an identity is presented over TLS only: add --tls", field="identity")
        if not 0 < self.connect_timeout <= 600 or not 0 < self.network_timeout <= 3600:
            raise ConfigError("timeouts are positive: up to 600 s to connect, 3600 s on the wire")
        if not 0 <= self.commit_wait <= 86400:
            raise ConfigError(
                "the wait for a commitment report is 0 to 86400 s (a day)", field="commit_wait"
            )
        if not 1 <= self.max_associations <= 16:
            raise ConfigError("parallel associations are 1 to 16")
        if self.sign_profile not in SIGNATURE_PROFILES:
            raise ConfigError(
                f"unknown signature profile {self.sign_profile!r}; choose base, creator or "
                "authorization (or '' not to sign)"
            )
        if self.compress not in COMPRESSIONS:
            raise ConfigError(
                f"unknown compression {self.compress!r}; choose one of {', '.join(COMPRESSIONS)}",
                field="compress",
            )
        if self.compress in LOSSY_COMPRESSIONS and (self.commit or self.sign_profile):
            raise ConfigError(
                lossy_conflict("storage commitment" if self.commit else "signing"),
                field="compress",
            )
        if self.sign_profile and not self.sign_identity:
            raise ConfigError("signing before sending needs the identity that signs")
        if self.deid_pixels == "review":
            raise ConfigError(PIXELS_REVIEW_ON_SEND, field="deid_pixels")
        if self.deid_pixels not in SEND_PIXELS:
            raise ConfigError(
                f"unknown burned-in text handling {self.deid_pixels!r}; choose off or auto",
                field="deid_pixels",
            )
        if (
            self.deid_options or self.deid_recipient or self.deid_pixels != "off"
        ) and not self.deid:
            raise ConfigError(
                "de-identification options, recipient and burned-in text handling apply only "
                "to a node that de-identifies: add --deid",
                field="deid",
            )
        try:
            parse_options(self.deid_options)
        except CourierError as error:
            raise ConfigError(str(error), field="deid") from None
        return self


@dataclass(slots=True)
class Config:
    """Everything in config.json: the nodes, and who may use our listener for what
    (``desktop.core.access`` entries: AE[=SHA256][/store,query,retrieve]; none: anyone), and
    whether unsigned sealed files are refused."""

    nodes: dict[str, Node] = field(default_factory=dict)
    listener_access: list[str] = field(default_factory=list)
    #: Refuse sealed files no trusted signature authenticates (only a digest protects them:
    #: anyone holding the recipient's certificate can make one); off, they open with a warning.
    require_signed_sealed: bool = False


def config_path(home: Path) -> Path:
    return home / "config.json"


def load_config(home: Path) -> Config:
    """The configuration, empty when there is none yet."""
    path = config_path(home)
    if not path.exists():
        return Config()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"the configuration {path} cannot be read: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"the configuration {path} is not a JSON object: {_shown(data)}")
    version = data.get("version")
    if version != CONFIG_VERSION:
        raise ConfigError(
            f"the configuration {path} has version {version!r}; this DICOM Courier "
            f"reads version {CONFIG_VERSION}"
        )
    try:
        nodes = [_node(raw, number) for number, raw in enumerate(_list(data, "nodes"), 1)]
        access = [str(entry) for entry in _list(data, "listener_access")]
        require_signed = data.get("require_signed_sealed", False)
        if not isinstance(require_signed, bool):
            raise ConfigError(
                f"require_signed_sealed must be true or false, not {_shown(require_signed)}"
            )
    except ConfigError as error:
        raise ConfigError(f"the configuration {path}: {error}", field=error.field) from None
    try:
        AccessList.parse(access)
    except AccessError as error:
        raise ConfigError(f"the configuration {path}: listener access {error}") from error
    return Config({node.name: node for node in nodes}, access, require_signed)


REQUIRED = ("name", "ae_title", "host", "port")
KINDS: dict[Any, tuple[tuple[type, ...], str]] = {  # a Node field's type: JSON types, in words
    str: ((str,), "text"),
    int: ((int,), "a whole number"),
    float: ((int, float), "a number"),
    bool: ((bool,), "true or false"),
    tuple[str, ...]: ((list,), "a list of text"),
}


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list, not {_shown(value)}")
    return value


def _node(raw: Any, number: int) -> Node:
    """A node from its JSON object, every field's type checked: one message naming the
    node (or its position) and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"node #{number} is not an object: {_shown(raw)}")
    name = raw.get("name")
    label = repr(name) if isinstance(name, str) and name else f"#{number}"
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise ConfigError(f"node {label} has no {', '.join(missing)}", field=missing[0])
    values = {}
    for setting in fields(Node):
        if setting.name not in raw:
            continue
        value = raw[setting.name]
        types, words = KINDS[setting.type]
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if not wrong and isinstance(value, list):
            wrong = not all(isinstance(v, str) for v in value)
        if wrong:
            raise ConfigError(
                f"node {label}: {setting.name} must be {words}, not {_shown(value)}",
                field=setting.name,
            )
        values[setting.name] = _value(value)
    try:
        return Node(**values).validated()
    except ConfigError as error:
        raise ConfigError(f"node {label}: {error}", field=error.field) from None


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _value(raw: Any) -> Any:
    """A setting as a Node holds it: JSON lists as tuples (a Node is immutable)."""
    return tuple(raw) if isinstance(raw, list) else raw


@contextmanager
def changing_config(home: Path) -> Iterator[Config]:
    """The configuration to change in the block, saved when the block ends, while other
    processes wait to make their own change (none is lost)."""
    with locked(private_folder(home) / "config.lock"):
        config = load_config(home)
        before = dict(config.nodes)
        yield config
        _check_names(config, before)
        save_config(home, config)


def _check_names(config: Config, before: dict[str, Node]) -> None:
    """Refuse a node added or renamed to a name differing only in case from another's (one
    would be mistaken for the other); warn of one given another's AE title, which C-MOVE
    destinations and commitment reports are matched by (the first node with it wins)."""
    for node in config.nodes.values():
        old = before.get(node.name)
        others = [n for n in config.nodes.values() if n.name != node.name]
        twin = next((n for n in others if n.name.casefold() == node.name.casefold()), None)
        if old is None and twin is not None:
            raise ConfigError(
                f"a node named {twin.name!r} exists already: {node.name!r} differs only in "
                "case and would be mistaken for it; choose another name",
                field="name",
            )
        namesake = next((n for n in others if n.ae_title == node.ae_title), None)
        if namesake is not None and (old is None or old.ae_title != node.ae_title):
            log.warning(
                "node %r has the AE title %s of node %r: a C-MOVE to %s (and a storage "
                "commitment report from it) goes to the first node with that title, so "
                "only one of them can be a move destination",
                node.name,
                node.ae_title,
                namesake.name,
                node.ae_title,
            )


def save_config(home: Path, config: Config) -> None:
    private_folder(home)
    data: dict[str, Any] = {
        "version": CONFIG_VERSION,
        "nodes": [asdict(n) for n in config.nodes.values()],
        "listener_access": config.listener_access,
        "require_signed_sealed": config.require_signed_sealed,
    }
    write_atomic(config_path(home), json.dumps(data, indent=2).encode("utf-8"))


def find_node(config: Config, name: str) -> Node:
    node = config.nodes.get(name)
    if node is None:
        known = ", ".join(config.nodes) or "none yet (node add)"
        twin = next((n for n in config.nodes if n.casefold() == name.casefold()), None)
        hint = f" (names are case-sensitive: {twin!r}?)" if twin else ""
        raise UnknownNodeError(f"no node named {name!r}{hint}; known nodes: {known}")
    return node


def add_node(home: Path, node: Node) -> Node:
    with changing_config(home) as config:
        if node.name in config.nodes:
            raise ConfigError(  # said by the CLI and the GUI's dialog alike
                f"a node named {node.name!r} exists already: choose another name, or edit that "
                "node instead",
                field="name",
            )
        config.nodes[node.name] = node.validated()
    return node


def edit_node(home: Path, name: str, /, **changes: Any) -> tuple[Node, Node]:
    """Change the node ``name``; ``changes`` may hold a new ``name`` (a rename). The node
    before and after, from one reading of the configuration."""
    with changing_config(home) as config:
        before = find_node(config, name)
        node = replace(before, **changes).validated()
        if node.name != name and node.name in config.nodes:
            raise ConfigError(
                f"a node named {node.name!r} exists already: choose another name", field="name"
            )
        del config.nodes[name]
        config.nodes[node.name] = node
    return before, node


def remove_node(home: Path, name: str) -> Node:
    with changing_config(home) as config:
        node = find_node(config, name)
        del config.nodes[name]
    return node


def set_listener_access(home: Path, entries: list[str]) -> list[str]:
    """Replace who may use our listener for what (entries checked first, none saved if one
    is wrong)."""
    return edit_listener_access(home, lambda _: entries)


def edit_listener_access(home: Path, edit: Callable[[list[str]], list[str]]) -> list[str]:
    """Replace the access list with ``edit`` of it, while other processes wait (entries
    checked first, none saved if one is wrong)."""
    with changing_config(home) as config:
        entries = list(dict.fromkeys(edit(config.listener_access)))
        try:
            AccessList.parse(entries)
        except AccessError as error:
            raise ConfigError(str(error)) from error
        config.listener_access = entries
        return entries


def set_require_signed_sealed(home: Path, required: bool) -> None:
    """Whether unsealing refuses sealed files no trusted signature authenticates."""
    with changing_config(home) as config:
        config.require_signed_sealed = required
