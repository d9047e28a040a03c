//! aws-sdk-rust against the real binary: STS in both auth modes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};

struct Server {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("NIMBUS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start nimbus");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        let endpoint = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, endpoint, _dir: dir }
    }

    fn sts(&self, key: &str, secret: &str, token: Option<String>) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(key, secret, token, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn get_caller_identity_names_the_default_account() {
    let server = Server::start(&[]);
    let who = server.sts("test", "test", None).get_caller_identity().send().await.expect("call");
    assert_eq!(who.account(), Some("000000000000"));
    assert_eq!(who.arn(), Some("arn:aws:iam::000000000000:root"));
}

#[tokio::test]
async fn sigv4_mode_with_assumed_role_credentials() {
    let server = Server::start(&["--auth", "sigv4", "--access-keys", "AKIDRUST:rust-secret:222222222222"]);
    let sts = server.sts("AKIDRUST", "rust-secret", None);
    assert_eq!(sts.get_caller_identity().send().await.expect("call").account(), Some("222222222222"));

    let wrong = server.sts("AKIDRUST", "not-the-secret", None).get_caller_identity().send().await;
    let err = wrong.expect_err("wrong secret must fail");
    assert_eq!(err.into_service_error().meta().code(), Some("SignatureDoesNotMatch"));

    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/RustRole")
        .role_session_name("sdk")
        .send()
        .await
        .expect("assume role");
    let creds = assumed.credentials().expect("credentials");
    let temp = server.sts(creds.access_key_id(), creds.secret_access_key(), Some(creds.session_token().to_string()));
    let who = temp.get_caller_identity().send().await.expect("temporary credentials work");
    assert_eq!(who.arn(), Some("arn:aws:sts::222222222222:assumed-role/RustRole/sdk"));
}
