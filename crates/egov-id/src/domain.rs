//! The rules of central sign-in, without IO: accounts and roles, scopes and
//! claims, authorization requests, PKCE and redirect URI matching.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// Assurance level 1: one factor (VNeID level 1).
pub const ACR_LEVEL_1: &str = "1";
/// Assurance level 2: two factors (VNeID level 2).
pub const ACR_LEVEL_2: &str = "2";

/// Scopes this provider knows.
pub const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "phone",
    "personal_id",
    "agency",
    "offline_access",
];

/// Who an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Citizen,
    Official,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Citizen => "citizen",
            UserKind::Official => "official",
        }
    }

    pub fn parse(value: &str) -> Option<UserKind> {
        match value {
            "citizen" => Some(UserKind::Citizen),
            "official" => Some(UserKind::Official),
            _ => None,
        }
    }
}

/// What an official may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Cán bộ tiếp nhận: receives dossiers at the one-stop desk.
    Receiver,
    /// Chuyên viên: processes dossiers.
    Specialist,
    /// Lãnh đạo: approves and signs.
    Leader,
    /// Quản trị cơ quan: manages the agency's officials.
    AgencyAdmin,
    /// Quản trị hệ thống: manages the whole instance.
    PlatformAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Receiver,
        Role::Specialist,
        Role::Leader,
        Role::AgencyAdmin,
        Role::PlatformAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Receiver => "receiver",
            Role::Specialist => "specialist",
            Role::Leader => "leader",
            Role::AgencyAdmin => "agency_admin",
            Role::PlatformAdmin => "platform_admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }
}

/// Parses a space-separated role list; unknown names are an error.
pub fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let mut roles: Vec<Role> = text
        .split_whitespace()
        .map(|name| Role::parse(name).ok_or_else(|| name.to_owned()))
        .collect::<Result<_, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

pub fn roles_text(roles: &[Role]) -> String {
    roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(" ")
}

/// A set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    pub fn parse(text: &str) -> Scopes {
        Scopes(text.split_whitespace().map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes of `self` that `allowed` also has.
    #[must_use]
    pub fn intersect(&self, allowed: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&allowed.0).cloned().collect())
    }

    /// Scopes not in `allowed`.
    pub fn outside<'a>(&'a self, allowed: &'a Scopes) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(|scope| !allowed.0.contains(*scope))
            .map(String::as_str)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.iter().map(String::as_str).collect::<Vec<_>>().join(" "))
    }
}

/// Whether `given` is one of the client's registered redirect URIs. The
/// comparison is exact, character for character, as OAuth 2.0 Security BCP
/// requires: no prefix, host-suffix, case or normalisation leniency.
pub fn redirect_uri_registered(registered: &[String], given: &str) -> bool {
    registered.iter().any(|uri| uri == given)
}

/// Checks that a redirect URI may be registered: absolute https (or http
/// on a loopback host, for native apps and tests), no fragment, no
/// user-info.
pub fn validate_redirect_uri(uri: &str) -> Result<(), UriProblem> {
    let parsed = url::Url::parse(uri).map_err(|_| UriProblem::NotAbsolute)?;
    if parsed.fragment().is_some() {
        return Err(UriProblem::Fragment);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UriProblem::UserInfo);
    }
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(UriProblem::NotHttps),
    }
}

/// Why a URI was refused as a redirect, logout or issuer URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriProblem {
    NotAbsolute,
    Fragment,
    UserInfo,
    NotHttps,
}

impl UriProblem {
    pub fn vi(self) -> &'static str {
        match self {
            UriProblem::NotAbsolute => "không phải địa chỉ URL tuyệt đối",
            UriProblem::Fragment => "có phần fragment (#)",
            UriProblem::UserInfo => "có thông tin người dùng (@)",
            UriProblem::NotHttps => "phải dùng https (http chỉ với máy chủ loopback)",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            UriProblem::NotAbsolute => "is not an absolute URL",
            UriProblem::Fragment => "has a fragment",
            UriProblem::UserInfo => "has user information",
            UriProblem::NotHttps => "must use https (http only on a loopback host)",
        }
    }
}

