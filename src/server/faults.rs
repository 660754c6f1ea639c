//! PURE. `serve --faults SPEC`: the fault spec (parsed and validated) and the decision which
//! fault, if any, an API request gets — a function of the seed and the request's sequence
//! number only, so a seed replays exactly (the HTTP edge in `fault_edge.rs` applies it).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// The `Retry-After` (seconds) a `429` fault carries.
pub const RETRY_AFTER_SECS: u64 = 1;

/// How long a `timeout` fault holds a request before dropping the connection unanswered:
/// longer than tenantsync's own 30 s request timeout, so a client sees a timeout.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(40);

/// The shortest and longest delay of a `slow` answer, in milliseconds.
pub const SLOW_MIN_MS: u64 = 100;
/// See [`SLOW_MIN_MS`].
pub const SLOW_MAX_MS: u64 = 1500;

/// One kind of fault `--faults` can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `429` with a `Retry-After`; nothing applied.
    TooManyRequests,
    /// `503`; nothing applied.
    Unavailable,
    /// Held past a client's timeout, then the connection drops; nothing applied.
    Timeout,
    /// The connection closes without an answer; nothing applied.
    Reset,
    /// The request is applied, then the connection closes before the answer.
    LostResponse,
    /// The answer comes after a bounded, seeded delay.
    Slow,
    /// A list answer leaves out one item (lists only).
    OmitFromList,
}

impl FaultKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::TooManyRequests,
        FaultKind::Unavailable,
        FaultKind::Timeout,
        FaultKind::Reset,
        FaultKind::LostResponse,
        FaultKind::Slow,
        FaultKind::OmitFromList,
    ];

    /// The name used in a spec and as the metric label.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::Unavailable => "5xx",
            FaultKind::Timeout => "timeout",
            FaultKind::Reset => "reset",
            FaultKind::LostResponse => "lost-response",
            FaultKind::Slow => "slow",
            FaultKind::OmitFromList => "omit-from-list",
        }
    }

    fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this kind can apply to a request (only lists can omit an item).
    fn applies_to(self, request: RequestClass) -> bool {
        self != FaultKind::OmitFromList || request == RequestClass::List
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The accepted kinds, for error messages.
fn accepted_kinds() -> String {
    FaultKind::ALL.map(FaultKind::name).join(", ")
}

/// What is wrong with a `--faults` spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    /// A part is not `key=value`.
    #[error("`{0}` is not key=value (expected seed=N,rate=P,kinds=K1,K2…)")]
    NotKeyValue(String),
    /// An unknown key.
    #[error("unknown key `{0}` (accepted: seed, rate, kinds)")]
    UnknownKey(String),
    /// A key given twice.
    #[error("`{0}` is given twice")]
    Repeated(String),
    /// A required key is missing.
    #[error("`{0}` is missing (expected seed=N,rate=P,kinds=K1,K2…)")]
    Missing(&'static str),
    /// The seed is not an unsigned integer.
    #[error("seed `{0}` is not a whole number ≥ 0")]
    BadSeed(String),
    /// The rate is not a number in (0, 1].
    #[error("rate `{0}` is not a number in (0, 1] (1 makes every API request faulty)")]
    BadRate(String),
    /// An unknown fault kind.
    #[error("unknown fault kind `{0}` (accepted: {kinds})", kinds = accepted_kinds())]
    UnknownKind(String),
    /// `kinds=` names no kind.
    #[error("kinds names no fault kind (accepted: {kinds})", kinds = accepted_kinds())]
    NoKinds,
}

/// A validated `--faults` spec: `seed=N,rate=P,kinds=K1,K2…`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    seed: u64,
    rate: f64,
    kinds: Vec<FaultKind>,
}

impl FaultSpec {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The share of API requests that get a fault, in (0, 1].
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The kinds, each once, in the order given.
    pub fn kinds(&self) -> &[FaultKind] {
        &self.kinds
    }

