//! Diagnostics: why the rules did what they did (`explain`), and a document rendered
//! again from what it was made of (`rerender`).

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, DocumentId};
use crate::context;
use crate::event::{CascadeLimit, Event, EventEnvelope, SkippedRule};
use crate::journal::Journal;
use crate::model::actor::Actor;
use crate::model::query;

use super::{event_type, fold_journal, Crm};

impl<J: Journal> Crm<J> {
    /// Which rules each event of a record set off, which did not fire and why, and
    /// what the fired ones did — oldest first, over the record's newest
    /// [`query::MAX_PAGE`] timeline events. Its cost grows with what those rules did,
    /// not with the journal after them.
    pub fn explain(&self, actor: Actor, id: AnyId) -> Result<Vec<Explanation>, CrmError> {
        let access = self.access(actor)?;
        let events = self.visible_timeline(&access, id, query::MAX_PAGE)?;
        let mut explanations: Vec<Explanation> = Vec::new();
        for envelope in events.iter().rev() {
            match &envelope.event {
                Event::RulesEvaluated {
                    trigger,
                    on,
                    fired,
                    skipped,
                    scheduled,
                    ..
                } => {
                    let trigger_event = self.journal.get(*trigger)?;
                    let mut explanation = Explanation {
                        trigger: *trigger,
                        at: envelope.at,
                        on: on.clone(),
                        event: trigger_event.map(|e| event_type(&e.event)),
                        fired: fired.iter().map(|key| Fired::rule(key)).collect(),
                        skipped: skipped.clone(),
                        scheduled: scheduled.clone(),
                        stopped: false,
                    };
                    self.attach_effects(&access, envelope.seq, &mut explanation)?;
                    explanations.push(explanation);
                }
                Event::CascadeStopped {
                    trigger,
                    rules,
                    limit,
                    ..
                } => explanations.push(Explanation {
                    trigger: *trigger,
                    at: envelope.at,
                    on: match limit {
                        CascadeLimit::Depth => "cascade_limit",
                        CascadeLimit::Events => "event_limit",
                    }
                    .into(),
                    event: None,
                    fired: rules.iter().map(|key| Fired::rule(key)).collect(),
                    skipped: Vec::new(),
                    scheduled: Vec::new(),
                    stopped: true,
                }),
                _ => {}
            }
        }
        Ok(explanations)
    }

    /// Attaches what the rules fired at `evaluated` (a `rules_evaluated`) did: their
    /// events follow it directly in the journal — the engine records a fact's verdict,
    /// then its rules' actions, before it reacts to anything else — so this reads only
    /// them, however long the journal after them is. Events the reader may not see are
    /// left out.
    pub(super) fn attach_effects(
        &self,
        access: &Access<'_>,
        evaluated: u64,
        explanation: &mut Explanation,
    ) -> Result<(), CrmError> {
        let trigger = explanation.trigger;
        self.journal.scan_from(evaluated + 1, &mut |envelope| {
            let (Some(rule), Some(cause)) = (&envelope.rule, envelope.caused_by) else {
                return Ok(ControlFlow::Break(()));
            };
            if cause != trigger {
                return Ok(ControlFlow::Break(()));
            }
            if let Some(fired) = explanation.fired.iter_mut().find(|f| &f.rule == rule) {
                match &envelope.event {
                    Event::RuleFailed { reason, .. } => fired.failed = Some(reason.clone()),
                    event if access.may_see(event) => fired.events.push(ExplainedEvent {
                        seq: envelope.seq,
                        event: event_type(event),
                    }),
                    _ => {}
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Renders a stored document again from the template version and the data it was
    /// rendered from (the journal up to `data_seq`), and says whether the text is the same.
    pub fn rerender(&self, actor: Actor, id: DocumentId) -> Result<Rerendering, CrmError> {
        self.access(actor)?.require_read(id.into())?;
        let document = self
            .state
            .documents
            .get(&id)
            .ok_or_else(|| CrmError::not_found("document", id))?;
        let template = match self.journal.get(document.template_version)? {
            Some(EventEnvelope {
                event: Event::TemplateDefined { template },
                ..
            }) => template,
            _ => {
                return Err(CrmError::Storage {
                    reason: format!(
                        "event {} is not the template definition {id} was rendered from",
                        document.template_version
                    ),
                })
            }
        };
        // The data it was rendered from is kept with it; only documents from before that
        // was so are rendered from the journal replayed up to their data position.
        let rendered = match self.state.timelines.get(&AnyId::DocumentId(id)) {
            Some(seqs) => match seqs.first() {
                Some(seq) => self.journal.get(*seq)?,
                None => None,
            },
            None => None,
        };
        let (data, calendar) = match rendered.map(|e| e.event) {
            Some(Event::DocumentRendered {
                data: Some(data), ..
            }) => {
                // Templates read the calendar only for its time zone, which the data
                // records as it was.
                let mut calendar = self.state.calendar.clone();
                if let Some(zone) = context::lookup(&data, "calendar.time_zone")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|name| name.parse().ok())
                {
                    calendar.time_zone = zone;
                }
                (*data, calendar)
            }
            _ => {
                let then = fold_journal(&self.journal, document.data_seq)?;
                let data = context::for_record(
                    &then,
                    document.subject,
                    document.rendered_at,
                    serde_json::Value::Null,
                    document.rendered_by,
                );
                (data, then.calendar)
            }
        };
        let content =
            crate::model::document::render(&template.source, template.format, &data, &calendar)?;
        Ok(Rerendering {
            document: id,
            identical: content == document.content,
            content,
        })
    }
}

/// What [`Crm::explain`] says about one triggering event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Explanation {
    /// The journal position of the triggering event.
    pub trigger: u64,
    pub at: DateTime<Utc>,
    /// The trigger type the rules answered to, e.g. `stage_entered`.
    pub on: String,
    /// The triggering event's type, e.g. `deal_moved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub fired: Vec<Fired>,
    pub skipped: Vec<SkippedRule>,
    /// Delayed rules that started waiting here; they show again when the wait is over.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<String>,
    /// True when the cascade limit stopped these rules from running.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

/// A rule that fired, and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fired {
    pub rule: String,
    pub events: Vec<ExplainedEvent>,
    /// Why an action failed, if one did (later actions did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Fired {
    /// A rule, before its events are attached.
    pub(super) fn rule(key: &str) -> Fired {
        Fired {
            rule: key.to_string(),
            events: Vec::new(),
            failed: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExplainedEvent {
    pub seq: u64,
    pub event: String,
}

/// What [`Crm::rerender`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rerendering {
    pub document: DocumentId,
    pub identical: bool,
    pub content: String,
}
