"""The warm service's process: it listens on the home's Unix socket, and each command handed
to it runs in a child of its own (``child``): the spare child forked ahead while the service
was idle (``Spare``), else one forked at once. It stays single-threaded, so forking is safe;
children are reaped as SIGCHLD wakes it, and their status goes back to their client.

Only the user it runs as is served (SO_PEERCRED). Before each command it checks that the code
it has loaded is still the code on disk, and answers ``stale`` (and stops) when it is not.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import __version__
from desktop.core.forking import unsafe_threads
from desktop.warm import wire

if TYPE_CHECKING:
    from collections.abc import Callable

    from desktop.security.keystore import Unlocked

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parent.parent
MAX_FRAME = 4 * 2**20  # an environment and argv together; more is refused
REQUEST_TIMEOUT = 5.0  # a client whose request is not whole by then is dropped
WAITING = 32  # requests read at once; beyond, the oldest is dropped
TICK = 1.0  # how often the home, the unlock's expiry and the idle time are looked at
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
LOCK_NAME = "service.lock"
READY = b"r"  # a spare child's word: warmed up, waiting for its command


@dataclass(frozen=True, slots=True)
class Handoff:
    """A command for the child to run: the client's request, its descriptors, its socket."""

    arguments: list[str]
    cwd: str
    umask: int
    environment: dict[str, str]
    fds: list[int]
    connection: socket.socket


@dataclass(slots=True)
class Lease:
    """How long the service keeps what it holds unlocked (monotonic deadline, wall time)."""

    holds: Unlocked | None
    until: float = 0.0
    wall_until: float = 0.0

    def expired(self, now: float) -> bool:
        return self.holds is not None and now >= self.until


@dataclass(slots=True)
class Spare:
    """A child forked ahead of the next command, which it waits for on ``channel``: the fork,
    and what the service's ``warm_up`` does there, are off that command's path. It says
    ``ready`` on the channel once warmed up; only then is a command handed to it."""

    pid: int
    channel: socket.socket
    warm: bool = False

    def ready(self) -> bool:
        """Whether it has said it is ready (read without waiting)."""
        if not self.warm:
            try:
                self.warm = self.channel.recv(len(READY), socket.MSG_DONTWAIT) == READY
            except OSError:  # not yet (BlockingIOError), or it has gone
                return False
        return self.warm


class Request:
    """A request frame read as it arrives, without waiting for the rest (the service reads
    many at once): its bytes so far and the descriptors that came with them (``fds`` at most).

    Only the frame's own bytes are read: what the client sends after it (a forwarded signal)
    stays on the connection for the child."""

    def __init__(self, connection: socket.socket, *, fds: int = 3) -> None:
        self.connection = connection
        self.most = fds
        self.fds: list[int] = []
        self._data = bytearray()
        self._size = -1  # the payload's length, once its 4 bytes have come

    def read(self) -> list[bytes] | None:
        """Read what has arrived (on a blocking connection: what comes next); the frame's
        fields once it is whole (None: not yet).
        ValueError for a frame too long or too many descriptors, ConnectionError when the
        client closed the connection before the end."""
        wanted = 4 - len(self._data) if self._size < 0 else self._size - len(self._data)
        if wanted > 0:
            try:
                chunk, fds, _, _ = socket.recv_fds(self.connection, min(wanted, 2**16), self.most)
            except BlockingIOError:
                return None
            self.fds += fds
            if len(self.fds) > self.most:
                raise ValueError(f"{len(self.fds)} file descriptors with a request")
            if not chunk:
                raise ConnectionError("the client closed the connection before its request's end")
            self._data += chunk
        if self._size < 0 and len(self._data) == 4:
            self._size = int.from_bytes(self._data, "big")
            if self._size > MAX_FRAME:
                raise ValueError(f"a request of {self._size} bytes")
            self._data.clear()
        if self._size < 0 or len(self._data) < self._size:
            return None
        return bytes(self._data).split(b"\0")

    def close(self) -> None:
        """Drop the request: its descriptors and its connection."""
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        self.connection.close()


