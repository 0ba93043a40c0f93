//! An in-memory store: one mutex around plain maps, so every operation is
//! trivially atomic. For tests and for embedding in a single process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use latchkey_token::code::{CodeRecord, Consumption};
use latchkey_token::refresh::{FamilyId, FamilyState, RefreshFamily, RevocationReason};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;

use crate::{
    AccessTokenRecord, CODE_TOMBSTONE_MARGIN, ClientRecord, ClientStore, ConsentRecord,
    ConsentStore, GrantStore, KeyStatus, KeyStore, NewFamily, Registered, ReplayStore,
    RevokedGrant, Rotated, StoreError, StoredKey, UserRecord, UserStore, consent_resource_set,
};

/// A store that keeps everything in process memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    clients: BTreeMap<ClientId, ClientRecord>,
    codes: HashMap<TokenDigest, StoredCode>,
    families: HashMap<FamilyId, StoredFamily>,
    family_by_token: HashMap<TokenDigest, FamilyId>,
    access_tokens: HashMap<String, AccessTokenRecord>,
    consents: HashMap<(Subject, ClientId), Vec<ConsentRecord>>,
    keys: Vec<StoredKey>,
    users: BTreeMap<Subject, UserRecord>,
    replay: HashMap<[u8; 32], UnixTime>,
}

#[derive(Debug)]
struct StoredCode {
    record: CodeRecord,
    consumed: bool,
    /// When [`GrantStore::revoke_code_grant`] revoked it: the tombstone.
    revoked_at: Option<UnixTime>,
    /// When its consuming redemption was refused
    /// ([`GrantStore::mark_redemption_failed`]).
    failed_at: Option<UnixTime>,
}

#[derive(Debug)]
struct StoredFamily {
    family: RefreshFamily,
    from_code: Option<TokenDigest>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a map half-updated:
        // every operation computes first and mutates last, so the data is usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// [`StoreError::Duplicate`] if the family's id or current token is taken.
    fn check_new_family(&self, family: &RefreshFamily) -> Result<(), StoreError> {
        if self.families.contains_key(&family.id())
            || self.family_by_token.contains_key(family.current())
        {
            return Err(StoreError::Duplicate);
        }
        Ok(())
    }

    /// Stores a family that passed [`Inner::check_new_family`]; the code's
    /// tombstone, if any, makes it land revoked.
    fn insert_family(&mut self, family: &RefreshFamily, from_code: Option<&TokenDigest>) {
        let family = match from_code.and_then(|code| self.code_revoked_at(code)) {
            Some(at) => family.revoke(RevocationReason::CodeReplay, at),
            None => family.clone(),
        };
        self.family_by_token.insert(*family.current(), family.id());
        self.families.insert(
            family.id(),
            StoredFamily {
                family,
                from_code: from_code.copied(),
            },
        );
    }

    /// The compare-and-set of [`GrantStore::rotate_family`].
    fn rotate_family(&mut self, next: &RefreshFamily) -> Rotated {
        let Some(stored) = self.families.get_mut(&next.id()) else {
            return Rotated::Lost(None);
        };
        let expected = next.generation().checked_sub(1);
        if stored.family.state() != FamilyState::Active
            || Some(stored.family.generation()) != expected
        {
            return Rotated::Lost(Some(Box::new(stored.family.clone())));
        }
        stored.family = next.clone();
        self.family_by_token.insert(*next.current(), next.id());
        Rotated::Applied
    }

