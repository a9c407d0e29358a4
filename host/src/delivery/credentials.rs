//! An integration's credentials for an attempt: the integration read, the secrets it and the
//! payload need decrypted, checked against what the integration grants, and cached until a
//! secret or an integration changes.

use std::collections::HashMap;
use std::sync::Mutex;

use super::attempt::Deliverer;
use super::outbound::Credentials;
use super::redact::Redactor;
use crate::store::StoreError;

/// Why an attempt could not even start; never retried.
#[derive(Debug, Clone)]
pub struct Unrunnable(pub String);

/// What [`Deliverer::credentials`] looked up: (entity, integration, payload secrets).
/// (entity, integration, payload secrets).
type CacheKey = (i64, String, Vec<String>);

/// Decrypted credentials, valid while the store's credentials generation stays the one they were
/// read under (any write to secrets or integrations moves it on). Errors are never cached.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<CacheKey, (u64, Credentials, Redactor)>>,
    /// Whether each integration is disabled, under the same generation rule (disabling and
    /// enabling move it on).
    disabled: Mutex<HashMap<(i64, String), (u64, bool)>>,
}

/// Entries kept at most; beyond, the cache starts over (a bound, not an eviction policy: the
/// working set is one entry per integration in use).
const CACHE_ENTRIES: usize = 4096;

impl CredentialCache {
    fn get(&self, key: &CacheKey, generation: u64) -> Option<(Credentials, Redactor)> {
        let entries = self.entries.lock().expect("not poisoned");
        let (read_under, credentials, redactor) = entries.get(key)?;
        // A rotation's overlap ending changes them too, with no write to announce it.
        let stale = credentials
            .stale_at_ms
            .is_some_and(|at| at <= crate::store::unix_millis());
        (*read_under == generation && !stale).then(|| (credentials.clone(), redactor.clone()))
    }

    fn put(&self, key: CacheKey, generation: u64, credentials: &Credentials, redactor: &Redactor) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, credentials.clone(), redactor.clone()));
    }
}

impl Deliverer {
    /// Whether the integration is disabled (its executions are then held, not attempted). An
    /// integration that cannot be read counts as enabled: the attempt says what is wrong.
    pub async fn is_disabled(&self, entity_id: i64, integration: &str) -> bool {
        let generation = self.store.credentials_generation();
        let key = (entity_id, integration.to_string());
        let cache = &self.credentials_cache.disabled;
        if let Some((read_under, disabled)) = cache.lock().expect("not poisoned").get(&key)
            && *read_under == generation
        {
            return *disabled;
        }
        let Ok(record) = self.store.integration(entity_id, integration).await else {
            return false;
        };
        let disabled = record.health.disabled_at.is_some();
        let mut entries = cache.lock().expect("not poisoned");
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, disabled));
        disabled
    }

    /// The integration's credentials with every secret they and the payload need, decrypted,
    /// plus a redactor for those values.
    pub async fn credentials(
        &self,
        entity_id: i64,
        integration: &str,
        payload_secrets: Vec<String>,
    ) -> Result<(Credentials, Redactor), Unrunnable> {
        // Read before the store is: a write that lands meanwhile makes this entry stale at once.
        let generation = self.store.credentials_generation();
        let key = (entity_id, integration.to_string(), payload_secrets);
        if let Some(hit) = self.credentials_cache.get(&key, generation) {
            return Ok(hit);
        }
        let (credentials, redactor) = self
            .read_credentials(entity_id, integration, key.2.clone())
            .await?;
        self.credentials_cache
            .put(key, generation, &credentials, &redactor);
        Ok((credentials, redactor))
    }

    async fn read_credentials(
        &self,
        entity_id: i64,
        integration: &str,
        payload_secrets: Vec<String>,
    ) -> Result<(Credentials, Redactor), Unrunnable> {
        let record = match self.store.integration(entity_id, integration).await {
            Ok(record) => record,
            Err(StoreError::NotFound(_)) => {
                return Err(Unrunnable(format!(
                    "integration {integration} no longer exists"
                )));
            }
            Err(other) => return Err(Unrunnable(format!("store: {other}"))),
        };
        // Checked when the automation was saved; checked again here, since an admin may have
        // withdrawn a grant since (or the execution predates it).
        if let Some(ungranted) = payload_secrets.iter().find(|name| !record.may_use(name)) {
            return Err(Unrunnable(format!(
                "secret {ungranted} is not granted by integration {integration}"
            )));
        }
        let key_payload = payload_secrets.clone();
        let mut wanted: Vec<String> = payload_secrets;
        wanted.extend(record.access_token.iter().cloned());
        wanted.extend(record.signing_secret.iter().cloned());
        wanted.extend(record.url_secret.iter().cloned());
        wanted.sort();
        wanted.dedup();
        let sealed = self
            .store
            .sealed_secrets(entity_id, wanted.clone(), crate::store::unix_millis())
            .await
            .map_err(|e| Unrunnable(format!("store: {e}")))?;
        let open = |name: &str, nonce: &[u8], ciphertext: &[u8]| {
            self.master_key
                .open(entity_id, name, nonce, ciphertext)
                .map_err(|e| Unrunnable(e.to_string()))
        };
        let mut values = Vec::with_capacity(sealed.len());
        // Values rotations replaced, while their overlap lasts: they sign too, and are redacted.
        let mut previous: Vec<(String, String)> = Vec::new();
        let mut stale_at_ms: Option<i64> = None;
        for secret in sealed {
            if let Some(old) = &secret.previous {
                previous.push((
                    secret.name.clone(),
                    open(&secret.name, &old.nonce, &old.ciphertext)?,
                ));
                stale_at_ms = Some(stale_at_ms.map_or(old.until_ms, |at| at.min(old.until_ms)));
            }
            let value = open(&secret.name, &secret.nonce, &secret.ciphertext)?;
            values.push((secret.name, value));
        }
        if let Some(missing) = wanted
            .iter()
            .find(|name| !values.iter().any(|(n, _)| n == *name))
        {
            return Err(Unrunnable(format!("secret {missing} no longer exists")));
        }
        let value_of = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| values.iter().find(|(v, _)| v == n))
                .map(|(_, v)| v.clone())
        };
        let url_text = match &record.url_secret {
            Some(_) => value_of(&record.url_secret).unwrap_or_default(),
            None => record.url.clone(),
        };
        let url = url::Url::parse(&url_text).map_err(|_| {
            Unrunnable(format!("integration {integration}: its URL does not parse"))
        })?;
        // Only the secrets the payload references are filled in: the integration's own
        // credentials go where the host puts them (headers, the real URL), never into a body.
        let referenced = values
            .iter()
            .filter(|(name, _)| key_payload.contains(name))
            .cloned()
            .collect();
        // The current value signs first, then the one its last rotation replaced.
        let signing_secrets = value_of(&record.signing_secret)
            .into_iter()
            .chain(
                previous
                    .iter()
                    .filter(|(name, _)| record.signing_secret.as_ref() == Some(name))
                    .map(|(_, value)| value.clone()),
            )
            .collect();
        let credentials = Credentials {
            url,
            hidden_url: record.url_secret.is_some(),
            access_token: value_of(&record.access_token),
            signing_secrets,
            payload_secrets: referenced,
            stale_at_ms,
        };
        let every = values.into_iter().chain(previous).map(|(_, v)| v);
        Ok((credentials, Redactor::new(every)))
    }
}
