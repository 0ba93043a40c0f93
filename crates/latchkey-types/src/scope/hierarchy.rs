//! Scope hierarchies: a broader scope implies narrower ones.
//!
//! MCP 2026-07-28, Authorization, "Step-Up Authorization Flow": "Servers
//! **MUST** account for scope hierarchies, where a broader scope implies
//! narrower ones, when deciding whether a token is sufficient for an
//! operation." The security best practices of the same revision add that
//! this "does not affect the scopes they emit in a challenge": a challenge
//! still names the scopes an operation requires.

use std::collections::{BTreeMap, BTreeSet};

use super::{Scope, ScopeToken};
use crate::TypesError;

/// Which scopes imply which: built from `(broader, narrower)` pairs, with the
/// transitive closure computed once, so `notes` implying `notes:write`, and
/// `notes:write` implying `notes:read`, makes `notes` imply `notes:read` too.
///
/// Implication goes one way only: a narrower scope never implies a broader
/// one, and a configuration in which a scope would imply itself (directly or
/// through a cycle) is refused. The empty hierarchy (the default) implies
/// nothing, so [`Self::covers`] is then plain set inclusion.
///
/// ```
/// use latchkey_types::{Scope, ScopeHierarchy, ScopeToken};
///
/// let token = |s| ScopeToken::parse(s).expect("valid");
/// let hierarchy = ScopeHierarchy::new([
///     (token("notes"), token("notes:write")),
///     (token("notes:write"), token("notes:read")),
/// ])?;
/// let granted = Scope::parse("notes")?;
/// assert!(hierarchy.covers(&granted, &Scope::parse("notes:read")?));
/// assert!(!hierarchy.covers(&Scope::parse("notes:read")?, &granted));
/// # Ok::<(), latchkey_types::TypesError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    /// Every scope that implies another, with all it implies (the closure,
    /// never the scope itself).
    implied: BTreeMap<ScopeToken, BTreeSet<ScopeToken>>,
}

impl ScopeHierarchy {
    /// The most `(broader, narrower)` pairs accepted; bounds the closure's size
    /// (at most `2 * MAX_PAIRS` scopes, each implying fewer than that).
    pub const MAX_PAIRS: usize = 256;

    /// The hierarchy in which no scope implies another.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds the hierarchy where each `broader` implies its `narrower`,
    /// transitively. Refuses a pair naming one scope twice
    /// ([`TypesError::ScopeImpliesItself`]), a cycle
    /// ([`TypesError::ScopeHierarchyCycle`], naming a scope on it) and more
    /// than [`Self::MAX_PAIRS`] pairs ([`TypesError::ScopeHierarchyTooLarge`]).
    pub fn new<I>(pairs: I) -> Result<Self, TypesError>
    where
        I: IntoIterator<Item = (ScopeToken, ScopeToken)>,
    {
        let mut direct: BTreeMap<ScopeToken, BTreeSet<ScopeToken>> = BTreeMap::new();
        for (count, (broader, narrower)) in pairs.into_iter().enumerate() {
            if count >= Self::MAX_PAIRS {
                return Err(TypesError::ScopeHierarchyTooLarge);
            }
            if broader == narrower {
                return Err(TypesError::ScopeImpliesItself(broader));
            }
            direct.entry(broader).or_default().insert(narrower);
        }
        let mut implied = BTreeMap::new();
        for broader in direct.keys() {
            let reached = reachable(&direct, broader);
            if reached.contains(broader) {
                return Err(TypesError::ScopeHierarchyCycle(broader.clone()));
            }
            implied.insert(broader.clone(), reached);
        }
        Ok(Self { implied })
    }

    /// Whether no scope implies another.
    pub fn is_empty(&self) -> bool {
        self.implied.is_empty()
    }

    /// Whether `broader` implies `narrower` (a scope does not imply itself
    /// here; [`Self::covers`] counts a granted scope as covering itself).
    pub fn implies(&self, broader: &ScopeToken, narrower: &ScopeToken) -> bool {
        self.implied
            .get(broader)
            .is_some_and(|implied| implied.contains(narrower))
    }

    /// Whether `granted` covers every scope in `required`: each is granted, or
    /// implied by a granted scope. Never the other way round: a narrower
    /// granted scope does not cover a broader required one.
    pub fn covers(&self, granted: &Scope, required: &Scope) -> bool {
        required.iter().all(|needed| {
            granted.contains(needed.as_str())
                || granted.iter().any(|held| self.implies(held, needed))
        })
    }

    /// The part of `scope` that `granted` covers ([`Self::covers`], token by token).
    pub fn covered(&self, granted: &Scope, scope: &Scope) -> Scope {
        scope
            .iter()
            .filter(|needed| {
                granted.contains(needed.as_str())
                    || granted.iter().any(|held| self.implies(held, needed))
            })
            .cloned()
            .collect()
    }

    /// `scope` with everything its scopes imply added.
    pub fn expand(&self, scope: &Scope) -> Scope {
        let mut expanded = scope.clone();
        for held in scope.iter() {
            for narrower in self.implied.get(held).into_iter().flatten() {
                expanded.insert(narrower.clone());
            }
        }
        expanded
    }

