//! X-Road identifiers and the r1 request line, parsed strictly (pure).
//!
//! A client is `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` (the `X-Road-Client`
//! header); a service is `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`, the
//! first five segments after `/r1/`. Each part is percent-encoded on its
//! own, so each is decoded on its own, and a decoded part must be
//! non-empty, at most [`MAX_PART`] characters, and free of the characters
//! X-Road forbids in identifiers (`/ \ : ; %` and anything non-printable):
//! an encoded slash can never move a part boundary.
//!
//! What follows the service code is the service's own path. It is passed
//! on still encoded, but only after checks that keep it inside the
//! service's base URL: no `.` or `..` segment (encoded or not), no empty
//! segment (`//` would make it an authority), no encoded slash or
//! backslash, no control character. Those are the server-side request
//! forgery guards the protocol asks for; the relay checks the origin of the
//! final URL once more.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The longest identifier part, decoded.
pub const MAX_PART: usize = 255;
/// The longest request target (path and query) the gateway reads.
pub const MAX_URI: usize = 2048;

/// Why an identifier or request line was refused; the message is for the
/// calling system's developers, in English as X-Road's are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadIdentifier(pub String);

fn bad(message: impl Into<String>) -> BadIdentifier {
    BadIdentifier(message.into())
}

/// What may not be written bare in a part: the URI's delimiters, and the
/// characters percent-encoding itself needs.
const PART: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Percent-encodes one identifier part for a path or header.
pub fn encode_part(part: &str) -> String {
    utf8_percent_encode(part, PART).to_string()
}

/// Decodes and checks one identifier part.
fn decode_part(raw: &str, what: &str) -> Result<String, BadIdentifier> {
    if raw.is_empty() {
        return Err(bad(format!("The {what} is empty")));
    }
    check_escapes(raw).map_err(|()| bad(format!("The {what} has a malformed percent-encoding")))?;
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad(format!("The {what} is not UTF-8")))?;
    check_part(&decoded, what)?;
    Ok(decoded.into_owned())
}

/// Checks a decoded identifier part.
pub fn check_part(part: &str, what: &str) -> Result<(), BadIdentifier> {
    if part.is_empty() {
        return Err(bad(format!("The {what} is empty")));
    }
    if part.chars().count() > MAX_PART {
        return Err(bad(format!("The {what} is longer than {MAX_PART} characters")));
    }
    if part
        .chars()
        .any(|c| matches!(c, '/' | '\\' | ':' | ';' | '%') || c.is_control() || c.is_whitespace() && c != ' ')
    {
        return Err(bad(format!(
            "The {what} contains a character X-Road forbids in identifiers (/ \\ : ; % or a non-printable one)"
        )));
    }
    if part.trim() != part {
        return Err(bad(format!("The {what} starts or ends with a space")));
    }
    Ok(())
}

/// Every `%` starts two hexadecimal digits.
fn check_escapes(raw: &str) -> Result<(), ()> {
    let bytes = raw.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let valid = bytes
                .get(index + 1..index + 3)
                .is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit));
            if !valid {
                return Err(());
            }
            index += 3;
        } else {
            index += 1;
        }
    }
    Ok(())
}

/// A member, or a subsystem of one: who calls, or who provides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    pub instance: String,
    pub member_class: String,
    pub member_code: String,
    pub subsystem: Option<String>,
}

impl ClientId {
    /// A subsystem's identifier from its decoded parts.
    pub fn subsystem(
        instance: &str,
        member_class: &str,
        member_code: &str,
        subsystem: &str,
    ) -> Result<ClientId, BadIdentifier> {
        check_part(instance, "X-Road instance")?;
        check_part(member_class, "member class")?;
        check_part(member_code, "member code")?;
        check_part(subsystem, "subsystem code")?;
        Ok(ClientId {
            instance: instance.to_owned(),
            member_class: member_class.to_owned(),
            member_code: member_code.to_owned(),
            subsystem: Some(subsystem.to_owned()),
        })
    }

