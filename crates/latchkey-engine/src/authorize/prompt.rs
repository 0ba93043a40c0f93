//! `prompt` and `max_age` (OpenID Connect Core 1.0 section 3.1.2.1), parsed
//! strictly, and what they ask of the pages.

use std::time::Duration;

use latchkey_types::UnixTime;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// The `prompt` values of a request (OpenID Connect Core 1.0 section
/// 3.1.2.1). The default (no `prompt`) has every flag off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    select_account: bool,
}

impl Prompt {
    /// The most values one `prompt` may hold: the four defined ones.
    const MAX_VALUES: usize = 4;

    /// Parses a `prompt` value: a space-delimited, case-sensitive list of
    /// `none`, `login`, `consent` and `select_account`. Refused with a fixed
    /// description (for `invalid_request`): an unknown value, an empty item
    /// (a leading, trailing or doubled space), a repeated value, and `none`
    /// with any other value ("If this parameter contains none with any
    /// other value, an error is returned").
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut prompt = Self::default();
        let mut count = 0;
        for value in raw.split(' ') {
            count += 1;
            if count > Self::MAX_VALUES {
                return Err("prompt holds too many values");
            }
            let flag = match value {
                "none" => &mut prompt.none,
                "login" => &mut prompt.login,
                "consent" => &mut prompt.consent,
                "select_account" => &mut prompt.select_account,
                "" => return Err("prompt is malformed"),
                _ => return Err("prompt holds an unsupported value"),
            };
            if *flag {
                return Err("prompt holds a value twice");
            }
            *flag = true;
        }
        if prompt.none && count > 1 {
            return Err("prompt=none cannot be combined with another value");
        }
        Ok(prompt)
    }

    /// `none`: no sign-in or consent page may be shown; a request that needs
    /// one is answered with [`crate::Engine::refuse_prompt_none`].
    pub fn none(self) -> bool {
        self.none
    }

    /// `login`: the end-user signs in again, even with a session.
    pub fn login(self) -> bool {
        self.login
    }

    /// `consent`: the consent page is shown, even if consent is remembered.
    pub fn consent(self) -> bool {
        self.consent
    }

    /// `select_account`: the end-user picks the account. Latchkey's sign-in
    /// page is where an account is picked, so it is shown as for `login`.
    pub fn select_account(self) -> bool {
        self.select_account
    }
}

/// Parses `max_age` (OpenID Connect Core 1.0 section 3.1.2.1): seconds, a
/// non-negative integer of ASCII digits, at most 10 of them (longer than
/// three centuries is refused rather than saturated).
pub(crate) fn parse_max_age(raw: &str) -> Result<u64, EngineError> {
    const MAX_DIGITS: usize = 10;
    if raw.is_empty() || raw.len() > MAX_DIGITS || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EngineError::MaxAgeInvalid);
    }
    raw.parse().map_err(|_| EngineError::MaxAgeInvalid)
}

/// Whether a request needs the end-user to sign in now (OpenID Connect Core
/// 1.0 section 3.1.2.1), given when the session last authenticated
/// (`auth_time`, `None` without a session) and when the request arrived.
///
/// - No session: sign in.
/// - `prompt=login`, `prompt=select_account` or `max_age=0` ("equivalent to
///   prompt=login"): a sign-in older than the request does not count; one
///   in the same second or later does (times are whole seconds), so signing
///   in once satisfies the request.
/// - `max_age`: more than `max_age` seconds elapsed since `auth_time` at `now`.
pub(crate) fn must_sign_in(
    prompt: Prompt,
    max_age: Option<u64>,
    requested_at: UnixTime,
    auth_time: Option<UnixTime>,
    now: UnixTime,
) -> bool {
    let Some(auth_time) = auth_time else {
        return true;
    };
    let fresh_login_asked = prompt.login || prompt.select_account || max_age == Some(0);
    if fresh_login_asked && auth_time < requested_at {
        return true;
    }
    match max_age {
        Some(max_age) => {
            now.duration_since(auth_time).unwrap_or(Duration::ZERO) > Duration::from_secs(max_age)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixTime = UnixTime::from_secs(1_800_000_000);

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(T.as_secs() + secs)
    }

    #[test]
    fn openid_connect_core_3_1_2_1_prompt_values() {
        assert_eq!(Prompt::parse("none").map(Prompt::none), Ok(true));
        let both = Prompt::parse("login consent").unwrap_or_default();
        assert!(both.login() && both.consent() && !both.none());
        assert!(Prompt::parse("select_account").is_ok_and(Prompt::select_account));
        for bad in [
            "none login",
            "consent none",
            "NONE",
            "Login",
            "create",
            "login  consent",
            " login",
            "login ",
            "login login",
            "none none",
        ] {
            assert!(Prompt::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Prompt::parse("none consent"),
            Err("prompt=none cannot be combined with another value")
        );
    }

    #[test]
    fn openid_connect_core_3_1_2_1_max_age_is_a_non_negative_integer() {
        assert_eq!(parse_max_age("0").ok(), Some(0));
        assert_eq!(parse_max_age("3600").ok(), Some(3600));
        assert_eq!(parse_max_age("0042").ok(), Some(42));
        for bad in ["-1", "+1", "1.5", " 1", "1e3", "abc", "99999999999", "１"] {
            assert!(parse_max_age(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sign_in_is_needed_without_a_session_for_login_and_past_max_age() {
        let none = Prompt::default();
        assert!(must_sign_in(none, None, T, None, T));
        assert!(!must_sign_in(none, None, T, Some(at(0)), at(10_000)));

        let login = Prompt::parse("login").unwrap_or_default();
        let earlier = UnixTime::from_secs(T.as_secs() - 1);
        assert!(must_sign_in(login, None, T, Some(earlier), T));
        assert!(
            !must_sign_in(login, None, T, Some(at(5)), at(5)),
            "signed in for it"
        );
        let select = Prompt::parse("select_account").unwrap_or_default();
        assert!(must_sign_in(select, None, T, Some(earlier), T));

        // max_age=0 is prompt=login.
        assert!(must_sign_in(none, Some(0), T, Some(earlier), T));
        assert!(!must_sign_in(none, Some(0), T, Some(T), T));

        // Elapsed greater than max_age.
        assert!(!must_sign_in(none, Some(60), at(100), Some(at(0)), at(60)));
        assert!(must_sign_in(none, Some(60), at(100), Some(at(0)), at(61)));
        // A session time in the future counts as no time elapsed.
        assert!(!must_sign_in(none, Some(60), T, Some(at(30)), T));
    }
}
