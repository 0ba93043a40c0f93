//! `WWW-Authenticate` challenges: RFC 9110 section 11.6.1 grammar, the
//! Bearer parameters of RFC 6750 section 3, `resource_metadata` from RFC 9728
//! section 5.1 and the DPoP `algs` parameter of RFC 9449 section 7.1.
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```

use core::fmt;

use latchkey_types::{ErrorCode, Scope};

use crate::MetadataError;

/// The longest header value [`parse_www_authenticate`] reads, in bytes.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// The most challenges [`parse_www_authenticate`] accepts in one header value.
pub const MAX_CHALLENGES: usize = 16;
/// The most auth-params one challenge may carry.
pub const MAX_PARAMS: usize = 32;

/// An authentication scheme; compared case-insensitively (RFC 9110 section 11.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// `Bearer` (RFC 6750 section 3).
    Bearer,
    /// `DPoP` (RFC 9449 section 7.1).
    Dpop,
    /// Any other scheme, held in lowercase.
    Other(SchemeName),
}

/// The name of a scheme other than `Bearer` and `DPoP`: a token (RFC 9110
/// section 5.6.2), held in lowercase since scheme names are case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemeName(String);

/// One challenge of a `WWW-Authenticate` header value.
///
/// A challenge carries either a token68 or a list of auth-params, never both.
/// Parameter names are held in lowercase (they are case-insensitive, RFC 9110
/// section 11.2) and appear at most once; values are held unquoted.
/// Challenges come from [`parse_www_authenticate`] or from a
/// [`ChallengeBuilder`], and either way [`to_header_value`](Self::to_header_value)
/// renders them without failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    scheme: AuthScheme,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

/// Builds a [`Challenge`] for a resource server's response; checks every
/// value in [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use]
pub struct ChallengeBuilder {
    scheme: AuthScheme,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

/// Parses a `WWW-Authenticate` header value into its challenges (RFC 9110
/// section 11.6.1).
///
/// Several challenges may share one value, separated by commas; a new one
/// starts where a token is followed by a space and not by `=`. Scheme and
/// parameter names are case-insensitive; quoted-strings may hold `\` escapes.
/// A parameter named twice in one challenge is refused (RFC 6750 section 3:
/// "MUST NOT appear more than once"). Input is bounded by
/// [`MAX_HEADER_LEN`], [`MAX_CHALLENGES`] and [`MAX_PARAMS`]. Only HTAB and
/// printable ASCII are accepted: `obs-text` is refused rather than guessed at.
pub fn parse_www_authenticate(input: &str) -> Result<Vec<Challenge>, MetadataError> {
    if input.len() > MAX_HEADER_LEN {
        return Err(MetadataError::HeaderTooLong);
    }
    if let Some(at) = input.bytes().position(|b| !is_field_char(b)) {
        return Err(MetadataError::ChallengeSyntax { at });
    }
    let mut cursor = Cursor { input, pos: 0 };
    let mut challenges = Vec::new();
    loop {
        cursor.skip_empty_list_elements();
        if cursor.peek().is_none() {
            return Ok(challenges);
        }
        if challenges.len() == MAX_CHALLENGES {
            return Err(MetadataError::TooManyChallenges);
        }
        challenges.push(parse_challenge(&mut cursor)?);
    }
}

/// Renders several challenges as one header value, joined by `", "`
/// (RFC 9110 section 11.6.1, RFC 9449 section 7.2 figure 17).
pub fn render_challenges(challenges: &[Challenge]) -> String {
    let rendered: Vec<String> = challenges.iter().map(Challenge::to_header_value).collect();
    rendered.join(", ")
}

impl AuthScheme {
    /// Parses a scheme name (a token), case-insensitively.
    pub fn parse(s: &str) -> Result<Self, MetadataError> {
        if s.is_empty() || !s.bytes().all(is_tchar) {
            return Err(MetadataError::InvalidSchemeName);
        }
        Ok(Self::from_token(s))
    }

    /// The scheme as written on the wire: `Bearer`, `DPoP`, or the lowercase name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Bearer => "Bearer",
            Self::Dpop => "DPoP",
            Self::Other(name) => name.as_str(),
        }
    }

    fn from_token(token: &str) -> Self {
        if token.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if token.eq_ignore_ascii_case("dpop") {
            Self::Dpop
        } else {
            Self::Other(SchemeName(token.to_ascii_lowercase()))
        }
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SchemeName {
    /// The name, in lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Challenge {
    /// Starts a `Bearer` challenge (RFC 6750 section 3). RFC 6750 asks for at
    /// least one auth-param; a bare `Bearer` is still built, because RFC 9449
    /// section 7.2 figure 17 sends one next to a `DPoP` challenge.
    pub fn bearer() -> ChallengeBuilder {
        Self::builder(AuthScheme::Bearer)
    }

    /// Starts a `DPoP` challenge (RFC 9449 section 7.1).
    pub fn dpop() -> ChallengeBuilder {
        Self::builder(AuthScheme::Dpop)
    }

    /// Starts a challenge with any scheme.
    pub fn builder(scheme: AuthScheme) -> ChallengeBuilder {
        ChallengeBuilder {
            scheme,
            token68: None,
            params: Vec::new(),
        }
    }

    /// The authentication scheme.
    pub fn scheme(&self) -> &AuthScheme {
        &self.scheme
    }

    /// The token68, for a challenge that carries one instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// Every auth-param as (lowercase name, unquoted value), in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of the parameter `name` (matched case-insensitively).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `realm` (RFC 9110 section 11.5, RFC 6750 section 3).
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// `scope` as a scope set (RFC 6750 section 3, RFC 6749 section 3.3); an
    /// empty value is the empty set. MCP clients treat it as authoritative (R4).
    pub fn scope(&self) -> Result<Option<Scope>, MetadataError> {
        match self.param("scope") {
            None => Ok(None),
            Some("") => Ok(Some(Scope::empty())),
            Some(s) => Scope::parse(s)
                .map(Some)
                .map_err(|_| MetadataError::InvalidScope),
        }
    }

    /// `error` as sent (RFC 6750 section 3.1, RFC 9449 section 7.1).
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// `error` as a registered code, when it is one Latchkey knows
    /// (`invalid_token`, `insufficient_scope`, `invalid_request`,
    /// `invalid_dpop_proof`, `use_dpop_nonce`, ...).
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error().and_then(ErrorCode::parse)
    }

    /// `error_description` (RFC 6750 section 3).
    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// `error_uri` (RFC 6750 section 3).
    pub fn error_uri(&self) -> Option<&str> {
        self.param("error_uri")
    }

    /// `resource_metadata`: the protected resource metadata URL (RFC 9728 section 5.1).
    pub fn resource_metadata(&self) -> Option<&str> {
        self.param("resource_metadata")
    }

    /// `algs`: the JWS algorithms accepted for DPoP proofs, space-separated
    /// on the wire (RFC 9449 section 7.1).
    pub fn algs(&self) -> Option<Vec<&str>> {
        self.param("algs")
            .map(|v| v.split(' ').filter(|a| !a.is_empty()).collect())
    }

    /// The challenge as header text: the scheme, then the token68 or every
    /// parameter as `name="value"` with `"` and `\` escaped, joined by `", "`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::from(self.scheme.as_str());
        if let Some(token68) = &self.token68 {
            out.push(' ');
            out.push_str(token68);
            return out;
        }
        for (i, (name, value)) in self.params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

