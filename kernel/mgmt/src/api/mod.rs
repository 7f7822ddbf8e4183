//! The /v1 resources and /metrics: routes, roles, handlers and their bodies (pure).
//!
//! The HTTP server (parsing, tokens, limits, deadlines) hands each authenticated request to
//! [`handle`] with a buffer for a small body. The answer is an [`Outcome`]: a [`Reply`]
//! (status, headers, and a body either already written into the buffer or a [`Body`] cursor
//! the server fills chunk by chunk), or, for `POST /v1/firmware:upload`, the start of an
//! upload whose request body the server streams through [`upload_chunk`] and ends with
//! [`upload_finish`] or [`upload_abort`]. Everything the handlers read or do goes through the
//! [`Backend`] trait the kernel implements. No heap, no panics: every refusal is a problem
//! document (RFC 9457) with a machine-readable `code`. Shapes: `docs/api.md` "Resources".

pub mod backend;
pub mod body;
pub mod ha;
pub mod lines;
pub mod metrics;
pub mod out;
pub mod route;
pub mod serve;

#[cfg(test)]
mod tests;

pub use backend::Backend;
pub use body::Body;
pub use route::{Method, Resource, Role};

use dpu_switch::{EntryKind, FdbError, MacAddress, PortId, Problem, SwitchConfig, VlanId};
use heapless::String;
use serde::Deserialize;

use backend::{
    ApplyError, ConfigRefusal, FdbFilter, RebootKind, RollbackRefusal, UnstageRefusal,
    UploadRefusal,
};
use out::Out;

/// `Content-Type` of JSON bodies.
pub const JSON: &str = "application/json";
/// `Content-Type` of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Longest JSON request body read whole (a whole config with seven trunk ports fits).
pub const MAX_JSON_BODY: usize = 8192;
/// The OpenAPI document the DPU serves at `GET /v1/openapi` (`docs/api/openapi.yaml`).
pub const OPENAPI_DOCUMENT: &[u8] = include_bytes!("../../../../docs/api/openapi.yaml");
/// Its `Content-Type` (RFC 9512).
pub const YAML: &str = "application/yaml";

/// Smallest buffer [`handle`] needs for the bodies it writes at once (problems, actions).
pub const MIN_BUFFER: usize = body::MIN_FILL;

/// One request, as the server parsed and authenticated it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: &'a str,
    /// The query (after `?`), or empty.
    pub query: &'a str,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The `Content-Length` header, if any.
    pub content_length: Option<u64>,
    /// The caller's role (from its token).
    pub role: Role,
    /// The whole body when it is a small one (up to [`MAX_JSON_BODY`]); empty for uploads,
    /// whose body is streamed.
    pub body: &'a [u8],
}

/// A `Location` header value (`/v1/tasks/12`).
pub type Location = String<32>;

/// Where a reply's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No body (204).
    Empty,
    /// The first `n` bytes of the buffer given to [`handle`].
    Ready(usize),
    /// Written by [`Body::fill`], chunk by chunk.
    Stream(Body),
    /// A fixed document.
    Static(&'static [u8]),
}

/// A response: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Location` (202 of an upload, 201 of a static entry).
    pub location: Option<Location>,
    /// `Allow` (405).
    pub allow: Option<&'static str>,
    /// `Retry-After` in seconds (503).
    pub retry_after: Option<u32>,
    /// The body.
    pub content: Content,
}

impl Reply {
    fn json(status: u16, content: Content) -> Self {
        Self {
            status,
            content_type: JSON,
            location: None,
            allow: None,
            retry_after: None,
            content,
        }
    }

    fn stream(body: Body) -> Self {
        Self::json(200, Content::Stream(body))
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this.
    Reply(Reply),
    /// An upload started as task `task`: stream the body through [`upload_chunk`], then
    /// answer with [`upload_finish`] (every byte arrived), or call [`upload_abort`] (it did
    /// not) and close.
    Upload {
        /// The task reporting it.
        task: u32,
        /// Bytes of body to stream.
        length: u32,
    },
}

/// Machine-readable problem codes (the `code` member).
pub mod code {
    /// Malformed JSON or a field of the wrong type.
    pub const INVALID_JSON: &str = "invalid_json";
    /// A field with a value the resource refuses.
    pub const INVALID_FIELD: &str = "invalid_field";
    /// A query parameter with a bad value.
    pub const INVALID_QUERY: &str = "invalid_query";
    /// No resource at this path.
    pub const NOT_FOUND: &str = "not_found";
    /// The resource does not take the method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The caller's role may not do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// A firmware upload (or console update) runs already (gNOI's name).
    pub const INSTALL_IN_PROGRESS: &str = "install_in_progress";
    /// The running bank is not committed: no update or rollback now.
    pub const NOT_COMMITTED: &str = "not_committed";
    /// Direct boot: no boot banks.
    pub const NO_BOOT_BANKS: &str = "no_boot_banks";
    /// The other bank may not be booted (state, anti-rollback floor).
    pub const ROLLBACK_FORBIDDEN: &str = "rollback_forbidden";
    /// No image is staged as the next boot's trial.
    pub const NOTHING_STAGED: &str = "nothing_staged";
    /// An upload without `Content-Length`.
    pub const LENGTH_REQUIRED: &str = "length_required";
    /// The image is larger than a bank (gNOI's name).
    pub const TOO_LARGE: &str = "content_too_large";
    /// A body of a type the resource does not take.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// The upload failed while its body arrived (the task says why).
    pub const UPLOAD_FAILED: &str = "upload_failed";
    /// No data ports: the switch does not run.
    pub const NO_SWITCH: &str = "no_switch";
    /// The MAC table refused the entry (full).
    pub const TABLE_FULL: &str = "table_full";
    /// Writing to flash failed; nothing changed.
    pub const STORAGE_FAILED: &str = "storage_failed";
}

/// The reason phrase of the statuses the handlers send.
#[must_use]
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Internal Server Error",
    }
}

