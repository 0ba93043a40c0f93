//! The readers of the server's sign-in and consent pages: the posted form
//! (`application/x-www-form-urlencoded`, HTML 5 section 4.10.21.7), the
//! consent decision and its "remember" box, and the consent page's
//! `request` query parameter.
//!
//! These forms are the server's own pages posting back to it, not OAuth
//! requests: they are decoded the way browsers encode them (the WHATWG
//! decoder, `+` as a space), and a field sent twice makes the whole form
//! unreadable, so no reader can pick a different copy than another.

use crate::cookie::looks_like_session_id;

/// Why a posted page form was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageFormError {
    /// A field name appears more than once.
    #[error("a form field is repeated")]
    RepeatedField,
}

/// The fields of a posted sign-in or consent form, each name at most once.
#[derive(Clone, PartialEq, Eq)]
pub struct PageForm(Vec<(String, String)>);

impl PageForm {
    /// Decodes `body` (the WHATWG `application/x-www-form-urlencoded`
    /// parser: `+` is a space, bad escapes are kept as they are, invalid
    /// UTF-8 becomes U+FFFD); a name sent twice is
    /// [`PageFormError::RepeatedField`]. The caller bounds the body's length.
    pub fn parse(body: &[u8]) -> Result<Self, PageFormError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs
                .iter()
                .skip(i.saturating_add(1))
                .any(|(other, _)| other == name)
            {
                return Err(PageFormError::RepeatedField);
            }
        }
        Ok(Self(pairs))
    }

    /// The value of field `name`, or `""` when the form has no such field
    /// (an unticked checkbox is not sent at all).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The fields, in the order they were posted.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Field values can hold passwords: `Debug` shows the field names only.
impl core::fmt::Debug for PageForm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PageForm")
            .field(&self.0.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// The consent form's `decision` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentChoice {
    /// `allow`: the user approves the request shown.
    Allow,
    /// `deny`: the user refuses it (OAuth 2.1 section 4.1.2.1 `access_denied`).
    Deny,
}

impl ConsentChoice {
    /// `allow` or `deny`, exactly; anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The field value this choice is posted as.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// The consent form's "remember" checkbox: absent (`""`, unticked) is
/// `Some(false)`, `yes` is `Some(true)`, any other value is `None`.
pub fn parse_remember(value: &str) -> Option<bool> {
    match value {
        "" => Some(false),
        "yes" => Some(true),
        _ => None,
    }
}

/// The `request` parameter of the consent page's query: `Some` when it is
/// there exactly once and has the shape of a request id
/// ([`looks_like_session_id`]).
pub fn query_request_id(query: Option<&str>) -> Option<String> {
    let mut values = url::form_urlencoded::parse(query?.as_bytes())
        .filter(|(name, _)| name == "request")
        .map(|(_, value)| value.into_owned());
    let value = values.next()?;
    if values.next().is_some() || !looks_like_session_id(&value) {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ok9g7CUHL0Ll3ENbzgDiwXvqQfXqSJ1p2rXgSRk8SeQ";

    #[test]
    fn a_form_reads_each_field_once_and_refuses_repeats() {
        let form = PageForm::parse(b"csrf=abc&username=a+b&password=p%40ss&remember=").unwrap();
        assert_eq!(form.get("username"), "a b");
        assert_eq!(form.get("password"), "p@ss");
        assert_eq!(form.get("remember"), "");
        assert_eq!(form.get("absent"), "");
        assert_eq!(form.fields().count(), 4);
        assert_eq!(
            PageForm::parse(b"csrf=a&x=1&csrf=b"),
            Err(PageFormError::RepeatedField)
        );
        // The same name spelled two ways is the same name once decoded.
        assert_eq!(
            PageForm::parse(b"csrf=a&%63srf=b"),
            Err(PageFormError::RepeatedField)
        );
        // Browsers' encoding: a bad escape is kept, not refused.
        assert_eq!(PageForm::parse(b"a=%zz").unwrap().get("a"), "%zz");
    }

    #[test]
    fn a_form_debug_shows_no_value() {
        let form = PageForm::parse(b"username=alice&password=hunter2").unwrap();
        assert_eq!(format!("{form:?}"), r#"PageForm(["username", "password"])"#);
    }

    #[test]
    fn consent_fields_are_exact() {
        assert_eq!(ConsentChoice::parse("allow"), Some(ConsentChoice::Allow));
        assert_eq!(ConsentChoice::parse("deny"), Some(ConsentChoice::Deny));
        for other in ["Allow", "allow ", "", "yes"] {
            assert_eq!(ConsentChoice::parse(other), None, "{other}");
        }
        assert_eq!(parse_remember(""), Some(false));
        assert_eq!(parse_remember("yes"), Some(true));
        assert_eq!(parse_remember("on"), None);
    }

    #[test]
    fn the_request_id_is_there_once_and_shaped_like_an_id() {
        assert_eq!(
            query_request_id(Some(&format!("request={ID}"))).as_deref(),
            Some(ID)
        );
        assert_eq!(query_request_id(None), None);
        assert_eq!(
            query_request_id(Some(&format!("request={ID}&request={ID}"))),
            None
        );
        assert_eq!(query_request_id(Some("request=short")), None);
        assert_eq!(
            query_request_id(Some(&format!("x=1&request={ID}"))).as_deref(),
            Some(ID)
        );
    }
}