impl ChallengeBuilder {
    /// Sets `realm`.
    pub fn realm(self, realm: &str) -> Self {
        self.param("realm", realm)
    }

    /// Sets `scope`: the scopes the request needs. MCP R4 (401) and R11 (403
    /// `insufficient_scope`, with the full set needed, not just the delta).
    pub fn scope(self, scope: &Scope) -> Self {
        self.param("scope", &scope.to_string())
    }

    /// Sets `error`.
    pub fn error(self, code: ErrorCode) -> Self {
        self.param("error", code.as_str())
    }

    /// Sets `error_description`; [`build`](Self::build) refuses characters
    /// outside `%x20-21 / %x23-5B / %x5D-7E` (RFC 6750 section 3).
    pub fn error_description(self, description: &str) -> Self {
        self.param("error_description", description)
    }

    /// Sets `error_uri`; [`build`](Self::build) refuses characters outside
    /// `%x21 / %x23-5B / %x5D-7E` (RFC 6750 section 3).
    pub fn error_uri(self, uri: &str) -> Self {
        self.param("error_uri", uri)
    }

    /// Sets `resource_metadata` (RFC 9728 section 5.1; MCP R3, R3').
    pub fn resource_metadata(self, url: impl AsRef<str>) -> Self {
        self.param("resource_metadata", url.as_ref())
    }

