//! JavaScript bindings for crm-core (wasm-bindgen): the `Crm` class of the `crm-core`
//! npm package. Values cross as JSON (IDs and amounts are strings, so nothing becomes
//! a BigInt or a float); errors are real `Error` objects with `name` and `code`.

mod conversion;
mod errors;

use crm_core::{Command, Crm, DealFilter, DealMove, NewContact, NewDeal, NewPipeline};
use wasm_bindgen::prelude::*;

use crate::conversion::{events_from_js, from_js, now_text, options, replica, report_input, to_js};
use crate::errors::IntoJsResult;

/// The engine's commands, queries, events and answers, generated from its JSON Schemas
/// by `scripts/typegen` (a drift test keeps the file fresh).
#[wasm_bindgen(typescript_custom_section)]
const GENERATED_TYPES: &str = include_str!("types.d.ts");

/// What only this binding adds: its error, its inputs' shorthands, and `query` typed by
/// the query's `type`.
#[wasm_bindgen(typescript_custom_section)]
const BINDING_TYPES: &str = r#"
/** An error thrown by crm-core: `code` is stable (see docs/schema.md). */
export interface CrmError extends Error {
  code: "validation" | "malformed" | "too_large" | "not_found" | "permission_denied"
      | "conflict" | "currency_mismatch" | "overflow" | "storage";
  /** The JSON path of the value at fault (`phones[0]`), when the error names one. */
  field?: string;
}
/** A Date or an RFC 3339 string with an offset. */
export type Now = Date | string;
/** How the engine is built (docs/quickstart-javascript.md). */
export interface CrmOptions {
  default_region?: string; max_cascade_depth?: number; max_reaction_events?: number;
  snapshot_every?: number;
}
/** The input of `createContact`: a `create_contact` command without its `type`. */
export type NewContact = Omit<CreateContact, "type">;
/** The input of `createPipeline`. */
export type NewPipeline = Omit<CreatePipeline, "type">;
/** The input of `createDeal`. */
export type NewDeal = Omit<CreateDeal, "type">;
/** The filter of `listDeals`. */
export type DealFilter = Omit<ListDealsQuery, "type">;
/** The input of `report` and `chart` (docs/reports.md). */
export type ReportRequest = Omit<ReportQuery, "type">;
export interface Crm {
  /** Answers any query (`{ type: "list_deals", ... }`); the answer's type follows the query's. */
  query<Q extends Query>(actor: Actor, now: Now, query: Q): QueryAnswers[Q["type"]];
}
"#;

/// One CRM engine with an in-memory journal; persist `events()` to keep its history.
#[wasm_bindgen(js_name = Crm)]
pub struct JsCrm {
    crm: Crm,
}

