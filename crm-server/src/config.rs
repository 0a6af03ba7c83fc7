//! The configuration file (`crm-server --config crm-server.toml`, docs/server.md):
//! where to listen and which businesses to serve, each with its own journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crm_core::CrmOptions;
use serde::Deserialize;

use crate::limits::RateLimit;
use crate::tables::Storage;

/// The whole file. Every field but `tenants` has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to serve on. Default `127.0.0.1:8080` (loopback: put a TLS
    /// proxy in front to serve others).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A PostgreSQL database (`postgresql://user@host:port/db`) that keeps every
    /// business's journal and keys, by name, so several app servers can serve them;
    /// without it each business has its SQLite file.
    #[serde(default)]
    pub postgres: Option<String>,
    /// The businesses, by name (at least one).
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// A folder of static files served at `/` beside the API (the office page,
    /// examples/web-office), relative to the configuration file; `.gz` twins are sent
    /// to browsers that take gzip.
    #[serde(default)]
    pub web: Option<PathBuf>,
    /// A demonstration's clock, which signed-in users may move forward (`POST /v1/demo/clock`)
    /// to see escalations fire. Never for a real business.
    #[serde(default)]
    pub demo_clock: bool,
}

/// One business.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Its SQLite file (journal and keys), relative to the configuration file; made on
    /// first start. Not given when the configuration names a `postgres` database.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// The engine's options (`[tenants.<name>.options]`: `default_region`,
    /// `snapshot_every`, …), as the bindings take them.
    #[serde(default)]
    pub options: CrmOptions,
    /// Per-key rate limit. Default 600 a minute, bursts of 100.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// How the outbox is delivered (`[tenants.<name>.delivery]`); without it nothing
    /// is sent and effects wait in the outbox for another consumer.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// What arrives without an API key (`[tenants.<name>.intake]`): web forms, the
    /// PBX's webhook. Off until configured.
    #[serde(default)]
    pub intake: IntakeConfig,
}

/// The intake endpoints of one business (docs/server.md, "Intake").
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Web forms by ID (the form's ID in `configure_intake`), each posted by browsers
    /// to `/v1/intake/<business>/forms/<form>`.
    #[serde(default)]
    pub forms: BTreeMap<String, FormConfig>,
    /// The PBX's signing secret (`whsec_…`, Standard Webhooks): calls are posted to
    /// `/v1/intake/<business>/calls` signed with it. Without it that endpoint is off.
    #[serde(default)]
    pub pbx_secret: Option<String>,
    /// The business's own addresses, for e-mail uploaded to `/v1/intake/email`: a
    /// message from one of them was sent, not received.
    #[serde(default)]
    pub mailbox: Vec<String>,
}

/// One public web form.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    /// The form's public token, in the page's HTML (`_token` field or `X-Form-Token`):
    /// not a secret, but it keeps what is not the business's own page out.
    pub token: String,
    /// The sites allowed to post from a browser (CORS), e.g. `https://shop.example`.
    #[serde(default)]
    pub origins: Vec<String>,
    /// A field people do not see and bots fill in: a submission with it is dropped
    /// (and answered as if accepted). Default `website`.
    #[serde(default)]
    pub honeypot: Option<String>,
    /// Where to send the browser after an ordinary (non-script) form post: a `303`.
    #[serde(default)]
    pub redirect: Option<String>,
    /// Submissions per minute from one address (and at once). Default 10 and 5.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

/// What the server delivers from a business's outbox, and how. Each channel is off
/// until configured.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Webhooks (rules' `webhook` actions), signed per Standard Webhooks.
    pub webhooks: Option<WebhooksConfig>,
    /// E-mail (notifications to users with an address, messages to clients) over SMTP.
    pub smtp: Option<SmtpConfig>,
    /// Text messages to clients through an HTTP gateway.
    pub sms: Option<SmsConfig>,
    /// The first retry's delay in milliseconds; each next one doubles, up to an hour.
    /// Default 5,000.
    pub first_retry_ms: Option<u64>,
    /// How long a failing delivery is retried, in hours from when it was queued,
    /// before the server stops trying (it stays in the outbox; replay sends it again).
    /// Default 24.
    pub retry_hours: Option<u32>,
}

/// `webhooks = { secret = "whsec_…" }`: the signing secret receivers verify with.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// `whsec_` and base64 of 24 to 64 random bytes (`openssl rand -base64 32`).
    pub secret: String,
}

/// `smtp = { url = "smtp://127.0.0.1:25", from = "CRM <crm@shop.example>" }`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain, for a local relay), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://host:465` (TLS), with `user:password@` when the relay
    /// wants it.
    pub url: String,
    /// The sender.
    pub from: String,
}

/// `sms = { url = "https://sms.example/send", token = "…" }`: the server POSTs
/// `{"id", "to", "text"}` with `Authorization: Bearer <token>`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    pub url: String,
    pub token: String,
}

/// `rate_limit = { per_minute = 600, burst = 100 }`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_minute: u32,
    pub burst: u32,
}

impl From<RateLimitConfig> for RateLimit {
    fn from(config: RateLimitConfig) -> Self {
        RateLimit {
            per_minute: config.per_minute,
            burst: config.burst,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

impl Config {
    /// Reads the file at `path`; data paths become relative to its folder.
    pub fn read(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let mut config =
            Config::parse(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        let folder = path.parent().unwrap_or(Path::new("."));
        if let Some(web) = config.web.as_mut().filter(|web| web.is_relative()) {
            *web = folder.join(&*web);
        }
        for tenant in config.tenants.values_mut() {
            if let Some(data) = tenant.data.as_mut().filter(|data| data.is_relative()) {
                *data = folder.join(&*data);
            }
        }
        Ok(config)
    }

    /// The configuration in `text`.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|err| err.to_string())?;
        if config.tenants.is_empty() {
            return Err("no [tenants.<name>] is configured".into());
        }
        for (name, tenant) in &config.tenants {
            match (&config.postgres, &tenant.data) {
                (None, None) => {
                    return Err(format!("tenants.{name}: data (its SQLite file) is missing"))
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "tenants.{name}: data is given, but every business is kept in postgres"
                    ))
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// Where business `name` is kept.
    pub fn storage(&self, name: &str) -> Option<Storage> {
        let tenant = self.tenants.get(name)?;
        Some(match (&self.postgres, &tenant.data) {
            (Some(url), _) => Storage::Postgres {
                url: url.clone(),
                tenant: name.to_string(),
            },
            (None, Some(data)) => Storage::Sqlite(data.clone()),
            (None, None) => return None,
        })
    }

    /// One business named `default` in `data` (`crm-server --data shop.sqlite`), or
    /// in PostgreSQL when `data` is `None` and `postgres` is set.
    pub fn single(data: Option<PathBuf>, postgres: Option<String>) -> Config {
        Config {
            listen: default_listen(),
            postgres,
            tenants: [(
                "default".to_string(),
                TenantConfig {
                    data,
                    options: CrmOptions::default(),
                    rate_limit: None,
                    delivery: DeliveryConfig::default(),
                    intake: IntakeConfig::default(),
                },
            )]
            .into_iter()
            .collect(),
            web: None,
            demo_clock: false,
        }
    }
}
