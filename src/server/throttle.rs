//! Failed token requests: how often each source failed (per client id, and in all), in a memory
//! bounded by entries and bytes. A source that failed too often is refused for a while; other
//! sources, the real owner of a client id among them, are not.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest `client_id` the token endpoint considers (longer: 400 before anything is
/// recorded). Generated client ids are 22 characters; configured ones are short names.
pub const MAX_CLIENT_ID_BYTES: usize = 256;

/// Failed requests one source may make for one client id per window before 429.
pub const FAILURES_PER_CLIENT: u32 = 10;

/// Failed requests one source may make in all (any client ids) per window before 429.
pub const FAILURES_PER_SOURCE: u32 = 100;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Entries each table keeps at most.
const MAX_ENTRIES: usize = 10_000;

/// Bytes of client ids the per-client table keeps at most.
const MAX_CLIENT_ID_TOTAL_BYTES: usize = 1024 * 1024;

/// Failures in the current window.
#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    since: Instant,
}

impl Count {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= WINDOW
    }

    /// Seconds until the window ends, if `limit` failures were reached in it.
    fn wait(&self, limit: u32, now: Instant) -> Option<u64> {
        if self.failures < limit || self.expired(now) {
            return None;
        }
        let left = WINDOW.saturating_sub(now.saturating_duration_since(self.since));
        Some(left.as_secs().max(1))
    }
}

