//! The Qdrant upload's HTTP: `ureq`, blocking, one agent; the API key (Qdrant Cloud) in the `api-key`
//! header. What is sent, retried and refused is decided in `colbert_wasm::qdrant`.

use std::time::Duration;

use colbert_wasm::qdrant::{Transport, TransportError};
use serde_json::Value;

pub struct Http {
    agent: ureq::Agent,
    base: String,
    api_key: Option<String>,
}

impl Http {
    pub fn new(base: &str, api_key: Option<String>) -> Result<Http, String> {
        if base.starts_with("https://") && !cfg!(feature = "https") {
            return Err(format!(
                "{base}: https needs the indexer built with `--features https` (plain http:// works without it)"
            ));
        }
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(format!("--qdrant {base}: expected a URL such as http://localhost:6333"));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Http {
            agent,
            base: base.trim_end_matches('/').to_string(),
            api_key,
        })
    }
}

impl Transport for Http {
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), TransportError> {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.keyed(self.agent.get(&url)).call(),
            ("PUT", Some(body)) => self.json(self.agent.put(&url), body),
            ("POST", Some(body)) => self.json(self.agent.post(&url), body),
            _ => return Err(TransportError::Fatal(format!("{method} {path}: not a request this client sends"))),
        };
        let mut response = response.map_err(classify)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(classify)?;
        // Qdrant answers JSON; a proxy's error page is kept as text for the message.
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, json))
    }
}

impl Http {
    fn keyed<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.api_key {
            Some(key) => request.header("api-key", key),
            None => request,
        }
    }

    fn json(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.keyed(request)
            .content_type("application/json")
            .send(body.to_string())
    }
}

/// Failures of the connection are worth another try; a malformed request is not.
fn classify(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound => TransportError::Transient(e.to_string()),
        other => TransportError::Fatal(other.to_string()),
    }
}
