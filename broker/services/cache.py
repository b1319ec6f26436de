"""Per-process caches of what requests read again and again, valid while the data is unchanged.

An entry is stored with the :class:`~broker.store.generations.Stamp` of the request that loaded it
and served only to a request that reads the same stamp: any change, made through any broker
process, bumps a generation counter in its own transaction, so the next request everywhere
misses and reloads. A steady-state request therefore costs one statement (reading the stamp)
whatever it needs to know about its principal, its policies and its organization.

What is cached is values (frozen dataclasses, compiled policies), never rows or sessions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from broker.store import Tx
from broker.store.generations import Stamp, stamp, unchanged

T = TypeVar("T")


class VersionedCache:
    """A bounded LRU of (key -> (stamp, value)), shared by the threads of one process."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Stamp, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._facts: OrderedDict[Hashable, object] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, tx: Tx, account_id: str, key: Hashable, load: Callable[[], T]) -> T:
        """The value under ``key`` for data of ``account_id``, loaded through ``load`` (in ``tx``)
        unless an entry with the current stamp is held. Keys must name everything the value
        depends on besides the stamp."""
        current = stamp(tx, account_id)
        if current is None:  # this transaction changed data itself: read through, keep nothing
            return load()
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] == current:
                self._entries.move_to_end(key)
                self.hits += 1
                return held[1]  # type: ignore[return-value]
        self.misses += 1
        value = load()
        if unchanged(tx):
            with self._lock:
                self._entries[key] = (current, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def fact(self, key: Hashable) -> object | None:
        """What :meth:`remember` kept under ``key``: facts that hold without a stamp, because they
        never change once true (which account an access key id belongs to) or because the
        process itself is their source (the last key use it recorded)."""
        with self._lock:
            return self._facts.get(key)

    def remember(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._facts[key] = value
            self._facts.move_to_end(key)
            while len(self._facts) > self.max_entries:
                self._facts.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._facts.clear()

    def __len__(self) -> int:
        return len(self._entries)