    /// Reads an `X-Road-Client` header (parts percent-encoded, `/` between).
    pub fn parse_header(value: &str) -> Result<ClientId, BadIdentifier> {
        if value.len() > 4 * (3 * MAX_PART + 1) {
            return Err(bad("The X-Road-Client header is too long"));
        }
        let parts: Vec<&str> = value.split('/').collect();
        let (instance, class, code, subsystem) = match parts.as_slice() {
            [instance, class, code] => (instance, class, code, None),
            [instance, class, code, subsystem] => (instance, class, code, Some(subsystem)),
            _ => {
                return Err(bad(
                    "The X-Road-Client header must be INSTANCE/CLASS/MEMBER or INSTANCE/CLASS/MEMBER/SUBSYSTEM",
                ));
            }
        };
        Ok(ClientId {
            instance: decode_part(instance, "X-Road instance")?,
            member_class: decode_part(class, "member class")?,
            member_code: decode_part(code, "member code")?,
            subsystem: subsystem.map(|part| decode_part(part, "subsystem code")).transpose()?,
        })
    }

    /// Reads the canonical (encoded) form, as stored and as in headers.
    pub fn parse(value: &str) -> Result<ClientId, BadIdentifier> {
        ClientId::parse_header(value)
    }

    /// The member this identifier belongs to.
    #[must_use]
    pub fn member(&self) -> ClientId {
        ClientId {
            subsystem: None,
            ..self.clone()
        }
    }
}

/// The encoded form, `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`: the header's
/// value and the key the gateway stores.
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            encode_part(&self.instance),
            encode_part(&self.member_class),
            encode_part(&self.member_code)
        )?;
        if let Some(subsystem) = &self.subsystem {
            write!(f, "/{}", encode_part(subsystem))?;
        }
        Ok(())
    }
}

/// A service of a provider subsystem.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    /// Always a subsystem.
    pub provider: ClientId,
    pub service_code: String,
}

impl ServiceId {
    pub fn new(provider: ClientId, service_code: &str) -> Result<ServiceId, BadIdentifier> {
        if provider.subsystem.is_none() {
            return Err(bad("A service belongs to a subsystem"));
        }
        check_part(service_code, "service code")?;
        Ok(ServiceId {
            provider,
            service_code: service_code.to_owned(),
        })
    }

    /// Reads the encoded form `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`.
    pub fn parse(value: &str) -> Result<ServiceId, BadIdentifier> {
        let Some((provider, code)) = value.rsplit_once('/') else {
            return Err(bad("A service identifier has five parts"));
        };
        let provider = ClientId::parse(provider)?;
        if provider.subsystem.is_none() {
            return Err(bad("A service identifier has five parts"));
        }
        Ok(ServiceId {
            provider,
            service_code: decode_part(code, "service code")?,
        })
    }
}

/// `X-Road-Service`'s value: `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`.
impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, encode_part(&self.service_code))
    }
}

/// The metadata services every provider subsystem answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaService {
    ListMethods,
    AllowedMethods,
    GetOpenApi,
}

impl MetaService {
    fn parse(code: &str) -> Option<MetaService> {
        match code {
            "listMethods" => Some(MetaService::ListMethods),
            "allowedMethods" => Some(MetaService::AllowedMethods),
            "getOpenAPI" => Some(MetaService::GetOpenApi),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            MetaService::ListMethods => "listMethods",
            MetaService::AllowedMethods => "allowedMethods",
            MetaService::GetOpenApi => "getOpenAPI",
        }
    }
}

/// What an r1 request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R1Target {
    /// A provider's service, with the service's own path (encoded, empty or
    /// starting with `/`) and query (encoded, without `?`).
    Service {
        service: ServiceId,
        path: String,
        query: Option<String>,
    },
    /// A metadata service of a provider subsystem.
    Meta {
        provider: ClientId,
        meta: MetaService,
        query: Option<String>,
    },
}

