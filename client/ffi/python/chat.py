"""A console app on the tanis client core, in Python: client/ffi/kotlin/Chat.kt's app with the same line protocol, run
by scripts/native-test against a real server (client/ffi/tests/walkthrough.test.js drives both through stdin and
stdout, the same scenario).

The core does no I/O. This host gives it a WebSocket (the `websockets` package, pinned in scripts/native-test), an
HTTP client for the REST calls it asks for (the standard library's, in a worker thread), a clock, and stores; it runs
every call into the core on one thread, the asyncio event loop's (the loop in `run`), so the core never sees two calls
at once; and it prints the core's events.

Usage: chat.py <bindings dir holding tanis_ffi.py and libtanis_ffi.so> <base URL, e.g. http://127.0.0.1:8080>

Commands, one per line on stdin:  register <phone> <password> <alias> | signin <phone> <password> | find <kind> |
  send <text> | report <reason> <seq,seq,...> | offer <sdp> | answer <sdp> | ice <candidate> | connected | hangup |
  leave | quit
Events, one per line on stdout: the event's name and fields, e.g. `message 7 3 selam`.
"""

import asyncio
import functools
import sys
import threading
import time
import urllib.error
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

sys.path.insert(0, sys.argv[1])
import tanis_ffi as tanis  # noqa: E402  (found through the path just set)
from memory_store import MemoryStore  # noqa: E402  (beside this file)

from tanis_ffi import Action, ClientEvent  # noqa: E402


def now():
    """Wall-clock milliseconds since the epoch: the core compares them with the server's times (token expiries)."""
    return time.time_ns() // 1_000_000


def field(value):
    """A field as Chat.kt prints it (Kotlin's string templates): `null`, `true`, `false`, so both apps' lines match."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Socket:
    """One WebSocket and its outbox. `send` is a coroutine (it waits while the write buffer is full), so one writer
    awaits each in turn: the frames go out in the order the core gave them, and a DISCONNECT's close after them."""

    CLOSE = object()

    def __init__(self, ws):
        self.ws = ws
        self.outbox = asyncio.Queue()

    async def write(self):
        try:
            while (frame := await self.outbox.get()) is not Socket.CLOSE:
                await self.ws.send(frame)
            await self.ws.close()
        except ConnectionClosed:
            pass  # the reader sees the same close and reports it


