//! A function's `VpcConfig`: validation as AWS does it, how `FunctionConfiguration`
//! shows it, and the private network its execution environments run in.
//!
//! # API
//! Nimbus has no EC2, so any well-formed subnet (`subnet-…`) and security group (`sg-…`)
//! id is accepted (AWS would also check that they exist and share one VPC), and `VpcId`
//! is one synthetic VPC per account and region. The limits (16 subnets, 5 security
//! groups), the id patterns and "both lists or neither" are checked with AWS's codes and
//! messages. A function that was never attached has no `VpcConfig`; a detached one
//! (empty lists) shows empty lists and an empty `VpcId`, as AWS does.
//!
//! # Network
//! An attached function's environments run in a private network namespace
//! (`nimbus_sandbox::net`) that has only loopback. Inside it the server opens, itself:
//! - Nimbus' edge on `127.0.0.1:<edge port>` (and `[::1]` when the namespace has IPv6),
//!   served in process by the real edge ([`VpcEndpoint`]): the function's
//!   `AWS_ENDPOINT_URL` is `http://127.0.0.1:<edge port>`;
//! - each environment's Runtime API listener (`AWS_LAMBDA_RUNTIME_API`).
//!
//! Nothing else is reachable: other ports of the host's loopback are not in the
//! namespace, other addresses have no route (`ENETUNREACH`), DNS has no server. This is
//! the "private subnet" of a VPC without a NAT gateway, where Nimbus is the one endpoint.
//!
//! A normal start gets a namespace of its own. A snapshot start (see the template module)
//! puts the function's template in one namespace and every environment forked from it
//! inherits it (a fork keeps its parent's network namespace; the children's own user
//! namespace gives them no power over it), so environments of one template share a
//! loopback: as functions sharing a subnet do, they could reach each other's listening
//! sockets, and nothing outside. A `VpcConfig` change retires every environment and
//! template (the next ones pick up the new network).
//!
//! When the host cannot make network namespaces (server not root, or the kernel refuses),
//! this is said once at start; `--isolation strict` then refuses to run functions, and
//! `best-effort` runs VPC functions on the host network. `--isolation off` runs plain
//! processes and cannot isolate them either (said once, on the first start).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use nimbus_model::types::lambda as t;
use nimbus_sandbox::net::Netns;
use nimbus_types::AwsError;
use serde::{Deserialize, Serialize};
use sha2::Digest;

const MAX_SUBNETS: usize = 16;
const MAX_SECURITY_GROUPS: usize = 5;
const MAX_ID_LEN: usize = 1024;

/// A function's VPC settings as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcRecord {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub ipv6_allowed_for_dual_stack: bool,
}

impl VpcRecord {
    /// Whether the function is in a VPC (empty lists detach it).
    pub fn attached(&self) -> bool {
        !self.subnet_ids.is_empty()
    }
}

fn id_ok(id: &str, prefix: &str, upper: bool) -> bool {
    id.len() <= MAX_ID_LEN
        && id
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || (upper && b.is_ascii_uppercase())))
}

fn list_error(ids: &[String], field: &str, pattern: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '[{}]' at 'vpcConfig.{field}' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to {MAX_ID_LEN}, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: {pattern}]",
        ids.join(", ")
    ))
}