    /// The fault request number `seq` (0, 1, 2… over the API requests of one server run) of
    /// class `request` gets, if any. Pure: the same spec, `seq` and class give the same answer.
    /// A request is faulty with probability `rate`; its kind is drawn among the spec's kinds
    /// that can apply to it (a non-list request drawn with only `omit-from-list` gets none).
    pub fn decide(&self, seq: u64, request: RequestClass) -> Option<Fault> {
        let mut draws = Draws::new(self.seed, seq);
        if draws.unit() >= self.rate {
            return None;
        }
        let applicable: Vec<FaultKind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| k.applies_to(request))
            .collect();
        if applicable.is_empty() {
            return None;
        }
        let kind = applicable[draws.below(applicable.len() as u64) as usize];
        Some(match kind {
            FaultKind::TooManyRequests => Fault::TooManyRequests {
                retry_after_secs: RETRY_AFTER_SECS,
            },
            FaultKind::Unavailable => Fault::Unavailable,
            FaultKind::Timeout => Fault::Timeout { hold: TIMEOUT_HOLD },
            FaultKind::Reset => Fault::Reset,
            FaultKind::LostResponse => Fault::LostResponse,
            FaultKind::Slow => Fault::Slow {
                delay: Duration::from_millis(
                    SLOW_MIN_MS + draws.below(SLOW_MAX_MS - SLOW_MIN_MS + 1),
                ),
            },
            FaultKind::OmitFromList => Fault::OmitFromList { pick: draws.next() },
        })
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        write!(
            f,
            "seed={},rate={},kinds={}",
            self.seed,
            self.rate,
            kinds.join(",")
        )
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// Parses `seed=N,rate=P,kinds=K1,K2…` (keys in any order; the parts after `kinds=` that
    /// hold no `=` are more kinds).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut seed = None;
        let mut rate = None;
        let mut kinds: Option<Vec<FaultKind>> = None;
        let mut in_kinds = false;
        for part in text.split(',').map(str::trim) {
            let Some((key, value)) = part.split_once('=') else {
                match (&mut kinds, in_kinds) {
                    (Some(list), true) if !part.is_empty() => {
                        push_kind(list, part)?;
                        continue;
                    }
                    _ => return Err(FaultSpecError::NotKeyValue(part.to_owned())),
                }
            };
            in_kinds = false;
            let (key, value) = (key.trim(), value.trim());
            let repeated = || FaultSpecError::Repeated(key.to_owned());
            match key {
                "seed" => {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| FaultSpecError::BadSeed(value.to_owned()))?;
                    if seed.replace(n).is_some() {
                        return Err(repeated());
                    }
                }
                "rate" => {
                    let p = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| *p > 0.0 && *p <= 1.0)
                        .ok_or_else(|| FaultSpecError::BadRate(value.to_owned()))?;
                    if rate.replace(p).is_some() {
                        return Err(repeated());
                    }
                }
                "kinds" => {
                    if kinds.is_some() {
                        return Err(repeated());
                    }
                    let mut list = Vec::new();
                    if !value.is_empty() {
                        push_kind(&mut list, value)?;
                    }
                    kinds = Some(list);
                    in_kinds = true;
                }
                other => return Err(FaultSpecError::UnknownKey(other.to_owned())),
            }
        }
        let kinds = kinds.ok_or(FaultSpecError::Missing("kinds"))?;
        if kinds.is_empty() {
            return Err(FaultSpecError::NoKinds);
        }
        Ok(FaultSpec {
            seed: seed.ok_or(FaultSpecError::Missing("seed"))?,
            rate: rate.ok_or(FaultSpecError::Missing("rate"))?,
            kinds,
        })
    }
}

fn push_kind(list: &mut Vec<FaultKind>, name: &str) -> Result<(), FaultSpecError> {
    let kind =
        FaultKind::parse(name).ok_or_else(|| FaultSpecError::UnknownKind(name.to_owned()))?;
    if !list.contains(&kind) {
        list.push(kind);
    }
    Ok(())
}

/// What the decision needs to know of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// A `GET` of a collection (its answer is a list).
    List,
    /// Anything else.
    Other,
}

/// The fault one request gets, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `429` with `Retry-After: retry_after_secs`; nothing applied.
    TooManyRequests {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// Answer `503`; nothing applied.
    Unavailable,
    /// Hold the request for `hold`, then close the connection unanswered; nothing applied.
    Timeout {
        /// How long.
        hold: Duration,
    },
    /// Close the connection unanswered; nothing applied.
    Reset,
    /// Apply the request, then close the connection unanswered.
    LostResponse,
    /// Answer after `delay`.
    Slow {
        /// How long.
        delay: Duration,
    },
    /// Leave item number `pick % len` out of the list answer.
    OmitFromList {
        /// Which item (modulo the list's length).
        pick: u64,
    },
}

impl Fault {
    /// The kind of this fault.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::TooManyRequests { .. } => FaultKind::TooManyRequests,
            Fault::Unavailable => FaultKind::Unavailable,
            Fault::Timeout { .. } => FaultKind::Timeout,
            Fault::Reset => FaultKind::Reset,
            Fault::LostResponse => FaultKind::LostResponse,
            Fault::Slow { .. } => FaultKind::Slow,
            Fault::OmitFromList { .. } => FaultKind::OmitFromList,
        }
    }
}