/// Writes a problem document (RFC 9457) into `buffer`; `errors` lists field errors
/// (`[{"field":..,"reason":..}]`) when given.
fn problem_with(
    buffer: &mut [u8],
    status: u16,
    code: &str,
    detail: &str,
    errors: &[(&str, &str)],
) -> Reply {
    let mut out = Out::new(buffer);
    let written = (|| {
        out.text("{\"type\":\"about:blank\",\"title\":")?;
        out.string(reason_phrase(status))?;
        out.text(",\"status\":")?;
        out.number(u64::from(status))?;
        out.text(",\"detail\":")?;
        out.string(detail)?;
        out.text(",\"code\":")?;
        out.string(code)?;
        if !errors.is_empty() {
            out.text(",\"errors\":[")?;
            for (index, (field, reason)) in errors.iter().enumerate() {
                if index > 0 {
                    out.text(",")?;
                }
                out.text("{\"field\":")?;
                out.string(field)?;
                out.text(",\"reason\":")?;
                out.string(reason)?;
                out.text("}")?;
            }
            out.text("]")?;
        }
        out.text("}")
    })();
    let length = if written.is_ok() { out.len() } else { 0 };
    let mut reply = Reply::json(status, Content::Ready(length));
    reply.content_type = PROBLEM_JSON;
    reply
}

/// A problem document without field errors.
#[must_use]
pub fn problem(buffer: &mut [u8], status: u16, code: &str, detail: &str) -> Reply {
    problem_with(buffer, status, code, detail, &[])
}

/// `value` in words, for a problem's detail.
fn words(value: impl core::fmt::Display) -> String<160> {
    let mut text = String::new();
    let _ = core::fmt::write(&mut text, format_args!("{value}"));
    text
}