    /// [`StoreError::Duplicate`] if the token's `jti` is taken.
    fn check_new_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        if self.access_tokens.contains_key(&token.jti) {
            return Err(StoreError::Duplicate);
        }
        Ok(())
    }

    /// Stores a token that passed [`Inner::check_new_access_token`], revoked
    /// if its code or family already is.
    fn record_access_token(&mut self, token: &AccessTokenRecord) {
        let code_revoked = token
            .from_code
            .as_ref()
            .is_some_and(|code| self.code_revoked_at(code).is_some());
        let family_revoked = token.family.is_some_and(|id| {
            self.families
                .get(&id)
                .is_some_and(|f| f.family.state() != FamilyState::Active)
        });
        let mut token = token.clone();
        token.revoked |= code_revoked || family_revoked;
        self.access_tokens.insert(token.jti.clone(), token);
    }

    /// When the code with this digest was revoked, if it was (its tombstone).
    fn code_revoked_at(&self, code: &TokenDigest) -> Option<UnixTime> {
        self.codes.get(code).and_then(|c| c.revoked_at)
    }

    fn revoke_family_and_tokens(&mut self, revoked: &RefreshFamily) {
        let id = revoked.id();
        if let Some(stored) = self.families.get_mut(&id)
            && stored.family.state() == FamilyState::Active
        {
            stored.family = revoked.clone();
        }
        for token in self.access_tokens.values_mut() {
            if token.family == Some(id) {
                token.revoked = true;
            }
        }
    }
}

impl ClientStore for MemoryStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.lock().clients.get(client_id).cloned())
    }

    async fn register_client(
        &self,
        client: &ClientRecord,
        max_clients: u64,
    ) -> Result<Registered, StoreError> {
        let mut inner = self.lock();
        if let Some(fingerprint) = &client.fingerprint
            && let Some(existing) = inner
                .clients
                .values()
                .find(|c| c.fingerprint.as_ref() == Some(fingerprint))
        {
            return Ok(Registered::Existing(Box::new(existing.clone())));
        }
        if inner.clients.contains_key(&client.client_id) {
            return Err(StoreError::Duplicate);
        }
        if u64::try_from(inner.clients.len()).unwrap_or(u64::MAX) >= max_clients {
            return Ok(Registered::CapReached);
        }
        inner
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(Registered::Inserted)
    }

    async fn replace_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.clients.get_mut(&client.client_id) {
            Some(stored) => {
                *stored = ClientRecord {
                    may_introspect: stored.may_introspect,
                    ..client.clone()
                };
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_client(&self, client_id: &ClientId, now: UnixTime) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.clients.remove(client_id).is_none() {
            return Ok(false);
        }
        let revoked: Vec<RefreshFamily> = inner
            .families
            .values()
            .filter(|f| f.family.client_id() == client_id)
            .map(|f| f.family.revoke(RevocationReason::Administrative, now))
            .collect();
        for family in &revoked {
            inner.revoke_family_and_tokens(family);
        }
        for token in inner.access_tokens.values_mut() {
            if &token.client_id == client_id {
                token.revoked = true;
            }
        }
        inner.consents.retain(|(_, client), _| client != client_id);
        Ok(true)
    }

    async fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        if let Some(client) = self.lock().clients.get_mut(client_id) {
            client.first_used_at.get_or_insert(now);
        }
        Ok(())
    }

    async fn purge_unused_clients(
        &self,
        issued_before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let unused: Vec<ClientId> = inner
            .clients
            .values()
            .filter(|c| c.first_used_at.is_none() && c.issued_at < issued_before)
            .map(|c| c.client_id.clone())
            .take(budget(limit))
            .collect();
        for client_id in &unused {
            inner.clients.remove(client_id);
        }
        Ok(count(unused.len()))
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(self.lock().clients.values().cloned().collect())
    }
}

impl GrantStore for MemoryStore {
    async fn insert_code(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.codes.contains_key(record.digest()) {
            return Err(StoreError::Duplicate);
        }
        inner.codes.insert(
            *record.digest(),
            StoredCode {
                record: record.clone(),
                consumed: false,
                revoked_at: None,
                failed_at: None,
            },
        );
        Ok(())
    }

    async fn consume_code(&self, digest: &TokenDigest) -> Result<Consumption, StoreError> {
        let mut inner = self.lock();
        Ok(match inner.codes.get_mut(digest) {
            None => Consumption::Unknown,
            Some(stored) if stored.consumed => Consumption::AlreadyConsumed(stored.record.clone()),
            Some(stored) => {
                stored.consumed = true;
                Consumption::First(stored.record.clone())
            }
        })
    }

    async fn insert_family(
        &self,
        family: &RefreshFamily,
        from_code: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.check_new_family(family)?;
        inner.insert_family(family, from_code);
        Ok(())
    }

