"""A Lockgate router in Python: each message goes to `<prefix><region>` (its `region`
property), or to the `default` topic; a message whose `audit` property is "yes" also goes to
the `audit` topic. Built with componentize-py (see build.sh and README.md)."""

import struct

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.router import Destination, Routes
from wit_world.imports import host


def messages(batch: bytes):
    """Yields (tag, keys, properties) per message of the flat batch (docs/plugins.md)."""
    (count,) = struct.unpack_from("<I", batch, 0)
    at = 4
    for _ in range(count):
        (length,) = struct.unpack_from("<I", batch, at)
        entry = batch[at + 4 : at + 4 + length]
        at += 4 + length
        pos = 48  # queue, offset, store time, born time, id, attempt
        (n,) = struct.unpack_from("<H", entry, pos)
        tag = entry[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        (k,) = struct.unpack_from("<H", entry, pos)
        pos += 2
        keys = []
        for _ in range(k):
            (n,) = struct.unpack_from("<H", entry, pos)
            keys.append(entry[pos + 2 : pos + 2 + n].decode())
            pos += 2 + n
        (p,) = struct.unpack_from("<H", entry, pos)
        pos += 2
        props = {}
        for _ in range(p):
            (n,) = struct.unpack_from("<H", entry, pos)
            name = entry[pos + 2 : pos + 2 + n].decode()
            pos += 2 + n
            (n,) = struct.unpack_from("<I", entry, pos)
            props[name] = entry[pos + 4 : pos + 4 + n].decode(errors="replace")
            pos += 4 + n
        yield tag, keys, props


class Router(exports.Router):
    pass


class Dispatcher(exports.router.Dispatcher):
    def __init__(self, prefix: str, default: str):
        self.prefix = prefix
        self.default = default

    @classmethod
    def create(cls, config):
        options = dict(config)
        unknown = set(options) - {"prefix", "default"}
        if unknown:
            # An error is returned by raising Err with the message.
            raise Err(f"unknown option {sorted(unknown)[0]!r} (known: prefix, default)")
        host.log(host.Level.INFO, "python router ready")
        return cls(options.get("prefix", "orders."), options.get("default", "orders.other"))

    def route(self, topic: str, batch: bytes) -> Routes:
        destinations = []
        index = {}

        def to(name: str) -> int:
            if name not in index:
                index[name] = len(destinations)
                destinations.append(Destination(topic=name, queue=None, sharding_key=None))
            return index[name]

        targets = []
        for _tag, _keys, props in messages(batch):
            region = props.get("region")
            mine = [to(self.prefix + region if region else self.default)]
            if props.get("audit") == "yes":
                mine.append(to("audit"))
            targets.append(mine)
        return Routes(destinations=destinations, targets=targets)