/// Parses a request target `/r1/{serviceId}[/path][?query]`, still encoded
/// as it came on the wire.
pub fn parse_r1(target: &str) -> Result<R1Target, BadIdentifier> {
    if target.len() > MAX_URI {
        return Err(bad(format!("The request URI is longer than {MAX_URI} characters")));
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    if let Some(query) = query {
        check_query(query)?;
    }
    let Some(rest) = path.strip_prefix("/r1/") else {
        return Err(bad("The request is not an X-Road r1 call: it must start with /r1/"));
    };
    let mut segments = rest.splitn(6, '/');
    let mut next = |what: &str| {
        segments
            .next()
            .filter(|segment| !segment.is_empty())
            .ok_or_else(|| bad(format!("The service identifier lacks its {what}")))
    };
    let instance = next("X-Road instance")?;
    let class = next("member class")?;
    let code = next("member code")?;
    let subsystem = next("subsystem code")?;
    let service_code = next("service code")?;
    let service_path = segments.next();
    let provider = ClientId {
        instance: decode_part(instance, "X-Road instance")?,
        member_class: decode_part(class, "member class")?,
        member_code: decode_part(code, "member code")?,
        subsystem: Some(decode_part(subsystem, "subsystem code")?),
    };
    let query = query.map(str::to_owned);
    if service_path.is_none()
        && let Some(meta) = MetaService::parse(service_code)
    {
        return Ok(R1Target::Meta { provider, meta, query });
    }
    let service_code = decode_part(service_code, "service code")?;
    let path = match service_path {
        None => String::new(),
        Some(path) => {
            check_service_path(path)?;
            format!("/{path}")
        }
    };
    Ok(R1Target::Service {
        service: ServiceId { provider, service_code },
        path,
        query,
    })
}

/// The service path (after the service code, without its leading `/`)
/// stays inside the service: see the module's header.
fn check_service_path(path: &str) -> Result<(), BadIdentifier> {
    check_escapes(path).map_err(|()| bad("The service path has a malformed percent-encoding"))?;
    for segment in path.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || segment.contains('\\') {
            return Err(bad("The service path contains an encoded slash or a backslash"));
        }
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." {
            return Err(bad("The service path contains a '.' or '..' segment"));
        }
        if decoded.chars().any(char::is_control) {
            return Err(bad("The service path contains a control character"));
        }
    }
    // An empty segment in the middle (`a//b`) could turn into an authority
    // when joined; a trailing slash (`a/`) is a real path.
    if path.starts_with('/') || path.contains("//") {
        return Err(bad("The service path contains an empty segment"));
    }
    Ok(())
}

/// A query is passed on unmodified, but it must be a query: valid escapes,
/// no fragment, nothing non-printable.
fn check_query(query: &str) -> Result<(), BadIdentifier> {
    check_escapes(query).map_err(|()| bad("The query has a malformed percent-encoding"))?;
    if query.bytes().any(|b| b == b'#' || b.is_ascii_control() || b == b' ') {
        return Err(bad("The query contains a character that must be percent-encoded"));
    }
    Ok(())
}