    async fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .family_by_token
            .get(digest)
            .and_then(|id| inner.families.get(id))
            .map(|stored| stored.family.clone()))
    }

    async fn rotate_family(&self, next: &RefreshFamily) -> Result<Rotated, StoreError> {
        Ok(self.lock().rotate_family(next))
    }

    async fn revoke_family(&self, revoked: &RefreshFamily) -> Result<(), StoreError> {
        self.lock().revoke_family_and_tokens(revoked);
        Ok(())
    }

    async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.check_new_access_token(token)?;
        inner.record_access_token(token);
        Ok(())
    }

    async fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(new) = family {
            inner.check_new_family(new.family)?;
        }
        inner.check_new_access_token(token)?;
        if let Some(new) = family {
            inner.insert_family(new.family, new.from_code);
        }
        inner.record_access_token(token);
        Ok(())
    }

    async fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> Result<Rotated, StoreError> {
        let mut inner = self.lock();
        inner.check_new_access_token(token)?;
        let rotated = inner.rotate_family(next);
        if rotated == Rotated::Applied {
            inner.record_access_token(token);
        }
        Ok(rotated)
    }

    async fn access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        Ok(self.lock().access_tokens.get(jti).cloned())
    }

    async fn revoke_access_token(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(match self.lock().access_tokens.get_mut(jti) {
            Some(token) => {
                token.revoked = true;
                true
            }
            None => false,
        })
    }

    async fn revoke_code_grant(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<RevokedGrant, StoreError> {
        let mut inner = self.lock();
        if let Some(stored) = inner.codes.get_mut(code) {
            stored.revoked_at.get_or_insert(now);
        }
        let revoked: Vec<RefreshFamily> = inner
            .families
            .values()
            .filter(|f| f.from_code.as_ref() == Some(code))
            .map(|f| f.family.revoke(RevocationReason::CodeReplay, now))
            .collect();
        let mut result = RevokedGrant {
            failed_redemption_at: inner.codes.get(code).and_then(|c| c.failed_at),
            ..RevokedGrant::default()
        };
        for family in &revoked {
            inner.revoke_family_and_tokens(family);
            result.families += 1;
        }
        let ids: Vec<FamilyId> = revoked.iter().map(RefreshFamily::id).collect();
        for token in inner.access_tokens.values_mut() {
            let from_grant = token.from_code.as_ref() == Some(code)
                || token.family.is_some_and(|f| ids.contains(&f));
            if from_grant {
                token.revoked = true;
                result.access_tokens += 1;
            }
        }
        Ok(result)
    }

    async fn mark_redemption_failed(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        if let Some(stored) = self.lock().codes.get_mut(code) {
            stored.failed_at.get_or_insert(now);
        }
        Ok(())
    }

    async fn purge_expired(&self, now: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut left = budget(limit);
        let tombstones_until = now.saturating_sub(CODE_TOMBSTONE_MARGIN);
        let codes: Vec<TokenDigest> = inner
            .codes
            .iter()
            .filter(|(_, c)| {
                let expires_at = c.record.expires_at();
                expires_at < now && (c.revoked_at.is_none() || expires_at < tombstones_until)
            })
            .map(|(digest, _)| *digest)
            .take(left)
            .collect();
        for digest in &codes {
            inner.codes.remove(digest);
        }
        left = left.saturating_sub(codes.len());
        // The token digests of expired families first, each a record; their
        // families only once none is left (else `left` is used up).
        let expired: HashSet<FamilyId> = inner
            .families
            .iter()
            .filter(|(_, f)| f.family.expires_at() < now)
            .map(|(id, _)| *id)
            .collect();
        let digests: Vec<TokenDigest> = inner
            .family_by_token
            .iter()
            .filter(|(_, id)| expired.contains(id))
            .map(|(digest, _)| *digest)
            .take(left)
            .collect();
        for digest in &digests {
            inner.family_by_token.remove(digest);
        }
        left = left.saturating_sub(digests.len());
        let families: Vec<FamilyId> = expired.into_iter().take(left).collect();
        for id in &families {
            inner.families.remove(id);
        }
        left = left.saturating_sub(families.len());
        let tokens: Vec<String> = inner
            .access_tokens
            .iter()
            .filter(|(_, t)| t.expires_at < now)
            .map(|(jti, _)| jti.clone())
            .take(left)
            .collect();
        for jti in &tokens {
            inner.access_tokens.remove(jti);
        }
        left = left.saturating_sub(tokens.len());
        let keys: Vec<[u8; 32]> = inner
            .replay
            .iter()
            .filter(|(_, expires_at)| **expires_at < now)
            .map(|(key, _)| *key)
            .take(left)
            .collect();
        for key in &keys {
            inner.replay.remove(key);
        }
        Ok(count(
            codes.len() + digests.len() + families.len() + tokens.len() + keys.len(),
        ))
    }
}

