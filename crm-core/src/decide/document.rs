//! Handlers for document (the data is in `crate::model::document`).

use crate::common::error::CrmError;
use crate::common::id::{AnyId, EffectId};
use crate::common::validate;
use crate::context;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::document::*;
use crate::model::outbox::{Effect, EffectBody};
use serde_json::Value;

/// Handles [`crate::Command::DefineTemplate`]: admins only.
pub(crate) fn define(ctx: &mut Ctx<'_>, input: &NewTemplate) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_admin("define document templates")?;
    let key = validate::key("key", &input.key)?;
    let name = validate::name("name", &input.name)?;
    check_source("source", &input.source)?;
    Ok(vec![Event::TemplateDefined {
        template: Template {
            key,
            name,
            format: input.format,
            source: input.source.clone(),
            version: 0,
        },
    }])
}

/// Handles [`crate::Command::RenderDocument`] (and the rule action): anyone who can
/// read the record renders; the document also goes to the outbox for delivery.
pub(crate) fn render_for(
    ctx: &mut Ctx<'_>,
    template_key: &str,
    record: AnyId,
) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_read(record)?;
    let template = ctx
        .state
        .templates
        .get(template_key)
        .ok_or_else(|| CrmError::not_found("template", template_key))?;
    let data = context::for_record(ctx.state, record, ctx.now, Value::Null, ctx.actor());
    let content = render(
        &template.source,
        template.format,
        &data,
        &ctx.state.calendar,
    )?;
    let document = Document {
        id: ctx.next_id(),
        template: template.key.clone(),
        template_version: template.version,
        subject: record,
        data_seq: ctx.state.last_seq,
        format: template.format,
        content,
        rendered_at: ctx.now,
        rendered_by: ctx.actor(),
    };
    let effect = Effect {
        id: ctx.next_id::<EffectId>(),
        at: ctx.now,
        subject: Some(record),
        body: EffectBody::Document {
            document: document.id,
            template: document.template.clone(),
            format: document.format,
            content: document.content.clone(),
        },
    };
    Ok(vec![
        Event::DocumentRendered {
            document,
            data: Some(Box::new(data)),
        },
        Event::EffectQueued { effect },
    ])
}
