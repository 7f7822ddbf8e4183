//! RFC 9457 problem documents (`application/problem+json`) with a machine-readable `code`.
//!
//! Shape: `{"type":"about:blank","title":"Not Found","status":404,"detail":"...","code":"..."}`.
//! `type` is `about:blank` (RFC 9457 §4.2.1: the problem is what the status says, `title` is
//! the status phrase); what a client acts on is `code`, stable across releases, and `detail`
//! is for people. Written by hand with the crate's JSON writer rather than serde-json-core:
//! five fixed members need no derive, and the writer already escapes and sizes exactly.

use crate::json::{self, ObjectWriter, Sink, WriteError};
use crate::status_code::StatusCode;

/// Writes the standard members of a problem into an open object.
fn members<S: Sink>(
    object: &mut ObjectWriter<'_, S>,
    status: StatusCode,
    code: &str,
    detail: &str,
) -> Result<(), WriteError> {
    object.string("type", "about:blank")?;
    object.string("title", status.reason())?;
    object.unsigned("status", u64::from(status.code()))?;
    object.string("detail", detail)?;
    object.string("code", code)
}

/// Writes a problem document for `status` with `code` and `detail`.
pub fn write(
    sink: &mut impl Sink,
    status: StatusCode,
    code: &str,
    detail: &str,
) -> Result<(), WriteError> {
    json::write_object(sink, |object| members(object, status, code, detail))
}

/// Writes a problem document with extension members added by `extra` after the standard ones.
pub fn write_with<S: Sink>(
    sink: &mut S,
    status: StatusCode,
    code: &str,
    detail: &str,
    extra: impl FnOnce(&mut ObjectWriter<'_, S>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    json::write_object(sink, |object| {
        members(object, status, code, detail)?;
        extra(object)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::SliceSink;

    #[test]
    fn shape() {
        let mut buffer = [0u8; 256];
        let mut sink = SliceSink::new(&mut buffer);
        write(&mut sink, StatusCode::NOT_FOUND, "not_found", "no \"x\"").unwrap_or(());
        assert_eq!(
            sink.written(),
            br#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no \"x\"","code":"not_found"}"#
        );
        let mut buffer = [0u8; 256];
        let mut sink = SliceSink::new(&mut buffer);
        write_with(
            &mut sink,
            StatusCode::BAD_REQUEST,
            "invalid_config",
            "d",
            |object| {
                object.array("errors", |array| {
                    array.object(|error| error.string("path", "switch.ports[2].vlan"))
                })
            },
        )
        .unwrap_or(());
        let text = core::str::from_utf8(sink.written()).unwrap_or("");
        assert!(
            text.ends_with(
                r#""code":"invalid_config","errors":[{"path":"switch.ports[2].vlan"}]}"#
            ),
            "{text}"
        );
    }
}