/// Answers `request`. `buffer` (at least [`MIN_BUFFER`] bytes) takes a body written at once.
pub fn handle<B: Backend + ?Sized>(
    backend: &mut B,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Outcome {
    let Some(resource) = route::resource(request.path) else {
        return Outcome::Reply(problem(buffer, 404, code::NOT_FOUND, "no such resource"));
    };
    if !resource.takes(request.method) {
        let mut reply = problem(
            buffer,
            405,
            code::METHOD_NOT_ALLOWED,
            "the resource does not take this method (Allow lists those it takes)",
        );
        reply.allow = Some(resource.allow());
        return Outcome::Reply(reply);
    }
    let access = resource.access(request.method);
    if !access.allows(request.role) {
        let detail = words(format_args!(
            "a {} token may not do this; it needs the {} role",
            request.role,
            access.least_role()
        ));
        return Outcome::Reply(problem(buffer, 403, code::FORBIDDEN, &detail));
    }
    let reply = match (resource, request.method) {
        (Resource::Upload, _) => return upload_start(backend, request, buffer),
        (_, Method::Get | Method::Head) => read(backend, resource, request, buffer),
        _ => write(backend, resource, request, buffer),
    };
    Outcome::Reply(reply)
}

/// The streamed body a request's answer starts with (the same request always makes the same
/// one, so a server needs to keep only the cursor): every GET but problems, the port after a
/// PATCH, the config after a PUT. `None` when the answer has no streamed body.
pub fn start_body<B: Backend + ?Sized>(backend: &B, request: &Request<'_>) -> Option<Body> {
    let resource = route::resource(request.path)?;
    match (resource, request.method) {
        (Resource::Port(port), Method::Patch) => existing_port(backend, port).map(Body::port),
        (Resource::Config, Method::Put) => Some(Body::config()),
        (_, Method::Get | Method::Head) => Some(match resource {
            Resource::System => Body::System,
            Resource::Ports => Body::ports(),
            Resource::Port(port) => Body::port(existing_port(backend, port)?),
            Resource::Vlans => Body::vlans(),
            Resource::Teaming => Body::Teaming,
            Resource::Fdb => {
                let (filter, start, size) = fdb_query(request.query).ok()?;
                Body::fdb(filter, start, size)
            }
            Resource::Config => Body::config(),
            Resource::Firmware => Body::Firmware,
            Resource::Task(id) => Body::Task(id.filter(|id| backend.task(*id).is_some())?),
            Resource::Logs => {
                let (after, limit) = logs_query(request.query).ok()?;
                Body::logs(after, limit)
            }
            Resource::Metrics => Body::metrics(),
            _ => return None,
        }),
        _ => None,
    }
}

/// Every GET (HEAD is the same reply; the server drops the body).
fn read<B: Backend + ?Sized>(
    backend: &mut B,
    resource: Resource,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Reply {
    match resource {
        Resource::Port(port) if existing_port(&*backend, port).is_none() => {
            return problem(buffer, 404, code::NOT_FOUND, "no such data port");
        }
        Resource::Task(id) if id.is_none_or(|id| backend.task(id).is_none()) => {
            return problem(buffer, 404, code::NOT_FOUND, "no such task");
        }
        Resource::Fdb => {
            if let Err(detail) = fdb_query(request.query) {
                return problem(buffer, 400, code::INVALID_QUERY, detail);
            }
        }
        Resource::Logs => {
            if let Err(detail) = logs_query(request.query) {
                return problem(buffer, 400, code::INVALID_QUERY, detail);
            }
        }
        _ => {}
    }
    if resource == Resource::Ha {
        return ha::get(&*backend, buffer);
    }
    if resource == Resource::OpenApi {
        let mut reply = Reply::json(200, Content::Static(OPENAPI_DOCUMENT));
        reply.content_type = YAML;
        return reply;
    }
    match start_body(&*backend, request) {
        Some(body) => {
            let mut reply = Reply::stream(body);
            if resource == Resource::Metrics {
                reply.content_type = metrics::CONTENT_TYPE;
            }
            reply
        }
        None => problem(buffer, 404, code::NOT_FOUND, "no such resource"),
    }
}

/// The port, if the switch has it.
fn existing_port<B: Backend + ?Sized>(backend: &B, port: Option<PortId>) -> Option<PortId> {
    let port = port?;
    backend
        .switch_config()
        .filter(|config| config.has_port(port))
        .map(|_| port)
}

/// Query parameters as `(name, value)` pairs (values as sent; ours need no decoding).
fn parameters(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// `vlan`, `port`, `type`, `page_size`, `page_token`.
fn fdb_query(query: &str) -> Result<(FdbFilter, u32, u16), &'static str> {
    let mut filter = FdbFilter::default();
    let mut start = 0;
    let mut size = body::DEFAULT_PAGE_SIZE;
    for (name, value) in parameters(query) {
        match name {
            "vlan" => {
                filter.vlan = Some(
                    route::decimal(value)
                        .and_then(|vlan| u16::try_from(vlan).ok())
                        .and_then(VlanId::new)
                        .ok_or("vlan must be a number in 1..4094")?,
                )
            }
            "port" => {
                filter.port = Some(
                    value
                        .strip_prefix("port")
                        .and(PortId::parse(value))
                        .ok_or("port must name a data port (port1..port7)")?,
                )
            }
            "type" => {
                filter.kind = Some(match value {
                    "static" => EntryKind::Static,
                    "learned" => EntryKind::Learned,
                    _ => return Err("type must be static or learned"),
                })
            }
            "page_size" => {
                size = route::decimal(value)
                    .and_then(|size| u16::try_from(size).ok())
                    .filter(|size| (1..=body::MAX_PAGE_SIZE).contains(size))
                    .ok_or("page_size must be a number in 1..1000")?
            }
            "page_token" => {
                start = route::decimal(value)
                    .ok_or("page_token must be a token from next_page_token")?
            }
            _ => {}
        }
    }
    Ok((filter, start, size))
}

/// `after_seq`, `limit`.
fn logs_query(query: &str) -> Result<(u64, u16), &'static str> {
    let mut after = 0;
    let mut limit = body::DEFAULT_LOG_LIMIT;
    for (name, value) in parameters(query) {
        match name {
            "after_seq" => {
                after = value
                    .parse::<u64>()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    // The document's int64: a larger number is refused, not clamped.
                    .filter(|after| i64::try_from(*after).is_ok())
                    .ok_or("after_seq must be a sequence number (0..2^63-1)")?
                    .min(body::MAX_CURSOR_SEQ)
            }
            "limit" => {
                limit = route::decimal(value)
                    .and_then(|limit| u16::try_from(limit).ok())
                    .filter(|limit| (1..=body::DEFAULT_LOG_LIMIT).contains(limit))
                    .ok_or("limit must be a number in 1..100")?
            }
            _ => {}
        }
    }
    Ok((after, limit))
}

/// Whether `content_type` is `media` (parameters such as `charset` allowed).
fn is_media(content_type: Option<&str>, media: &str) -> bool {
    content_type.is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(media))
    })
}