/// A purge limit as a number of entries.
fn budget(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// A number of entries as a count.
fn count(entries: usize) -> u64 {
    u64::try_from(entries).unwrap_or(u64::MAX)
}

impl ConsentStore for MemoryStore {
    async fn consent_covers(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .consents
            .get(&(subject.clone(), client_id.clone()))
            .is_some_and(|approvals| {
                approvals
                    .iter()
                    .any(|c| c.covers(resources, scope, loopback_redirect))
            }))
    }

    async fn remember_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let resources = consent_resource_set(resources);
        let mut inner = self.lock();
        let approvals = inner
            .consents
            .entry((subject.clone(), client_id.clone()))
            .or_default();
        match approvals
            .iter_mut()
            .find(|c| c.resources == resources && c.loopback_redirect == loopback_redirect)
        {
            Some(approval) => {
                approval.scope = approval.scope.union(scope);
                approval.updated_at = now;
            }
            None => approvals.push(ConsentRecord {
                resources,
                scope: scope.clone(),
                loopback_redirect,
                updated_at: now,
            }),
        }
        Ok(())
    }

    async fn forget_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .consents
            .remove(&(subject.clone(), client_id.clone()))
            .is_some())
    }
}

impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.lock().keys.clone())
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Duplicate);
        }
        inner.keys.push(key.clone());
        Ok(())
    }

    async fn activate_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if !inner.keys.iter().any(|k| k.kid == kid) {
            return Ok(false);
        }
        for key in &mut inner.keys {
            if key.kid == kid {
                key.status = KeyStatus::Active;
            } else if key.status == KeyStatus::Active {
                key.status = KeyStatus::VerifyOnly;
            }
        }
        Ok(true)
    }

    async fn retire_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.keys.iter_mut().find(|k| k.kid == kid) {
            Some(key) if key.status != KeyStatus::Active => {
                key.status = KeyStatus::Retired;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl UserStore for MemoryStore {
    async fn user(&self, username: &Subject) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock().users.get(username).cloned())
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.users.contains_key(&user.username) {
            return Ok(false);
        }
        inner.users.insert(user.username.clone(), user.clone());
        Ok(true)
    }

    async fn remove_user(&self, username: &Subject, now: UnixTime) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.users.remove(username).is_none() {
            return Ok(false);
        }
        let revoked: Vec<RefreshFamily> = inner
            .families
            .values()
            .filter(|f| f.family.subject() == username)
            .map(|f| f.family.revoke(RevocationReason::Administrative, now))
            .collect();
        for family in &revoked {
            inner.revoke_family_and_tokens(family);
        }
        for token in inner.access_tokens.values_mut() {
            if token.subject.as_ref() == Some(username) {
                token.revoked = true;
            }
        }
        inner.consents.retain(|(subject, _), _| subject != username);
        Ok(true)
    }

    async fn upsert_upstream_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.users.get_mut(&user.username) {
            None => {
                inner.users.insert(user.username.clone(), user.clone());
                Ok(true)
            }
            Some(existing) if existing.upstream.is_some() => {
                existing.upstream.clone_from(&user.upstream);
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        Ok(self.lock().users.values().cloned().collect())
    }
}

impl ReplayStore for MemoryStore {
    async fn remember_once(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.replay.get(key) {
            Some(until) if *until >= now => Ok(false),
            _ => {
                inner.replay.insert(*key, expires_at);
                Ok(true)
            }
        }
    }
}