class ChatApp:
    def __init__(self, base_url):
        self.base_url = base_url
        self.client = tanis.TanisClient(MemoryStore(), MemoryStore())
        # Everything that touches the core runs here, in order, on the loop's thread.
        self.tasks = asyncio.Queue()
        self.socket = None
        # Which socket is current: events of one that was replaced are dropped.
        self.generation = 0
        self.running = True
        # The coroutines started (sockets, requests): asyncio keeps only weak references to tasks.
        self.background = set()
        # No proxy from the environment: the server is reached directly, as the JVM's HttpClient does by default.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(self, task):
        """Queues a task for the loop. From the loop's thread only: other threads go through call_soon_threadsafe."""
        self.tasks.put_nowait(task)

    def spawn(self, coroutine):
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def run(self):
        """The loop: a task when one comes, or the core's tick when its wake-up time comes first."""
        self.act(self.client.start(now()))
        while self.running:
            wake = self.client.wake_at()
            wait = max(wake - now(), 0) / 1000 if wake is not None else 1.0
            try:
                task = self.tasks.get_nowait() if wait == 0 else await asyncio.wait_for(self.tasks.get(), wait)
            except (asyncio.QueueEmpty, TimeoutError):
                task = None
            if task is not None:
                task()
            else:
                self.act(self.client.tick(now()))

    def act(self, actions):
        """Does what the core asked for, in order."""
        for action in actions:
            match action:
                case Action.SEND():
                    if self.socket is not None:
                        self.socket.outbox.put_nowait(action.frame)
                case Action.CONNECT():
                    self.open(action.token)
                case Action.DISCONNECT():
                    # After the frames already given to it: the core's last frames before a disconnect still go.
                    if self.socket is not None:
                        self.socket.outbox.put_nowait(Socket.CLOSE)
                case Action.REQUEST():
                    self.spawn(self.request(action.request))
                case Action.NOTIFY():
                    self.show(action.event)

    async def request(self, r):
        headers = {"content-type": "application/json"}
        if r.bearer is not None:
            headers["authorization"] = f"Bearer {r.bearer}"
        body = r.body.encode() if r.body is not None else None
        request = urllib.request.Request(self.base_url + r.path, data=body, headers=headers, method=r.method)

        def perform():
            # urllib raises for a status >= 400: that answer is still the server's, with its body for the core.
            try:
                with self.http.open(request, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()
            except OSError:
                # Status 0: the request never reached the server (the core retries a refresh after a backoff).
                return 0, b""

        # Blocking I/O in a worker thread; the answer comes back to the loop's thread for the core.
        status, data = await asyncio.to_thread(perform)
        self.post(lambda: self.act(self.client.response(r.id, status, data.decode("utf-8", "replace"), now())))

    def open(self, token):
        self.generation += 1
        self.spawn(self.connection(self.generation, token))

    async def connection(self, mine, token):
        ws_url = self.base_url.replace("http", "ws", 1) + "/v1/ws"

        def closed(code):
            def task():
                if mine == self.generation:
                    self.socket = None
                    self.act(self.client.closed(code, now()))
            self.post(task)

        def received(frame):
            if mine == self.generation:
                self.act(self.client.received(frame, now()))

        try:
            # The token rides in a subprotocol beside the version (docs/protocol.md section 2): a browser cannot set
            # headers on a WebSocket, so every client does it this way. proxy=None: websockets would otherwise take
            # one from the environment (http_proxy), and the server is reached directly, as in Chat.kt.
            ws = await connect(ws_url, subprotocols=[Subprotocol("tanis.v2"), Subprotocol(f"tanis.auth.{token}")],
                               proxy=None, open_timeout=10)
        except Exception:
            # Refused, unreachable, timed out, or the handshake rejected (e.g. 401): the core sees a broken socket.
            closed(1006)
            return
        socket = Socket(ws)

        def opened():
            if mine == self.generation:
                self.socket = socket
                self.spawn(socket.write())
                self.act(self.client.opened(now()))
            else:
                # Replaced while it was opening: nobody will use it, so it does not stay open on the server.
                self.spawn(ws.close())
        self.post(opened)

        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as e:
                # The code of the server's close frame; none (the TCP connection dropped, as at a kill -9): 1006.
                closed(e.rcvd.code if e.rcvd is not None else 1006)
                return
            except Exception:
                closed(1006)
                return
            if isinstance(frame, str):  # text frames only, as Chat.kt's listener (the protocol has no binary ones)
                self.post(functools.partial(received, frame))

    def show(self, event):
        match event:
            case ClientEvent.SIGNED_IN():
                line = f"signed_in {field(event.handle)}"
            case ClientEvent.SIGN_IN_FAILED():
                line = f"sign_in_failed {event.code}"
            case ClientEvent.SIGNED_OUT():
                line = f"signed_out {event.code}"
            case ClientEvent.BANNED():
                line = "banned"
            case ClientEvent.HELLO():
                line = f"hello {field(event.handle)}"
            case ClientEvent.MATCHED():
                line = f"matched {event.match_id} {event.peer} {field(event.initiator)}"
            case ClientEvent.MESSAGE():
                line = f"message {event.match_id} {event.seq} {event.text}"
            case ClientEvent.UNREADABLE():
                line = f"unreadable {event.match_id} {event.seq}"
            case ClientEvent.OWN_MESSAGE():
                line = f"own_message {event.match_id} {event.seq} {field(event.text)}"
            case ClientEvent.MATCHED_ELSEWHERE():
                line = f"matched_elsewhere {event.match_id} {event.peer}"
            case ClientEvent.CONTACT_ADDED():
                line = f"contact_added {event.match_id} {event.peer}"
            case ClientEvent.TAKEN_OVER():
                line = f"taken_over {event.match_id} {field(event.session_id)}"
            case ClientEvent.PEER_HUNG_UP():
                line = f"peer_hung_up {event.match_id}"
            case ClientEvent.CALL_SIGNAL():
                # For the app's WebRTC stack (aiortc's setRemoteDescription / addIceCandidate, say).
                line = f"call_signal {event.match_id} {type(event.signal).__name__.rsplit('.', 1)[-1].title()}"
            case ClientEvent.SENT():
                line = f"sent {event.match_id} {event.client_msg_id} {event.seq}"
            case ClientEvent.FAILED():
                line = f"failed {event.match_id} {event.client_msg_id} {event.code}"
            case ClientEvent.ENDED():
                line = f"ended {event.match_id} {event.reason}"
            case ClientEvent.REPORTED():
                line = "reported"
            case ClientEvent.REFUSED():
                line = f"refused {event.code}"
            case ClientEvent.CLOSED():
                line = f"closed {event.code}"
            case _:
                line = f"unknown_event {event}"  # a newer core than this app: shown, not fatal
        print(line, flush=True)

    def command(self, line):
        """One command line of the app's user."""
        words = line.strip().split(" ", 3)
        try:
            match words[0]:
                case "register":
                    self.act(self.client.register(words[1], words[2], words[3], 1990, True, now()))
                case "signin":
                    self.act(self.client.sign_in(words[1], words[2], now()))
                case "find":
                    self.act(self.client.find(words[1], now()))
                case "send":
                    self.act(self.client.send(line.strip().removeprefix("send "), now()).actions)
                case "report":
                    self.act(self.client.report(words[1], [int(s) for s in words[2].split(",")], now()))
                case "leave":
                    self.act(self.client.leave(now()))
                # A video match's call: the app's WebRTC stack makes these; the command line stands in for it, an
                # SDP's line breaks written `\r\n`.
                case "offer":
                    self.act(self.client.signal(tanis.CallSignal.OFFER(sdp=rest(line)), now()))
                case "answer":
                    self.act(self.client.signal(tanis.CallSignal.ANSWER(sdp=rest(line)), now()))
                case "ice":
                    signal = tanis.CallSignal.ICE(candidate=rest(line), sdp_mid="0", sdp_mline_index=0)
                    self.act(self.client.signal(signal, now()))
                case "connected":
                    measured = tanis.CallMeasured(rtt_ms=None, packets_sent=None, packets_lost=None)
                    self.act(self.client.call_connected(measured, now()))
                case "hangup":
                    self.act(self.client.hang_up(now()))
                case "quit":
                    self.running = False
                case _:
                    print(f"unknown {words[0]}")
        except tanis.ClientError as e:
            # The refusal's class and code, as Kotlin prints an exception: `error ClientError.NotInMatch: not_in_match`.
            print(f"error {type(e).__qualname__}: {e}")
        sys.stdout.flush()


def rest(line):
    """What follows the command's name, an SDP's escaped line breaks restored."""
    return line.strip().partition(" ")[2].replace("\\r\\n", "\r\n")


async def main():
    app = ChatApp(sys.argv[2])
    loop = asyncio.get_running_loop()

    def read_stdin():
        # A blocking read in its own thread, as Chat.kt's: each line becomes a task of the loop.
        for line in sys.stdin:
            text = line.rstrip("\r\n")
            loop.call_soon_threadsafe(app.post, functools.partial(app.command, text))
        loop.call_soon_threadsafe(app.post, lambda: app.command("quit"))

    threading.Thread(target=read_stdin, daemon=True).start()
    await app.run()


if __name__ == "__main__":
    # UTF-8 whatever the locale (the test's messages are Turkish), one line at a time.
    sys.stdin.reconfigure(encoding="utf-8")
    sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)
    asyncio.run(main())