/// A JSON body into `T`, or the problem to answer.
fn json_body<'a, T: Deserialize<'a>>(request: &Request<'a>, buffer: &mut [u8]) -> Result<T, Reply> {
    if !is_media(request.content_type, JSON) {
        return Err(problem(
            buffer,
            415,
            code::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        ));
    }
    match serde_json_core::from_slice::<T>(request.body) {
        Ok((value, _)) => Ok(value),
        Err(error) => Err(problem(buffer, 400, code::INVALID_JSON, &words(error))),
    }
}

/// An optional JSON body: none at all (zero bytes) is `T::default()`; anything else must be
/// JSON (whitespace alone is not).
fn optional_json_body<'a, T: Deserialize<'a> + Default>(
    request: &Request<'a>,
    buffer: &mut [u8],
) -> Result<T, Reply> {
    if request.body.is_empty() {
        return Ok(T::default());
    }
    json_body(request, buffer)
}

/// A member that may be left out but not sent as `null` (the document gives each a type, and
/// null is none of them): absent is `None` (with `#[serde(default)]`), `null` a type error.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `PATCH /v1/ports/{name}`: the fields to change; absent ones stay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortPatch<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    role: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    admin_state: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    vlan_mode: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    access_vlan: Option<u16>,
    /// 0 removes the native VLAN.
    #[serde(default, deserialize_with = "present")]
    native_vlan: Option<u16>,
    #[serde(borrow, default, deserialize_with = "present")]
    trunk_vlans: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    security: Option<SecurityPatch<'a>>,
    #[serde(default, deserialize_with = "present")]
    mac_limit: Option<u32>,
    #[serde(borrow, default, deserialize_with = "present")]
    mac_limit_policy: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecurityPatch<'a> {
    /// A MAC, or `none` to stop checking.
    #[serde(borrow, default, deserialize_with = "present")]
    mac: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    promiscuous: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    mac_changes: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    forged_transmits: Option<&'a str>,
}

/// `POST /v1/fdb`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticEntry<'a> {
    mac: &'a str,
    vlan: u16,
    port: &'a str,
}

/// `POST /v1/fdb:flush` (optional body).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Flush<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    port: Option<&'a str>,
}

/// `POST /v1/system:reboot` (optional body), Redfish ResetType words.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reboot<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "present")]
    kind: Option<&'a str>,
}

/// Every POST, PATCH, PUT, DELETE but the upload.
fn write<B: Backend + ?Sized>(
    backend: &mut B,
    resource: Resource,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Reply {
    match resource {
        Resource::HaFailover => ha::failover(backend, request, buffer),
        Resource::Reboot => {
            let reboot: Reboot<'_> = match optional_json_body(request, buffer) {
                Ok(reboot) => reboot,
                Err(reply) => return reply,
            };
            let kind = match reboot.kind {
                None | Some("GracefulRestart") => RebootKind::Graceful,
                Some("ForceRestart") => RebootKind::Force,
                Some(_) => {
                    return field_problem(
                        buffer,
                        "type",
                        "must be GracefulRestart or ForceRestart",
                    );
                }
            };
            backend.reboot(kind);
            Reply::json(202, written(buffer, "{\"rebooting\":true}"))
        }
        Resource::Port(port) => match existing_port(&*backend, port) {
            Some(port) => patch_port(backend, port, request, buffer),
            None => problem(buffer, 404, code::NOT_FOUND, "no such data port"),
        },
        Resource::ClearCounters(port) => match existing_port(&*backend, port) {
            Some(port) => {
                backend.clear_port_counters(port);
                Reply::json(204, Content::Empty)
            }
            None => problem(buffer, 404, code::NOT_FOUND, "no such data port"),
        },
        Resource::Fdb => {
            let entry: StaticEntry<'_> = match json_body(request, buffer) {
                Ok(entry) => entry,
                Err(reply) => return reply,
            };
            add_static(backend, &entry, buffer)
        }
        Resource::FdbEntry(key) => {
            let removed = key.and_then(|(vlan, mac)| backend.fdb_remove(vlan, mac));
            match removed {
                Some(_) => Reply::json(204, Content::Empty),
                None => problem(buffer, 404, code::NOT_FOUND, "no such MAC table entry"),
            }
        }
        Resource::FdbFlush => {
            let flush: Flush<'_> = match optional_json_body(request, buffer) {
                Ok(flush) => flush,
                Err(reply) => return reply,
            };
            // A port name out of port1..port7 is refused; a port this DPU does not have has
            // learned nothing, so it flushes 0 entries (as `GET /v1/fdb?port=` lists none).
            let port = match flush.port {
                None => None,
                Some(name) => match port_word(name) {
                    Some(port) => Some(port),
                    None => {
                        return field_problem(
                            buffer,
                            "port",
                            "must name a data port (port1..port7)",
                        );
                    }
                },
            };
            if backend.switch_config().is_none() {
                return problem(buffer, 409, code::NO_SWITCH, "no data ports: no MAC table");
            }
            let flushed = match port {
                Some(port) if existing_port(&*backend, Some(port)).is_none() => 0,
                _ => backend.fdb_flush(port),
            };
            let mut out = Out::new(buffer);
            let _ = out
                .text("{\"flushed\":")
                .and_then(|()| out.number(flushed as u64))
                .and_then(|()| out.text("}"));
            let length = out.len();
            Reply::json(200, Content::Ready(length))
        }
        Resource::Config => put_config(backend, request, buffer),
        Resource::Rollback => match backend.rollback() {
            Ok(()) => Reply::json(
                202,
                written(
                    buffer,
                    "{\"rollback_requested\":true,\"detail\":\"dpuboot boots the other bank at the next boot (POST /v1/system:reboot)\"}",
                ),
            ),
            Err(RollbackRefusal::NoBanks) => problem(
                buffer,
                409,
                code::NO_BOOT_BANKS,
                "direct boot: there is no other bank to roll back to",
            ),
            Err(RollbackRefusal::Forbidden) => problem(
                buffer,
                409,
                code::ROLLBACK_FORBIDDEN,
                "the other bank may not be booted (its state, or its security counter is below the anti-rollback floor)",
            ),
            Err(RollbackRefusal::Flash) => problem(
                buffer,
                507,
                code::STORAGE_FAILED,
                "writing the rollback request to flash failed",
            ),
        },
        Resource::Unstage => unstage(backend, buffer),
        _ => problem(buffer, 404, code::NOT_FOUND, "no such resource"),
    }
}