/// Validates `VpcConfig` as CreateFunction/UpdateFunctionConfiguration do.
pub fn check(input: &t::VpcConfig) -> Result<VpcRecord, AwsError> {
    let subnets = input.subnet_ids.clone().unwrap_or_default();
    let groups = input.security_group_ids.clone().unwrap_or_default();
    // The model's limits (checked by the edge as well, for requests that did not go through it).
    if subnets.len() > MAX_SUBNETS {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '[{}]' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to {MAX_SUBNETS}",
            subnets.join(", ")
        )));
    }
    if groups.len() > MAX_SECURITY_GROUPS {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '[{}]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or equal to {MAX_SECURITY_GROUPS}",
            groups.join(", ")
        )));
    }
    if !subnets.iter().all(|s| id_ok(s, "subnet-", false)) {
        return Err(list_error(&subnets, "subnetIds", "^subnet-[0-9a-z]*$"));
    }
    if !groups.iter().all(|g| id_ok(g, "sg-", true)) {
        return Err(list_error(&groups, "securityGroupIds", "^sg-[0-9a-zA-Z]*$"));
    }
    if subnets.is_empty() != groups.is_empty() {
        return Err(AwsError::new(400, "InvalidParameterValueException", "SubnetIds and SecurityIds must coexist or be both empty list."));
    }
    Ok(VpcRecord { subnet_ids: subnets, security_group_ids: groups, ipv6_allowed_for_dual_stack: input.ipv6_allowed_for_dual_stack.unwrap_or(false) })
}

/// The synthetic VPC of `account` in `region` (Nimbus has no EC2).
pub fn vpc_id(account: &str, region: &str) -> String {
    let digest = sha2::Sha256::digest(format!("nimbus-vpc/{account}/{region}").as_bytes());
    format!("vpc-{}", &hex::encode(digest)[..17])
}

/// `FunctionConfiguration.VpcConfig`: absent for a function never attached; empty lists
/// and an empty `VpcId` once detached.
pub fn render(rec: Option<&VpcRecord>, account: &str, region: &str) -> Option<t::VpcConfigResponse> {
    let r = rec?;
    Some(t::VpcConfigResponse {
        subnet_ids: Some(r.subnet_ids.clone()),
        security_group_ids: Some(r.security_group_ids.clone()),
        vpc_id: Some(if r.attached() { vpc_id(account, region) } else { String::new() }),
        ipv6_allowed_for_dual_stack: Some(r.ipv6_allowed_for_dual_stack),
    })
}

/// Serves Nimbus' edge on a listener inside a function's private network (the binary
/// wires it to `nimbus_edge::serve`). The task runs until aborted.
pub trait VpcEndpoint: Send + Sync + 'static {
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()>;
}

/// Makes private networks for VPC functions' environments.
pub struct Networks {
    edge_port: u16,
    endpoint: OnceLock<Arc<dyn VpcEndpoint>>,
    said_unisolated: AtomicBool,
}

impl Networks {
    pub fn new(edge: SocketAddr) -> Networks {
        Networks { edge_port: edge.port(), endpoint: OnceLock::new(), said_unisolated: AtomicBool::new(false) }
    }

    pub fn serve_endpoint_with(&self, endpoint: Arc<dyn VpcEndpoint>) {
        let _ = self.endpoint.set(endpoint);
    }

    /// `AWS_ENDPOINT_URL` inside a private network.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.edge_port)
    }

    /// Whether environments of a function with `vpc` get a private network on `host`
    /// (false: not attached, or the host cannot, which is said once).
    pub fn wanted(&self, vpc: Option<&VpcRecord>, host: &nimbus_sandbox::Host, label: &str) -> bool {
        if !vpc.is_some_and(VpcRecord::attached) {
            return false;
        }
        if host.mode != nimbus_sandbox::Mode::Off && host.network {
            return true;
        }
        if !self.said_unisolated.swap(true, Ordering::Relaxed) {
            let why = if host.mode == nimbus_sandbox::Mode::Off { "isolation is off" } else { "this host cannot make network namespaces" };
            tracing::warn!("lambda: {label} has a VpcConfig, but {why}: environments of VPC functions reach the host network");
        }
        false
    }

    /// A new private network with Nimbus' edge served inside it.
    pub async fn create(&self) -> Result<Arc<Network>, String> {
        let Some(endpoint) = self.endpoint.get().cloned() else {
            return Err("no Nimbus endpoint to serve inside the function's VPC network".into());
        };
        let port = self.edge_port;
        let (netns, listeners) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let netns = Netns::create()?;
            let mut listeners = vec![netns.bind_tcp(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))?];
            // Best effort: a namespace without IPv6 has no ::1 (clients then use 127.0.0.1).
            if let Ok(l) = netns.bind_tcp(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)) {
                listeners.push(l);
            }
            Ok((netns, listeners))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot make the function's VPC network: {e}"))?;
        // Built first, so an error below still stops what was started (drop aborts).
        let mut network = Network { netns: Arc::new(netns), edge: Vec::new() };
        for l in listeners {
            let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
            network.edge.push(endpoint.serve(l));
        }
        Ok(Arc::new(network))
    }
}

