//! The configuration file (`crm-server --config crm-server.toml`, docs/server.md):
//! where to listen and which businesses to serve, each with its own journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crm_core::CrmOptions;
use serde::Deserialize;

use crate::limits::RateLimit;

/// The whole file. Every field but `tenants` has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to serve on. Default `127.0.0.1:8080` (loopback: put a TLS
    /// proxy in front to serve others).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The businesses, by name (at least one).
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
}

/// One business.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Its SQLite file (journal and keys), relative to the configuration file; made on
    /// first start.
    pub data: PathBuf,
    /// The engine's options (`[tenants.<name>.options]`: `default_region`,
    /// `snapshot_every`, …), as the bindings take them.
    #[serde(default)]
    pub options: CrmOptions,
    /// Per-key rate limit. Default 600 a minute, bursts of 100.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
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
        for tenant in config.tenants.values_mut() {
            if tenant.data.is_relative() {
                tenant.data = folder.join(&tenant.data);
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
        Ok(config)
    }

    /// One business named `default` in `data` (`crm-server --data shop.sqlite`).
    pub fn single(data: PathBuf) -> Config {
        Config {
            listen: default_listen(),
            tenants: [(
                "default".to_string(),
                TenantConfig {
                    data,
                    options: CrmOptions::default(),
                    rate_limit: None,
                },
            )]
            .into_iter()
            .collect(),
        }
    }
}
