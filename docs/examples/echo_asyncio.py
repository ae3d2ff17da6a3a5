#!/usr/bin/env python3
"""A line echo server in Python's asyncio: a coroutine per client, each line
sent back once its LF has arrived, an unfinished last line sent back as it is
when the client half-closes. usage: echo_asyncio.py PORT"""
import asyncio
import resource
import sys


async def serve(reader, writer):
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as eof:
                writer.write(eof.partial)  # the client half-closed: its last bytes, as they are
                break
            writer.write(line)
            await writer.drain()  # backpressure: wait while the client does not read
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, asyncio.LimitOverrunError):
        writer.transport.abort()  # a reset client, or a line over the limit: drop it


async def main(port):
    # on the loopback addresses /etc/hosts gives "localhost"; a line may be up to 1 MiB long; a
    # backlog for thousands of clients connecting at once (the default is 100)
    server = await asyncio.start_server(serve, "localhost", port, limit=1 << 20, backlog=4096)
    print("listening on port %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # one descriptor per client: as many as the hard limit allows
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(int(sys.argv[1])))