/// The values of one query parameter (decoded), for the gateway's own
/// services: a parameter given twice is refused rather than guessed at
/// (HTTP parameter pollution).
pub fn single_query_value(query: Option<&str>, name: &str) -> Result<Option<String>, BadIdentifier> {
    let mut found = None;
    for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(&key.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(bad(format!("The query parameter {name} is given more than once")));
        }
        found = Some(
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(target: &str) -> (String, String, Option<String>) {
        match parse_r1(target) {
            Ok(R1Target::Service { service, path, query }) => (service.to_string(), path, query),
            other => panic!("{target}: {other:?}"),
        }
    }

    #[test]
    fn a_service_call_splits_into_service_path_and_query() {
        assert_eq!(
            service("/r1/EGOV/GOV/000.00.25.H12/registry/population/data/population/1.0/read?a=1&b=%20"),
            (
                "EGOV/GOV/000.00.25.H12/registry/population".to_owned(),
                "/data/population/1.0/read".to_owned(),
                Some("a=1&b=%20".to_owned())
            )
        );
        assert_eq!(
            service("/r1/EGOV/GOV/M/S/svc"),
            ("EGOV/GOV/M/S/svc".to_owned(), String::new(), None)
        );
    }

    #[test]
    fn parts_are_decoded_one_by_one_and_reencoded_alike() {
        let (id, _, _) = service("/r1/EGOV/GOV/S%E1%BB%9F%20TTTT/sub/svc");
        assert_eq!(id, "EGOV/GOV/S%E1%BB%9F%20TTTT/sub/svc");
        let Ok(R1Target::Service { service, .. }) = parse_r1("/r1/EGOV/GOV/S%E1%BB%9F%20TTTT/sub/svc") else {
            panic!("parsed")
        };
        assert_eq!(service.provider.member_code, "Sở TTTT");
        assert_eq!(ServiceId::parse(&service.to_string()), Ok(service));
    }

    #[test]
    fn an_encoded_slash_cannot_move_a_part_boundary() {
        for target in [
            "/r1/EGOV%2FGOV/M/S/svc",
            "/r1/EGOV/GOV/M/S/sv%2Fc",
            "/r1/EGOV/GOV/M%3B/S/svc",
            "/r1/EGOV/GOV/M/S%25/svc",
            "/r1/EGOV/GOV/M/S%00/svc",
        ] {
            assert!(parse_r1(target).is_err(), "{target}");
        }
    }

    #[test]
    fn paths_that_would_leave_the_service_are_refused() {
        for target in [
            "/r1/E/C/M/S/svc/../admin",
            "/r1/E/C/M/S/svc/a/%2e%2e/b",
            "/r1/E/C/M/S/svc/%2E",
            "/r1/E/C/M/S/svc//evil.example/x",
            "/r1/E/C/M/S/svc/a%2Fb",
            "/r1/E/C/M/S/svc/a%5cb",
            "/r1/E/C/M/S/svc/a\\b",
            "/r1/E/C/M/S/svc/a%0d%0aHost:x",
            "/r1/E/C/M/S/svc/a%zz",
            "/r1/E/C/M/S/svc/a?x=%",
            "/r1/E/C/M/S/svc/a?x=1#frag",
        ] {
            assert!(parse_r1(target).is_err(), "{target}");
        }
        assert_eq!(service("/r1/E/C/M/S/svc/a/").1, "/a/");
        assert_eq!(service("/r1/E/C/M/S/svc/..a/b.c").1, "/..a/b.c");
    }

    #[test]
    fn malformed_request_lines_are_refused() {
        for target in [
            "/r2/E/C/M/S/svc",
            "/r1/E/C/M/S",
            "/r1/E/C/M//svc",
            "/r1/",
            "/r1/E/C/M/S/",
        ] {
            assert!(parse_r1(target).is_err(), "{target}");
        }
        let long = format!("/r1/E/C/M/S/svc/{}", "a".repeat(MAX_URI));
        assert!(parse_r1(&long).is_err());
        let long_part = format!("/r1/E/C/{}/S/svc", "m".repeat(MAX_PART + 1));
        assert!(parse_r1(&long_part).is_err());
    }

    #[test]
    fn metadata_services_are_told_apart_from_services_of_that_name_with_a_path() {
        assert!(matches!(
            parse_r1("/r1/E/C/M/S/listMethods"),
            Ok(R1Target::Meta {
                meta: MetaService::ListMethods,
                ..
            })
        ));
        assert!(matches!(
            parse_r1("/r1/E/C/M/S/getOpenAPI?serviceCode=x"),
            Ok(R1Target::Meta {
                meta: MetaService::GetOpenApi,
                ..
            })
        ));
        assert!(matches!(
            parse_r1("/r1/E/C/M/S/listMethods/x"),
            Ok(R1Target::Service { .. })
        ));
    }

    #[test]
    fn the_client_header_takes_a_member_or_a_subsystem() {
        let member = ClientId::parse_header("EGOV/GOV/M").expect("member");
        assert_eq!(member.subsystem, None);
        let subsystem = ClientId::parse_header("EGOV/GOV/M/onestop").expect("subsystem");
        assert_eq!(subsystem.to_string(), "EGOV/GOV/M/onestop");
        assert_eq!(subsystem.member(), member);
        for value in [
            "EGOV/GOV",
            "EGOV/GOV/M/S/X",
            "EGOV//M/S",
            "EGOV/GOV/M/S%2FX",
            "EGOV/GOV/M/ S",
        ] {
            assert!(ClientId::parse_header(value).is_err(), "{value}");
        }
    }

    #[test]
    fn a_repeated_parameter_of_the_gateways_own_services_is_refused() {
        assert_eq!(
            single_query_value(Some("serviceCode=population"), "serviceCode"),
            Ok(Some("population".to_owned()))
        );
        assert_eq!(single_query_value(None, "serviceCode"), Ok(None));
        assert!(single_query_value(Some("serviceCode=a&serviceCode=b"), "serviceCode").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_valid_identifier_survives_encoding(part in "[^/\\\\:;%\\p{Cc}\\s]([^/\\\\:;%\\p{Cc}\\s]| ){0,20}[^/\\\\:;%\\p{Cc}\\s]") {
            let id = ClientId::subsystem("EGOV", "GOV", &part, "sub").expect("valid");
            proptest::prop_assert_eq!(ClientId::parse(&id.to_string()), Ok(id));
        }

        #[test]
        fn parsing_never_panics(target in "/r1/[ -~]{0,80}") {
            let _ = parse_r1(&target);
        }
    }
}
