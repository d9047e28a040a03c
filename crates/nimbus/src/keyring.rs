//! Connects STS's key table to the edge's signature checks.

use std::sync::Arc;

use nimbus_auth::{Credential, CredentialProvider};
use nimbus_edge::Credentials;
use nimbus_sts::Keys;
use nimbus_types::is_account_id;

/// The configured keys plus STS sessions, as the edge sees them.
pub struct KeyRing {
    pub keys: Arc<Keys>,
    pub default_account: String,
}

impl CredentialProvider for KeyRing {
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        if let Some(k) = self.keys.static_key(access_key_id) {
            let account_id = k.account_id.clone().unwrap_or_else(|| {
                if is_account_id(&k.access_key_id) { k.access_key_id.clone() } else { self.default_account.clone() }
            });
            return Some(Credential { secret_access_key: k.secret_access_key.clone(), account_id, session_token: None });
        }
        let session = self.keys.session(access_key_id).ok().flatten()?;
        if Keys::expired(&session) {
            return None;
        }
        Some(Credential {
            secret_access_key: session.secret_access_key,
            account_id: session.account_id,
            session_token: Some(session.session_token),
        })
    }
}

impl Credentials for KeyRing {
    fn account_of(&self, access_key_id: &str, default_account: &str) -> String {
        self.keys.account_of(access_key_id, default_account)
    }

    fn expired(&self, access_key_id: &str) -> bool {
        matches!(self.keys.session(access_key_id), Ok(Some(s)) if Keys::expired(&s))
    }
}
