"""crm-core for Python: the embeddable CRM engine.

    from datetime import datetime, timezone
    from decimal import Decimal
    import crm_core

    crm = crm_core.Crm(replica_id=1, default_region="DE")
    now = datetime.now(timezone.utc)
    admin = crm.create_user("system", now, "Olga", role="admin")

Every method takes the acting user (an ID, or ``"system"`` for the host) and ``now``
(an aware datetime): the engine never reads a clock. Errors are ``CrmError``
subclasses with a stable ``.code``.
"""

from __future__ import annotations

import base64

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import _native, types
from ._convert import Money, from_json, now_text, to_json
from ._queries import TypedQueries
from ._report import report_frame, report_query
from ._sync import Replica
from ._native import (
    ConflictError,
    CrmError,
    CurrencyMismatchError,
    MalformedError,
    MoneyOverflowError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    TooLargeError,
    ValidationError,
)

__all__ = [
    "Crm",
    "Replica",
    "Money",
    "types",
    "CrmError",
    "ValidationError",
    "MalformedError",
    "TooLargeError",
    "NotFoundError",
    "PermissionDeniedError",
    "ConflictError",
    "CurrencyMismatchError",
    "MoneyOverflowError",
    "StorageError",
    "recover",
    "restore",
]

Stage = Union[str, Mapping[str, Any]]


def recover(damaged: str, into: str) -> dict[str, Any]:
    """Copies every intact event of a damaged journal file into a new file (docs/storage.md).

    Returns ``{"kept": n, "not_kept": m, "problems": [...]}``; the damaged file is only read.
    """
    report: dict[str, Any] = from_json(_native.recover(str(damaged), str(into)))
    return report