    /// Every `(broader, narrower)` implication, the closure included, sorted.
    pub fn implications(&self) -> impl Iterator<Item = (&ScopeToken, &ScopeToken)> {
        self.implied
            .iter()
            .flat_map(|(broader, narrower)| narrower.iter().map(move |n| (broader, n)))
    }
}

/// Every scope reachable from `start` over one or more `direct` edges.
fn reachable(
    direct: &BTreeMap<ScopeToken, BTreeSet<ScopeToken>>,
    start: &ScopeToken,
) -> BTreeSet<ScopeToken> {
    let mut reached = BTreeSet::new();
    let mut stack: Vec<&ScopeToken> = direct.get(start).into_iter().flatten().collect();
    while let Some(next) = stack.pop() {
        if reached.insert(next.clone()) {
            stack.extend(direct.get(next).into_iter().flatten());
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> ScopeToken {
        ScopeToken::parse(s).unwrap()
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    fn notes() -> ScopeHierarchy {
        ScopeHierarchy::new([
            (token("notes"), token("notes:write")),
            (token("notes"), token("notes:read")),
            (token("notes:write"), token("notes:read")),
            (token("admin"), token("notes")),
        ])
        .unwrap()
    }

    #[test]
    fn mcp_2026_07_28_step_up_broader_scope_implies_narrower() {
        let hierarchy = notes();
        assert!(hierarchy.covers(&scope("notes"), &scope("notes:read")));
        assert!(hierarchy.covers(&scope("notes"), &scope("notes:read notes:write")));
        assert!(hierarchy.covers(&scope("notes:write"), &scope("notes:read")));
        // Transitively: admin -> notes -> notes:write -> notes:read.
        assert!(hierarchy.covers(&scope("admin"), &scope("notes:read")));
        assert!(hierarchy.covers(&scope("notes:read"), &scope("notes:read")));
        assert!(hierarchy.covers(&scope("x"), &Scope::empty()));
    }

    #[test]
    fn mcp_2026_07_28_step_up_narrower_scope_never_implies_broader() {
        let hierarchy = notes();
        assert!(!hierarchy.covers(&scope("notes:read"), &scope("notes")));
        assert!(!hierarchy.covers(&scope("notes:read"), &scope("notes:write")));
        assert!(!hierarchy.covers(&scope("notes:write"), &scope("notes")));
        assert!(!hierarchy.covers(&scope("notes"), &scope("admin")));
        // One covered scope does not carry an uncovered one.
        assert!(!hierarchy.covers(&scope("notes"), &scope("notes:read other")));
        assert!(!hierarchy.implies(&token("notes"), &token("notes")));
    }

    #[test]
    fn the_empty_hierarchy_is_plain_inclusion() {
        let hierarchy = ScopeHierarchy::empty();
        assert!(hierarchy.is_empty());
        assert!(hierarchy.covers(&scope("a b"), &scope("a")));
        assert!(!hierarchy.covers(&scope("notes"), &scope("notes:read")));
    }

    #[test]
    fn refuses_self_implication_and_cycles() {
        assert_eq!(
            ScopeHierarchy::new([(token("a"), token("a"))]),
            Err(TypesError::ScopeImpliesItself(token("a")))
        );
        let cycle = ScopeHierarchy::new([
            (token("a"), token("b")),
            (token("b"), token("c")),
            (token("c"), token("a")),
        ]);
        assert!(matches!(cycle, Err(TypesError::ScopeHierarchyCycle(_))));
        assert_eq!(
            ScopeHierarchy::new([(token("a"), token("b")), (token("b"), token("a"))]),
            Err(TypesError::ScopeHierarchyCycle(token("a")))
        );
        assert_eq!(
            TypesError::ScopeHierarchyCycle(token("a")).to_string(),
            "scope a implies itself through a cycle"
        );
    }

    #[test]
    fn the_number_of_pairs_is_bounded() {
        let pairs =
            |n: usize| (0..n).map(|i| (token(&format!("s{i}")), token(&format!("s{}", i + 1))));
        assert!(ScopeHierarchy::new(pairs(ScopeHierarchy::MAX_PAIRS)).is_ok());
        assert_eq!(
            ScopeHierarchy::new(pairs(ScopeHierarchy::MAX_PAIRS + 1)),
            Err(TypesError::ScopeHierarchyTooLarge)
        );
    }

    #[test]
    fn expand_adds_what_the_scope_implies() {
        let hierarchy = notes();
        assert_eq!(
            hierarchy.expand(&scope("notes other")).to_string(),
            "notes notes:read notes:write other"
        );
        assert_eq!(
            hierarchy
                .covered(&scope("notes:write"), &scope("notes notes:read x"))
                .to_string(),
            "notes:read"
        );
        assert_eq!(
            hierarchy.implications().count(),
            // admin: notes, notes:write, notes:read; notes: 2; notes:write: 1.
            6
        );
    }
}
