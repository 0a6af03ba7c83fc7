//! The outbox, delivered: webhooks signed per Standard Webhooks, e-mail over SMTP, text
//! messages through an HTTP gateway. Each effect is acknowledged in the journal
//! (`ack_effects`) once it was delivered — at least once: a crash between sending and
//! acknowledging sends it again, with the same effect ID for the receiver to drop the
//! repeat by (`webhook-id`, `Message-ID`, `Idempotency-Key`). A failure is retried with
//! doubling delays for a stated period; a webhook endpoint that answers `410 Gone` is
//! disabled until an admin enables it again. Webhooks can be sent again from any
//! journal position (docs/server.md).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use crm_core::{Channel, CrmError, Effect, EffectBody, EffectId, Event};
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;

use crate::config::{DeliveryConfig, SmsConfig};
use crate::guard::lock;
use crate::tables::{Storage, Tables};

/// The first retry's default delay.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest delay between two tries of one effect.
const LONGEST_RETRY: Duration = Duration::from_secs(3600);
/// The default retry period, in hours.
const RETRY_HOURS: u32 = 24;
/// How long one delivery may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Most effects delivered at once (and acknowledged in one journal batch).
pub(crate) const BATCH: usize = 32;

/// How one business's outbox is delivered, and what is failing.
pub struct Delivery {
    webhook_key: Option<Vec<u8>>,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    sms: Option<SmsConfig>,
    http: reqwest::Client,
    first_retry: Duration,
    retry_for: chrono::Duration,
    endpoints: Mutex<Tables>,
    tries: Mutex<Tries>,
}

/// What the deliverer remembers between rounds (in memory: after a restart every
/// pending effect is simply tried again).
#[derive(Default)]
struct Tries {
    /// Effects that failed: how often, and when to try next.
    failing: HashMap<EffectId, Failing>,
    /// Effects whose retry period ran out: not tried again until replayed.
    given_up: HashSet<EffectId>,
    /// Webhook URLs that answered `410 Gone` (also stored, so they stay off).
    disabled: HashSet<String>,
    /// Webhooks to send again (replay), delivered or not.
    replay: BTreeSet<EffectId>,
}

struct Failing {
    attempts: u32,
    next: tokio::time::Instant,
}

/// What became of one try.
pub(crate) enum Tried {
    Delivered,
    /// Try again later; why it failed.
    Failed(String),
    /// The webhook endpoint is gone (`410`): disable it.
    Gone,
}

/// Where an effect goes, if this server delivers it.
enum Route<'a> {
    Webhook {
        url: &'a str,
        name: &'a str,
        payload: &'a serde_json::Value,
    },
    Email {
        to: &'a str,
        text: &'a str,
    },
    Sms {
        to: &'a str,
        text: &'a str,
    },
}

/// One round's work: the effects due now, and which of them are replays.
pub(crate) struct Round {
    pub(crate) due: Vec<Effect>,
    pub(crate) replays: HashSet<EffectId>,
    /// When the soonest failing effect may be tried again.
    pub(crate) next: Option<tokio::time::Instant>,
}

impl Delivery {
    /// The deliverer `config` describes, its disabled endpoints kept beside the
    /// business's journal; `None` when no channel is configured.
    pub fn open(config: &DeliveryConfig, storage: &Storage) -> Result<Option<Delivery>, String> {
        if config.webhooks.is_none() && config.smtp.is_none() && config.sms.is_none() {
            return Ok(None);
        }
        let webhook_key = config
            .webhooks
            .as_ref()
            .map(|webhooks| secret_key(&webhooks.secret))
            .transpose()?;
        let smtp = config
            .smtp
            .as_ref()
            .map(|smtp| {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url)
                    .map_err(|err| format!("delivery.smtp.url: {err}"))?
                    .timeout(Some(TIMEOUT))
                    .build();
                let from: Mailbox = smtp
                    .from
                    .parse()
                    .map_err(|err| format!("delivery.smtp.from: {:?}: {err}", smtp.from))?;
                Ok::<_, String>((transport, from))
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("crm-server/", env!("CARGO_PKG_VERSION")))
            // A receiver's redirect is not followed: the signature was made for one URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| format!("delivery: cannot make an HTTP client: {err}"))?;
        let mut endpoints = Tables::open(storage).map_err(|err| format!("delivery: {err}"))?;
        let disabled = endpoints
            .disabled_webhooks()
            .map_err(|err| format!("delivery: {err}"))?;
        Ok(Some(Delivery {
            webhook_key,
            smtp,
            sms: config.sms.clone(),
            http,
            first_retry: config
                .first_retry_ms
                .map_or(FIRST_RETRY, Duration::from_millis),
            retry_for: chrono::Duration::hours(i64::from(
                config.retry_hours.unwrap_or(RETRY_HOURS),
            )),
            endpoints: Mutex::new(endpoints),
            tries: Mutex::new(Tries {
                disabled: disabled.into_iter().map(|(url, _)| url).collect(),
                ..Tries::default()
            }),
        }))
    }