    /// Sets `algs` to the given JWS algorithm names, space-separated (RFC 9449 section 7.1).
    pub fn algs(self, algs: &[&str]) -> Self {
        self.param("algs", &algs.join(" "))
    }

    /// Sets any parameter, replacing an earlier one of the same name.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        match self.params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.params.push((name, value.to_owned())),
        }
        self
    }

    /// Carries a token68 instead of parameters.
    pub fn token68(mut self, token68: &str) -> Self {
        self.token68 = Some(token68.to_owned());
        self
    }

    /// Checks every value and returns the challenge.
    ///
    /// Names must be tokens; `scope` must be a scope string (RFC 6749
    /// appendix A.4); `error` and `error_description` must stay within
    /// `%x20-21 / %x23-5B / %x5D-7E` and `error_uri` within
    /// `%x21 / %x23-5B / %x5D-7E` (RFC 6750 section 3); `algs` must be
    /// non-empty names separated by single spaces; any other value must be
    /// HTAB or printable ASCII. Control characters are refused, never emitted.
    pub fn build(self) -> Result<Challenge, MetadataError> {
        if self.params.len() > MAX_PARAMS {
            return Err(MetadataError::TooManyParams);
        }
        if let Some(token68) = &self.token68 {
            if !self.params.is_empty() {
                return Err(MetadataError::Token68WithParams);
            }
            if !is_token68(token68) {
                return Err(MetadataError::InvalidToken68);
            }
        }
        for (name, value) in &self.params {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(MetadataError::InvalidParamName);
            }
            if !param_value_allowed(name, value) {
                return Err(MetadataError::InvalidParamValue);
            }
        }
        Ok(Challenge {
            scheme: self.scheme,
            token68: self.token68,
            params: self.params,
        })
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// tchar (RFC 9110 section 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// token68 characters before the trailing `=` padding (RFC 9110 section 11.2).
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(is_token68_char)
}

/// What a header value may hold here: HTAB, SP and VCHAR.
fn is_field_char(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b)
}

/// RFC 6750 section 3: `%x20-21 / %x23-5B / %x5D-7E` for `error` and
/// `error_description` (printable ASCII without `"` and `\`).
fn is_error_char(b: u8) -> bool {
    b == 0x20 || is_nqchar(b)
}