/// The random numbers of one decision: splitmix64 over (seed, sequence number).
struct Draws(u64);

impl Draws {
    fn new(seed: u64, seq: u64) -> Self {
        let mut d = Draws(seed);
        let mixed = d.next() ^ seq.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Draws(mixed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0; the modulo bias is negligible for the small n used here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How many consecutive answers of one collection may leave out the same item. A list that
/// lags (right after a create, a replica behind) catches up; one that never shows an object is
/// not a fault any client can work around without deduplicated creates. The reconciler
/// believes an interrupted create absent only when three fresh lists agree
/// (`reconcile::intents`), so this is the fault model its "never a duplicate" holds under.
pub const MAX_OMISSION_STREAK: u32 = 2;

/// Per collection (its concrete path), the item its last list answers left out and in how many
/// answers in a row: what keeps an `omit-from-list` fault a lagging list, never one that hides
/// an object for good. The HTTP edge and the in-process fault layer both choose through it.
#[derive(Debug, Default)]
pub struct Omissions(Mutex<HashMap<String, (String, u32)>>);

impl Omissions {
    /// Which item of one successful list answer of `collection` to leave out, given the fault's
    /// `pick` (`None`: the answer passes whole, which ends any streak), the answer's `len` and
    /// each item's `key` (its id): item `pick % len`, or the next one when the last
    /// [`MAX_OMISSION_STREAK`] answers all left that one out (none when it is the only one).
    pub fn choose(
        &self,
        collection: &str,
        pick: Option<u64>,
        len: usize,
        key: impl Fn(usize) -> String,
    ) -> Option<usize> {
        let mut streaks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let streak = streaks.remove(collection);
        let pick = pick.filter(|_| len > 0)?;
        let first = (pick % len as u64) as usize;
        let exhausted = streak
            .as_ref()
            .is_some_and(|(item, times)| *times >= MAX_OMISSION_STREAK && *item == key(first));
        let at = match exhausted {
            false => first,
            true if len > 1 => (first + 1) % len,
            true => return None,
        };
        let left_out = key(at);
        let times = match streak {
            Some((item, times)) if item == left_out => times + 1,
            _ => 1,
        };
        streaks.insert(collection.to_owned(), (left_out, times));
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FaultSpec {
        text.parse().unwrap()
    }

    #[test]
    fn parses_the_documented_example() {
        let s = spec("seed=7,rate=0.1,kinds=429,5xx,lost-response,slow");
        assert_eq!(s.seed(), 7);
        assert_eq!(s.rate(), 0.1);
        assert_eq!(
            s.kinds(),
            [
                FaultKind::TooManyRequests,
                FaultKind::Unavailable,
                FaultKind::LostResponse,
                FaultKind::Slow
            ]
        );
        assert_eq!(
            s.to_string(),
            "seed=7,rate=0.1,kinds=429,5xx,lost-response,slow"
        );
        // Any key order; repeated kinds count once; every kind parses.
        let all = spec(
            "kinds=omit-from-list,timeout,reset,timeout,429,5xx,lost-response,slow,rate=1,seed=0",
        );
        assert_eq!(all.kinds().len(), 7);
        assert_eq!(all.rate(), 1.0);
    }

    #[test]
    fn refuses_bad_specs_saying_what_is_wrong() {
        let err = |text: &str| text.parse::<FaultSpec>().unwrap_err();
        assert_eq!(
            err("seed=1,rate=0.5,kinds=429,boom"),
            FaultSpecError::UnknownKind("boom".into())
        );
        let shown = err("seed=1,rate=0.5,kinds=boom").to_string();
        assert!(
            shown.contains("omit-from-list") && shown.contains("429"),
            "{shown}"
        );
        assert_eq!(
            err("seed=1,rate=0.5,kinds=429,colour=red"),
            FaultSpecError::UnknownKey("colour".into())
        );
        for rate in ["0", "1.5", "-0.1", "NaN", "x", ""] {
            assert_eq!(
                err(&format!("seed=1,rate={rate},kinds=429")),
                FaultSpecError::BadRate(rate.into())
            );
        }
        assert_eq!(
            err("seed=-1,rate=1,kinds=429"),
            FaultSpecError::BadSeed("-1".into())
        );
        assert_eq!(err("rate=1,kinds=429"), FaultSpecError::Missing("seed"));
        assert_eq!(err("seed=1,kinds=429"), FaultSpecError::Missing("rate"));
        assert_eq!(err("seed=1,rate=1"), FaultSpecError::Missing("kinds"));
        assert_eq!(err("seed=1,rate=1,kinds="), FaultSpecError::NoKinds);
        assert_eq!(
            err("seed=1,seed=2,rate=1,kinds=429"),
            FaultSpecError::Repeated("seed".into())
        );
        // A bare word outside kinds= is not a kind.
        assert_eq!(
            err("429,seed=1,rate=1,kinds=5xx"),
            FaultSpecError::NotKeyValue("429".into())
        );
        assert_eq!(
            err("seed=1,rate=1,kinds=429,,5xx"),
            FaultSpecError::NotKeyValue("".into())
        );
    }

    #[test]
    fn the_decision_is_a_function_of_seed_and_sequence_number() {
        let s = spec("seed=42,rate=0.3,kinds=429,5xx,timeout,reset,lost-response,slow");
        let run = |s: &FaultSpec| -> Vec<Option<Fault>> {
            (0..500).map(|n| s.decide(n, RequestClass::Other)).collect()
        };
        assert_eq!(run(&s), run(&s.clone()));
        let other = spec("seed=43,rate=0.3,kinds=429,5xx,timeout,reset,lost-response,slow");
        assert_ne!(run(&s), run(&other), "another seed gives another trace");
    }

    #[test]
    fn the_rate_is_the_share_of_faulty_requests_and_every_kind_is_drawn() {
        let s =
            spec("seed=9,rate=0.2,kinds=429,5xx,timeout,reset,lost-response,slow,omit-from-list");
        let n = 20_000;
        let faults: Vec<Fault> = (0..n)
            .filter_map(|i| s.decide(i, RequestClass::List))
            .collect();
        let share = faults.len() as f64 / n as f64;
        assert!((0.18..0.22).contains(&share), "share {share}");
        for kind in FaultKind::ALL {
            let count = faults.iter().filter(|f| f.kind() == kind).count();
            assert!(count > faults.len() / 10, "{kind}: {count}");
        }
        let every = spec("seed=9,rate=1,kinds=5xx");
        assert!((0..1000).all(|i| every.decide(i, RequestClass::Other) == Some(Fault::Unavailable)));
    }

    #[test]
    fn omit_from_list_applies_only_to_lists() {
        let only = spec("seed=3,rate=1,kinds=omit-from-list");
        assert!((0..100).all(|i| only.decide(i, RequestClass::Other).is_none()));
        assert!((0..100).all(|i| matches!(
            only.decide(i, RequestClass::List),
            Some(Fault::OmitFromList { .. })
        )));
        let mixed = spec("seed=3,rate=1,kinds=omit-from-list,reset");
        assert!((0..100).all(|i| mixed.decide(i, RequestClass::Other) == Some(Fault::Reset)));
    }

    #[test]
    fn parameters_stay_within_their_bounds() {
        let s = spec("seed=5,rate=1,kinds=429,slow,timeout");
        for i in 0..2000 {
            match s.decide(i, RequestClass::Other).unwrap() {
                Fault::Slow { delay } => assert!(
                    (SLOW_MIN_MS..=SLOW_MAX_MS).contains(&(delay.as_millis() as u64)),
                    "{delay:?}"
                ),
                Fault::TooManyRequests { retry_after_secs } => {
                    assert_eq!(retry_after_secs, RETRY_AFTER_SECS);
                }
                Fault::Timeout { hold } => assert_eq!(hold, TIMEOUT_HOLD),
                other => panic!("not in the spec: {other:?}"),
            }
        }
    }

    #[test]
    fn no_item_is_left_out_of_more_answers_in_a_row_than_the_streak_allows() {
        let omissions = Omissions::default();
        let keys = ["a", "b", "c"];
        let key = |i: usize| keys[i].to_owned();
        // The same pick every time: "a" twice, then "b" (never "a" a third time), then "a".
        let chosen: Vec<_> = (0..4)
            .map(|_| omissions.choose("/v1/resources", Some(3), 3, key))
            .collect();
        assert_eq!(chosen, [Some(0), Some(0), Some(1), Some(0)]);
        // A whole answer ends the streak; other collections keep their own.
        omissions.choose("/v1/resources", None, 3, key);
        assert_eq!(omissions.choose("/v1/resources", Some(0), 3, key), Some(0));
        assert_eq!(omissions.choose("/v1/other", Some(1), 3, key), Some(1));
        // A lone item left out twice is shown the third time; an empty list has nothing to omit.
        let lone = |_: usize| "only".to_owned();
        let alone: Vec<_> = (0..3)
            .map(|_| omissions.choose("/lone", Some(5), 1, lone))
            .collect();
        assert_eq!(alone, [Some(0), Some(0), None]);
        assert_eq!(omissions.choose("/empty", Some(5), 0, lone), None);
    }
}