#[wasm_bindgen(js_class = Crm)]
impl JsCrm {
    /// `new Crm(replicaId, options?)`: `replicaId` is an integer in 0..2^53-1 chosen by the host.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = replicaId)] replica_id: f64,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "CrmOptions")]
        options_value: JsValue,
    ) -> Result<JsCrm, JsValue> {
        let crm = Crm::new(replica(replica_id)?, options(&options_value)?).into_js()?;
        Ok(JsCrm { crm })
    }

    /// Rebuilds an engine from events exported with `events()`.
    #[wasm_bindgen]
    pub fn replay(
        #[wasm_bindgen(js_name = replicaId)] replica_id: f64,
        #[wasm_bindgen(unchecked_param_type = "EventEnvelope[]")] events: JsValue,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "CrmOptions")]
        options_value: JsValue,
    ) -> Result<JsCrm, JsValue> {
        let events = events_from_js(&events)?;
        let crm = Crm::replay(replica(replica_id)?, options(&options_value)?, events).into_js()?;
        Ok(JsCrm { crm })
    }

    /// Executes any command; returns `{ created?, events }`.
    #[wasm_bindgen(unchecked_return_type = "Outcome")]
    pub fn execute(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Command")] command: JsValue,
    ) -> Result<JsValue, JsValue> {
        let command = conversion::stringify("command", &command)?;
        let output = self
            .crm
            .execute_json(actor, &now_text(&now)?, &command)
            .into_js()?;
        conversion::parse(&output)
    }

    /// Runs several commands as one: all stored or none (an error names `commands[i]`).
    /// `{"$ref": i}` where an ID goes stands for what command `i` created. With an
    /// idempotency key the same batch sent again within a day is answered
    /// (`replayed`), never run twice.
    #[wasm_bindgen(js_name = executeBatch, unchecked_return_type = "BatchOutcome")]
    pub fn execute_batch(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "CommandBatch")] batch: JsValue,
        #[wasm_bindgen(js_name = idempotencyKey)] idempotency_key: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let batch = conversion::stringify("batch", &batch)?;
        let output = self
            .crm
            .execute_batch_json(actor, &now_text(&now)?, &batch, idempotency_key.as_deref())
            .into_js()?;
        conversion::parse(&output)
    }

    /// The JSON text entry point: command and result as strings.
    #[wasm_bindgen(js_name = executeJson)]
    pub fn execute_json(
        &mut self,
        actor: &str,
        now: &str,
        command: &js_sys::JsString,
    ) -> Result<String, JsValue> {
        let command = conversion::json_text("command", command)?;
        self.crm.execute_json(actor, now, &command).into_js()
    }

    /// Answers any query; declared in `BINDING_TYPES`, where its answer is typed by
    /// the query's `type`.
    #[wasm_bindgen(skip_typescript)]
    pub fn query(
        &self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Query")] query: JsValue,
    ) -> Result<JsValue, JsValue> {
        let query = conversion::stringify("query", &query)?;
        let output = self
            .crm
            .query_json(actor, &now_text(&now)?, &query)
            .into_js()?;
        conversion::parse(&output)
    }

    /// A report over the deals in the actor's scope (docs/reports.md).
    #[wasm_bindgen(unchecked_return_type = "Report")]
    pub fn report(
        &self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ReportRequest")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (actor, now, request) = report_input(actor, &now, &request)?;
        to_js(&self.crm.report(actor, now, &request).into_js()?)
    }

    /// The report as chart series and an SVG picture: `{ chart, svg }`.
    #[wasm_bindgen(unchecked_return_type = "Drawing")]
    pub fn chart(
        &self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ReportRequest")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (actor, now, request) = report_input(actor, &now, &request)?;
        to_js(&self.crm.chart(actor, now, &request).into_js()?)
    }

    /// The JSON text entry point for queries.
    #[wasm_bindgen(js_name = queryJson)]
    pub fn query_json(
        &self,
        actor: &str,
        now: &str,
        query: &js_sys::JsString,
    ) -> Result<String, JsValue> {
        let query = conversion::json_text("query", query)?;
        self.crm.query_json(actor, now, &query).into_js()
    }

    /// What replaying or a command had to work around, most recent last.
    pub fn warnings(&self) -> Vec<String> {
        self.crm.warnings().to_vec()
    }

    /// Events with `seq >= since` (default 1), for the host to persist (e.g. IndexedDB).
    #[wasm_bindgen(unchecked_return_type = "EventEnvelope[]")]
    pub fn events(&self, since: Option<f64>) -> Result<JsValue, JsValue> {
        let since = since.map_or(Ok(1), |since| conversion::whole_number("since", since))?;
        to_js(&self.crm.events_since(since).into_js()?)
    }

    /// Fires every timer due by `now` (overdue tasks, SLAs, idle records) and the rules
    /// they set off.
    #[wasm_bindgen(unchecked_return_type = "Outcome")]
    pub fn tick(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let now = crm_core::parse_now(&now_text(&now)?).into_js()?;
        to_js(&self.crm.tick(now).into_js()?)
    }

    /// When the engine next needs a `tick` (an ISO string), or `undefined`.
    #[wasm_bindgen(js_name = nextWakeup)]
    pub fn next_wakeup(&self) -> Option<String> {
        self.crm.next_wakeup().map(|at| at.to_rfc3339())
    }

    /// Effects not yet acknowledged: deliver them, then `ack` their IDs.
    #[wasm_bindgen(js_name = drainOutbox, unchecked_return_type = "Effect[]")]
    pub fn drain_outbox(&self) -> Result<JsValue, JsValue> {
        to_js(&self.crm.drain_outbox())
    }

    /// Marks effects delivered; acknowledging one twice is harmless.
    #[wasm_bindgen(unchecked_return_type = "Outcome")]
    pub fn ack(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
    ) -> Result<JsValue, JsValue> {
        let now = crm_core::parse_now(&now_text(&now)?).into_js()?;
        let ids: Vec<crm_core::EffectId> = from_js("ids", &ids)?;
        to_js(&self.crm.ack(now, &ids).into_js()?)
    }

    /// Marks effects delivered as `actor` (an admin, or `"system"`), like every other
    /// call; `ack(now, ids)` is the same as `"system"`.
    #[wasm_bindgen(js_name = ackAs, unchecked_return_type = "Outcome")]
    pub fn ack_as(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
    ) -> Result<JsValue, JsValue> {
        let actor: crm_core::Actor = actor.parse().into_js()?;
        let now = crm_core::parse_now(&now_text(&now)?).into_js()?;
        let ids: Vec<crm_core::EffectId> = from_js("ids", &ids)?;
        to_js(&self.crm.ack_as(actor, now, &ids).into_js()?)
    }

    /// Runs a replica's pushed commands (`Replica.pushBatch()`, JSON text) as `user`,
    /// the user the host authenticated the connection as; the answer as JSON text
    /// (docs/sync.md).
    pub fn push(
        &mut self,
        user: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        batch: &str,
    ) -> Result<String, JsValue> {
        self.crm.push_json(user, &now_text(&now)?, batch).into_js()
    }

    /// The canonical events after `cursor` for `user`'s replica, as JSON text.
    pub fn pull(&self, user: &str, cursor: f64, limit: Option<f64>) -> Result<String, JsValue> {
        let cursor = conversion::whole_number("cursor", cursor)?;
        let limit = limit
            .map(|limit| conversion::whole_number("limit", limit))
            .transpose()?
            .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX));
        self.crm.pull_json(user, cursor, limit).into_js()
    }

    /// Appends events recorded elsewhere that continue this journal (e.g. another tab's,
    /// read back from IndexedDB since `lastSeq`); all or nothing.
    #[wasm_bindgen(js_name = importEvents)]
    pub fn import_events(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "EventEnvelope[]")] events: JsValue,
    ) -> Result<(), JsValue> {
        let events = events_from_js(&events)?;
        self.crm.import_events(&events).into_js()
    }

    #[wasm_bindgen(getter, js_name = lastSeq)]
    pub fn last_seq(&self) -> f64 {
        self.crm.last_seq() as f64
    }

    /// Creates a contact; returns its ID.
    #[wasm_bindgen(js_name = createContact)]
    pub fn create_contact(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewContact")] input: JsValue,
    ) -> Result<String, JsValue> {
        let input: NewContact = from_js("contact", &input)?;
        self.create(actor, &now, Command::CreateContact(input))
    }

    /// Creates a pipeline (admins); returns its ID.
    #[wasm_bindgen(js_name = createPipeline)]
    pub fn create_pipeline(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewPipeline")] input: JsValue,
    ) -> Result<String, JsValue> {
        let input: NewPipeline = from_js("pipeline", &input)?;
        self.create(actor, &now, Command::CreatePipeline(input))
    }

    /// Creates a deal; returns its ID.
    #[wasm_bindgen(js_name = createDeal)]
    pub fn create_deal(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewDeal")] input: JsValue,
    ) -> Result<String, JsValue> {
        let input: NewDeal = from_js("deal", &input)?;
        self.create(actor, &now, Command::CreateDeal(input))
    }

    /// Moves a deal to a stage; a lost stage needs `lostReason`.
    #[wasm_bindgen(js_name = moveDeal)]
    pub fn move_deal(
        &mut self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        deal: &str,
        stage: &str,
        #[wasm_bindgen(js_name = lostReason)] lost_reason: Option<String>,
    ) -> Result<(), JsValue> {
        let command = DealMove {
            id: deal.parse().into_js()?,
            stage: stage.parse().into_js()?,
            lost_reason,
        };
        self.crm
            .execute(
                actor.parse().into_js()?,
                conversion::now(&now)?,
                &Command::MoveDeal(command),
            )
            .into_js()?;
        Ok(())
    }

    /// The deals the actor may see that match the filter.
    #[wasm_bindgen(js_name = listDeals, unchecked_return_type = "Deal[]")]
    pub fn list_deals(
        &self,
        actor: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "DealFilter")] filter: JsValue,
    ) -> Result<JsValue, JsValue> {
        let filter: DealFilter = if filter.is_undefined() || filter.is_null() {
            DealFilter::default()
        } else {
            from_js("filter", &filter)?
        };
        let page = self
            .crm
            .deals(actor.parse().into_js()?, &filter)
            .into_js()?;
        to_js(&page.items)
    }
}

