//! Who signed in: the upstream identity, its local subject, the userinfo
//! response of `oauth2` providers, and admission.

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_types::Subject;
use latchkey_types::json::parse_object;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Provider, ProviderId, UpstreamError};

/// The largest userinfo response accepted, in bytes.
pub const MAX_USERINFO_LEN: usize = 64 * 1024;
/// The longest display name kept, in characters (longer ones are cut).
const MAX_NAME_CHARS: usize = 128;
/// The longest email kept, in bytes (RFC 5321 section 4.5.3.1.3 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// A person as a provider asserted them: the provider, their upstream subject
/// (OIDC Core 1.0 section 2 `sub`, or the userinfo member at `subject_field`),
/// and the display attributes the consent page shows and the user record
/// keeps. Not yet admitted: see [`Provider::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentity {
    provider: ProviderId,
    subject: Subject,
    name: Option<String>,
    email: Option<String>,
    email_verified: bool,
}

impl UpstreamIdentity {
    pub(crate) fn new(provider: ProviderId, subject: Subject, claims: &Map<String, Value>) -> Self {
        let name = ["name", "preferred_username", "login"]
            .into_iter()
            .find_map(|member| {
                claims
                    .get(member)
                    .and_then(Value::as_str)
                    .and_then(display_name)
            });
        let email = claims.get("email").and_then(Value::as_str).and_then(email);
        // Only a JSON `true` is a verified email (OIDC Core 1.0 section 5.1).
        let email_verified =
            email.is_some() && claims.get("email_verified") == Some(&Value::Bool(true));
        Self {
            provider,
            subject,
            name,
            email,
            email_verified,
        }
    }

    /// Reads an `oauth2` provider's userinfo response (strict JSON, at most
    /// [`MAX_USERINFO_LEN`] bytes): the subject is the member at the
    /// provider's `subject_field`, a string or an integer (an integer is
    /// written in decimal), 1 to 255 printable ASCII characters; `name` (else
    /// `preferred_username`, else `login`), `email` and `email_verified` are
    /// read when present. A provider that sends no `email_verified: true`
    /// (GitHub's user object has none) yields no verified email, so a provider
    /// with `allowed_email_domains` refuses it ([`UpstreamError::EmailNotVerified`]).
    pub fn from_userinfo(provider: &Provider, body: &[u8]) -> Result<Self, UpstreamError> {
        let doc = parse_object(body, MAX_USERINFO_LEN).map_err(UpstreamError::UserinfoJson)?;
        let field = provider.subject_field().unwrap_or("sub");
        let subject = match doc.get(field) {
            None | Some(Value::Null) => return Err(UpstreamError::UserinfoSubjectMissing),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            Some(_) => return Err(UpstreamError::UserinfoSubjectInvalid),
        };
        let subject =
            Subject::parse(&subject).map_err(|_| UpstreamError::UserinfoSubjectInvalid)?;
        Ok(Self::new(provider.id().clone(), subject, &doc))
    }

    /// An identity read back from the user record it was stored in (the
    /// values of [`Self::provider`], [`Self::subject`], [`Self::name`],
    /// [`Self::email`] and [`Self::email_verified`]). Nothing is checked
    /// against a provider: the store is trusted, and [`Provider::admit`] is
    /// for fresh sign-ins.
    pub fn restore(
        provider: ProviderId,
        subject: Subject,
        name: Option<String>,
        email: Option<String>,
        email_verified: bool,
    ) -> Self {
        Self {
            provider,
            subject,
            name: name.as_deref().and_then(display_name),
            email: email.as_deref().and_then(self::email),
            email_verified,
        }
    }

    /// The provider.
    pub fn provider(&self) -> &ProviderId {
        &self.provider
    }

    /// The subject at the provider.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// A display name, control characters removed, at most 128 characters.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The email address, if the provider sent a plausible one.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// Whether the provider asserted the email as verified (`email_verified: true`).
    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    /// The subject Latchkey's own tokens carry for this person.
    ///
    /// `{provider id}:{upstream subject}` when that fits in 255 bytes (the
    /// limit of [`Subject`]); otherwise `{provider id}#` and the unpadded
    /// base64url SHA-256 of the upstream subject. Provider ids hold neither
    /// `:` nor `#`, and local usernames hold neither either, so the three
    /// forms never collide: one provider's subjects cannot be confused with
    /// another's or with a password user's. The email is never part of it (an
    /// email address can be reassigned; OIDC Core 1.0 section 5.7).
    pub fn local_subject(&self) -> Subject {
        let plain = format!("{}:{}", self.provider, self.subject);
        let local = if plain.len() <= Subject::MAX_LEN {
            plain
        } else {
            format!(
                "{}#{}",
                self.provider,
                Base64UrlUnpadded::encode_string(&Sha256::digest(self.subject.as_str()))
            )
        };
        Subject::parse(&local).expect(
            "a provider id of at most 32 safe bytes, `:` and a VSCHAR subject within 255 bytes, \
             or the id, `#` and 43 base64url bytes, are a valid subject",
        )
    }
}

