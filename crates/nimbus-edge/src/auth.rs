//! Who is calling: SigV4 verification in `sigv4` mode; in `off` mode the access key
//! still names the account (a 12-digit key id, or the account of a known key).

use std::sync::OnceLock;

use bytes::Bytes;
use http::request::Parts;
use nimbus_auth::{AuthError, Body, CredentialProvider, ProtocolFamily, Verifier};
use nimbus_model::schema::Service;
use nimbus_protocol::Wire;
use nimbus_types::{AwsError, RequestContext};

use crate::classify::Scope;
use crate::Edge;

/// Whether signatures are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Any credentials are accepted. The default on a loopback address.
    Off,
    /// Only configured keys and live STS sessions, with valid signatures.
    Sigv4,
}

/// What the edge needs to know about access keys.
pub trait Credentials: CredentialProvider {
    /// The account `access_key_id` acts in when signatures are not checked.
    fn account_of(&self, access_key_id: &str, default_account: &str) -> String;
    /// Whether `access_key_id` is an STS session that has expired.
    fn expired(&self, access_key_id: &str) -> bool;
}

fn family(wire: Wire) -> ProtocolFamily {
    match wire {
        Wire::Query => ProtocolFamily::Query,
        Wire::Json | Wire::RestJson => ProtocolFamily::Json,
    }
}

fn to_aws(err: AuthError, wire: Wire) -> AwsError {
    let info = err.aws_error(family(wire));
    AwsError::new(info.status, info.code, info.message)
}

/// Authenticates a request for `service` and builds its context.
pub fn authenticate(
    edge: &Edge,
    _service: &Service,
    wire: Wire,
    parts: &Parts,
    body: &Bytes,
    scope: Option<&Scope>,
    request_id: &str,
) -> Result<RequestContext, AwsError> {
    let config = edge.config();
    match config.auth {
        AuthMode::Off => {
            let mut ctx = crate::context(request_id, config.account_id.clone(), config.region.clone());
            if let Some(scope) = scope {
                if !scope.region.is_empty() {
                    ctx.region = scope.region.clone();
                }
                ctx.account_id = edge.credentials.account_of(&scope.access_key_id, &config.account_id);
                ctx.access_key_id = Some(scope.access_key_id.clone());
            }
            Ok(ctx)
        }
        AuthMode::Sigv4 => {
            if let Some(scope) = scope {
                if edge.credentials.expired(&scope.access_key_id) {
                    return Err(to_aws(AuthError::ExpiredToken, wire));
                }
            }
            let verified = verifier(edge).verify(parts, Body::Bytes(body), false).map_err(|e| to_aws(e, wire))?;
            let mut ctx = crate::context(request_id, verified.account_id, verified.scope.region);
            ctx.access_key_id = Some(verified.access_key_id);
            Ok(ctx)
        }
    }
}

/// Who signed a request to a Lambda function URL (service `lambda`): verified in
/// `sigv4` mode; in `off` mode the access key names the account, as for any service.
pub fn authenticate_url(edge: &Edge, parts: &Parts, body: &Bytes, scope: Option<&Scope>, request_id: &str) -> Result<RequestContext, AwsError> {
    authenticate(edge, &nimbus_model::services::lambda::SERVICE, Wire::RestJson, parts, body, scope, request_id)
}

/// Checks an S3 request's signature in `sigv4` mode; S3 errors have their own codes.
pub fn authenticate_s3(edge: &Edge, parts: &Parts, body: &Bytes) -> Result<(), nimbus_auth::AwsErrorInfo> {
    if edge.config().auth == AuthMode::Off {
        return Ok(());
    }
    verifier(edge).verify(parts, Body::Bytes(body), true).map(|_| ()).map_err(|e| e.aws_error(ProtocolFamily::S3))
}

fn verifier(edge: &Edge) -> &Verifier {
    edge.verifier.get_or_init(|| Verifier::new(edge.credentials.clone().as_provider()))
}

/// Upcasts a `Credentials` to the verifier's provider trait.
pub trait AsProvider {
    fn as_provider(self) -> std::sync::Arc<dyn CredentialProvider>;
}

impl AsProvider for std::sync::Arc<dyn Credentials> {
    fn as_provider(self) -> std::sync::Arc<dyn CredentialProvider> {
        self
    }
}

/// Lazily built so an `off`-mode edge never pays for it.
pub(crate) type LazyVerifier = OnceLock<Verifier>;