impl JsCrm {
    fn create(&mut self, actor: &str, now: &JsValue, command: Command) -> Result<String, JsValue> {
        let outcome = self
            .crm
            .execute(actor.parse().into_js()?, conversion::now(now)?, &command)
            .into_js()?;
        Ok(outcome.require_created().into_js()?.to_string())
    }
}

/// A replica of an authority's CRM (docs/sync.md): commands run here at once and wait
/// in `pending()` until the authority has decided them; batches are JSON text.
#[wasm_bindgen(js_name = Replica)]
pub struct JsReplica {
    replica: crm_core::Replica,
}

#[wasm_bindgen(js_class = Replica)]
impl JsReplica {
    /// `new Replica(replicaId, options?)`; rules and timers run at the authority only.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = replicaId)] replica_id: f64,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "CrmOptions")]
        options_value: JsValue,
    ) -> Result<JsReplica, JsValue> {
        let replica =
            crm_core::Replica::new(replica(replica_id)?, options(&options_value)?).into_js()?;
        Ok(JsReplica { replica })
    }

    /// A replica as stored: `events()` and `log()` (store both before every push).
    pub fn restore(
        events: &str,
        log: &str,
        #[wasm_bindgen(js_name = options, unchecked_optional_param_type = "CrmOptions")]
        options_value: JsValue,
    ) -> Result<JsReplica, JsValue> {
        let replica =
            crm_core::Replica::restore_json(options(&options_value)?, events, log).into_js()?;
        Ok(JsReplica { replica })
    }

    /// Runs a command here at once and queues it; a refusal throws and queues nothing.
    #[wasm_bindgen(unchecked_return_type = "Outcome")]
    pub fn execute(
        &mut self,
        author: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Command")] command: JsValue,
    ) -> Result<JsValue, JsValue> {
        let command = conversion::stringify("command", &command)?;
        let output = self
            .replica
            .execute_json(author, &now_text(&now)?, &command)
            .into_js()?;
        conversion::parse(&output)
    }

    /// A query on the view: the canonical state with the pending commands.
    pub fn query(
        &self,
        actor: &str,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Query")] query: JsValue,
    ) -> Result<JsValue, JsValue> {
        let query = conversion::stringify("query", &query)?;
        let output = self
            .replica
            .query_json(actor, &now_text(&now)?, &query)
            .into_js()?;
        conversion::parse(&output)
    }

    /// The pending commands to send, as JSON text.
    #[wasm_bindgen(js_name = pushBatch)]
    pub fn push_batch(&self, limit: Option<f64>) -> Result<String, JsValue> {
        let limit = limit
            .map(|limit| conversion::whole_number("limit", limit))
            .transpose()?
            .unwrap_or(100);
        self.replica
            .push_batch_json(usize::try_from(limit).unwrap_or(usize::MAX))
            .into_js()
    }

    /// The authority's answer to a push: refused commands move to `rejected()`.
    #[wasm_bindgen(js_name = receivePushResult)]
    pub fn receive_push_result(&mut self, result: &str) -> Result<(), JsValue> {
        self.replica.receive_push_result_json(result).into_js()
    }

    /// Canonical events from the authority; decided commands leave the queue.
    #[wasm_bindgen(js_name = receivePull)]
    pub fn receive_pull(&mut self, batch: &str) -> Result<(), JsValue> {
        self.replica.receive_pull_json(batch).into_js()
    }

    /// Commands waiting for the authority.
    #[wasm_bindgen(unchecked_return_type = "Pending[]")]
    pub fn pending(&self) -> Result<JsValue, JsValue> {
        conversion::parse(&self.replica.pending_json().into_js()?)
    }

    /// Commands the authority refused, with `code`, `field` and `message`.
    #[wasm_bindgen(unchecked_return_type = "RejectedCommand[]")]
    pub fn rejected(&self) -> Result<JsValue, JsValue> {
        conversion::parse(&self.replica.rejected_json().into_js()?)
    }

    /// Sends a refused command again, as a new pending command typed now.
    #[wasm_bindgen(unchecked_return_type = "Outcome")]
    pub fn retry(
        &mut self,
        seq: f64,
        #[wasm_bindgen(unchecked_param_type = "Now")] now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let seq = conversion::whole_number("seq", seq)?;
        conversion::parse(&self.replica.retry_json(seq, &now_text(&now)?).into_js()?)
    }

    /// Gives up a refused command; its text is returned one last time.
    #[wasm_bindgen(unchecked_return_type = "RejectedCommand")]
    pub fn discard(&mut self, seq: f64) -> Result<JsValue, JsValue> {
        let seq = conversion::whole_number("seq", seq)?;
        conversion::parse(&self.replica.discard_json(seq).into_js()?)
    }

    /// The canonical events, as JSON text (to store).
    pub fn events(&self) -> Result<String, JsValue> {
        self.replica.events_json(1).into_js()
    }

    /// Pending and rejected commands, sequences and clock, as JSON text (to store).
    pub fn log(&self) -> Result<String, JsValue> {
        self.replica.log_json().into_js()
    }

    /// The position to pull from.
    #[wasm_bindgen(getter)]
    pub fn cursor(&self) -> f64 {
        self.replica.cursor() as f64
    }

    /// How many times this replica forgot a person erased at the authority: when it
    /// changes, store `events()` and `log()` whole again over the old copy.
    #[wasm_bindgen(getter)]
    pub fn scrubs(&self) -> f64 {
        self.replica.scrubs() as f64
    }
}