    /// What to deliver now out of the pending `outbox` (and the replays asked for,
    /// found among `effects`), at most [`BATCH`].
    pub(crate) fn round(
        &self,
        outbox: Vec<Effect>,
        effects: &dyn Fn(&EffectId) -> Option<Effect>,
        now: DateTime<Utc>,
    ) -> Round {
        let mut tries = lock(&self.tries);
        let clock = tokio::time::Instant::now();
        let mut round = Round {
            due: Vec::new(),
            replays: HashSet::new(),
            next: None,
        };
        let replays: Vec<EffectId> = tries.replay.iter().copied().collect();
        for id in replays {
            if round.due.len() >= BATCH {
                break;
            }
            tries.replay.remove(&id);
            let Some(effect) = effects(&id) else {
                continue;
            };
            // A disabled endpoint stays off, replay or not.
            if let Some(Route::Webhook { url, .. }) = self.route(&effect) {
                if !tries.disabled.contains(url) {
                    round.replays.insert(id);
                    round.due.push(effect);
                }
            }
        }
        for effect in outbox {
            if round.due.len() >= BATCH {
                break;
            }
            let Some(route) = self.route(&effect) else {
                continue;
            };
            if tries.given_up.contains(&effect.id) || round.replays.contains(&effect.id) {
                continue;
            }
            if let Route::Webhook { url, .. } = route {
                if tries.disabled.contains(url) {
                    continue;
                }
            }
            match tries.failing.get(&effect.id) {
                Some(failing) if failing.next > clock => {
                    round.next = Some(round.next.map_or(failing.next, |n| n.min(failing.next)));
                }
                Some(_) if now - effect.at > self.retry_for => {
                    tracing::warn!(effect = %effect.id, "delivery retried for its whole period; given up (replay sends it again)");
                    tries.failing.remove(&effect.id);
                    tries.given_up.insert(effect.id);
                }
                _ => round.due.push(effect),
            }
        }
        round
    }

    /// Tries to deliver `effect` once.
    pub(crate) async fn deliver(&self, effect: &Effect) -> Tried {
        match self.route(effect) {
            Some(Route::Webhook { url, name, payload }) => {
                self.webhook(effect, url, name, payload).await
            }
            Some(Route::Email { to, text }) => self.email(effect, to, text).await,
            Some(Route::Sms { to, text }) => self.sms(effect, to, text).await,
            None => Tried::Failed("this server does not deliver it".into()),
        }
    }

    /// Notes what became of a try: forgets a success, schedules a failure's retry,
    /// disables a gone endpoint.
    pub(crate) fn note(&self, effect: &Effect, tried: &Tried) {
        let mut tries = lock(&self.tries);
        match tried {
            Tried::Delivered => {
                tries.failing.remove(&effect.id);
            }
            Tried::Failed(why) => {
                let first_retry = self.first_retry;
                let failing = tries.failing.entry(effect.id).or_insert(Failing {
                    attempts: 0,
                    next: tokio::time::Instant::now(),
                });
                failing.attempts += 1;
                let delay = first_retry
                    .saturating_mul(1 << failing.attempts.saturating_sub(1).min(16))
                    .min(LONGEST_RETRY);
                failing.next = tokio::time::Instant::now() + delay;
                tracing::warn!(effect = %effect.id, attempts = failing.attempts, retry_in = ?delay, reason = %why, "delivery failed");
            }
            Tried::Gone => {
                if let EffectBody::Webhook { url, .. } = &effect.body {
                    tracing::warn!(%url, "webhook endpoint answered 410 Gone: disabled");
                    tries.disabled.insert(url.clone());
                    tries.failing.remove(&effect.id);
                    let stored = lock(&self.endpoints).disable_webhook(
                        url,
                        &Utc::now().to_rfc3339(),
                        "410 Gone",
                    );
                    if let Err(err) = stored {
                        tracing::warn!(%url, %err, "could not store the disabled endpoint");
                    }
                }
            }
        }
    }

    /// Queues the webhooks queued at journal positions `from` and later (given in
    /// `queued`) to be sent again; how many.
    pub(crate) fn replay(&self, queued: Vec<EffectId>) -> usize {
        let mut tries = lock(&self.tries);
        let count = queued.len();
        for id in queued {
            tries.given_up.remove(&id);
            tries.replay.insert(id);
        }
        count
    }

    /// The disabled webhook endpoints: URL, when, why.
    pub(crate) fn disabled(&self) -> Result<Vec<(String, String)>, CrmError> {
        lock(&self.endpoints).disabled_webhooks()
    }