/// A PKCE code verifier: 43 to 128 unreserved characters (RFC 7636).
pub fn valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` hashes to `challenge` under S256.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_code_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), challenge.as_bytes()).into()
}

/// An OAuth error code as the specifications name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidToken,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidToken => "invalid_token",
        }
    }
}

/// The parameters of an authorization request, as received.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
}

/// How the code goes back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// What `prompt` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request (client and redirect URI already
/// checked against the registration by the caller).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub acr_values: Vec<String>,
    pub login_hint: Option<String>,
    pub response_mode: ResponseMode,
}

/// An authorization request that cannot go on, with what to tell the
/// client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    pub code: OAuthErrorCode,
    pub description: &'static str,
}

fn bounded(value: Option<&String>, max: usize) -> Result<Option<String>, AuthorizeError> {
    match value {
        Some(text) if text.len() > max => Err(AuthorizeError {
            code: OAuthErrorCode::InvalidRequest,
            description: "a parameter is too long",
        }),
        Some(text) if text.is_empty() => Ok(None),
        other => Ok(other.cloned()),
    }
}

impl AuthorizeRequest {
    /// Validates everything but the client and redirect URI, which the
    /// caller checks first because errors before them must not redirect.
    pub fn parse(
        params: &AuthorizeParams,
        client_id: &str,
        redirect_uri: &str,
        client_scopes: &Scopes,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let invalid = |description| AuthorizeError {
            code: OAuthErrorCode::InvalidRequest,
            description,
        };
        if params.response_type.as_deref() != Some("code") {
            return Err(AuthorizeError {
                code: OAuthErrorCode::UnsupportedResponseType,
                description: "only response_type=code is supported",
            });
        }
        let response_mode = match params.response_mode.as_deref() {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => return Err(invalid("response_mode must be query or form_post")),
        };
        let scopes = Scopes::parse(params.scope.as_deref().unwrap_or_default());
        if !scopes.contains("openid") {
            return Err(AuthorizeError {
                code: OAuthErrorCode::InvalidScope,
                description: "the openid scope is required",
            });
        }
        if scopes.outside(client_scopes).next().is_some() {
            return Err(AuthorizeError {
                code: OAuthErrorCode::InvalidScope,
                description: "a requested scope is not allowed for this client",
            });
        }
        let Some(code_challenge) = bounded(params.code_challenge.as_ref(), 128)? else {
            return Err(invalid(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        };
        if params.code_challenge_method.as_deref() != Some("S256") {
            return Err(invalid("code_challenge_method must be S256"));
        }
        if code_challenge.len() != 43
            || !code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid("code_challenge is not a base64url SHA-256"));
        }
        let mut prompt = Prompt::default();
        for value in params.prompt.as_deref().unwrap_or_default().split_whitespace() {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(invalid("unknown prompt value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(invalid("prompt=none cannot be combined with other values"));
        }
        let max_age = match params.max_age.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|age| *age >= 0)
                    .ok_or(invalid("max_age must be a non-negative integer"))?,
            ),
        };
        Ok(AuthorizeRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: bounded(params.state.as_ref(), 1024)?,
            nonce: bounded(params.nonce.as_ref(), 512)?,
            code_challenge,
            prompt,
            max_age,
            acr_values: params
                .acr_values
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            login_hint: bounded(params.login_hint.as_ref(), 256)?,
            response_mode,
        })
    }

    /// The assurance level the client asked for, if it asked for level 2.
    pub fn wants_level_2(&self) -> bool {
        self.acr_values.iter().any(|acr| acr == ACR_LEVEL_2)
    }
}

/// SHA-256 of a token, base64url: tokens are stored only as hashes.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The `sid` claim of a session, in ID tokens and logout tokens: a prefix
/// of the session's id, which is itself a hash of the cookie.
pub fn session_sid(session_id: &str) -> &str {
    session_id.get(..16).unwrap_or(session_id)
}

/// A fresh random token: 32 bytes, base64url.
pub fn new_token() -> String {
    use rand::Rng as _;
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> Vec<String> {
        vec![
            "https://app.gov.vn/callback".to_owned(),
            "http://127.0.0.1:8400/cb".to_owned(),
        ]
    }

    #[test]
    fn only_the_exact_registered_redirect_uri_matches() {
        let registered = registered();
        assert!(redirect_uri_registered(&registered, "https://app.gov.vn/callback"));
        for attack in [
            "https://app.gov.vn.evil.com/callback",
            "https://app.gov.vn@evil.com/callback",
            "https://evil.com@app.gov.vn/callback",
            "https://app.gov.vn/callback/../evil",
            "https://app.gov.vn/callback/%2e%2e/evil",
            "https://app.gov.vn/callback?x=1",
            "https://APP.gov.vn/callback",
            "https://app.gov.vn/callback/",
            "https://app.gov.vn:443/callback",
            "http://127.0.0.1:8401/cb",
            "http://localhost:8400/cb",
        ] {
            assert!(!redirect_uri_registered(&registered, attack), "{attack} matched");
        }
    }

    #[test]
    fn registration_refuses_unsafe_redirect_uris() {
        assert!(validate_redirect_uri("https://app.gov.vn/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(validate_redirect_uri("http://app.gov.vn/cb").is_err());
        assert!(validate_redirect_uri("https://app.gov.vn/cb#x").is_err());
        assert!(validate_redirect_uri("https://user@app.gov.vn/cb").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!pkce_s256_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            scope: Some("openid profile".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    fn check(change: impl FnOnce(&mut AuthorizeParams), expected: Option<OAuthErrorCode>) {
        let mut params = params();
        change(&mut params);
        let allowed = Scopes::parse("openid profile email");
        let outcome = AuthorizeRequest::parse(&params, "portal", "https://app.gov.vn/callback", &allowed);
        assert_eq!(outcome.err().map(|error| error.code), expected);
    }

    #[test]
    fn authorization_requests_are_checked() {
        check(|_| {}, None);
        check(|p| p.code_challenge = None, Some(OAuthErrorCode::InvalidRequest));
        check(
            |p| p.code_challenge_method = Some("plain".into()),
            Some(OAuthErrorCode::InvalidRequest),
        );
        check(|p| p.code_challenge_method = None, Some(OAuthErrorCode::InvalidRequest));
        check(
            |p| p.response_type = Some("token".into()),
            Some(OAuthErrorCode::UnsupportedResponseType),
        );
        check(|p| p.scope = Some("profile".into()), Some(OAuthErrorCode::InvalidScope));
        check(
            |p| p.scope = Some("openid personal_id".into()),
            Some(OAuthErrorCode::InvalidScope),
        );
        check(
            |p| p.prompt = Some("none login".into()),
            Some(OAuthErrorCode::InvalidRequest),
        );
        check(|p| p.max_age = Some("-1".into()), Some(OAuthErrorCode::InvalidRequest));
        check(
            |p| p.response_mode = Some("fragment".into()),
            Some(OAuthErrorCode::InvalidRequest),
        );
        check(
            |p| p.state = Some("x".repeat(2000)),
            Some(OAuthErrorCode::InvalidRequest),
        );
    }
}
