"""Replicas on one authority (docs/sync.md): a :class:`Replica` runs commands at once
and keeps them until the authority (a :class:`crm_core.Crm`, through ``push`` and
``pull``) has decided them. Batches are JSON text, as a transport carries them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Optional

from . import _native, types
from ._convert import from_json, now_text, to_json


class Replica:
    """A replica with its own ``replica_id``; rules and timers run at the authority only."""

    def __init__(self, replica_id: int, *, default_region: Optional[str] = None) -> None:
        options = {"default_region": default_region} if default_region else {}
        self._replica = _native.ReplicaEngine(replica_id, to_json(options, "options"))

    @classmethod
    def open(cls, path: str, replica_id: int, *, default_region: Optional[str] = None) -> "Replica":
        """The replica stored in the SQLite file at ``path``, or a new one there: every
        change is stored before the call returns, so a process killed at any moment
        loses no command it acknowledged and never sends one twice."""
        replica = cls.__new__(cls)
        options = {"default_region": default_region} if default_region else {}
        replica._replica = _native.ReplicaEngine.open(str(path), replica_id, to_json(options, "options"))
        return replica

    @classmethod
    def restore(cls, events: str, log: str, *, default_region: Optional[str] = None) -> "Replica":
        """A replica as stored: :meth:`events` and :meth:`log` (store both, and store
        them before every push)."""
        replica = cls.__new__(cls)
        options = {"default_region": default_region} if default_region else {}
        replica._replica = _native.ReplicaEngine.restore(events, log, to_json(options, "options"))
        return replica

    def execute(self, author: str, now: datetime, command: Mapping[str, Any]) -> types.Outcome:
        """Runs a command here at once and queues it for the authority; a command the
        replica refuses raises at once and is not queued."""
        text = self._replica.execute_json(author, now_text(now), to_json(command, "command"))
        result: types.Outcome = from_json(text, "outcome")
        return result

    def query(self, actor: str, now: datetime, query: Mapping[str, Any]) -> Any:
        """A query on the replica's view: the canonical state with the pending commands."""
        text = self._replica.query_json(actor, now_text(now), to_json(query, "query"))
        return from_json(text, f"query.{query.get('type')}")

    def push_batch(self, limit: int = 100) -> str:
        """The pending commands to send, as JSON text."""
        batch: str = self._replica.push_batch_json(limit)
        return batch

    def receive_push_result(self, result: str) -> None:
        """The authority's answer to a push: refused commands move to :meth:`rejected`."""
        self._replica.receive_push_result_json(result)

    def receive_pull(self, batch: str) -> None:
        """Canonical events from the authority; decided commands leave the queue."""
        self._replica.receive_pull_json(batch)

    def pending(self) -> list[dict[str, Any]]:
        """Commands waiting for the authority: ``{author, command: {seq, hlc, ...}}``."""
        result: list[dict[str, Any]] = json.loads(self._replica.pending_json())
        return result

    def rejected(self) -> list[dict[str, Any]]:
        """Commands the authority refused, with ``code``, ``field`` and ``message``."""
        result: list[dict[str, Any]] = json.loads(self._replica.rejected_json())
        return result

    def retry(self, seq: int, now: datetime) -> types.Outcome:
        """Sends a refused command again, as a new pending command typed now."""
        result: types.Outcome = from_json(self._replica.retry_json(seq, now_text(now)), "outcome")
        return result

    def discard(self, seq: int) -> dict[str, Any]:
        """Gives up a refused command; its text is returned one last time."""
        result: dict[str, Any] = json.loads(self._replica.discard_json(seq))
        return result

    def events(self, from_seq: int = 1) -> str:
        """The canonical events, as JSON text (to store)."""
        events: str = self._replica.events_json(from_seq)
        return events

    def log(self) -> str:
        """Pending and rejected commands, sequences and clock, as JSON text (to store)."""
        log: str = self._replica.log_json()
        return log

    @property
    def cursor(self) -> int:
        """The position to pull from."""
        cursor: int = self._replica.cursor
        return cursor

    @property
    def scrubs(self) -> int:
        """How many times this replica forgot a person erased at the authority since it
        was opened: a host that stores `events()` and `log()` itself stores them whole
        again, over the old copy, when this changes (`Replica.open` does it)."""
        scrubs: int = self._replica.scrubs
        return scrubs
