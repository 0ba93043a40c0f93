//! Requests as the engine sees them: parameters already split into pairs by the
//! adapter, and the few HTTP facts OAuth rules depend on.

use crate::error::EngineError;

/// Ordered name/value pairs from a query string or form body (already
/// percent-decoded by the adapter), bounded in count and size, with no name
/// repeated except `resource`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The most parameters one request may carry; more is `invalid_request`.
    pub const MAX_PARAMS: usize = 64;
    /// The longest parameter name or value accepted, in bytes.
    pub const MAX_VALUE_LEN: usize = 8192;
    /// The one parameter that may repeat (RFC 8707 section 2).
    const REPEATABLE: &'static str = "resource";

    /// Collects `pairs`, refusing more than [`Self::MAX_PARAMS`] pairs, a name or
    /// value longer than [`Self::MAX_VALUE_LEN`], and a repeated parameter
    /// (OAuth 2.1 sections 3.1 and 3.2: parameters "MUST NOT be included more
    /// than once"), except `resource`, which RFC 8707 section 2 lets repeat.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(
        pairs: I,
    ) -> Result<Params, EngineError> {
        let mut collected: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            if collected.len() >= Self::MAX_PARAMS {
                return Err(EngineError::TooManyParameters);
            }
            if name.len() > Self::MAX_VALUE_LEN || value.len() > Self::MAX_VALUE_LEN {
                return Err(EngineError::ParameterTooLong);
            }
            if name != Self::REPEATABLE && collected.iter().any(|(n, _)| *n == name) {
                return Err(EngineError::ParameterRepeated {
                    name: printable_name(&name),
                });
            }
            collected.push((name, value));
        }
        Ok(Params { pairs: collected })
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 section 3.1:
    /// "Parameters sent without a value MUST be treated as if they were omitted").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name` in order (for `resource`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`; missing (or empty) is `invalid_request`.
    pub fn require(&self, name: &str) -> Result<&str, EngineError> {
        self.get(name).ok_or_else(|| EngineError::ParameterMissing {
            name: printable_name(name),
        })
    }

    /// Whether any parameter is called `name` with a non-empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The request facts the engine's rules depend on, extracted by the adapter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpContext {
    /// The request method, as sent (`"POST"`).
    pub method: String,
    /// The absolute request URI as the client addressed it (the DPoP `htu`, RFC 9449 section 4.3).
    pub uri: String,
    /// The `Authorization` header, if exactly one was sent (the adapter refuses repeats).
    pub authorization: Option<String>,
    /// Every `DPoP` header value, in order (RFC 9449 section 4.3 check 1 refuses more than one).
    pub dpop: Vec<String>,
}

impl HttpContext {
    /// A request with `method` to `uri`, without `Authorization` or `DPoP` headers.
    pub fn new(method: &str, uri: &str) -> Self {
        Self {
            method: method.to_owned(),
            uri: uri.to_owned(),
            authorization: None,
            dpop: Vec::new(),
        }
    }

    /// This request with an `Authorization` header.
    pub fn with_authorization(mut self, value: String) -> Self {
        self.authorization = Some(value);
        self
    }

    /// This request with one more `DPoP` header.
    pub fn with_dpop(mut self, proof: String) -> Self {
        self.dpop.push(proof);
        self
    }
}

/// A parameter name as it may appear in an error description: known-safe
/// characters only and bounded, so a description never echoes arbitrary input.
fn printable_name(name: &str) -> String {
    let safe = name
        .chars()
        .take(40)
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if safe && !name.is_empty() && name.len() <= 40 {
        name.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_types::ErrorCode;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn code(result: Result<Params, EngineError>) -> ErrorCode {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(error) => ErrorCode::from(&error),
        }
    }

    #[test]
    fn oauth_2_1_section_3_2_repeated_parameters_are_refused() {
        let result = Params::from_pairs(pairs(&[("grant_type", "a"), ("grant_type", "b")]));
        assert_eq!(code(result), ErrorCode::InvalidRequest);
    }

    #[test]
    fn rfc_8707_section_2_resource_may_repeat() {
        let params = Params::from_pairs(pairs(&[
            ("resource", "https://a.example/"),
            ("resource", "https://b.example/"),
        ]))
        .unwrap();
        assert_eq!(params.all("resource").count(), 2);
    }

    #[test]
    fn rfc_6749_section_3_1_empty_values_are_absent() {
        let params = Params::from_pairs(pairs(&[("scope", ""), ("code", "x")])).unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("code"), Some("x"));
        match params.require("scope") {
            Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest),
            Ok(_) => panic!("an empty value is missing"),
        }
    }

    #[test]
    fn counts_and_lengths_are_bounded() {
        let many: Vec<(String, String)> = (0..=Params::MAX_PARAMS)
            .map(|i| (format!("p{i}"), "v".to_owned()))
            .collect();
        assert_eq!(code(Params::from_pairs(many)), ErrorCode::InvalidRequest);
        let long = vec![("code".to_owned(), "x".repeat(Params::MAX_VALUE_LEN + 1))];
        assert_eq!(code(Params::from_pairs(long)), ErrorCode::InvalidRequest);
        let ok = vec![("code".to_owned(), "x".repeat(Params::MAX_VALUE_LEN))];
        assert!(Params::from_pairs(ok).is_ok());
    }

    #[test]
    fn repeated_parameter_description_does_not_echo_odd_names() {
        let result = Params::from_pairs(pairs(&[("a\"<b>", "1"), ("a\"<b>", "2")]));
        let Err(error) = result else {
            panic!("expected an error")
        };
        assert!(!error.public_description().contains('<'));
    }
}