/// `POST /v1/firmware:unstage`: 200 with the bank and version withdrawn.
fn unstage<B: Backend + ?Sized>(backend: &mut B, buffer: &mut [u8]) -> Reply {
    match backend.unstage() {
        Ok(unstaged) => {
            let mut out = Out::new(buffer);
            let mut slot = [0u8; 4];
            let written = out
                .text("{\"unstaged\":true,\"slot\":")
                .and_then(|()| out.string(unstaged.slot.encode_utf8(&mut slot)))
                .and_then(|()| out.text(",\"version\":"))
                .and_then(|()| out.string(&unstaged.version))
                .and_then(|()| {
                    out.text(",\"detail\":\"the next boot runs the running bank again\"}")
                });
            // The body is under 100 bytes; every buffer holds it (as `written` assumes).
            let length = if written.is_ok() { out.len() } else { 0 };
            Reply::json(200, Content::Ready(length))
        }
        Err(UnstageRefusal::NoBanks) => problem(
            buffer,
            409,
            code::NO_BOOT_BANKS,
            "direct boot: there are no boot banks",
        ),
        Err(UnstageRefusal::RunningTrial) => problem(
            buffer,
            409,
            code::NOT_COMMITTED,
            "the running bank is a trial: no staged image waits behind it",
        ),
        Err(UnstageRefusal::NothingStaged) => problem(
            buffer,
            409,
            code::NOTHING_STAGED,
            "no image is staged for the next boot",
        ),
        Err(UnstageRefusal::Flash) => problem(
            buffer,
            507,
            code::STORAGE_FAILED,
            "writing the boot state to flash failed",
        ),
    }
}

/// `text` as the body at the start of `buffer`.
fn written(buffer: &mut [u8], text: &str) -> Content {
    let mut out = Out::new(buffer);
    match out.text(text) {
        Ok(()) => Content::Ready(out.len()),
        Err(_) => Content::Ready(0),
    }
}

fn field_problem(buffer: &mut [u8], field: &str, reason: &str) -> Reply {
    let detail = words(format_args!("{field}: {reason}"));
    problem_with(
        buffer,
        400,
        code::INVALID_FIELD,
        &detail,
        &[(field, reason)],
    )
}

/// `port3` (only that spelling) as a port id.
fn port_word(name: &str) -> Option<PortId> {
    name.strip_prefix("port").and(PortId::parse(name))
}

