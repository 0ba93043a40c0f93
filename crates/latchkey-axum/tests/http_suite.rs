//! The shared HTTP-level suite (`latchkey-http-tests`) against the axum adapter.

mod fixture;

latchkey_http_tests::http_suite!(fixture::start());