def restore(backup: str, into: str) -> int:
    """Restores a backup made with :meth:`Crm.backup` into a new file (docs/storage.md).

    Returns the number of events restored; open the file with :meth:`Crm.open`. A file
    that already holds events is refused (``ConflictError``), never overwritten.
    """
    return _native.restore(str(backup), str(into))


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class Crm(TypedQueries):
    """One CRM engine: in memory, or on a SQLite file with :meth:`open`.

    Commands and queries are typed by :mod:`crm_core.types` (generated from the
    engine's schemas): ``crm.execute(actor, now, types.CreateTask(type="create_task",
    ...))`` is checked by mypy, and ``crm.query`` answers the type its query asks for.

    Thread-safe: threads may share one engine; its calls run one at a time, and the
    GIL is released while the engine works, so other Python threads keep running
    during an open, an import, an export or a report."""

    def __init__(
        self,
        replica_id: int,
        *,
        default_region: Optional[str] = None,
        max_cascade_depth: Optional[int] = None,
        max_reaction_events: Optional[int] = None,
    ) -> None:
        options = {
            "default_region": default_region,
            "max_cascade_depth": max_cascade_depth,
            "max_reaction_events": max_reaction_events,
        }
        self._engine = _native.Engine(replica_id, to_json(_drop_none(options), "options"))

    @classmethod
    def replay(
        cls, replica_id: int, events: Sequence[Mapping[str, Any]], *, default_region: Optional[str] = None
    ) -> "Crm":
        """Rebuilds an engine from events exported with :meth:`events`."""
        crm = cls.__new__(cls)
        options = to_json(_drop_none({"default_region": default_region}), "options")
        crm._engine = _native.Engine.replay(replica_id, to_json(list(events), "events"), options)
        return crm

    @classmethod
    def open(
        cls,
        path: str,
        replica_id: int,
        *,
        default_region: Optional[str] = None,
        max_cascade_depth: Optional[int] = None,
        max_reaction_events: Optional[int] = None,
        snapshot_every: Optional[int] = None,
        read_only: bool = False,
        create: bool = False,
    ) -> "Crm":
        """Opens the durable journal at ``path`` (SQLite, docs/storage.md). A missing
        file is a ``StorageError`` — a misspelt path never starts an empty CRM — unless
        ``create=True``. ``read_only=True`` opens an existing file for reading only — a
        reporting replica beside the writer; its commands fail with ``StorageError``.
        What opening had to work around (a file not closed cleanly whose write-ahead
        log is gone, say) is in :attr:`warnings`.

        Use it as a context manager so the file is released::

            with Crm.open("shop.sqlite", replica_id=1, create=True) as crm:
                ...
        """
        crm = cls.__new__(cls)
        options = {
            "default_region": default_region,
            "max_cascade_depth": max_cascade_depth,
            "max_reaction_events": max_reaction_events,
            "snapshot_every": snapshot_every,
        }
        crm._engine = _native.Engine.open(
            str(path), replica_id, to_json(_drop_none(options), "options"), read_only, create
        )
        return crm

    def close(self) -> None:
        """Releases the journal (and its file); later calls raise :class:`StorageError`."""
        self._engine.close()

    def backup(self, path: str) -> None:
        """A consistent online copy of the journal file at ``path`` (file journals only)."""
        self._engine.backup(str(path))

    def snapshot(self) -> None:
        """Writes a snapshot so the next :meth:`open` replays less (file journals keep it)."""
        self._engine.snapshot()

    def export_jsonl(self, path: str) -> int:
        """Writes the whole journal as JSON Lines (one event per line, oldest first)
        to ``path``, the migration path to other systems; returns how many events."""
        return self._engine.export_jsonl(str(path))

    def import_jsonl(self, path: str) -> int:
        """Appends the events of a JSON Lines file that continue this journal (all of
        them or, on any bad line, none); older schema versions are upcast. Returns how
        many; rules do not run again, their reactions are among the events."""
        return self._engine.import_jsonl(str(path))

    def __enter__(self) -> "Crm":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def replica_id(self) -> int:
        return self._engine.replica_id

    @property
    def last_seq(self) -> int:
        return self._engine.last_seq

    @property
    def warnings(self) -> list[str]:
        """What opening or a command had to work around (an unusable snapshot, one
        that could not be written, a lost write-ahead log), most recent last."""
        return self._engine.warnings

    # The two entry points every capability goes through.

    def execute(self, actor: str, now: datetime, command: types.Command) -> types.Outcome:
        """Executes any command (``{"type": ..., ...}``); returns ``{"created"?, "events"}``."""
        result: types.Outcome = self._execute(actor, now, command)
        return result

    def execute_batch(
        self,
        actor: str,
        now: datetime,
        batch: types.CommandBatch,
        idempotency_key: Optional[str] = None,
    ) -> types.BatchOutcome:
        """Runs ``batch["commands"]`` as one: all stored or none (an error names
        ``commands[i]``). ``{"$ref": i}`` where an ID goes stands for what command ``i``
        created (type it with ``typing.cast``). With ``idempotency_key`` the same batch
        sent again within a day is answered (``replayed``), never run twice."""
        outcome: types.BatchOutcome = self._engine.execute_batch(actor, now, batch, idempotency_key)
        return outcome

    def _execute(self, actor: str, now: datetime, command: Mapping[str, Any]) -> types.Outcome:
        outcome: types.Outcome = self._engine.execute(actor, now, command)
        return outcome

    def _query(self, actor: str, now: datetime, query: Mapping[str, Any]) -> Any:
        return self._engine.query(actor, now, query)

    # The same two entry points on raw JSON text, for hosts that already hold JSON (a
    # queue, an HTTP body): nothing is converted either way, errors are the same.

    def execute_json(self, actor: str, now: str, command: str) -> str:
        """Executes a command given as JSON text at ``now`` (RFC 3339 text); returns the
        outcome as JSON text."""
        return self._engine.execute_json(actor, now, command)

    def execute_batch_json(
        self, actor: str, now: str, batch: str, idempotency_key: Optional[str] = None
    ) -> str:
        """:meth:`execute_batch` on JSON text: the batch and its outcome as text."""
        return self._engine.execute_batch_json(actor, now, batch, idempotency_key)

    def query_json(self, actor: str, now: str, query: str) -> str:
        """Answers a query given as JSON text at ``now`` (RFC 3339 text), as JSON text."""
        return self._engine.query_json(actor, now, query)

    def events(self, since: int = 1) -> list[dict[str, Any]]:
        """The journal from ``since`` on, for export and persistence by the host."""
        events: list[dict[str, Any]] = from_json(self._engine.events_json(since), "events")
        return events

    # Time and the outbox: the host ticks when told to and delivers effects.

    def tick(self, now: datetime) -> dict[str, Any]:
        """Fires every timer due by ``now`` (overdue tasks, SLAs, idle records) and the rules they set off."""
        result: dict[str, Any] = from_json(self._engine.tick(now_text(now)), "outcome")
        return result

    def next_wakeup(self) -> Optional[datetime]:
        """When the engine next needs :meth:`tick` (None when nothing is scheduled)."""
        text = self._engine.next_wakeup()
        return None if text is None else datetime.fromisoformat(text)

    def drain_outbox(self) -> list[dict[str, Any]]:
        """Effects not yet acknowledged; deliver them, then :meth:`ack` their IDs (idempotency keys)."""
        effects: list[dict[str, Any]] = from_json(self._engine.drain_outbox(), "effects")
        return effects

    def ack_as(self, actor: str, now: datetime, ids: Sequence[str]) -> types.Outcome:
        """Marks effects delivered as ``actor`` (an admin, or ``"system"`` for the
        host's delivery worker), like every other call; twice is harmless."""
        return self._execute(actor, now, {"type": "ack_effects", "ids": list(ids)})

    def ack(self, now: datetime, ids: Sequence[str]) -> dict[str, Any]:
        """Marks effects delivered as ``"system"`` (:meth:`ack_as` names the actor);
        acknowledging one twice is harmless."""
        result: dict[str, Any] = from_json(self._engine.ack(now_text(now), to_json(list(ids), "ids")), "outcome")
        return result

    def define_rules(self, actor: str, now: datetime, rules: Sequence[Mapping[str, Any]]) -> types.Outcome:
        """Replaces the automation rules (docs/rules.md)."""
        return self._execute(actor, now, {"type": "define_rules", "rules": list(rules)})

    def explain(self, actor: str, now: datetime, id: str) -> list[dict[str, Any]]:
        """Which rules each event of a record set off, which did not and why."""
        result: list[dict[str, Any]] = self._query(actor, now, {"type": "explain", "id": id})
        return result

    # Reports.

    def report(self, actor: str, now: datetime, report: str, **options: Any) -> dict[str, Any]:
        """A report over the deals in the actor's scope, e.g.
        ``crm.report(actor, now, "revenue", by="month", from_=date(2026, 1, 1))``.

        ``report`` is one of funnel, revenue, win_rate, forecast, cycle, stage_time,
        sources, rotting, sla, clients; options are the query's fields (``from_`` for
        ``from``). Amounts, percentages and durations come back as ``Decimal``, times
        as aware ``datetime`` (docs/reports.md)."""
        result: dict[str, Any] = self._query(actor, now, report_query(report, options))
        return result

    def chart(self, actor: str, now: datetime, report: str, **options: Any) -> dict[str, Any]:
        """The report as chart series (``chart``: kind, title, unit, labels, series) and
        as an SVG document (``svg``), for hosts without a charting library."""
        result: dict[str, Any] = self._query(actor, now, {**report_query(report, options), "type": "chart"})
        return result

    def report_frame(self, actor: str, now: datetime, report: str, **options: Any) -> Any:
        """The report's rows as a pandas DataFrame, or a polars one if only polars is
        installed; nested values become ``a.b`` columns (``won_amount.EUR``)."""
        return report_frame(self.report(actor, now, report, **options))

    # Data quality.

    def find_duplicates(self, actor: str, now: datetime, **options: Any) -> dict[str, Any]:
        """Contacts the actor can read that may be one person: ``{"pairs": [{"a", "b",
        "score", "reasons"}], "total", "too_common"}``, best first. Options are the
        query's fields: ``contact``, ``min_score``, ``max_shared``, ``email``
        (``{"fold_plus": ["gmail.com"]}``), ``offset``, ``limit`` (docs/integrations.md)."""
        result: dict[str, Any] = self._query(actor, now, {"type": "find_duplicates", **options})
        return result

    def merge_contacts(
        self, actor: str, now: datetime, into: str, from_: str, *, keep: Optional[Mapping[str, str]] = None
    ) -> types.Outcome:
        """Merges contact ``from_`` into ``into``; ``keep`` picks a side ("into" or
        "from") per field. Undo with :meth:`unmerge_contacts`."""
        return self._execute(actor, now, {
            "type": "merge_contacts", "into": into, "from": from_, "keep": dict(keep or {}),
        })

    def unmerge_contacts(self, actor: str, now: datetime, id: str) -> types.Outcome:
        """Takes back the merge of contact ``id`` (the one merged away)."""
        return self._execute(actor, now, {"type": "unmerge_contacts", "id": id})

    def merge_companies(
        self, actor: str, now: datetime, into: str, from_: str, *, keep: Optional[Mapping[str, str]] = None
    ) -> types.Outcome:
        """Merges company ``from_`` (its people, deals, tasks and activities) into ``into``;
        ``keep`` picks a side per field. Undo with :meth:`unmerge_companies`."""
        return self._execute(actor, now, {
            "type": "merge_companies", "into": into, "from": from_, "keep": dict(keep or {}),
        })

    def unmerge_companies(self, actor: str, now: datetime, id: str) -> types.Outcome:
        """Takes back the merge of company ``id`` (the one merged away)."""
        return self._execute(actor, now, {"type": "unmerge_companies", "id": id})

    # Intake.

    def configure_intake(self, actor: str, now: datetime, **settings: Any) -> types.Outcome:
        """Sets how forms and calls become leads: ``owner``, ``pipeline``,
        ``on_duplicate``, ``forms``, ``lines``, … (docs/integrations.md)."""
        return self._execute(actor, now, {"type": "configure_intake", **settings})

    def receive_form(
        self,
        now: datetime,
        form: str,
        fields: Mapping[str, str],
        *,
        page: Optional[str] = None,
        utm: Optional[Mapping[str, str]] = None,
        received_at: Optional[datetime] = None,
        actor: str = "system",
    ) -> types.Outcome:
        """A web form submission: the contact matched or created, the lead, the request logged."""
        return self._execute(actor, now, _drop_none({
            "type": "receive_form", "form": form, "fields": dict(fields), "page": page,
            "utm": dict(utm) if utm else None, "received_at": received_at,
        }))

    def receive_call(
        self,
        now: datetime,
        *,
        call: Optional[Mapping[str, Any]] = None,
        asterisk_cdr: Optional[Mapping[str, str]] = None,
        actor: str = "system",
    ) -> types.Outcome:
        """A call record, generic (``call``) or an Asterisk AMI ``Cdr`` event's fields."""
        return self._execute(actor, now, _drop_none({
            "type": "receive_call", "call": dict(call) if call else None,
            "asterisk_cdr": dict(asterisk_cdr) if asterisk_cdr else None,
        }))

    def receive_email(
        self, now: datetime, raw: "str | bytes", *, mailbox: Iterable[str] = (), actor: str = "system"
    ) -> types.Outcome:
        """A raw RFC 5322 message (text, or bytes in any charset — sent as base64),
        logged on its thread, the correspondent's open deal or contact."""
        message: dict[str, Any] = {"type": "receive_email", "mailbox": list(mailbox)}
        if isinstance(raw, bytes):
            message["raw_base64"] = base64.b64encode(raw).decode("ascii")
        else:
            message["raw"] = raw
        return self._execute(actor, now, message)

    # Import and export.

    @staticmethod
    def _import_input(data: "str | bytes", options: Mapping[str, Any]) -> dict[str, Any]:
        source = {"spreadsheet_base64": base64.b64encode(data).decode("ascii")} if isinstance(data, bytes) else {"csv": data}
        return {**source, **options}

    def check_import(self, actor: str, now: datetime, data: "str | bytes", **options: Any) -> dict[str, Any]:
        """The dry run of :meth:`import_contacts`: the mapping (guesses included),
        every problem by row and column, what would be created. ``data`` is CSV text
        or XLSX/ODS bytes; options: ``mapping``, ``sheet``, ``on_duplicate``, ``owner``."""
        result: dict[str, Any] = self._query(actor, now, {"type": "check_import", **self._import_input(data, options)})
        return result

    def import_contacts(self, actor: str, now: datetime, data: "str | bytes", **options: Any) -> types.Outcome:
        """Imports every row, or none when any has a problem (``ValidationError``);
        ``run_rules=True`` lets the automation rules react to the new records."""
        return self._execute(actor, now, {"type": "import_contacts", **self._import_input(data, options)})

    def check_record_import(self, actor: str, now: datetime, kind: str, data: "str | bytes", **options: Any) -> dict[str, Any]:
        """The dry run of :meth:`import_records`: ``kind`` is ``companies``, ``deals``,
        ``tasks`` or ``activities``; options: ``preset`` (``amocrm``, ``bitrix24``),
        ``mapping``, ``sheet``, ``currency``, ``owner`` (docs/migration.md)."""
        query = {"type": "check_record_import", "kind": kind, **self._import_input(data, options)}
        result: dict[str, Any] = self._query(actor, now, query)
        return result

    def import_records(self, actor: str, now: datetime, kind: str, data: "str | bytes", **options: Any) -> types.Outcome:
        """Imports every row at its own time, or none when any has a problem
        (``ValidationError``); rows with past times need an admin."""
        return self._execute(actor, now, {"type": "import_records", "kind": kind, **self._import_input(data, options)})

    # Sync (docs/sync.md): this engine as the authority of its replicas.

    def push(self, user: str, now: datetime, batch: str) -> str:
        """Runs a replica's pushed commands (``Replica.push_batch``) as ``user``, the
        user the host authenticated the connection as; the answer as JSON text."""
        result: str = self._engine.push_json(user, now_text(now), batch)
        return result

    def pull(self, user: str, cursor: int, limit: Optional[int] = None) -> str:
        """The canonical events after ``cursor`` for ``user``'s replica, as JSON text."""
        result: str = self._engine.pull_json(user, cursor, limit)
        return result

    def export(self, actor: str, now: datetime, entity: str) -> str:
        """``contacts``, ``companies``, ``deals``, ``tasks`` or ``activities`` the actor
        may read, as CSV text (times in the business time zone)."""
        csv: str = self._query(actor, now, {"type": "export", "entity": entity})["csv"]
        return csv

    def export_xlsx(self, actor: str, now: datetime, entity: str) -> bytes:
        """The same as :meth:`export`, as an XLSX workbook's bytes: one sheet named after
        ``entity``, amounts and durations as number cells."""
        query = {"type": "export", "entity": entity, "format": "xlsx"}
        encoded: str = self._query(actor, now, query)["xlsx_base64"]
        return base64.b64decode(encoded)

    # Typed helpers for the everyday commands.

    def create(self, actor: str, now: datetime, command: types.Command) -> str:
        """Executes a command that creates a record (``create_*``, ``log_activity``,
        ``record_payment``, ...) and returns the new record's ID."""
        return self._create(actor, now, command)

    def _create(self, actor: str, now: datetime, command: Mapping[str, Any]) -> str:
        created = self._engine.execute_created(actor, now, command)
        if created is None:
            raise ValidationError(f"command: {command.get('type')!r} creates no record; use execute")
        return created

    def create_user(
        self,
        actor: str,
        now: datetime,
        name: str,
        *,
        role: str,
        email: Optional[str] = None,
        department: Optional[str] = None,
        specialty: Optional[str] = None,
    ) -> str:
        """Creates a user (role: admin, head_of_department, manager, specialist); returns its ID."""
        return self._create(actor, now, _drop_none({
            "type": "create_user", "name": name, "role": role, "email": email,
            "department": department, "specialty": specialty,
        }))

    def create_contact(
        self,
        actor: str,
        now: datetime,
        name: str,
        *,
        phones: Iterable[str] = (),
        emails: Iterable[str] = (),
        company: Optional[str] = None,
        owner: Optional[str] = None,
        source: Optional[str] = None,
        address: Optional[str] = None,
        tags: Iterable[str] = (),
        custom: Optional[Mapping[str, Any]] = None,
    ) -> str:
        """Creates a contact; phones become E.164, e-mails lower-case. Returns its ID."""
        return self._create(actor, now, _drop_none({
            "type": "create_contact", "name": name, "phones": list(phones), "emails": list(emails),
            "company": company, "owner": owner, "source": source, "address": address,
            "tags": list(tags), "custom": dict(custom) if custom else None,
        }))

    def create_pipeline(
        self, actor: str, now: datetime, name: str, stages: Sequence[Stage], *, lost_reasons: Iterable[str] = ()
    ) -> str:
        """Creates a pipeline. A stage is a name or ``{"name", "kind", "probability", "sla_hours"}``."""
        stage_list = [{"name": stage} if isinstance(stage, str) else dict(stage) for stage in stages]
        return self._create(actor, now, {
            "type": "create_pipeline", "name": name, "stages": stage_list, "lost_reasons": list(lost_reasons),
        })

    def create_deal(
        self,
        actor: str,
        now: datetime,
        title: str,
        *,
        pipeline: Optional[str] = None,
        stage: Optional[str] = None,
        contact: Optional[str] = None,
        company: Optional[str] = None,
        owner: Optional[str] = None,
        amount: Optional[Money] = None,
        expected_close: Optional[date] = None,
        tags: Iterable[str] = (),
    ) -> str:
        """Creates a deal in the pipeline's first stage (or ``stage``). Returns its ID."""
        return self._create(actor, now, _drop_none({
            "type": "create_deal", "title": title, "pipeline": pipeline, "stage": stage, "contact": contact,
            "company": company, "owner": owner, "amount": amount, "expected_close": expected_close,
            "tags": list(tags),
        }))

    def move_deal(
        self, actor: str, now: datetime, deal: str, stage: str, *, lost_reason: Optional[str] = None
    ) -> None:
        """Moves a deal to a stage of its pipeline; a lost stage needs ``lost_reason``."""
        self._engine.execute_created(
            actor, now, _drop_none({"type": "move_deal", "id": deal, "stage": stage, "lost_reason": lost_reason})
        )

    def get(self, actor: str, now: datetime, id: str) -> dict[str, Any]:
        """Any entity by ID, as a dict tagged with ``record`` (``"contact"``, ``"deal"``, ...)."""
        record: dict[str, Any] = self._query(actor, now, {"type": "get", "id": id})
        return record

    def list_deals(
        self,
        actor: str,
        now: datetime,
        *,
        pipeline: Optional[str] = None,
        stage: Optional[str] = None,
        owner: Optional[str] = None,
        status: Optional[str] = None,
        contact: Optional[str] = None,
        limit: Optional[int] = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The deals the actor may see that match every given filter."""
        page = self._query(actor, now, _drop_none({
            "type": "list_deals", "pipeline": pipeline, "stage": stage, "owner": owner, "status": status,
            "contact": contact, "limit": limit, "offset": offset,
        }))
        deals: list[dict[str, Any]] = page["items"]
        return deals