fn add_static<B: Backend + ?Sized>(
    backend: &mut B,
    entry: &StaticEntry<'_>,
    buffer: &mut [u8],
) -> Reply {
    let Some(mac) = MacAddress::parse(entry.mac).filter(|mac| mac.is_unicast()) else {
        return field_problem(
            buffer,
            "mac",
            "must be a unicast MAC like 52:54:00:00:00:01",
        );
    };
    let Some(vlan) = VlanId::new(entry.vlan) else {
        return field_problem(buffer, "vlan", "must be in 1..4094");
    };
    if backend.switch_config().is_none() {
        return problem(buffer, 409, code::NO_SWITCH, "no data ports: no MAC table");
    }
    let Some(port) = existing_port(&*backend, port_word(entry.port)) else {
        return field_problem(buffer, "port", "no such data port");
    };
    match backend.fdb_add(vlan, mac, port) {
        Ok(()) => {
            let mut reply = Reply::json(201, Content::Empty);
            let mut location = Location::new();
            let _ = core::fmt::write(&mut location, format_args!("/v1/fdb/{vlan}/{mac}"));
            reply.location = Some(location);
            let mut out = Out::new(buffer);
            let result = (|| {
                out.text("{\"mac\":")?;
                out.display_string(mac)?;
                out.text(",\"vlan\":")?;
                out.number(u64::from(vlan.get()))?;
                out.text(",\"port\":")?;
                out.display_string(port)?;
                out.text(",\"type\":\"static\",\"age_s\":null}")
            })();
            reply.content = Content::Ready(if result.is_ok() { out.len() } else { 0 });
            reply
        }
        Err(FdbError::Full(full)) => problem(buffer, 507, code::TABLE_FULL, &words(full)),
        Err(FdbError::VlanNotCarried(..)) => {
            field_problem(buffer, "vlan", "the port does not carry this vlan")
        }
        Err(error) => field_problem(buffer, "port", &words(error)),
    }
}

/// What is wrong with one patched field.
#[derive(Debug, Clone, Copy)]
struct FieldError {
    field: &'static str,
    why: Why,
}

#[derive(Debug, Clone, Copy)]
enum Why {
    Key(dpu_switch::KeyProblem),
    Text(&'static str),
}

impl core::fmt::Display for Why {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Key(problem) => problem.fmt(formatter),
            Self::Text(text) => formatter.write_str(text),
        }
    }
}

fn fail(field: &'static str, reason: &'static str) -> FieldError {
    FieldError {
        field,
        why: Why::Text(reason),
    }
}

/// Applies one `switch.*` key to `config`, or the error naming `field`.
fn set_key(
    config: &mut SwitchConfig,
    port: PortId,
    key: &str,
    value: &str,
    field: &'static str,
) -> Result<(), FieldError> {
    let mut full: String<40> = String::new();
    let _ = core::fmt::write(&mut full, format_args!("{port}{key}"));
    config.set(&full, value).map_err(|problem| FieldError {
        field,
        why: Why::Key(problem),
    })
}

fn patch_port<B: Backend + ?Sized>(
    backend: &mut B,
    port: PortId,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Reply {
    let patch: PortPatch<'_> = match json_body(request, buffer) {
        Ok(patch) => patch,
        Err(reply) => return reply,
    };
    let Some(mut config) = backend.switch_config().cloned() else {
        return problem(buffer, 404, code::NOT_FOUND, "no such data port");
    };
    if let Err(error) = apply_patch(&mut config, port, &patch) {
        return field_problem(buffer, error.field, &words(error.why));
    }
    let error = match backend.apply_switch_config(&config) {
        Ok(()) => return Reply::stream(Body::port(port)),
        Err(ApplyError::Storage) => {
            return problem(
                buffer,
                507,
                code::STORAGE_FAILED,
                "storing the config in flash failed; nothing changed",
            );
        }
        Err(ApplyError::Invalid(error)) => error,
    };
    field_problem(buffer, patch_field(&patch, error.problem), &words(error))
}

