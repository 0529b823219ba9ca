//! Deferred proofs' `callback_url`: when a job is done (or failed) the
//! service POSTs the job (the body of `GET /v1/jobs/{id}`, proof included)
//! to the URL the client named, retrying with back-off.
//!
//! `http://` and `https://` URLs (system trust roots, through rustls on the
//! `ring` provider); each attempt has [`ATTEMPT_TIMEOUT`] to connect, send
//! and read the status line; a 2xx status is delivery, anything else (or no
//! answer) is retried after 0.5 s, 1 s, 2 s, ... up to [`ATTEMPTS`] attempts.
//! The service makes requests to any address a client names: on a network
//! where that matters, restrict who may create jobs (API keys) or filter the
//! service's outbound traffic.
//!
//! This module owns the URL check and the delivery; it knows nothing of jobs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Uri;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Attempts per callback.
pub const ATTEMPTS: u32 = 5;
/// Time for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted `callback_url`.
pub const MAX_URL: usize = 2048;

/// A checked callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

/// Checks a `callback_url`; the error is written for the client.
pub fn parse(url: &str) -> Result<CallbackUrl, String> {
    if url.len() > MAX_URL {
        return Err(format!("`callback_url` is longer than {MAX_URL} bytes"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`callback_url` is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(format!(
                "`callback_url` must be http:// or https://, not {other}://"
            ))
        }
        None => return Err("`callback_url` must be an absolute http:// or https:// URL".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "`callback_url` has no host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("`callback_url` may not carry user information".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("`callback_url` has no host".into());
    }
    Ok(CallbackUrl {
        https,
        host: host.to_string(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        path: uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string()),
    })
}

impl std::fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// POSTs `body` (JSON) to `url` until a 2xx answer, at most [`ATTEMPTS`]
/// times; returns the attempts used, or the last failure.
pub async fn deliver(url: &CallbackUrl, body: &[u8]) -> Result<u32, String> {
    let mut delay = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, post_once(url, body)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => return Ok(attempt),
            Ok(Ok(status)) => last = format!("answered HTTP {status}"),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
        }
        tracing::debug!("callback to {url}: attempt {attempt} failed: {last}");
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Err(format!("{ATTEMPTS} attempts; the last {last}"))
}

async fn post_once(url: &CallbackUrl, body: &[u8]) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    if url.https {
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| format!("bad TLS server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(client_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(tls, url, body).await
    } else {
        exchange(stream, url, body).await
    }
}

/// Writes one HTTP/1.1 request and reads the answer's status code.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &CallbackUrl,
    body: &[u8],
) -> Result<u16, String> {
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: zkinfer/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    // The status line only: at most 1 KiB before its end.
    let mut line = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 1024 {
            return Err("the answer's status line is too long".into());
        }
        match stream.read(&mut byte).await {
            Ok(0) => return Err("the connection closed before an answer".into()),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("cannot read the answer: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&line);
    let mut parts = text.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(v), Some(status)) if v.starts_with("HTTP/1.") => Ok(status),
        _ => Err(format!("not an HTTP answer: {:?}", text.trim_end())),
    }
}

/// The TLS client configuration: the system's trust roots (loaded once).
fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no trust roots found on this machine for https callbacks".into());
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let u = parse("http://127.0.0.1:8081/done?x=1").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8081/done?x=1");
        assert_eq!(
            parse("https://example.com").unwrap().to_string(),
            "https://example.com:443/"
        );
        assert_eq!(
            parse("http://[::1]:9/x").unwrap().to_string(),
            "http://[::1]:9/x"
        );
        for bad in [
            "ftp://x/y",
            "/relative",
            "http://user:pw@host/",
            "not a url",
            "http://",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("http://h/{}", "a".repeat(MAX_URL))).is_err());
    }

    #[tokio::test]
    async fn delivery_retries_until_a_2xx() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut bodies = Vec::new();
            for status in [503, 200] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !String::from_utf8_lossy(&got).contains("{\"ok\":1}") {
                    let n = s.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                bodies.push(String::from_utf8(got).unwrap());
                s.write_all(format!("HTTP/1.1 {status} X\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
            bodies
        });
        let url = parse(&format!("http://127.0.0.1:{port}/cb")).unwrap();
        assert_eq!(deliver(&url, b"{\"ok\":1}").await, Ok(2));
        let bodies = server.await.unwrap();
        assert!(bodies[0].starts_with("POST /cb HTTP/1.1\r\n"));
        assert!(bodies[0].contains("Content-Length: 8\r\n"));
    }
}
