//! Access keys: the configured long-term keys and the sessions STS issued.

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde::{Deserialize, Serialize};

use nimbus_store::Store;
use nimbus_types::{epoch_now, is_account_id, AwsError, DEFAULT_ACCOUNT};

const SESSIONS: &str = "sts.sessions";

/// A long-term access key from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The account the key acts in; when absent, a 12-digit key id names it, otherwise
    /// the default account.
    #[serde(default)]
    pub account_id: Option<String>,
}

/// Temporary credentials issued by STS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds after which the credentials no longer authenticate.
    pub expiration: f64,
    pub account_id: String,
    /// What `GetCallerIdentity` reports as `Arn`.
    pub arn: String,
    /// What `GetCallerIdentity` reports as `UserId`.
    pub user_id: String,
}

impl Session {
    /// Fresh random credentials expiring at `expiration`, with no identity yet.
    pub fn blank(expiration: f64) -> Session {
        let mut rng = rand::rng();
        let key_id: String = (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        let token_bytes: Vec<u8> = (0..96).map(|_| rng.random()).collect();
        Session {
            access_key_id: format!("ASIA{key_id}"),
            secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
            session_token: format!("FQoGZXIvYXdzE{}", base64_encode(&token_bytes)),
            expiration,
            account_id: DEFAULT_ACCOUNT.to_string(),
            arn: String::new(),
            user_id: String::new(),
        }
    }

    /// Credentials for `role` in `account`, as `AssumeRole` issues them.
    pub fn assumed_role(account: &str, role: &str, session_name: &str, role_id: &str, expiration: f64) -> Session {
        Session {
            account_id: account.to_string(),
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}"),
            user_id: format!("{role_id}:{session_name}"),
            ..Session::blank(expiration)
        }
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A stable role id (`AROA` + 17 characters) derived from the role's account and name,
/// so repeated AssumeRole calls report the same id as AWS does.
pub fn role_id(account: &str, role: &str) -> String {
    // FNV-1a over the name: stable across runs and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in account.bytes().chain([b':']).chain(role.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut id = String::from("AROA");
    for _ in 0..17 {
        id.push(ALPHABET[(h % 32) as usize] as char);
        h = h.rotate_right(5) ^ 0x9e3779b97f4a7c15;
    }
    id
}

/// Every key Nimbus knows: configured ones and live sessions.
pub struct Keys {
    static_keys: Vec<StaticKey>,
    store: Store,
}

impl Keys {
    pub fn new(static_keys: Vec<StaticKey>, store: Store) -> Self {
        Keys { static_keys, store }
    }

    /// Stores a session durably and returns it; the caller may hand it out once this
    /// returns.
    pub async fn issue(&self, session: Session) -> Result<Session, AwsError> {
        let value = serde_json::to_vec(&session).map_err(|e| AwsError::internal(e.to_string()))?;
        let store = self.store.clone();
        let key = session.access_key_id.clone();
        tokio::task::spawn_blocking(move || store.put(SESSIONS, key.into_bytes(), value))
            .await
            .map_err(|e| AwsError::internal(e.to_string()))?
            .map_err(|e| AwsError::internal(format!("could not store the session: {e}")))?;
        Ok(session)
    }

    /// The session with `access_key_id`, if STS issued one (expired or not).
    pub fn session(&self, access_key_id: &str) -> Result<Option<Session>, AwsError> {
        if !access_key_id.starts_with("ASIA") {
            return Ok(None);
        }
        let raw = self
            .store
            .get(SESSIONS, access_key_id.as_bytes())
            .map_err(|e| AwsError::internal(format!("could not read the session: {e}")))?;
        Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
    }

    /// The configured key with `access_key_id`.
    pub fn static_key(&self, access_key_id: &str) -> Option<&StaticKey> {
        self.static_keys.iter().find(|k| k.access_key_id == access_key_id)
    }

    /// The account a key acts in when signatures are not checked: its session's or
    /// configured account, a 12-digit key id's own number, or the default.
    pub fn account_of(&self, access_key_id: &str, default_account: &str) -> String {
        if let Ok(Some(s)) = self.session(access_key_id) {
            return s.account_id;
        }
        if let Some(account) = self.static_key(access_key_id).and_then(|k| k.account_id.clone()) {
            return account;
        }
        if is_account_id(access_key_id) {
            return access_key_id.to_string();
        }
        default_account.to_string()
    }

    /// Whether `session` has expired.
    pub fn expired(session: &Session) -> bool {
        session.expiration <= epoch_now()
    }
}
