//! Properties of the authorization endpoint over generated requests (MCP A13,
//! A14, OAuth 2.1 section 4.1.2.1): nothing is ever redirected to a URI that
//! does not match a registered one, every redirect carries `iss`, and a client
//! anyone could have registered is never redirected to before the user
//! interacted (RFC 9700 section 4.11.2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use authorize_common::*;
use latchkey_engine::authorize::AuthorizeOutcome;
use latchkey_uri::RedirectUri;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Redirect URIs near the registered one: prefixes, suffixes, case and port changes.
fn near_redirect() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(REDIRECT.to_owned()),
        "[a-zA-Z0-9/:.?#=&%@_-]{0,12}".prop_map(|tail| format!("{REDIRECT}{tail}")),
        (0..REDIRECT.len()).prop_map(|n| REDIRECT[..n].to_owned()),
        "[a-zA-Z0-9/:.?#=&%@_-]{0,40}",
        (1u16..).prop_map(|port| format!("https://client.example.org:{port}/cb")),
        Just("HTTPS://client.example.org/cb".to_owned()),
        Just("https://client.example.org/cb/../cb".to_owned()),
        Just("https://client.example.org/%63b".to_owned()),
    ]
}

fn other_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("response_type".to_owned()),
                Just("scope".to_owned()),
                Just("resource".to_owned()),
                Just("state".to_owned()),
                Just("code_challenge".to_owned()),
                Just("code_challenge_method".to_owned()),
                Just("dpop_jkt".to_owned()),
                Just("response_mode".to_owned()),
                "[a-z_]{1,8}",
            ],
            "[ -~]{0,20}",
        ),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a13_a14_redirects_only_to_a_registered_uri(redirect_uri in near_redirect(), extra in other_params()) {
        let rt = runtime();
        rt.block_on(async {
            let engine = engine().await;
            let client = admin_client(&engine).await;
            let mut list = pairs(&request(&client, &[]));
            list.retain(|(n, _)| n != "redirect_uri");
            list.push(("redirect_uri".to_owned(), redirect_uri.clone()));
            list.extend(extra);
            let registered = RedirectUri::parse(REDIRECT).unwrap();
            // An empty value is an absent one: the single registered URI is used.
            let matches = redirect_uri.is_empty() || registered.matches(&redirect_uri);
            match engine.authorize_pairs(list, NOW).await {
                AuthorizeOutcome::ErrorPage { .. } => {}
                AuthorizeOutcome::Redirect(response) => {
                    prop_assert!(matches, "redirected to {redirect_uri}");
                    let (base, query) = location(&response);
                    prop_assert_eq!(base, REDIRECT);
                    prop_assert_eq!(value(&query, "iss"), Some(ISSUER));
                    prop_assert!(value(&query, "error").is_some());
                }
                AuthorizeOutcome::Interaction(pending) => {
                    prop_assert!(matches);
                    prop_assert_eq!(pending.redirect_uri().as_str(), REDIRECT);
                }
            }
            Ok(())
        })?;
    }

    /// RFC 9700 section 4.11.2: a dynamically registered client's request is
    /// never redirected before the user interacted, whatever it holds.
    #[test]
    fn rfc_9700_section_4_11_2_dynamic_clients_get_no_redirect_before_interaction(
        redirect_uri in near_redirect(),
        extra in other_params(),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let engine = engine().await;
            let client = public_client(&engine).await;
            let mut list = pairs(&request(&client, &[]));
            list.retain(|(n, _)| n != "redirect_uri");
            list.push(("redirect_uri".to_owned(), redirect_uri));
            list.extend(extra);
            let outcome = engine.authorize_pairs(list, NOW).await;
            prop_assert!(!matches!(outcome, AuthorizeOutcome::Redirect(_)), "{outcome:?}");
            Ok(())
        })?;
    }
}
