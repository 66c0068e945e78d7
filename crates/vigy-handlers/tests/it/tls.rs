//! `https` URLs: a real TLS server with a self-signed certificate, trusted
//! through `ca_file` or not at all.

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use vigy_runtime::Handled;

use crate::support::{call, config, run};

/// Answers every connection `200 OK` `secure`, over TLS as `localhost`.
async fn tls_server(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, certified.cert.pem()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure";
                let _ = tls.write_all(reply).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca)
}

#[tokio::test]
async fn http_should_speak_tls_to_a_server_its_ca_file_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ca) = tls_server(dir.path()).await;
    let url = format!("https://localhost:{port}/");
    let text =
        format!("[http]\nca_file = \"{}\"\n[[http.allow]]\nprefix = \"{url}\"\nmethods = [\"GET\"]\n", ca.display());
    let handled = run(config(&text).http().unwrap(), call("http", json!({"url": url}))).await;
    let output = json!({"status": 200, "body": "secure", "truncated": false});
    assert_eq!(handled, Ok(Handled::ok().with_message("200 OK").with_output(output)));
}

#[tokio::test]
async fn http_should_refuse_a_certificate_nobody_trusts_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _) = tls_server(dir.path()).await;
    let url = format!("https://localhost:{port}/");
    let text = format!("[http]\n[[http.allow]]\nprefix = \"{url}\"\nmethods = [\"GET\"]\n");
    let error = run(config(&text).http().unwrap(), call("http", json!({"url": url}))).await.unwrap_err();
    assert!(error.is_retryable());
    assert!(error.to_string().contains("TLS: invalid peer certificate"), "{error}");
}
