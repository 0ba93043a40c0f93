//! Fuzz-target bodies, shared by `fuzz/` and the replay test below.

use latchkey_types::ErrorCode;

use crate::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, parse_www_authenticate,
    render_challenges,
};

/// `as_metadata`: accepted documents re-emit and re-parse to the same value;
/// refused ones map to an error code. The `openid-configuration` rules accept
/// every document RFC 8414's accept, as the same value, and their documents
/// re-parse too.
pub fn as_metadata(data: &[u8]) {
    let openid = AuthorizationServerMetadata::parse_openid_configuration(data);
    match AuthorizationServerMetadata::parse(data) {
        Ok(doc) => {
            let again = AuthorizationServerMetadata::parse(doc.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(&doc));
            assert_eq!(openid.as_ref(), Ok(&doc));
        }
        Err(error) => {
            let _code = ErrorCode::from(&error);
        }
    }
    match openid {
        Ok(doc) => {
            let again =
                AuthorizationServerMetadata::parse_openid_configuration(doc.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(&doc));
        }
        Err(error) => {
            let _code = ErrorCode::from(&error);
        }
    }
}

/// `pr_metadata`: accepted documents re-emit and re-parse to the same value;
/// refused ones map to an error code.
pub fn pr_metadata(data: &[u8]) {
    match ProtectedResourceMetadata::parse(data) {
        Ok(doc) => {
            let again = ProtectedResourceMetadata::parse(doc.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(&doc));
        }
        Err(error) => {
            let _code = ErrorCode::from(&error);
        }
    }
}

/// `www_authenticate`: accepted header values render and re-parse to the same
/// challenges; refused ones map to an error code.
pub fn www_authenticate(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match parse_www_authenticate(text) {
        Ok(challenges) => {
            let rendered = render_challenges(&challenges);
            assert_eq!(
                parse_www_authenticate(&rendered).as_ref(),
                Ok(&challenges),
                "{rendered}"
            );
        }
        Err(error) => {
            let _code = ErrorCode::from(&error);
        }
    }
}

#[cfg(test)]
mod tests {
    use latchkey_types::fuzzing::replay;

    #[test]
    fn replays_as_metadata_corpus() {
        assert!(replay("as_metadata", super::as_metadata) >= 3);
    }

    #[test]
    fn replays_pr_metadata_corpus() {
        assert!(replay("pr_metadata", super::pr_metadata) >= 3);
    }

    #[test]
    fn replays_www_authenticate_corpus() {
        assert!(replay("www_authenticate", super::www_authenticate) >= 3);
    }
}