@dataclass(slots=True)
class Service:
    """One warm service for ``home`` (see the module's docstring)."""

    home: Path
    lease: Lease
    idle: float = 0.0  # seconds without a command after which it stops (0: never)
    #: Told when the unlocked secrets are forgotten: what was locked, and why.
    on_lock: Callable[[str], None] | None = None
    #: The keystore's secrets derived from a password (``service unlock``); CourierError
    #: (a wrong password) refuses.
    on_unlock: Callable[[str], Unlocked] | None = None
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)
    served: int = 0
    cpu: float = 0.0  # seconds of CPU the commands served have used
    children: dict[int, socket.socket] = field(default_factory=dict)
    #: The requests being read (by the connection's descriptor) and when each is dropped.
    waiting: dict[int, tuple[Request, float]] = field(default_factory=dict)
    _listener: socket.socket | None = None
    _lock: int = -1  # the home's service.lock, held (flock) while this service lives
    _identity: tuple[int, int] = (0, 0)
    _wakeup: tuple[int, int] = (-1, -1)
    _stopping: bool = False
    _signalled: int = 0  # a stopping signal came (handled by the loop)
    _last: float = field(default_factory=time.monotonic)
    _code: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Work done here for every command, which the children inherit done: before each fork
    #: (quick when nothing changed) and, off any command's path, once each child has ended.
    ahead: Callable[[], None] = lambda: None
    #: Done by each spare child as it waits for its command (see ``Spare``): what a command's
    #: first moments in a fresh child would do, without its effects.
    warm_up: Callable[[], None] = lambda: None
    spare: Spare | None = None

    @property
    def path(self) -> Path:
        return self.home / wire.SOCKET_NAME

    def listen(self) -> None:
        """Bind the socket (0600, in the 0700 home) and take it in place atomically: a client
        never finds a socket file that is not yet listening."""
        from desktop.core.files import private_folder

        private_folder(self.home)
        self._lock = hold(self.home / LOCK_NAME)
        self._tell("serving")
        self._code = loaded_code()
        temporary = self.home / f".{wire.SOCKET_NAME}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address, folder = wire.connectable(str(temporary))
        try:
            old = os.umask(0o177)
            try:
                listener.bind(address)
            finally:
                os.umask(old)
            temporary.chmod(0o600)
            listener.listen(16)
            temporary.replace(self.path)
        except OSError:
            listener.close()
            temporary.unlink(missing_ok=True)
            raise
        finally:
            if folder >= 0:
                os.close(folder)
        stat = self.path.stat()
        self._listener, self._identity = listener, (stat.st_ino, stat.st_dev)

    def serve(self) -> Handoff | None:
        """Serve until stopped; None then. In a forked child, the command it is to run."""
        assert self._listener is not None
        reader, writer = os.pipe()
        os.set_blocking(writer, False)
        os.set_blocking(reader, False)
        self._wakeup = (reader, writer)
        signal.set_wakeup_fd(writer)
        signal.signal(signal.SIGCHLD, _wake)
        for number in SIGNALS:
            signal.signal(number, self._stop_on_signal)
        self._ahead()
        try:
            while not self._stopping or self.children:
                handoff = self._refill() or self._turn()
                if handoff is not None:
                    return handoff
        finally:
            if os.getpid() == self.pid:  # never in a child: the socket is the service's
                self._close()
        return None

    def _turn(self) -> Handoff | None:
        """Wait for a client, a request's bytes, a child's end or the next tick; act on what
        came. Requests are read as their bytes arrive: a slow or silent client holds up
        no other."""
        if self._signalled and not self._stopping:
            log.info("signal %d: stopping", self._signalled)
            self.stop()
        now = time.monotonic()
        if self.lease.expired(now):
            self.lock("its time ran out")
        timeout = TICK
        if self.lease.holds is not None:
            timeout = min(timeout, self.lease.until - now)
        if self.waiting:
            timeout = min(timeout, min(until for _, until in self.waiting.values()) - now)
        poller = select.poll()
        poller.register(self._wakeup[0], select.POLLIN)
        if self._listener is not None:
            poller.register(self._listener, select.POLLIN)
        for fd in self.waiting:
            poller.register(fd, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(max(0.0, timeout) * 1000)}
        if self._wakeup[0] in ready:
            _drain(self._wakeup[0])
        self._reap()
        if self._listener is not None and self._listener.fileno() in ready:
            self._accept()
        for fd in ready.intersection(self.waiting):
            handoff = self._read(fd)
            if handoff is not None:
                return handoff
        self._drop_late()
        self._look_around()
        self._continue_orphans()
        return None

    def _continue_orphans(self) -> None:
        """Continue each child whose client has gone (hung up) while it may be stopped
        (Ctrl-Z at the client, which then was killed): it then sees its client gone, and
        ends."""
        poller = select.poll()
        for connection in self.children.values():
            poller.register(connection, 0)  # hang-ups only: the child reads the lines
        hung_up = {fd for fd, events in poller.poll(0) if events & select.POLLHUP}
        for pid, connection in self.children.items():
            if connection.fileno() in hung_up:
                with suppress(OSError):
                    os.kill(pid, signal.SIGCONT)

    def _look_around(self) -> None:
        """Stop when the socket is no longer ours (the home removed, another service) or when
        idle for too long."""
        if self._stopping:
            return
        try:
            stat = self.path.stat()
            ours = (stat.st_ino, stat.st_dev) == self._identity
        except OSError:
            ours = False
        if not ours:
            log.info("the socket %s is gone or replaced: stopping", self.path)
            self._identity = (0, 0)
            self.stop()
        elif self.idle and not self.children and time.monotonic() - self._last > self.idle:
            log.info("idle for %.0f s: stopping", self.idle)
            self.stop()

    def _accept(self) -> None:
        """Take a connection: refuse another user at once, else wait for its request."""
        assert self._listener is not None
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        self._last = time.monotonic()
        uid, pid = wire.peer(connection)
        if not serves(uid):
            log.warning(
                "refused a request from uid %d (pid %d): this service is uid %d's",
                uid,
                pid,
                os.getuid(),
            )
            with suppress(OSError):
                connection.send(b"refused\n")
            connection.close()
            return
        connection.setblocking(False)
        if len(self.waiting) >= WAITING:
            oldest = next(iter(self.waiting))
            log.warning("%d requests unfinished: dropped the oldest", len(self.waiting))
            self.waiting.pop(oldest)[0].close()
        self.waiting[connection.fileno()] = (
            Request(connection),
            time.monotonic() + REQUEST_TIMEOUT,
        )

    def _drop_late(self) -> None:
        now = time.monotonic()
        for fd, (request, until) in list(self.waiting.items()):
            if now >= until:
                log.warning("a request not whole after %.0f s: dropped", REQUEST_TIMEOUT)
                del self.waiting[fd]
                request.close()

    def _read(self, fd: int) -> Handoff | None:
        """Read more of a request; answer it once whole (in a child: the command to run)."""
        request, _ = self.waiting[fd]
        try:
            fields = request.read()
            if fields is None:
                return None
            del self.waiting[fd]
            request.connection.settimeout(REQUEST_TIMEOUT)
            return self._answer(fields, request)
        except (OSError, ValueError, ConnectionError) as error:
            log.warning("a request could not be read: %s", error)
            self.waiting.pop(fd, None)
            request.close()
            return None

    def _answer(self, fields: list[bytes], request: Request) -> Handoff | None:
        """Answer one request; in the child forked for a command, that command."""
        connection = request.connection
        if fields[:1] != [wire.PROTOCOL] or len(fields) < 2:
            raise ValueError("not a request of this protocol")
        kind = fields[1]
        if kind != wire.RUN:
            self._control(kind, connection, fields[2:])
            request.close()
            return None
        handoff = self._handoff(fields, request.fds, connection)
        if handoff is None:
            request.close()
            return None
        request.fds = []  # the child's now, closed here by ``_start``
        return self._start(handoff, fields)

    def _handoff(
        self, fields: list[bytes], fds: list[int], connection: socket.socket
    ) -> Handoff | None:
        """The command requested, or None when it is to run at the client (said to it)."""
        if len(fields) < 7:
            raise ValueError("a run request without its version, package, directory or umask")
        version, package = fields[2:4]
        if os.fsdecode(package) != str(PACKAGE):
            connection.sendall(b"elsewhere\n")
            return None
        if version.decode() != __version__ or changed(self._code):
            log.info("the code on disk changed since this service started: stopping")
            connection.sendall(b"stale\n")
            self.stop()
            return None
        if len(fds) != 3:
            raise ValueError(f"{len(fds)} file descriptors instead of 3")
        connection.settimeout(None)
        return handoff_from(fields, fds, connection)

    def _start(self, handoff: Handoff, fields: list[bytes]) -> Handoff | None:
        """Start the command: in the spare child when one is ready, else in a child forked
        now (in which the command is returned)."""
        pid = self._hand_to_spare(handoff, fields)
        if pid is None:
            pid = self._fork()
            if pid == 0:
                return handoff
        for fd in handoff.fds:
            os.close(fd)
        self.served += 1
        with suppress(OSError):  # the client has gone: the child sees it too and ends
            handoff.connection.sendall(b"started %d\n" % pid)  # stopped by the client's Ctrl-Z
        self.children[pid] = handoff.connection
        return None

    def _fork(self) -> int:
        """A child of the service (0 in it, left with none of the service's own)."""
        if unsafe := unsafe_threads():
            log.warning("forking with %d other threads running", len(unsafe))
        self._ahead()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._leave_to_child()
        return pid

    def _refill(self) -> Handoff | None:
        """Fork the spare child (see ``Spare``) when there is none and no command runs (its
        warming up would take their processor); in it, once handed, its command."""
        if self.spare is not None or self.children or self._stopping or self._listener is None:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = self._fork()
        if pid == 0:
            ours.close()
            return self._wait_for_command(theirs)
        theirs.close()
        self.spare = Spare(pid, ours)
        return None

    def _wait_for_command(self, channel: socket.socket) -> Handoff:
        """In the spare child: warm up, say so, then take the command the service hands over
        (its fields, and the client's descriptors and connection); end when the service
        closes the channel instead."""
        try:
            self.warm_up()
        except (Exception, SystemExit) as error:  # argparse exits; the command does it again
            log.warning(
                "warming up for the next command: %s",
                error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
        request = Request(channel, fds=4)
        try:
            channel.sendall(READY)
            while (fields := request.read()) is None:
                pass
        except (OSError, ValueError, ConnectionError):
            raise SystemExit(0) from None  # not wanted any more: nothing was started here
        finally:
            channel.close()
        *stdio, connection = request.fds
        return handoff_from(fields, stdio, socket.socket(fileno=connection))

    def _hand_to_spare(self, handoff: Handoff, fields: list[bytes]) -> int | None:
        """Hand the command to the spare child if it is ready: its pid (None: no spare)."""
        spare = self.spare
        if spare is None or not spare.ready():
            return None
        self.spare = None
        try:
            wire.send_with_fds(
                spare.channel, wire.frame(fields), [*handoff.fds, handoff.connection.fileno()]
            )
        except OSError as error:
            log.warning("the spare child (pid %d) could not take a command: %s", spare.pid, error)
            _end(spare)
            return None
        spare.channel.close()
        return spare.pid

    def _drop_spare(self) -> None:
        """End the spare child (it holds what the service held when it was forked)."""
        spare, self.spare = self.spare, None
        if spare is not None:
            _end(spare)

    def _leave_to_child(self) -> None:
        """In the child: drop the service's socket, pipe, signals and other clients."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        os.close(self._wakeup[0])
        os.close(self._wakeup[1])
        os.close(self._lock)  # a new service may start while this command runs
        if self._listener is not None:
            self._listener.close()
        for other in self.children.values():
            other.close()
        self.children.clear()
        if self.spare is not None:  # the service's, never this child's to end
            self.spare.channel.close()
            self.spare = None
        self._drop_waiting()

    def _reap(self) -> None:
        """Tell each finished child's client how it ended."""
        while self.children or self.spare is not None:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare.pid:
                code = os.waitstatus_to_exitcode(status)
                log.warning("the spare child ended by itself (status %d)", code)
                self.spare.channel.close()
                self.spare = None
                continue
            connection = self.children.pop(pid, None)
            if connection is None:
                continue
            self.cpu += usage.ru_utime + usage.ru_stime
            code = os.waitstatus_to_exitcode(status)
            with suppress(OSError):
                connection.sendall(b"exit %d\n" % code if code >= 0 else b"killed %d\n" % -code)
            connection.close()
            self._last = time.monotonic()
            if self._stopping:
                self._tell(f"stopping {len(self.children)}")
            self._ahead()

    def _ahead(self) -> None:
        try:
            self.ahead()
        except Exception:  # the commands do it themselves then
            log.exception("preparing for the next command")

    def _tell(self, state: str) -> None:
        """What the home's lock file says of this service (read by ``holder``): its pid and
        whether it serves, or stops once its running commands (how many) have ended."""
        with suppress(OSError):
            os.ftruncate(self._lock, 0)
            os.pwrite(self._lock, f"{self.pid} {state}\n".encode(), 0)

    def _control(self, kind: bytes, connection: socket.socket, fields: list[bytes]) -> None:
        with connection:
            if kind == wire.STATUS:
                connection.sendall(self.status().encode() + b"\n")
            elif kind == wire.LOCK and len(fields) <= 1:
                why = fields[0].decode(errors="replace")[:200] if fields else "'service lock'"
                self.lock(f"asked to by {why}")
                connection.sendall(b"locked\n")
            elif kind == wire.UNLOCK and len(fields) == 2 and fields[0].isdigit():
                connection.sendall(self.unlock(fields[1].decode(), int(fields[0])).encode())
            elif kind == wire.STOP:
                self.stop()
                connection.sendall(b"stopping\n")
            else:
                raise ValueError(f"unknown request {kind!r}")

    def status(self) -> str:
        import json

        return json.dumps(
            {
                "pid": self.pid,
                "socket": str(self.path),
                "started": self.started,
                "unlocked_until": self.lease.wall_until if self.lease.holds else None,
                "served": self.served,
                "running": len(self.children),
                "commands": sorted(self.children),  # their processes' ids
                "spare": self.spare.pid if self.spare else None,
                "spare_ready": self.spare is not None and self.spare.ready(),
                "cpu": self.cpu,
                "version": __version__,
            }
        )

    def unlock(self, password: str, lasting: int) -> str:
        """Hold what ``on_unlock`` derives from ``password`` for ``lasting`` seconds; the
        answer: ``unlocked UNTIL`` (wall time), or ``refused WHY``."""
        from desktop.core.errors import CourierError

        if self.on_unlock is None:
            return "refused this service cannot be unlocked\n"
        try:
            held = self.on_unlock(password)
        except CourierError as error:
            return f"refused {error}\n"
        self._drop_spare()  # forked without what is now held
        self.lease.holds = held
        self.lease.until = time.monotonic() + lasting
        self.lease.wall_until = time.time() + lasting
        log.info("unlocked for %d s", lasting)
        return f"unlocked {self.lease.wall_until}\n"

    def lock(self, why: str) -> None:
        """Forget what is unlocked, and say so to ``on_lock`` (the audit trail)."""
        held = self.lease.holds
        if held is None:
            return
        self._drop_spare()  # it holds them too
        self.lease.holds = None
        log.info("locked (%s): the keystore's secrets are forgotten", why)
        if self.on_lock is not None:
            identities = ", ".join(sorted(held.tls)) or "none"
            self.on_lock(
                f"the warm service (pid {self.pid}) locked the keystore ({why}): the secrets "
                f"it held unlocked are forgotten (identities: {identities})"
            )

    def stop(self) -> None:
        """Take no more commands (the socket goes now); end once running ones have ended."""
        self._stopping = True
        self._drop_spare()
        self.lock("the service stops")
        self._close_listener()
        self._tell(f"stopping {len(self.children)}")

    def _stop_on_signal(self, number: int, _frame: object) -> None:
        """Noted only: the loop, woken by the signal, stops at its next turn (not in the
        middle of whatever the handler interrupted, such as writing the audit trail)."""
        self._signalled = number

    def _close_listener(self) -> None:
        if self._listener is None:
            return
        self._listener.close()
        self._listener = None
        try:
            stat = self.path.stat()
            if (stat.st_ino, stat.st_dev) == self._identity:
                self.path.unlink()
        except OSError:
            pass

    def _drop_waiting(self) -> None:
        for request, _ in self.waiting.values():
            request.close()
        self.waiting.clear()

    def _close(self) -> None:
        self._close_listener()
        self._drop_waiting()
        signal.set_wakeup_fd(-1)
        for fd in self._wakeup:
            if fd >= 0:
                os.close(fd)
        self._wakeup = (-1, -1)


def _end(spare: Spare) -> None:
    """Kill ``spare`` and reap it: what it holds goes with it."""
    spare.channel.close()
    with suppress(OSError):
        os.kill(spare.pid, signal.SIGKILL)
    with suppress(ChildProcessError):
        os.waitpid(spare.pid, 0)


def handoff_from(fields: list[bytes], fds: list[int], connection: socket.socket) -> Handoff:
    """The command a run request's ``fields`` carry, on the client's ``fds`` and ``connection``."""
    cwd, umask, count = fields[4:7]
    arguments = [os.fsdecode(a) for a in fields[7 : 7 + int(count)]]
    environment = dict(os.fsdecode(entry).partition("=")[::2] for entry in fields[7 + int(count) :])
    return Handoff(arguments, os.fsdecode(cwd), int(umask, 8), environment, fds, connection)


def hold(path: Path) -> int:
    """``path`` opened and locked for this service's life (two services started at once:
    the second is refused here, before it takes the socket); its descriptor."""
    import fcntl

    from desktop.core.errors import CourierError

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        held = holder(path)
        if held is not None and held.stopping:
            raise CourierError(
                f"the warm service for {path.parent} (pid {held.pid}) is still stopping: it "
                f"ends once its {held.running} running command(s) have; start again then, or "
                "interrupt them: 'dicom-courier service stop --now'"
            ) from None
        raise CourierError(f"a warm service runs already for {path.parent}") from None
    return fd


@dataclass(frozen=True, slots=True)
class Holder:
    """The service holding a home's lock, as its lock file says."""

    pid: int
    stopping: bool
    running: int  # commands it waits for, when stopping


def holder(path: Path) -> Holder | None:
    """The service holding the lock ``path`` (None when none does)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            words = os.pread(fd, 100, 0).decode(errors="replace").split()
        else:
            return None  # nobody holds it
    finally:
        os.close(fd)
    if len(words) < 2 or not words[0].isdigit():
        return Holder(0, False, 0)  # being written
    running = int(words[2]) if len(words) > 2 and words[2].isdigit() else 0
    return Holder(int(words[0]), words[1] == "stopping", running)


def serves(uid: int) -> bool:
    """Whether a client running as ``uid`` is served: only the service's own user is."""
    return uid == os.getuid()


def loaded_code() -> dict[str, tuple[int, int]]:
    """Each loaded module of this package: its file's size and modification time."""
    code = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(str(PACKAGE)):
            try:
                stat = os.stat(path)  # noqa: PTH116 (str paths: ~170 a request)
            except OSError:
                continue
            code[path] = (stat.st_size, stat.st_mtime_ns)
    return code


def changed(code: dict[str, tuple[int, int]]) -> bool:
    """Whether a file of ``code`` is not as it was loaded."""
    for path, seen in code.items():
        try:
            stat = os.stat(path)  # noqa: PTH116 (str paths: ~170 a request)
        except OSError:
            return True
        if (stat.st_size, stat.st_mtime_ns) != seen:
            return True
    return False


def _wake(_number: int, _frame: object) -> None:
    """SIGCHLD: the wakeup descriptor has woken ``select``; the loop reaps."""


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