    /// Enables a disabled endpoint again; whether it was disabled.
    pub(crate) fn enable(&self, url: &str) -> Result<bool, CrmError> {
        let removed = lock(&self.endpoints).enable_webhook(url)?;
        lock(&self.tries).disabled.remove(url);
        Ok(removed)
    }

    /// Whether this process delivers (one app server per business on a shared
    /// database). Blocks.
    pub(crate) fn leads(&self) -> Result<bool, CrmError> {
        lock(&self.endpoints).lead()
    }

    /// Whether webhooks are delivered here (so replay means something).
    pub(crate) fn sends_webhooks(&self) -> bool {
        self.webhook_key.is_some()
    }

    fn route<'a>(&self, effect: &'a Effect) -> Option<Route<'a>> {
        match &effect.body {
            EffectBody::Webhook { url, name, payload } if self.webhook_key.is_some() => {
                Some(Route::Webhook { url, name, payload })
            }
            EffectBody::Notification {
                email: Some(to),
                channel: Channel::Email,
                text,
                ..
            }
            | EffectBody::Message {
                channel: Channel::Email,
                address: to,
                text,
                ..
            } if self.smtp.is_some() => Some(Route::Email { to, text }),
            EffectBody::Message {
                channel: Channel::Sms,
                address: to,
                text,
                ..
            } if self.sms.is_some() => Some(Route::Sms { to, text }),
            _ => None,
        }
    }

    /// POSTs `{"type", "timestamp", "data"}` with the Standard Webhooks headers.
    async fn webhook(
        &self,
        effect: &Effect,
        url: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> Tried {
        let Some(key) = &self.webhook_key else {
            return Tried::Failed("no webhook secret".into());
        };
        let body = json!({
            "type": name,
            "timestamp": effect.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "data": payload,
        })
        .to_string();
        let id = effect.id.to_string();
        let timestamp = Utc::now().timestamp().to_string();
        let Some(signature) = sign(key, &id, &timestamp, &body) else {
            return Tried::Failed("the webhook secret cannot key an HMAC".into());
        };
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", format!("v1,{signature}"))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Tried::Delivered,
            Ok(response) if response.status() == reqwest::StatusCode::GONE => Tried::Gone,
            Ok(response) => Tried::Failed(format!("{url} answered {}", response.status())),
            Err(err) => Tried::Failed(format!("{url}: {err}")),
        }
    }

    async fn email(&self, effect: &Effect, to: &str, text: &str) -> Tried {
        let Some((transport, from)) = &self.smtp else {
            return Tried::Failed("no SMTP relay".into());
        };
        let to: Mailbox = match to.parse() {
            Ok(to) => to,
            Err(err) => return Tried::Failed(format!("{to:?} is not an address: {err}")),
        };
        let subject: String = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}@crm-server>", effect.id)))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text.to_string());
        let message = match message {
            Ok(message) => message,
            Err(err) => return Tried::Failed(format!("cannot build the message: {err}")),
        };
        match transport.send(message).await {
            Ok(_) => Tried::Delivered,
            Err(err) => Tried::Failed(format!("SMTP: {err}")),
        }
    }

    async fn sms(&self, effect: &Effect, to: &str, text: &str) -> Tried {
        let Some(gateway) = &self.sms else {
            return Tried::Failed("no SMS gateway".into());
        };
        let id = effect.id.to_string();
        let sent = self
            .http
            .post(&gateway.url)
            .bearer_auth(&gateway.token)
            .header("idempotency-key", &id)
            .header("content-type", "application/json")
            .body(json!({"id": id, "to": to, "text": text}).to_string())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Tried::Delivered,
            Ok(response) => {
                Tried::Failed(format!("the SMS gateway answered {}", response.status()))
            }
            Err(err) => Tried::Failed(format!("the SMS gateway: {err}")),
        }
    }
}

/// The webhooks queued at journal positions `from` and later, by scanning `events`.
pub(crate) fn webhooks_queued(events: &[crm_core::EventEnvelope]) -> Vec<EffectId> {
    events
        .iter()
        .filter_map(|envelope| match &envelope.event {
            Event::EffectQueued { effect } if matches!(effect.body, EffectBody::Webhook { .. }) => {
                Some(effect.id)
            }
            _ => None,
        })
        .collect()
}

/// The key a `whsec_…` secret stands for.
fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or("delivery.webhooks.secret: it starts with whsec_ (Standard Webhooks)")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|err| format!("delivery.webhooks.secret: not base64 after whsec_: {err}"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "delivery.webhooks.secret: {} bytes; use 24 to 64 random bytes",
            key.len()
        ));
    }
    Ok(key)
}

/// Standard Webhooks' signature: base64 of HMAC-SHA256 over `id.timestamp.body`
/// (`None` only for a key HMAC refuses, which no key length is).
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}