impl Provider {
    /// Decides whether `identity` may sign in here.
    ///
    /// - `allowed_subjects`, when set: the upstream subject must be one of them
    ///   ([`UpstreamError::SubjectNotAllowed`]).
    /// - `allowed_email_domains`, when set: the email must be verified
    ///   ([`UpstreamError::EmailNotVerified`]), and its domain, everything after
    ///   its last `@`, must equal one of them ASCII-case-insensitively and
    ///   whole: `evil-example.com` and `example.com.evil.com` are not
    ///   `example.com` ([`UpstreamError::EmailDomainNotAllowed`]).
    ///
    /// When both are set, both must admit the identity.
    pub fn admit(&self, identity: &UpstreamIdentity) -> Result<(), UpstreamError> {
        if !self.allowed_subjects().is_empty()
            && !self
                .allowed_subjects()
                .iter()
                .any(|s| s == identity.subject())
        {
            return Err(UpstreamError::SubjectNotAllowed);
        }
        if self.allowed_email_domains().is_empty() {
            return Ok(());
        }
        let email = match identity.email() {
            Some(email) if identity.email_verified() => email,
            _ => return Err(UpstreamError::EmailNotVerified),
        };
        let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
        if self
            .allowed_email_domains()
            .iter()
            .any(|d| d.matches(domain))
        {
            Ok(())
        } else {
            Err(UpstreamError::EmailDomainNotAllowed)
        }
    }
}

