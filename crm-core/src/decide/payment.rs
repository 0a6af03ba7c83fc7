//! Handlers for payment (the data is in `crate::model::payment`).

use crate::common::error::CrmError;
use crate::common::id::AnyId;
use crate::common::money::{Money, EXTRA_PRICE_DECIMALS};
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::payment::*;
use rust_decimal::Decimal;

/// Handles [`crate::Command::SetLineItems`].
pub(crate) fn set_line_items(ctx: &mut Ctx<'_>, input: &LineItems) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::DealId(input.deal))?;
    let deal = &ctx.state.deals[&input.deal];
    if input.items.len() > MAX_LINE_ITEMS {
        return Err(CrmError::too_large(
            "items",
            MAX_LINE_ITEMS,
            input.items.len(),
        ));
    }
    let mut items = Vec::with_capacity(input.items.len());
    for (index, item) in input.items.iter().enumerate() {
        let at = |field: &str| format!("items[{index}].{field}");
        let product = validate::name(&at("product"), &item.product)?;
        if item.quantity <= Decimal::ZERO {
            return Err(CrmError::validation(
                at("quantity"),
                format!("{} is not positive", item.quantity),
            ));
        }
        let unit_price = item
            .unit_price
            .entered(&at("unit_price"), EXTRA_PRICE_DECIMALS)?;
        if item.quantity.abs() >= MAX_QUANTITY || item.quantity.normalize().scale() > 6 {
            return Err(CrmError::validation(
                at("quantity"),
                format!(
                    "{} is not a quantity (below {MAX_QUANTITY}, at most 6 decimals)",
                    item.quantity
                ),
            ));
        }
        if unit_price.is_negative() {
            return Err(CrmError::validation(
                at("unit_price"),
                format!("{} is negative", item.unit_price),
            ));
        }
        if item.discount_percent < Decimal::ZERO || item.discount_percent > Decimal::ONE_HUNDRED {
            return Err(CrmError::validation(
                at("discount_percent"),
                format!("{} is not between 0 and 100", item.discount_percent),
            ));
        }
        if let Some(first) = items.first().map(|i: &LineItem| i.unit_price.currency()) {
            if first != item.unit_price.currency() {
                return Err(CrmError::currency_mismatch(
                    at("unit_price"),
                    first,
                    item.unit_price.currency(),
                ));
            }
        }
        deal.require_currency(&at("unit_price"), &item.unit_price)?;
        let factor = item
            .quantity
            .checked_mul(Decimal::ONE_HUNDRED - item.discount_percent)
            .and_then(|f| f.checked_div(Decimal::ONE_HUNDRED))
            .ok_or_else(|| CrmError::Overflow {
                operation: format!(
                    "{} × {}% of items[{index}]",
                    item.quantity, item.discount_percent
                ),
            })?;
        let total = unit_price.checked_mul(factor)?.in_minor_units();
        items.push(LineItem {
            product,
            quantity: item.quantity.normalize(),
            unit_price,
            discount_percent: item.discount_percent.normalize(),
            total,
        });
    }
    let total = match items.first() {
        Some(first) => Some(
            Money::sum(first.total.currency(), items.iter().map(|i| &i.total))
                .map_err(|err| err.at("items"))?,
        ),
        None => None,
    };
    if let (true, Some(total)) = (input.set_amount, total) {
        total.entered("items", 0)?;
    }
    let mut events = Vec::new();
    if items != deal.line_items {
        events.push(Event::LineItemsSet {
            deal: input.deal,
            items,
            total,
        });
    }
    if input.set_amount && total.is_some() && total != deal.fields.amount {
        let mut fields = deal.fields.clone();
        fields.amount = total;
        events.push(Event::DealUpdated {
            id: input.deal,
            fields,
            changed: vec!["amount".into()],
            hlc: ctx.hlc,
        });
    }
    Ok(events)
}

/// Handles [`crate::Command::RecordPayment`]: same currency as the deal and its earlier
/// payments; emits `deal_paid` when the payments first reach the amount.
pub(crate) fn record(ctx: &mut Ctx<'_>, input: &NewPayment) -> Result<Vec<Event>, CrmError> {
    ctx.access.require_edit(AnyId::DealId(input.deal))?;
    let deal = &ctx.state.deals[&input.deal];
    if input.amount.amount().is_zero() {
        return Err(CrmError::validation(
            "amount",
            "a payment of zero records nothing",
        ));
    }
    input.amount.entered("amount", 0)?;
    let expected = deal
        .fields
        .amount
        .as_ref()
        .map(Money::currency)
        .or_else(|| deal.payments.first().map(|p| p.amount.currency()));
    if let Some(currency) = expected {
        if currency != input.amount.currency() {
            return Err(CrmError::currency_mismatch(
                "amount",
                currency,
                input.amount.currency(),
            ));
        }
    }
    let paid = match deal.paid() {
        Some(paid) => paid
            .checked_add(&input.amount)
            .map_err(|e| e.at("amount"))?,
        None => input.amount,
    };
    if paid.is_negative() {
        return Err(CrmError::validation(
            "amount",
            format!(
                "a refund of {} is more than the {} paid",
                input.amount,
                deal.paid().map_or("nothing".into(), |p| p.to_string())
            ),
        ));
    }
    let payment = Payment {
        id: ctx.next_id(),
        amount: input.amount,
        paid_at: input.paid_at.unwrap_or(ctx.now),
        note: validate::optional_text("note", input.note.as_deref())?,
        recorded_by: ctx.actor(),
    };
    let mut events = vec![Event::PaymentRecorded {
        deal: input.deal,
        payment,
    }];
    let reached = deal
        .fields
        .amount
        .as_ref()
        .is_some_and(|amount| !amount.amount().is_zero() && paid.amount() >= amount.amount());
    if reached && deal.paid_at.is_none() {
        events.push(Event::DealPaid {
            deal: input.deal,
            paid,
        });
    }
    Ok(events)
}