/// One table of counts, bounded by entries and by the bytes of its keys.
#[derive(Debug)]
struct Table<K> {
    counts: HashMap<K, Count>,
    bytes: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(max_bytes: usize) -> Self {
        Self {
            counts: HashMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    fn get(&self, key: &K) -> Option<&Count> {
        self.counts.get(key)
    }

    fn remove(&mut self, key: &K, size: usize) {
        if self.counts.remove(key).is_some() {
            self.bytes -= size;
        }
    }

    /// Counts one failure of `key` (of `size` bytes), making room first: expired entries go,
    /// then the oldest ones.
    fn fail(&mut self, key: &K, size: usize, now: Instant, size_of: impl Fn(&K) -> usize) {
        if let Some(count) = self.counts.get_mut(key) {
            if count.expired(now) {
                *count = Count {
                    failures: 0,
                    since: now,
                };
            }
            count.failures = count.failures.saturating_add(1);
            return;
        }
        let full = |t: &Self| t.counts.len() >= MAX_ENTRIES || t.bytes + size > t.max_bytes;
        if full(self) {
            let bytes = &mut self.bytes;
            self.counts.retain(|k, c| {
                let keep = !c.expired(now);
                if !keep {
                    *bytes -= size_of(k);
                }
                keep
            });
        }
        if full(self) {
            // Make room for a tenth more at once, so a flood pays for this once per many
            // inserts.
            let mut ages: Vec<(Instant, K)> = self
                .counts
                .iter()
                .map(|(k, c)| (c.since, k.clone()))
                .collect();
            let evict = (ages.len() / 10 + 1).min(ages.len());
            if evict < ages.len() {
                ages.select_nth_unstable_by_key(evict, |(since, _)| *since);
            }
            for (_, oldest) in ages.into_iter().take(evict) {
                let size = size_of(&oldest);
                self.remove(&oldest, size);
            }
        }
        self.counts.insert(
            key.clone(),
            Count {
                failures: 1,
                since: now,
            },
        );
        self.bytes += size;
    }
}

/// The address failures are counted by: an IPv4 address, or an IPv6 address's /64 network
/// (one host commonly holds a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

const IP_BYTES: usize = size_of::<IpAddr>();

/// The two tables: failures by (source, client id), and by source.
type Tables = (Table<(IpAddr, String)>, Table<IpAddr>);

/// Failed token requests by (source, client id) and by source.
#[derive(Debug)]
pub struct TokenThrottle {
    tables: Mutex<Tables>,
}

impl Default for TokenThrottle {
    fn default() -> Self {
        Self {
            tables: Mutex::new((
                Table::new(MAX_CLIENT_ID_TOTAL_BYTES + MAX_ENTRIES * IP_BYTES),
                Table::new(MAX_ENTRIES * IP_BYTES),
            )),
        }
    }
}

impl TokenThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds `source` must wait before asking for `client_id`'s token again, if it failed too
    /// often (for this client id, or in all). Nobody else's failures count.
    pub fn refused(&self, source: IpAddr, client_id: &str, now: Instant) -> Option<u64> {
        let source = source_key(source);
        let tables = self.lock();
        let per_client = tables
            .0
            .get(&(source, client_id.to_owned()))
            .and_then(|c| c.wait(FAILURES_PER_CLIENT, now));
        let per_source = tables
            .1
            .get(&source)
            .and_then(|c| c.wait(FAILURES_PER_SOURCE, now));
        per_client.max(per_source)
    }

    /// Records a failed request of `source` for `client_id` (at most [`MAX_CLIENT_ID_BYTES`]).
    pub fn failed(&self, source: IpAddr, client_id: &str, now: Instant) {
        debug_assert!(client_id.len() <= MAX_CLIENT_ID_BYTES);
        let source = source_key(source);
        let mut tables = self.lock();
        let (per_client, per_source) = &mut *tables;
        per_client.fail(
            &(source, client_id.to_owned()),
            IP_BYTES + client_id.len(),
            now,
            |(_, id)| IP_BYTES + id.len(),
        );
        per_source.fail(&source, IP_BYTES, now, |_| IP_BYTES);
    }

    /// Forgets `source`'s failures for `client_id` after it presented the right secret.
    pub fn succeeded(&self, source: IpAddr, client_id: &str) {
        let source = source_key(source);
        self.lock()
            .0
            .remove(&(source, client_id.to_owned()), IP_BYTES + client_id.len());
    }

    /// Entries and key bytes held (per client id, per source).
    pub fn footprint(&self) -> ((usize, usize), (usize, usize)) {
        let tables = self.lock();
        (
            (tables.0.counts.len(), tables.0.bytes),
            (tables.1.counts.len(), tables.1.bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_failing_source_is_refused_and_the_owner_elsewhere_is_not() {
        let throttle = TokenThrottle::default();
        let now = Instant::now();
        for _ in 0..FAILURES_PER_CLIENT {
            assert_eq!(throttle.refused(ip("10.0.0.9"), "admin", now), None);
            throttle.failed(ip("10.0.0.9"), "admin", now);
        }
        let wait = throttle.refused(ip("10.0.0.9"), "admin", now);
        assert_eq!(wait, Some(60));
        assert_eq!(throttle.refused(ip("10.0.0.1"), "admin", now), None);
        assert_eq!(throttle.refused(ip("10.0.0.9"), "other", now), None);
        // The window ends.
        assert_eq!(
            throttle.refused(ip("10.0.0.9"), "admin", now + WINDOW),
            None
        );
    }

    #[test]
    fn a_source_failing_across_many_client_ids_is_refused_for_all() {
        let throttle = TokenThrottle::default();
        let now = Instant::now();
        for i in 0..FAILURES_PER_SOURCE {
            throttle.failed(ip("10.0.0.9"), &format!("id-{i}"), now);
        }
        assert!(throttle.refused(ip("10.0.0.9"), "fresh", now).is_some());
        assert_eq!(throttle.refused(ip("10.0.0.1"), "fresh", now), None);
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_mapped_v4_as_v4() {
        let throttle = TokenThrottle::default();
        let now = Instant::now();
        for i in 0..FAILURES_PER_CLIENT {
            throttle.failed(ip(&format!("2001:db8:1:2::{i:x}")), "admin", now);
        }
        assert!(throttle
            .refused(ip("2001:db8:1:2:ffff::1"), "admin", now)
            .is_some());
        assert_eq!(throttle.refused(ip("2001:db8:1:3::1"), "admin", now), None);
        for _ in 0..FAILURES_PER_CLIENT {
            throttle.failed(ip("::ffff:10.1.1.1"), "admin", now);
        }
        assert!(throttle.refused(ip("10.1.1.1"), "admin", now).is_some());
    }

    #[test]
    fn memory_is_bounded_by_entries_and_bytes() {
        let throttle = TokenThrottle::default();
        let now = Instant::now();
        let long = "x".repeat(MAX_CLIENT_ID_BYTES - 8);
        for i in 0..3 * MAX_ENTRIES {
            let source = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            throttle.failed(source, &format!("{long}{i:08}"), now);
        }
        let ((pairs, pair_bytes), (sources, source_bytes)) = throttle.footprint();
        assert!(pairs <= MAX_ENTRIES, "{pairs}");
        assert!(
            pair_bytes <= MAX_CLIENT_ID_TOTAL_BYTES + MAX_ENTRIES * IP_BYTES,
            "{pair_bytes}"
        );
        assert!(sources <= MAX_ENTRIES, "{sources}");
        assert_eq!(source_bytes, sources * IP_BYTES);
        // The byte count is exact: every entry accounted for.
        let tables = throttle.lock();
        let counted: usize = tables
            .0
            .counts
            .keys()
            .map(|(_, id)| IP_BYTES + id.len())
            .sum();
        assert_eq!(counted, tables.0.bytes);
    }

    #[test]
    fn success_forgets_the_pairs_failures() {
        let throttle = TokenThrottle::default();
        let now = Instant::now();
        for _ in 0..FAILURES_PER_CLIENT - 1 {
            throttle.failed(ip("10.0.0.9"), "admin", now);
        }
        throttle.succeeded(ip("10.0.0.9"), "admin");
        throttle.failed(ip("10.0.0.9"), "admin", now);
        assert_eq!(throttle.refused(ip("10.0.0.9"), "admin", now), None);
        assert_eq!(throttle.footprint().0, (1, IP_BYTES + 5));
    }
}
