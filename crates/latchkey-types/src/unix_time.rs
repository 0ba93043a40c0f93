use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// An instant, in whole seconds since 1970-01-01T00:00:00Z.
///
/// JWT `NumericDate` values (RFC 7519 section 2) and every expiry in Latchkey are
/// whole seconds, so this is the one time type the core crates pass around.
/// Arithmetic is checked: an overflow is `None`, never a wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: Self = Self(0);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + duration`, truncated to whole seconds; `None` on overflow.
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        self.0.checked_add(duration.as_secs()).map(Self)
    }

    /// `self - duration`, truncated to whole seconds; `None` before the epoch.
    pub fn checked_sub(self, duration: Duration) -> Option<Self> {
        self.0.checked_sub(duration.as_secs()).map(Self)
    }

    /// `self + duration`, saturating at the largest representable instant.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration.as_secs()))
    }

    /// `self - duration`, saturating at the epoch.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration.as_secs()))
    }

    /// How long after `earlier` this instant is; `None` if it is before `earlier`.
    pub fn duration_since(self, earlier: Self) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_secs)
    }

    /// Converts from [`time::OffsetDateTime`], dropping sub-second precision;
    /// `None` for instants before the epoch.
    pub fn from_offset_date_time(at: time::OffsetDateTime) -> Option<Self> {
        u64::try_from(at.unix_timestamp()).ok().map(Self)
    }

    /// Converts to [`time::OffsetDateTime`]; `None` past the year 9999.
    pub fn to_offset_date_time(self) -> Option<time::OffsetDateTime> {
        let secs = i64::try_from(self.0).ok()?;
        time::OffsetDateTime::from_unix_timestamp(secs).ok()
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_refuses_overflow_and_underflow() {
        let max = UnixTime::from_secs(u64::MAX);
        assert_eq!(max.checked_add(Duration::from_secs(1)), None);
        assert_eq!(UnixTime::EPOCH.checked_sub(Duration::from_secs(1)), None);
        assert_eq!(max.saturating_add(Duration::from_secs(5)), max);
        assert_eq!(
            UnixTime::EPOCH.saturating_sub(Duration::from_secs(5)),
            UnixTime::EPOCH
        );
    }

    #[test]
    fn duration_since_is_none_when_earlier_is_later() {
        let a = UnixTime::from_secs(100);
        let b = UnixTime::from_secs(160);
        assert_eq!(b.duration_since(a), Some(Duration::from_secs(60)));
        assert_eq!(a.duration_since(b), None);
    }

    #[test]
    fn converts_to_and_from_offset_date_time() {
        let at = ::time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let unix = UnixTime::from_offset_date_time(at).unwrap();
        assert_eq!(unix.as_secs(), 1_700_000_000);
        assert_eq!(unix.to_offset_date_time(), Some(at));
        let before_epoch = ::time::OffsetDateTime::from_unix_timestamp(-1).unwrap();
        assert_eq!(UnixTime::from_offset_date_time(before_epoch), None);
        assert_eq!(UnixTime::from_secs(u64::MAX).to_offset_date_time(), None);
    }

    #[test]
    fn serializes_as_a_bare_number() {
        let json = serde_json::to_string(&UnixTime::from_secs(42)).unwrap();
        assert_eq!(json, "42");
        let back: UnixTime = serde_json::from_str("42").unwrap();
        assert_eq!(back, UnixTime::from_secs(42));
    }
}
