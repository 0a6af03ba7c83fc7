//! The businesses one server serves. Each has its own journal, users and keys; a key
//! belongs to exactly one of them, so the key alone says whose data a request may
//! touch, and the API is the same for one business or many.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crm_core::{CrmError, UserId};

use crate::demo::DemoClock;
use crate::guard::lock;
use crate::keys;
use crate::problem::Problem;
use crate::tenant::Tenant;

/// The businesses of this server, by name, and which one each key is for.
#[derive(Default)]
pub struct Hub {
    tenants: BTreeMap<String, Arc<Tenant>>,
    /// Key digest → its business. Filled from every key table at start and as keys are
    /// made; a key made by another server process is found on first use.
    index: Mutex<HashMap<String, Arc<Tenant>>>,
    /// Set by `--demo-clock` only: the clock an admin may move forward.
    demo_clock: Option<Arc<DemoClock>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// A hub for a demonstration whose clock its users may move forward (`/v1/demo/clock`).
    pub fn with_demo_clock(clock: Arc<DemoClock>) -> Hub {
        Hub {
            demo_clock: Some(clock),
            ..Hub::default()
        }
    }

    pub(crate) fn demo_clock(&self) -> Option<&Arc<DemoClock>> {
        self.demo_clock.as_ref()
    }

    /// A hub serving one business, named `default`.
    pub fn single(tenant: Tenant) -> Result<Arc<Hub>, CrmError> {
        let mut hub = Hub::new();
        hub.add("default", tenant)?;
        Ok(Arc::new(hub))
    }

    /// Adds a business under `name` (1–64 of `a-z`, `0-9`, `-`, `_`: it names the
    /// business in logs and the configuration).
    pub fn add(&mut self, name: &str, tenant: Tenant) -> Result<Arc<Tenant>, CrmError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(CrmError::validation(
                "tenants",
                format!("{name:?} is not a business name (1 to 64 of a-z, 0-9, - and _)"),
            ));
        }
        if self.tenants.contains_key(name) {
            return Err(CrmError::validation(
                "tenants",
                format!("{name:?} is configured twice"),
            ));
        }
        if let Some(clock) = &self.demo_clock {
            // A demo restarted: its clock had been moved forward, and must not go back
            // before what the business already recorded.
            if let Some(last) = tenant.last_event_at()? {
                clock.not_before(last);
            }
        }
        let tenant = Arc::new(tenant);
        let digests = tenant.opening_key_digests();
        let mut index = lock(&self.index);
        for digest in digests {
            index.insert(digest, Arc::clone(&tenant));
        }
        drop(index);
        self.tenants.insert(name.to_string(), Arc::clone(&tenant));
        Ok(tenant)
    }

    /// The business named `name`.
    pub fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(name)
    }

    /// The businesses, by name.
    pub fn tenants(&self) -> impl Iterator<Item = (&str, &Arc<Tenant>)> {
        self.tenants
            .iter()
            .map(|(name, tenant)| (name.as_str(), tenant))
    }

    /// The business and user of an API key in force.
    pub(crate) async fn caller(&self, key: String) -> Result<(Arc<Tenant>, UserId), Problem> {
        let unknown = || Problem::unauthenticated("unknown or revoked API key");
        if !keys::well_formed(&key) {
            return Err(unknown());
        }
        let digest = keys::digest(&key);
        let known = lock(&self.index).get(&digest).cloned();
        let tenant = match known {
            Some(tenant) => tenant,
            None => self.find(&key, &digest).await?.ok_or_else(unknown)?,
        };
        let user = tenant.caller(key).await?;
        Ok((tenant, user))
    }

    /// Asks every business for a key the index does not know (made by another server
    /// process on the same database since this one started).
    async fn find(&self, key: &str, digest: &str) -> Result<Option<Arc<Tenant>>, Problem> {
        for tenant in self.tenants.values() {
            if tenant.knows(key.to_string()).await? {
                self.remember(digest.to_string(), tenant);
                return Ok(Some(Arc::clone(tenant)));
            }
        }
        Ok(None)
    }

    /// Notes which business a key just made is for.
    pub(crate) fn remember_key(&self, key: &str, tenant: &Arc<Tenant>) {
        self.remember(keys::digest(key), tenant);
    }

    fn remember(&self, digest: String, tenant: &Arc<Tenant>) {
        lock(&self.index).insert(digest, Arc::clone(tenant));
    }
}
