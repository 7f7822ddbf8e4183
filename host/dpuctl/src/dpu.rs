//! One DPU as `dpuctl` sees it: alias, management address, console socket, and its API calls.

use crate::http::{Client, HttpError, Response};
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

/// Why an API call failed, in words (the DPU's own `detail` when it sent one).
#[derive(Debug)]
pub enum ApiError {
    /// No HTTP answer.
    Http(HttpError),
    /// An answer with an unexpected status; `code` and `detail` from its problem document.
    Status {
        /// The HTTP status.
        status: u16,
        /// The problem's `code` (empty when the body was not a problem document).
        code: String,
        /// The problem's `detail`, or the body's first line.
        detail: String,
    },
    /// A 2xx answer whose body is not the JSON expected.
    Body(String),
}

impl ApiError {
    /// The problem's `code`, when the DPU sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// Whether the DPU is not up to answer: no HTTP answer at all (down, rebooting,
    /// unreachable), or 503 (a reboot is scheduled, or it is still booting).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Http(_) | Self::Status { status: 503, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(error) => write!(formatter, "{error}"),
            Self::Status {
                status,
                code,
                detail,
            } => {
                if code.is_empty() {
                    write!(formatter, "{detail} (HTTP {status})")
                } else {
                    write!(formatter, "{detail} ({code}, HTTP {status})")
                }
            }
            Self::Body(why) => write!(formatter, "API answer not understood: {why}"),
        }
    }
}

impl From<HttpError> for ApiError {
    fn from(error: HttpError) -> Self {
        Self::Http(error)
    }
}

/// A DPU of the server.
#[derive(Debug, Clone)]
pub struct Dpu {
    /// Its persistent alias (`dpu1`).
    pub alias: String,
    /// Its management address as given (`169.254.10.11` or `host:port`).
    pub address: String,
    /// The unix socket of its serial console, if known.
    pub console: Option<PathBuf>,
    client: Client,
}

impl Dpu {
    /// A DPU named `alias` at `address`.
    pub fn new(
        alias: &str,
        address: &str,
        token: Option<String>,
        console: Option<PathBuf>,
    ) -> Self {
        Self {
            alias: alias.to_string(),
            address: address.to_string(),
            console,
            client: Client::new(address, token),
        }
    }

    /// `dpu1 (mgmt 169.254.10.11)`: how every line about this DPU starts.
    pub fn label(&self) -> String {
        format!("{} (mgmt {})", self.alias, self.address)
    }

    /// The HTTP client (tests shorten its deadlines).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `GET path` as JSON (2xx only).
    pub fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        let response = self.client.get(path)?;
        json_of(expect_success(response)?)
    }

    /// `GET path` as text (2xx only).
    pub fn get_text(&self, path: &str) -> Result<String, ApiError> {
        Ok(expect_success(self.client.get(path)?)?.text())
    }

    /// `POST path` with an optional JSON body; the answer's JSON (`null` when empty).
    pub fn post_json(&self, path: &str, body: Option<&str>) -> Result<Value, ApiError> {
        let response = self.client.post_json(path, body)?;
        json_of(expect_success(response)?)
    }

    /// `POST /v1/firmware:upload` with the image; the task's JSON.
    pub fn upload(&self, image: &[u8]) -> Result<Value, ApiError> {
        let response = self.client.request(
            "POST",
            "/v1/firmware:upload",
            Some(("application/octet-stream", image)),
        )?;
        json_of(expect_success(response)?)
    }

    /// `GET /v1/ha`, or `None` when this firmware has no HA resource or HA is off.
    pub fn ha(&self) -> Result<Option<Value>, ApiError> {
        match self.get_json("/v1/ha") {
            Ok(ha) if ha["enabled"].as_bool() == Some(false) => Ok(None),
            Ok(ha) => Ok(Some(ha)),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn expect_success(response: Response) -> Result<Response, ApiError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let (code, detail) = match serde_json::from_slice::<Value>(&response.body) {
        Ok(problem) => (
            problem["code"].as_str().unwrap_or_default().to_string(),
            problem["detail"]
                .as_str()
                .or_else(|| problem["title"].as_str())
                .unwrap_or("no detail")
                .to_string(),
        ),
        Err(_) => (
            String::new(),
            response
                .text()
                .lines()
                .next()
                .filter(|line| !line.trim().is_empty())
                .unwrap_or("no detail")
                .chars()
                .take(200)
                .collect(),
        ),
    };
    Err(ApiError::Status {
        status: response.status,
        code,
        detail,
    })
}

fn json_of(response: Response) -> Result<Value, ApiError> {
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&response.body)
        .map_err(|error| ApiError::Body(format!("not JSON ({error})")))
}

/// The text of `value` at a JSON pointer, or `unknown`.
pub fn text_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// The firmware version a DPU runs: its running bank's image version (`0.2.0+2`), or the
/// build's own version (`/v1/system`) on a direct boot without banks.
pub fn running_version(system: &Value, firmware: &Value) -> String {
    firmware["banks"]
        .as_array()
        .and_then(|banks| {
            banks
                .iter()
                .find(|bank| bank["active"].as_bool() == Some(true))
        })
        .and_then(|bank| bank["version"].as_str())
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| text_at(system, "/version"))
        .to_string()
}