/// One private network: the namespace and Nimbus' edge served inside it. Environments
/// (and a template) hold it; the edge stops serving when the last one is gone.
pub struct Network {
    netns: Arc<Netns>,
    edge: Vec<tokio::task::JoinHandle<()>>,
}

impl Network {
    pub fn netns(&self) -> Arc<Netns> {
        self.netns.clone()
    }

    /// An environment's Runtime API listener, inside this network.
    pub async fn runtime_listener(&self) -> Result<tokio::net::TcpListener, String> {
        let netns = self.netns.clone();
        let l = tokio::task::spawn_blocking(move || netns.bind_tcp(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot bind the Runtime API in the VPC network: {e}"))?;
        tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for h in &self.edge {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &[&str], g: &[&str]) -> t::VpcConfig {
        t::VpcConfig {
            subnet_ids: Some(s.iter().map(|x| x.to_string()).collect()),
            security_group_ids: Some(g.iter().map(|x| x.to_string()).collect()),
            ipv6_allowed_for_dual_stack: None,
        }
    }

    #[test]
    fn validation() {
        let r = check(&cfg(&["subnet-0abc", "subnet-1"], &["sg-0AbC"])).unwrap();
        assert!(r.attached());
        assert!(!check(&cfg(&[], &[])).unwrap().attached());
        assert!(!check(&t::VpcConfig::default()).unwrap().attached());
        let e = check(&cfg(&["subnet-1"], &[])).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.code, "InvalidParameterValueException");
        assert_eq!(e.message, "SubnetIds and SecurityIds must coexist or be both empty list.");
        let e = check(&cfg(&["subnet-1", "vpc-2"], &["sg-1"])).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("Value '[subnet-1, vpc-2]' at 'vpcConfig.subnetIds'"), "{}", e.message);
        assert!(e.message.ends_with("regular expression pattern: ^subnet-[0-9a-z]*$]"));
        let e = check(&cfg(&["subnet-1"], &["sg_1"])).unwrap_err();
        assert!(e.message.contains("at 'vpcConfig.securityGroupIds'"));
        let many: Vec<String> = (0..17).map(|i| format!("subnet-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(check(&cfg(&refs, &["sg-1"])).unwrap_err().message.contains("less than or equal to 16"));
        assert!(check(&cfg(&["subnet-1"], &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"])).unwrap_err().message.contains("less than or equal to 5"));
    }

    #[test]
    fn rendering() {
        assert!(render(None, "000000000000", "us-east-1").is_none());
        let r = check(&cfg(&["subnet-1"], &["sg-1"])).unwrap();
        let out = render(Some(&r), "000000000000", "us-east-1").unwrap();
        let id = out.vpc_id.unwrap();
        assert!(id.starts_with("vpc-") && id.len() == 21);
        assert_eq!(id, vpc_id("000000000000", "us-east-1"));
        assert_ne!(id, vpc_id("111111111111", "us-east-1"));
        assert_eq!(out.ipv6_allowed_for_dual_stack, Some(false));
        let detached = render(Some(&VpcRecord::default()), "000000000000", "us-east-1").unwrap();
        assert_eq!(detached.vpc_id.as_deref(), Some(""));
        assert_eq!(detached.subnet_ids, Some(vec![]));
    }
}