/// NQCHAR, `%x21 / %x23-5B / %x5D-7E` (RFC 6749 appendix A).
fn is_nqchar(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

fn param_value_allowed(name: &str, value: &str) -> bool {
    match name {
        "scope" => value.is_empty() || Scope::parse(value).is_ok(),
        "error" | "error_description" => value.bytes().all(is_error_char),
        "error_uri" => value.bytes().all(is_nqchar),
        "algs" => value
            .split(' ')
            .all(|a| !a.is_empty() && a.bytes().all(is_nqchar)),
        _ => value.bytes().all(is_field_char),
    }
}

struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) {
        if self.pos < self.input.len() {
            self.pos += 1;
        }
    }

    fn syntax_error(&self) -> MetadataError {
        MetadataError::ChallengeSyntax { at: self.pos }
    }

    /// OWS (RFC 9110 section 5.6.3).
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// Counts and skips SP only.
    fn skip_sp(&mut self) -> usize {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.bump();
        }
        self.pos.saturating_sub(start)
    }

    /// Commas and OWS: empty list elements, which recipients accept (RFC 9110 section 5.6.1.2).
    fn skip_empty_list_elements(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.bump();
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn token(&mut self) -> Option<&'a str> {
        Some(self.take_while(is_tchar)).filter(|t| !t.is_empty())
    }

    /// `auth-param = token BWS "=" BWS ( token / quoted-string )`, or `None`
    /// (with the cursor unmoved) when the input here is not an auth-param.
    fn auth_param(&mut self) -> Result<Option<(String, String)>, MetadataError> {
        let start = self.pos;
        let Some(name) = self.token() else {
            return Ok(None);
        };
        self.skip_ows();
        if self.peek() != Some(b'=') {
            self.pos = start;
            return Ok(None);
        }
        self.bump();
        self.skip_ows();
        let value = match self.peek() {
            Some(b'"') => self.quoted_string()?,
            _ => match self.token() {
                Some(value) => value.to_owned(),
                None => {
                    self.pos = start;
                    return Ok(None);
                }
            },
        };
        Ok(Some((name.to_ascii_lowercase(), value)))
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 9110
    /// section 5.6.4), returned unescaped. The opening quote is at the cursor.
    fn quoted_string(&mut self) -> Result<String, MetadataError> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(MetadataError::UnterminatedQuotedString),
                Some(b'"') => {
                    self.bump();
                    return Ok(value);
                }
                Some(b'\\') => {
                    self.bump();
                    let Some(escaped) = self.peek() else {
                        return Err(MetadataError::UnterminatedQuotedString);
                    };
                    value.push(char::from(escaped));
                    self.bump();
                }
                Some(b) => {
                    value.push(char::from(b));
                    self.bump();
                }
            }
        }
    }
}

/// `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`. Returns with
/// the cursor at the end, at a comma, or at the scheme of the next challenge.
fn parse_challenge(cursor: &mut Cursor<'_>) -> Result<Challenge, MetadataError> {
    let Some(scheme) = cursor.token() else {
        return Err(cursor.syntax_error());
    };
    let scheme = AuthScheme::from_token(scheme);
    let spaces = cursor.skip_sp();
    cursor.skip_ows();
    let bare = Challenge {
        scheme,
        token68: None,
        params: Vec::new(),
    };
    match cursor.peek() {
        None | Some(b',') => return Ok(bare),
        Some(_) if spaces == 0 => return Err(cursor.syntax_error()),
        Some(_) => {}
    }
    let Some(first) = cursor.auth_param()? else {
        return parse_token68(cursor, bare);
    };
    let mut challenge = bare;
    challenge.params.push(first);
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => return Ok(challenge),
            Some(b',') => cursor.skip_empty_list_elements(),
            Some(_) => return Err(cursor.syntax_error()),
        }
        let Some((name, value)) = cursor.auth_param()? else {
            // End of input, or a token not followed by "=": the next challenge.
            return Ok(challenge);
        };
        if challenge.params.iter().any(|(n, _)| *n == name) {
            return Err(MetadataError::DuplicateParam);
        }
        if challenge.params.len() == MAX_PARAMS {
            return Err(MetadataError::TooManyParams);
        }
        challenge.params.push((name, value));
    }
}