/// The member of `patch` a switch validation problem is about, so the error names a field
/// the client sent (`access_vlan`, not the switch's own `vlan` key).
fn patch_field(patch: &PortPatch<'_>, problem: Problem) -> &'static str {
    match problem {
        Problem::VlanOutOfRange(_) => {
            if patch.access_vlan.is_some() {
                "access_vlan"
            } else if patch.native_vlan.is_some() {
                "native_vlan"
            } else if patch.trunk_vlans.is_some() {
                "trunk_vlans"
            } else {
                "vlan_mode"
            }
        }
        Problem::EmptyTrunk => "trunk_vlans",
        Problem::MacNotUnicast(_) | Problem::HostOnlySetting => "security",
        Problem::MacLimitTooLarge(_) => "mac_limit",
        _ => "role",
    }
}

/// The patch on top of `config` (not yet validated as a whole).
fn apply_patch(
    config: &mut SwitchConfig,
    port: PortId,
    patch: &PortPatch<'_>,
) -> Result<(), FieldError> {
    if let Some(state) = patch.admin_state
        && state != "up"
    {
        return Err(fail(
            "admin_state",
            "only up: ports cannot be taken down administratively yet",
        ));
    }
    if let Some(role) = patch.role {
        set_key(config, port, "", role, "role")?;
    }
    let mode = patch.vlan_mode.unwrap_or(match config.port(port).vlan {
        dpu_switch::VlanMode::Access(_) => "access",
        dpu_switch::VlanMode::Trunk { .. } => "trunk",
    });
    let vlan_fields = patch.vlan_mode.is_some()
        || patch.access_vlan.is_some()
        || patch.native_vlan.is_some()
        || patch.trunk_vlans.is_some();
    if vlan_fields {
        match mode {
            "access" => {
                if patch.native_vlan.is_some() || patch.trunk_vlans.is_some() {
                    return Err(fail(
                        "vlan_mode",
                        "an access port has no native_vlan or trunk_vlans",
                    ));
                }
                let vlan = match (patch.access_vlan, config.port(port).vlan) {
                    (Some(vlan), _) => vlan,
                    (None, dpu_switch::VlanMode::Access(vlan)) => vlan,
                    (None, dpu_switch::VlanMode::Trunk { native, .. }) => native.unwrap_or(1),
                };
                config.port_mut(port).vlan = dpu_switch::VlanMode::Access(vlan);
            }
            "trunk" => {
                if patch.access_vlan.is_some() {
                    return Err(fail("access_vlan", "a trunk port has no access_vlan"));
                }
                let (mut allowed, mut native) = match config.port(port).vlan {
                    dpu_switch::VlanMode::Trunk { allowed, native } => (allowed, native),
                    dpu_switch::VlanMode::Access(vlan) => (dpu_switch::VlanSet::new(), Some(vlan)),
                };
                if let Some(list) = patch.trunk_vlans {
                    let mut probe = SwitchConfig::new(config.port_count);
                    set_key(&mut probe, port, ".trunk", list, "trunk_vlans")?;
                    if let dpu_switch::VlanMode::Trunk {
                        allowed: parsed, ..
                    } = probe.port(port).vlan
                    {
                        allowed = parsed;
                    }
                }
                if let Some(vlan) = patch.native_vlan {
                    native = (vlan != 0).then_some(vlan);
                }
                config.port_mut(port).vlan = dpu_switch::VlanMode::Trunk { allowed, native };
            }
            _ => return Err(fail("vlan_mode", "must be access or trunk")),
        }
    }
    if let Some(security) = &patch.security {
        if let Some(mac) = security.mac {
            if mac == "none" {
                config.port_mut(port).mac = None;
            } else {
                set_key(config, port, ".mac", mac, "security.mac")?;
            }
        }
        for (key, value, field) in [
            (".promiscuous", security.promiscuous, "security.promiscuous"),
            (".mac-changes", security.mac_changes, "security.mac_changes"),
            (
                ".forged-transmits",
                security.forged_transmits,
                "security.forged_transmits",
            ),
        ] {
            if let Some(value) = value {
                set_key(config, port, key, value, field)?;
            }
        }
    }
    if let Some(limit) = patch.mac_limit {
        let mut text: String<12> = String::new();
        let _ = core::fmt::write(&mut text, format_args!("{limit}"));
        set_key(config, port, ".mac-limit", &text, "mac_limit")?;
    }
    if let Some(policy) = patch.mac_limit_policy {
        set_key(
            config,
            port,
            ".mac-limit-policy",
            policy,
            "mac_limit_policy",
        )?;
    }
    Ok(())
}

fn put_config<B: Backend + ?Sized>(
    backend: &mut B,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Reply {
    if !is_media(request.content_type, JSON) {
        return problem(
            buffer,
            415,
            code::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    // Up to 8 field errors are listed; the count says how many there were.
    let mut errors: heapless::Vec<(String<64>, String<96>), 8> = heapless::Vec::new();
    let mut count = 0usize;
    let result = backend.replace_config(request.body, &mut |field, reason| {
        count += 1;
        let mut path = String::new();
        let mut text = String::new();
        let _ = path.push_str(field.get(..field.len().min(64)).unwrap_or(""));
        let _ = core::fmt::write(&mut text, format_args!("{reason}"));
        let _ = errors.push((path, text));
    });
    match result {
        Ok(()) => Reply::stream(Body::config()),
        Err(ConfigRefusal::Invalid) => {
            let mut list: heapless::Vec<(&str, &str), 8> = heapless::Vec::new();
            for (field, reason) in &errors {
                let _ = list.push((field.as_str(), reason.as_str()));
            }
            let detail = words(format_args!(
                "the config is not valid ({count} field error{}); nothing changed",
                if count == 1 { "" } else { "s" }
            ));
            problem_with(buffer, 400, code::INVALID_FIELD, &detail, &list)
        }
        Err(ConfigRefusal::Storage) => problem(
            buffer,
            507,
            code::STORAGE_FAILED,
            "storing the config in flash failed; nothing changed",
        ),
    }
}

/// Why an upload is refused before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRefused {
    /// Not `application/octet-stream`: 415.
    MediaType,
    /// No `Content-Length`: 411.
    NoLength,
    /// `Content-Length: 0`: 400.
    Empty,
    /// Longer than 4 GiB: 413.
    TooLong,
    /// The kernel refused to start it.
    Backend(UploadRefusal),
}

/// The checks an upload passes before the kernel is asked: its length, or why not.
pub fn upload_check(request: &Request<'_>) -> Result<u32, UploadRefused> {
    if !is_media(request.content_type, "application/octet-stream") {
        return Err(UploadRefused::MediaType);
    }
    let length = request.content_length.ok_or(UploadRefused::NoLength)?;
    if length == 0 {
        return Err(UploadRefused::Empty);
    }
    u32::try_from(length).map_err(|_| UploadRefused::TooLong)
}

/// The problem an upload refusal answers with.
pub fn upload_refusal(buffer: &mut [u8], refused: UploadRefused) -> Reply {
    match refused {
        UploadRefused::MediaType => problem(
            buffer,
            415,
            code::UNSUPPORTED_MEDIA_TYPE,
            "the image must be sent as application/octet-stream",
        ),
        UploadRefused::NoLength => problem(
            buffer,
            411,
            code::LENGTH_REQUIRED,
            "an upload needs Content-Length (the image's size)",
        ),
        UploadRefused::Empty => problem(buffer, 400, code::INVALID_FIELD, "the image is empty"),
        UploadRefused::TooLong => problem(
            buffer,
            413,
            code::TOO_LARGE,
            "the image is larger than a bank",
        ),
        UploadRefused::Backend(refusal) => match refusal {
            UploadRefusal::Busy => problem(
                buffer,
                409,
                code::INSTALL_IN_PROGRESS,
                "an update is running already; one at a time",
            ),
            UploadRefusal::TooLarge { limit } => problem(
                buffer,
                413,
                code::TOO_LARGE,
                &words(format_args!(
                    "the image is larger than a bank ({limit} bytes)"
                )),
            ),
            UploadRefusal::NotCommitted => problem(
                buffer,
                409,
                code::NOT_COMMITTED,
                "the running bank is a trial: updates need a committed boot",
            ),
            UploadRefusal::Unavailable => problem(
                buffer,
                409,
                code::NO_BOOT_BANKS,
                "direct boot: no boot banks to update",
            ),
            UploadRefusal::Storage => problem(
                buffer,
                507,
                code::STORAGE_FAILED,
                "writing the boot-state record failed; nothing changed",
            ),
        },
    }
}

fn upload_start<B: Backend + ?Sized>(
    backend: &mut B,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Outcome {
    let started = upload_check(request).and_then(|length| {
        backend
            .upload_start(length)
            .map(|task| (task, length))
            .map_err(UploadRefused::Backend)
    });
    match started {
        Ok((task, length)) => Outcome::Upload { task, length },
        Err(refused) => Outcome::Reply(upload_refusal(buffer, refused)),
    }
}

/// Feeds upload body bytes; returns how many were taken (0 is fine: offer them again next
/// pass). `Err` carries the problem to answer (and close with) when the upload failed.
pub fn upload_chunk<B: Backend + ?Sized>(
    backend: &mut B,
    task: u32,
    bytes: &[u8],
    buffer: &mut [u8],
) -> Result<usize, Reply> {
    backend
        .upload_feed(bytes)
        .map_err(|_| upload_failed(&*backend, task, buffer))
}

/// The problem of an upload that failed while its body arrived (the task says why).
pub fn upload_failed<B: Backend + ?Sized>(backend: &B, task: u32, buffer: &mut [u8]) -> Reply {
    let message = backend
        .task(task)
        .map(|task| task.message)
        .unwrap_or_default();
    let detail = words(format_args!("the upload failed: {message}"));
    let mut reply = problem(buffer, 400, code::UPLOAD_FAILED, &detail);
    reply.location = Some(task_location(task));
    reply
}

fn task_location(task: u32) -> Location {
    let mut location = Location::new();
    let _ = core::fmt::write(&mut location, format_args!("/v1/tasks/{task}"));
    location
}

/// Every announced byte was fed: 202 with `Location: /v1/tasks/{id}` and the task (the
/// verification may still run; the task reports it).
pub fn upload_finish<B: Backend + ?Sized>(backend: &mut B, task: u32) -> Reply {
    backend.upload_end(true);
    let mut reply = Reply::json(202, Content::Stream(Body::Task(task)));
    reply.location = Some(task_location(task));
    reply
}

/// The body stopped short (closed, timed out): the upload is abandoned, the task says so.
pub fn upload_abort<B: Backend + ?Sized>(backend: &mut B) {
    backend.upload_end(false);
}
