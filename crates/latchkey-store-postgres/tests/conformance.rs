//! The shared conformance suite (`latchkey_store::conformance`) against
//! PostgreSQL, one fresh schema per case.

mod support;

use std::sync::Arc;

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                support::with_stores(stringify!($case), 1, |mut stores| async move {
                    let store = stores.pop().expect("one store");
                    latchkey_store::conformance::$case(Arc::new(store)).await;
                })
                .await;
            }
        )*
    };
}

cases!(
    code_is_consumed_exactly_once_under_64_concurrent_redemptions,
    unknown_and_duplicate_codes,
    refresh_rotation_is_compare_and_set_under_concurrency,
    rotated_tokens_still_find_their_family,
    revoking_a_family_revokes_its_access_tokens_and_stays_revoked,
    code_replay_revokes_everything_the_code_issued,
    code_grant_revoked_before_its_tokens_land_still_revokes_them,
    registration_is_idempotent_by_fingerprint_and_capped,
    deleting_a_client_revokes_its_grants,
    unused_clients_are_purged_used_ones_kept,
    consent_covers_only_what_one_approval_covered,
    exactly_one_active_signing_key,
    users_are_unique_by_name,
    removing_a_user_revokes_their_grants_and_no_one_elses,
    upstream_users_are_upserted_and_never_take_over_local_ones,
    remember_once_admits_one_of_many_concurrent_callers,
    expired_records_are_purged,
    expired_records_are_purged_in_batches_and_live_ones_kept,
    unused_clients_are_purged_in_batches,
    a_failed_redemption_is_reported_when_the_code_comes_back,
    the_introspection_permission_round_trips_and_no_replacement_changes_it,
);