fn display_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn email(email: &str) -> Option<String> {
    let plausible = email.len() <= MAX_EMAIL_LEN
        && email
            .rsplit_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_control() || c.is_whitespace());
    plausible.then(|| email.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{oauth2_provider, provider_with};
    use latchkey_types::json::JsonError;
    use serde_json::json;

    fn identity(sub: &str, claims: &Value) -> UpstreamIdentity {
        UpstreamIdentity::new(
            ProviderId::parse("corp").unwrap(),
            Subject::parse(sub).unwrap(),
            claims.as_object().unwrap(),
        )
    }

    #[test]
    fn local_subject_is_provider_colon_sub_never_an_email() {
        let person = identity(
            "1234",
            &json!({"email": "a@example.com", "email_verified": true}),
        );
        assert_eq!(person.local_subject().as_str(), "corp:1234");
        assert_ne!(person.local_subject().as_str(), "a@example.com");
        let long = "x".repeat(251);
        let hashed = identity(&long, &json!({})).local_subject();
        assert!(hashed.as_str().starts_with("corp#"), "{hashed}");
        assert_eq!(hashed.as_str().len(), "corp#".len() + 43);
        // Deterministic, and distinct per subject.
        assert_eq!(identity(&long, &json!({})).local_subject(), hashed);
        assert_ne!(
            identity(&"y".repeat(251), &json!({})).local_subject(),
            hashed
        );
        // Exactly at the limit stays readable.
        let fits = "z".repeat(255 - "corp:".len());
        assert_eq!(
            identity(&fits, &json!({})).local_subject().as_str(),
            format!("corp:{fits}")
        );
    }

    #[test]
    fn a_stored_identity_restores_to_the_same_value_and_local_subject() {
        let person = identity(
            "1234",
            &json!({"name": "Ada", "email": "ada@example.com", "email_verified": true}),
        );
        let back = UpstreamIdentity::restore(
            person.provider().clone(),
            person.subject().clone(),
            person.name().map(str::to_owned),
            person.email().map(str::to_owned),
            person.email_verified(),
        );
        assert_eq!(back, person);
        assert_eq!(back.local_subject(), person.local_subject());
    }

    #[test]
    fn display_attributes_are_bounded_and_cleaned() {
        let person = identity(
            "1",
            &json!({"name": " Ada\u{7} Lovelace ", "email": "ada@example.com", "email_verified": "true"}),
        );
        assert_eq!(person.name(), Some("Ada Lovelace"));
        assert_eq!(person.email(), Some("ada@example.com"));
        // The string "true" is not the boolean true.
        assert!(!person.email_verified());
        let odd = identity(
            "1",
            &json!({"name": 5, "preferred_username": "ada", "email": "no-at-sign"}),
        );
        assert_eq!(odd.name(), Some("ada"));
        assert_eq!(odd.email(), None);
        let long = identity("1", &json!({"name": "n".repeat(500)}));
        assert_eq!(long.name().unwrap().len(), 128);
    }

    #[test]
    fn userinfo_subject_is_read_at_subject_field_string_or_integer() {
        let github = oauth2_provider();
        let person = UpstreamIdentity::from_userinfo(
            &github,
            br#"{"login":"octocat","id":583231,"name":null,"email":"octocat@github.com"}"#,
        )
        .unwrap();
        assert_eq!(person.subject().as_str(), "583231");
        assert_eq!(person.local_subject().as_str(), "github:583231");
        assert_eq!(person.name(), Some("octocat"));
        assert!(!person.email_verified());
        let string = UpstreamIdentity::from_userinfo(&github, br#"{"id":"u-1"}"#).unwrap();
        assert_eq!(string.subject().as_str(), "u-1");
        for (body, error) in [
            (
                &br#"{"login":"octocat"}"#[..],
                UpstreamError::UserinfoSubjectMissing,
            ),
            (br#"{"id":null}"#, UpstreamError::UserinfoSubjectMissing),
            (br#"{"id":1.5}"#, UpstreamError::UserinfoSubjectInvalid),
            (br#"{"id":true}"#, UpstreamError::UserinfoSubjectInvalid),
            (br#"{"id":""}"#, UpstreamError::UserinfoSubjectInvalid),
            (br#"{"id":"a\nb"}"#, UpstreamError::UserinfoSubjectInvalid),
            (
                br#"{"id":1,"id":2}"#,
                UpstreamError::UserinfoJson(JsonError::DuplicateMember),
            ),
            (b"[]", UpstreamError::UserinfoJson(JsonError::NotAnObject)),
        ] {
            assert_eq!(
                UpstreamIdentity::from_userinfo(&github, body).unwrap_err(),
                error,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn allowed_email_domains_requires_a_verified_email_in_the_exact_domain() {
        let provider = provider_with("allowed_email_domains = [\"example.com\"]");
        let verified =
            |email: &str| identity("1", &json!({"email": email, "email_verified": true}));
        assert_eq!(provider.admit(&verified("ada@example.com")), Ok(()));
        assert_eq!(provider.admit(&verified("ada@EXAMPLE.com")), Ok(()));
        for email in [
            "ada@evil-example.com",
            "ada@example.com.evil.com",
            "ada@sub.example.com",
            "ada@example.com@evil.com",
            "example.com@evil.com",
        ] {
            assert_eq!(
                provider.admit(&verified(email)),
                Err(UpstreamError::EmailDomainNotAllowed),
                "{email}"
            );
        }
        let unverified = identity(
            "1",
            &json!({"email": "ada@example.com", "email_verified": false}),
        );
        assert_eq!(
            provider.admit(&unverified),
            Err(UpstreamError::EmailNotVerified)
        );
        let absent = identity("1", &json!({"email": "ada@example.com"}));
        assert_eq!(
            provider.admit(&absent),
            Err(UpstreamError::EmailNotVerified)
        );
        assert_eq!(
            provider.admit(&identity("1", &json!({}))),
            Err(UpstreamError::EmailNotVerified)
        );
    }

    #[test]
    fn allowed_subjects_admits_only_listed_subjects() {
        let provider = provider_with("allowed_subjects = [\"1234\"]");
        assert_eq!(provider.admit(&identity("1234", &json!({}))), Ok(()));
        assert_eq!(
            provider.admit(&identity("12345", &json!({}))),
            Err(UpstreamError::SubjectNotAllowed)
        );
        let open = provider_with("");
        assert_eq!(open.admit(&identity("anyone", &json!({}))), Ok(()));
        let both = provider_with(
            "allowed_subjects = [\"1234\"]\nallowed_email_domains = [\"example.com\"]",
        );
        assert_eq!(
            both.admit(&identity("1234", &json!({}))),
            Err(UpstreamError::EmailNotVerified)
        );
    }
}
