//! The window-shop example that `scripts/example` runs, played twice on one file: its
//! story and its outbox are what the shop's process promises (../shared/DESIGN.md).

#[path = "../examples/window_shop.rs"]
#[allow(dead_code)] // the example's `main` prints; the test reads what `play` returns
mod example;

use crm_core::{Effect, EffectBody};

fn notification<'a>(outbox: &'a [Effect], starts: &str) -> (&'a str, Option<&'a str>, bool) {
    outbox
        .iter()
        .find_map(|effect| match &effect.body {
            EffectBody::Notification {
                text,
                email,
                escalation,
                ..
            } if text.starts_with(starts) => Some((text.as_str(), email.as_deref(), *escalation)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no notification \"{starts}…\" in {outbox:#?}"))
}

fn document<'a>(outbox: &'a [Effect], template: &str) -> &'a str {
    outbox
        .iter()
        .find_map(|effect| match &effect.body {
            EffectBody::Document {
                template: t,
                content,
                ..
            } if t == template => Some(content.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no document {template} in {outbox:#?}"))
}

#[test]
fn the_window_shop_runs_its_process_by_rules_order_after_order() {
    let path = std::env::temp_dir().join(format!("crm-window-shop-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let path_text = path.to_str().expect("a UTF-8 temp path");

    let first = example::play(path_text).expect("the first order runs");
    assert_eq!(first.number, 1);
    assert_eq!(first.time_zone, "Europe/Moscow");

    // The story: the rules did what people did not.
    let story = first.story.join("\n");
    for step in [
        "rule assign-web-lead",
        "rule escalate-late-call",
        "task \"Call Pyotr Ivanov (1) to clarify the order\" is overdue",
        "moved to Agreement",
        "rule offer-on-agreement      document \"offer\" rendered",
        "paid in full",
        "rule install-when-paid       moved to Installation",
        "rule done-after-install      moved to Done",
        "rule report-to-head          notification for Irina Head by email",
        "rule report-to-head          webhook deal.won",
    ] {
        assert!(story.contains(step), "the story lacks {step:?}:\n{story}");
    }

    // The offer carries the buyer's data, the measurements and the amount.
    let offer = document(&first.outbox, "offer");
    for part in [
        "For Pyotr Ivanov (1), +79161234567.",
        "Measured: 1450 × 1400 mm, 3 openings.",
        "| PVC window 1450×1400 | 3 | 24,500.00 RUB | 69,825.00 RUB |",
        "**Total: 81,825.00 RUB**. Installation on 03.12.2026 10:00.",
    ] {
        assert!(offer.contains(part), "the offer lacks {part:?}:\n{offer}");
    }

    // The late call was escalated to the head; the done deal is reported to her.
    let (_, to_whom, escalated) = notification(&first.outbox, "Needs attention (task_overdue)");
    assert!(escalated);
    assert_eq!(to_whom, Some("irina@okna.example"));
    let (text, to_whom, escalated) = notification(&first.outbox, "Deal done:");
    assert_eq!(
        text,
        "Deal done: 3 windows, flat 12, 81,825.00 RUB (Anton Manager)"
    );
    assert_eq!(to_whom, Some("irina@okna.example"));
    assert!(!escalated);
    let report = document(&first.outbox, "deal-report");
    assert!(
        report.contains("Amount: 81,825.00 RUB; paid: 81,825.00 RUB."),
        "{report}"
    );
    assert!(first.outbox.iter().any(|effect| matches!(&effect.body,
        EffectBody::Webhook { url, .. } if url == "https://erp.okna.example/hooks/deal-won")));

    // Run again: the shop is set up, the next client's order goes through the week
    // after, and the outbox holds only what that order produced.
    let second = example::play(path_text).expect("the second order runs");
    assert_eq!(second.number, 2);
    assert!(second.events > first.events);
    assert!(second.story.join("\n").contains("Pyotr Ivanov (2)"));
    assert_eq!(second.outbox.len(), first.outbox.len());
    assert!(document(&second.outbox, "offer").contains("For Pyotr Ivanov (2)"));

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path_text}{suffix}"));
    }
}