fn parse_token68(
    cursor: &mut Cursor<'_>,
    mut challenge: Challenge,
) -> Result<Challenge, MetadataError> {
    let start = cursor.pos;
    let body = cursor.take_while(is_token68_char);
    if body.is_empty() {
        return Err(cursor.syntax_error());
    }
    cursor.take_while(|b| b == b'=');
    let token68 = cursor.input.get(start..cursor.pos).unwrap_or_default();
    challenge.token68 = Some(token68.to_owned());
    cursor.skip_ows();
    match cursor.peek() {
        None | Some(b',') => Ok(challenge),
        Some(_) => Err(cursor.syntax_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(header: &str) -> Challenge {
        let mut challenges = parse_www_authenticate(header).unwrap();
        assert_eq!(challenges.len(), 1, "{header}");
        challenges.remove(0)
    }

    #[test]
    fn rfc6750_section_3_example_realm_only() {
        let c = one(r#"Bearer realm="example""#);
        assert_eq!(c.scheme(), &AuthScheme::Bearer);
        assert_eq!(c.realm(), Some("example"));
        assert_eq!(c.error(), None);
    }

    #[test]
    fn rfc6750_section_3_example_expired_token_with_unfolded_lines() {
        // The published example, its line folds replaced by one space each.
        let header = "Bearer realm=\"example\",                       error=\"invalid_token\",                       error_description=\"The access token expired\"";
        let c = one(header);
        assert_eq!(c.realm(), Some("example"));
        assert_eq!(c.error(), Some("invalid_token"));
        assert_eq!(c.error_code(), Some(ErrorCode::InvalidToken));
        assert_eq!(c.error_description(), Some("The access token expired"));
    }

    #[test]
    fn rfc6750_section_3_scope_examples() {
        let c = one(r#"Bearer scope="openid profile email""#);
        assert_eq!(
            c.scope().unwrap().unwrap().to_string(),
            "email openid profile"
        );
        let c = one(r#"Bearer scope="urn:example:channel=HBO&urn:example:rating=G,PG-13""#);
        assert_eq!(
            c.scope().unwrap().unwrap().to_string(),
            "urn:example:channel=HBO&urn:example:rating=G,PG-13"
        );
        assert_eq!(
            one(r#"Bearer scope="a  b""#).scope(),
            Err(MetadataError::InvalidScope)
        );
        assert_eq!(one(r#"Bearer scope="""#).scope(), Ok(Some(Scope::empty())));
        assert_eq!(one(r#"Bearer realm="x""#).scope(), Ok(None));
    }

    #[test]
    fn rfc9728_section_5_1_example_resource_metadata() {
        let c = one("Bearer resource_metadata=\n  \"https://resource.example.com/.well-known/oauth-protected-resource\"".replace('\n', " ").as_str());
        assert_eq!(
            c.resource_metadata(),
            Some("https://resource.example.com/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn rfc9449_section_7_1_figure_15_algs() {
        let c = one(r#"DPoP algs="ES256 PS256""#);
        assert_eq!(c.scheme(), &AuthScheme::Dpop);
        assert_eq!(c.algs(), Some(vec!["ES256", "PS256"]));
    }

    #[test]
    fn rfc9449_section_7_1_figure_16_invalid_token() {
        let c = one(
            r#"DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256""#,
        );
        assert_eq!(c.error_code(), Some(ErrorCode::InvalidToken));
        assert_eq!(c.error_description(), Some("Invalid DPoP key binding"));
        assert_eq!(c.algs(), Some(vec!["ES256"]));
    }

    #[test]
    fn rfc9449_section_9_figure_24_use_dpop_nonce() {
        let c = one(
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
        );
        assert_eq!(c.error_code(), Some(ErrorCode::UseDpopNonce));
        let c = one(r#"DPoP error="invalid_dpop_proof""#);
        assert_eq!(c.error_code(), Some(ErrorCode::InvalidDpopProof));
        let c = one(r#"DPoP error="not_registered""#);
        assert_eq!(c.error(), Some("not_registered"));
        assert_eq!(c.error_code(), None);
    }

    #[test]
    fn rfc9449_section_7_2_figure_17_bare_bearer_then_dpop() {
        let got = parse_www_authenticate(r#"Bearer, DPoP algs="ES256 PS256""#).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].scheme(), &AuthScheme::Bearer);
        assert_eq!(got[0].params().count(), 0);
        assert_eq!(got[1].scheme(), &AuthScheme::Dpop);
        assert_eq!(got[1].algs(), Some(vec!["ES256", "PS256"]));
    }

    #[test]
    fn rfc9449_section_7_2_figure_18_and_19_two_challenges_with_errors() {
        let got = parse_www_authenticate(
            r#"Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256""#,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].error_description(), Some("Invalid token"));
        assert_eq!(got[1].algs(), Some(vec!["ES256", "PS256"]));

        let got = parse_www_authenticate(
            r#"Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP algs="ES256 PS256", error="invalid_request", error_description="Multiple methods used to include access token""#,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].error_code(), Some(ErrorCode::InvalidRequest));
        assert_eq!(got[1].error_code(), Some(ErrorCode::InvalidRequest));
        assert_eq!(got[1].params().count(), 3);
    }

    #[test]
    fn r11_mcp_insufficient_scope_example_parses() {
        let header = "Bearer error=\"insufficient_scope\",                          scope=\"files:read files:write user:profile\",                          resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\",                          error_description=\"Additional file write permission required\"";
        let c = one(header);
        assert_eq!(c.error_code(), Some(ErrorCode::InsufficientScope));
        assert_eq!(c.scope().unwrap().unwrap().len(), 3);
        assert_eq!(
            c.resource_metadata(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn r4_r11_builder_renders_the_mcp_challenge() {
        let scope = Scope::parse("files:read files:write").unwrap();
        let c = Challenge::bearer()
            .error(ErrorCode::InsufficientScope)
            .scope(&scope)
            .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource")
            .error_description("Additional file write permission required")
            .build()
            .unwrap();
        assert_eq!(
            c.to_header_value(),
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", error_description="Additional file write permission required""#
        );
        assert_eq!(one(&c.to_header_value()), c);
    }

    #[test]
    fn rfc9449_section_7_2_render_several_challenges() {
        let bearer = Challenge::bearer().build().unwrap();
        let dpop = Challenge::dpop().algs(&["ES256", "PS256"]).build().unwrap();
        let header = render_challenges(&[bearer.clone(), dpop.clone()]);
        assert_eq!(header, r#"Bearer, DPoP algs="ES256 PS256""#);
        assert_eq!(parse_www_authenticate(&header).unwrap(), [bearer, dpop]);
    }

    #[test]
    fn rfc9110_section_11_1_scheme_and_param_names_are_case_insensitive() {
        let c = one(r#"bEaReR REALM="x", Error=invalid_token"#);
        assert_eq!(c.scheme(), &AuthScheme::Bearer);
        assert_eq!(c.realm(), Some("x"));
        assert_eq!(c.param("ERROR"), Some("invalid_token"));
        assert_eq!(one("dpop algs=ES256").scheme(), &AuthScheme::Dpop);
        assert_eq!(one("Basic realm=x").scheme().as_str(), "basic");
    }

    #[test]
    fn rfc9110_section_11_6_1_token_values_and_bws() {
        let c = one("Bearer realm = example ,error= invalid_token");
        assert_eq!(c.realm(), Some("example"));
        assert_eq!(c.error(), Some("invalid_token"));
    }

    #[test]
    fn rfc9110_section_5_6_4_quoted_pairs_are_unescaped() {
        let c = one(r#"Bearer realm="a\"b\\c\d""#);
        assert_eq!(c.realm(), Some(r#"a"b\cd"#));
        assert_eq!(c.to_header_value(), r#"Bearer realm="a\"b\\cd""#);
    }

    #[test]
    fn rfc9110_section_11_2_token68() {
        let got = parse_www_authenticate("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==, Bearer realm=\"x\"")
            .unwrap();
        assert_eq!(got[0].token68(), Some("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        assert_eq!(got[0].params().count(), 0);
        assert_eq!(got[1].realm(), Some("x"));
        assert_eq!(one("Negotiate a/b+c~").token68(), Some("a/b+c~"));
        // A name with "=" and no value is a token68 with padding, per the grammar.
        assert_eq!(one("Bearer realm=").token68(), Some("realm="));
        assert_eq!(
            parse_www_authenticate("Basic abc=d="),
            Err(MetadataError::ChallengeSyntax { at: 11 })
        );
    }

    #[test]
    fn rfc6750_section_3_duplicated_params_are_refused() {
        assert_eq!(
            parse_www_authenticate(r#"Bearer realm="a", realm="b""#),
            Err(MetadataError::DuplicateParam)
        );
        assert_eq!(
            parse_www_authenticate(r#"Bearer scope="a", SCOPE="b""#),
            Err(MetadataError::DuplicateParam)
        );
        // The same name in two different challenges is fine.
        assert_eq!(
            parse_www_authenticate(r#"Bearer error="x", DPoP error="y""#)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn rfc9110_section_11_6_1_malformed_headers_are_refused() {
        let cases: &[(&str, MetadataError)] = &[
            (r#"realm="x""#, MetadataError::ChallengeSyntax { at: 5 }),
            (
                r#"Bearer realm="x" error="y""#,
                MetadataError::ChallengeSyntax { at: 17 },
            ),
            (
                r#"Bearer realm="x"#,
                MetadataError::UnterminatedQuotedString,
            ),
            (
                r#"Bearer realm="x\"#,
                MetadataError::UnterminatedQuotedString,
            ),
            ("Bearer\trealm=x", MetadataError::ChallengeSyntax { at: 7 }),
            (
                "Bearer realm=\"caf\u{e9}\"",
                MetadataError::ChallengeSyntax { at: 17 },
            ),
            (
                "Bearer realm=\"a\u{1}\"",
                MetadataError::ChallengeSyntax { at: 15 },
            ),
            (
                r#"Bearer realm="x", error="#,
                MetadataError::ChallengeSyntax { at: 23 },
            ),
            ("\"Bearer\"", MetadataError::ChallengeSyntax { at: 0 }),
            ("Bearer a b", MetadataError::ChallengeSyntax { at: 9 }),
        ];
        for (header, expected) in cases {
            assert_eq!(
                parse_www_authenticate(header).as_ref(),
                Err(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn empty_list_elements_are_skipped() {
        assert_eq!(parse_www_authenticate("").unwrap(), []);
        assert_eq!(parse_www_authenticate(" , ,").unwrap(), []);
        let got = parse_www_authenticate(r#", Bearer realm="x",, , DPoP"#).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].realm(), Some("x"));
    }

    #[test]
    fn input_is_bounded() {
        let long = format!("Bearer realm=\"{}\"", "a".repeat(MAX_HEADER_LEN));
        assert_eq!(
            parse_www_authenticate(&long),
            Err(MetadataError::HeaderTooLong)
        );
        let many = vec!["Bearer"; MAX_CHALLENGES + 1].join(", ");
        assert_eq!(
            parse_www_authenticate(&many),
            Err(MetadataError::TooManyChallenges)
        );
        assert_eq!(
            parse_www_authenticate(&vec!["Bearer"; MAX_CHALLENGES].join(", "))
                .unwrap()
                .len(),
            MAX_CHALLENGES
        );
        let params: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let header = format!("Bearer {}", params.join(", "));
        assert_eq!(
            parse_www_authenticate(&header),
            Err(MetadataError::TooManyParams)
        );
    }

    #[test]
    fn rfc6750_section_3_builder_refuses_forbidden_characters() {
        let refused = [
            Challenge::bearer().error_description("line\nbreak").build(),
            Challenge::bearer().error_description("tab\there").build(),
            Challenge::bearer().error_description("say \"hi\"").build(),
            Challenge::bearer().error_description("back\\slash").build(),
            Challenge::bearer().error_description("caf\u{e9}").build(),
            Challenge::bearer()
                .error_uri("https://x.example/a b")
                .build(),
            Challenge::bearer().param("scope", "a  b").build(),
            Challenge::bearer().param("error", "bad\u{7f}").build(),
            Challenge::bearer().realm("a\r\nSet-Cookie: x").build(),
            Challenge::dpop().algs(&["ES256", ""]).build(),
            Challenge::dpop().algs(&[]).build(),
        ];
        for result in refused {
            assert_eq!(result, Err(MetadataError::InvalidParamValue));
        }
        // A realm may hold quotes and backslashes: they are escaped, not refused.
        let c = Challenge::bearer().realm(r#"a"b\c"#).build().unwrap();
        assert_eq!(c.to_header_value(), r#"Bearer realm="a\"b\\c""#);
    }

    #[test]
    fn builder_refuses_bad_names_and_token68() {
        assert_eq!(
            Challenge::bearer().param("bad name", "x").build(),
            Err(MetadataError::InvalidParamName)
        );
        assert_eq!(
            Challenge::bearer().param("", "x").build(),
            Err(MetadataError::InvalidParamName)
        );
        assert_eq!(
            Challenge::bearer().token68("a b").build(),
            Err(MetadataError::InvalidToken68)
        );
        assert_eq!(
            Challenge::bearer().token68("=").build(),
            Err(MetadataError::InvalidToken68)
        );
        assert_eq!(
            Challenge::bearer().token68("abc").realm("x").build(),
            Err(MetadataError::Token68WithParams)
        );
        assert_eq!(
            AuthScheme::parse("Bad Scheme"),
            Err(MetadataError::InvalidSchemeName)
        );
        assert_eq!(AuthScheme::parse(""), Err(MetadataError::InvalidSchemeName));
        assert_eq!(AuthScheme::parse("BEARER"), Ok(AuthScheme::Bearer));
        let mut builder = Challenge::bearer();
        for i in 0..=MAX_PARAMS {
            builder = builder.param(&format!("p{i}"), "v");
        }
        assert_eq!(builder.build(), Err(MetadataError::TooManyParams));
    }

    #[test]
    fn builder_setters_replace_rather_than_repeat() {
        let c = Challenge::bearer()
            .realm("a")
            .param("REALM", "b")
            .build()
            .unwrap();
        assert_eq!(c.to_header_value(), r#"Bearer realm="b""#);
    }

    fn arb_challenge() -> impl Strategy<Value = Challenge> {
        let scheme = prop_oneof![
            Just(AuthScheme::Bearer),
            Just(AuthScheme::Dpop),
            "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,8}".prop_map(|s| AuthScheme::parse(&s).unwrap()),
        ];
        // Values are drawn per name from the characters RFC 6750 section 3 allows there.
        let param = prop_oneof![
            ("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}", "[\t -~]{0,24}"),
            (Just("realm".to_owned()), "[\t -~]{0,24}"),
            (
                Just("scope".to_owned()),
                "[!#-\\[\\]-~]{1,8}( [!#-\\[\\]-~]{1,8}){0,3}"
            ),
            (Just("error".to_owned()), "[a-z_]{1,20}"),
            (Just("error_description".to_owned()), "[ !#-\\[\\]-~]{0,24}"),
            (Just("error_uri".to_owned()), "[!#-\\[\\]-~]{0,24}"),
            (
                Just("algs".to_owned()),
                "[A-Za-z0-9]{1,6}( [A-Za-z0-9]{1,6}){0,2}"
            ),
        ];
        let params = proptest::collection::vec(param, 0..6);
        let token68 = proptest::option::weighted(0.2, "[A-Za-z0-9._~+/-]{1,12}={0,2}");
        (scheme, params, token68).prop_filter_map("valid challenge", |(scheme, params, token68)| {
            let mut builder = Challenge::builder(scheme);
            match token68 {
                Some(t) => builder = builder.token68(&t),
                None => {
                    for (name, value) in &params {
                        builder = builder.param(name, value);
                    }
                }
            }
            builder.build().ok()
        })
    }

    proptest! {
        #[test]
        fn render_then_parse_gives_the_same_challenges(challenges in proptest::collection::vec(arb_challenge(), 0..5)) {
            let header = render_challenges(&challenges);
            prop_assert_eq!(parse_www_authenticate(&header), Ok(challenges), "{}", header);
        }

        #[test]
        fn parse_never_panics_and_accepted_input_round_trips(header in "[\t -~]{0,80}") {
            if let Ok(challenges) = parse_www_authenticate(&header) {
                let rendered = render_challenges(&challenges);
                prop_assert_eq!(parse_www_authenticate(&rendered), Ok(challenges));
            }
        }

        #[test]
        fn parse_never_panics_on_challenge_shaped_input(
            parts in proptest::collection::vec(prop_oneof![
                Just("Bearer".to_owned()), Just("DPoP".to_owned()), Just(" ".to_owned()), Just(",".to_owned()),
                Just("=".to_owned()), Just("\"".to_owned()), Just("\\".to_owned()), Just("realm".to_owned()),
                Just("abc==".to_owned()), "[a-z]{1,3}",
            ], 0..24)
        ) {
            let header = parts.concat();
            if let Ok(challenges) = parse_www_authenticate(&header) {
                prop_assert_eq!(parse_www_authenticate(&render_challenges(&challenges)), Ok(challenges));
            }
        }
    }
}
