#!/usr/bin/env python3
"""A TCP proxy that can cut a node off from Redis: bench/chaos.sh puts it between node 1 and Redis.

    bench/chaos/proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT [--cut-secs 5]

It forwards bytes both ways. On SIGUSR1 it cuts every open connection and, for --cut-secs seconds, closes every
new one as soon as it is accepted (a partition the node sees at once, as a reset; iptables would need root and
would leave the sockets hanging, which tests the node's timeouts rather than its reconnection); then it forwards
again. A SIGUSR1 during a cut starts the cut over. Standard library only (asyncio), so the bench needs nothing
installed. Prints one line per cut and per heal on stderr.
"""
import argparse
import asyncio
import signal
import sys
import time


class Proxy:
    def __init__(self, target_host, target_port, cut_secs):
        self.target = (target_host, target_port)
        self.cut_secs = cut_secs
        self.cut_until = 0.0  # monotonic time the current cut ends
        self.open = set()  # every writer of a live pair, so a cut can close them all

    def cut(self):
        self.cut_until = time.monotonic() + self.cut_secs
        print(f"proxy: cut {len(self.open)} sockets for {self.cut_secs}s", file=sys.stderr, flush=True)
        for writer in list(self.open):
            writer.transport.abort()  # a reset, not a polite FIN: what a partition looks like once it is noticed
        self.open.clear()

    async def serve(self, reader, writer):
        if time.monotonic() < self.cut_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.open.update((writer, up_writer))
        # Both directions; whichever ends first ends the pair.
        pumps = [asyncio.ensure_future(self.pump(reader, up_writer)), asyncio.ensure_future(self.pump(up_reader, writer))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            self.open.discard(w)
            w.transport.abort()

    @staticmethod
    async def pump(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("listen_port", type=int)
    p.add_argument("target", help="host:port")
    p.add_argument("--cut-secs", type=float, default=5.0)
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    proxy = Proxy(host, int(port), a.cut_secs)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, proxy.cut)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", a.listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
