//! Headers a request may carry, and how an endpoint is named in logs.

use crate::error::{ConfigError, ConfigErrorKind};

/// The headers the transport writes itself, from the body it sends.
pub(super) const FRAMING_HEADERS: [&str; 3] = ["content-length", "content-encoding", "transfer-encoding"];

/// Checks that `name: value` can be sent as a header of every request (see
/// [`HttpTransport::header`]). The error names the header when its name is
/// valid, and never shows the value, which is often a credential.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        let problem = match name.bytes().position(|b| !is_token_byte(b)) {
            _ if name.is_empty() => "is empty".to_owned(),
            Some(at) => format!("has a character HTTP does not allow in a name at byte {at}"),
            None => "is not valid in HTTP".to_owned(),
        };
        return Err(ConfigError::new(
            ConfigErrorKind::Header,
            format!("a header name {problem} (the name is not shown)"),
        ));
    }
    if FRAMING_HEADERS.iter().any(|framing| name.eq_ignore_ascii_case(framing)) {
        return Err(ConfigError::new(
            ConfigErrorKind::Header,
            format!("header {name:?} is set by the transport from the body it sends"),
        ));
    }
    if ureq::http::HeaderValue::from_str(value).is_err() {
        let at = value.bytes().position(|b| (b < 0x20 && b != b'\t') || b == 0x7f).unwrap_or(0);
        return Err(ConfigError::new(
            ConfigErrorKind::Header,
            format!(
                "the value of header {name:?} has a control character at byte {at} (a line break, say), \
             which HTTP does not allow (the value is not shown)"
            ),
        ));
    }
    Ok(())
}

/// A character of an HTTP token (RFC 9110 section 5.6.2), what a header
/// name is made of.
pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `url` as logs and sink names show it: scheme, host, port and path, never
/// a user name, password or query, where a secret may be written.
pub(crate) fn shown_url(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else { return "(an invalid URL)".to_owned() };
    let mut shown = format!("{}://{}", uri.scheme_str().unwrap_or("http"), uri.host().unwrap_or_default());
    if let Some(port) = uri.port_u16() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(uri.path());
    if uri.query().is_some() {
        shown.push_str("?(query not shown)");
    }
    shown
}
