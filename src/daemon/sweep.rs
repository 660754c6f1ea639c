//! The budgeted drift sweep (PURE): instead of re-reading the whole tenant every `--interval`,
//! the daemon re-reads a slice of the managed applications per tick, spread evenly so that every
//! one is read at least once per period, and no faster on average than `--read-budget`
//! requests per second. When the budget cannot cover the period, the period is stretched (and
//! said so) rather than the budget exceeded. It also keeps when each application was last read,
//! for `tenantsync_sweep_coverage_seconds`.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Requests one application's read costs: a GET of it and the list of its clients. A pass
/// also reads the described kinds' collections the state manages ([`requests_per_app`]).
pub const REQUESTS_PER_APP: f64 = 2.0;

/// Shortest time between two sweep ticks (unless the period itself is shorter).
pub const MIN_TICK: Duration = Duration::from_secs(1);

/// Longest time between two sweep ticks: slices stay small and the reads spread out.
pub const MAX_TICK: Duration = Duration::from_secs(10);

/// The sweep's schedule and what it has read.
#[derive(Debug)]
pub struct Sweep {
    /// `--interval`: every managed application is read at least once per this period.
    period: Duration,
    /// `--read-budget`, requests/s (`None`: unlimited).
    budget: Option<f64>,
    /// The next application to read, as a position in the sorted ids.
    cursor: usize,
    /// Fractional applications owed to the next tick.
    credit: f64,
    /// When each application was last read (a full round, a sweep slice).
    read_at: HashMap<String, Instant>,
    /// When the sweep began (an application never read counts from here).
    started: Instant,
    /// Whether the stretched period was already reported.
    told_stretch: bool,
    /// When the last tick was taken.
    last_tick: Option<Instant>,
    /// What a pass costs per application, on average ([`requests_per_app`]).
    cost: f64,
    /// The state manages objects of parentless kinds (resources, service providers): each pass
    /// reads their collections once.
    parentless: bool,
    /// When the last pass began (with no managed application, when the parentless kinds'
    /// collections were last due).
    pass_began: Option<Instant>,
}

/// The sweep's shape for a number of managed applications.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The period in force: `--interval`, or longer when the budget cannot cover it.
    pub period: Duration,
    /// Whether the period was stretched.
    pub stretched: bool,
    /// Time between ticks.
    pub tick: Duration,
}

/// One tick's slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Applications (ids) to read now.
    pub app_ids: BTreeSet<String>,
    /// A pass begins with this slice: the parentless kinds' collections are read too (once
    /// per period when no application is managed).
    pub pass_begins: bool,
    /// When to tick next.
    pub next_in: Duration,
    /// Set once, the first time the period is stretched: what to tell.
    pub stretch_notice: Option<String>,
}

impl Sweep {
    /// A sweep of period `period` within `budget` requests/s, starting `now`.
    pub fn new(period: Duration, budget: Option<f64>, now: Instant) -> Self {
        Self {
            period,
            budget,
            cursor: 0,
            credit: 0.0,
            read_at: HashMap::new(),
            started: now,
            told_stretch: false,
            last_tick: None,
            cost: REQUESTS_PER_APP,
            parentless: false,
            pass_began: None,
        }
    }

    /// Whether the state manages objects of parentless kinds (a pass reads them).
    pub fn set_parentless(&mut self, parentless: bool) {
        self.parentless = parentless;
    }

    /// Sets what a pass costs per application (at least [`REQUESTS_PER_APP`]).
    pub fn set_cost(&mut self, requests_per_app: f64) {
        self.cost = requests_per_app.max(REQUESTS_PER_APP);
    }

    /// The schedule for `apps` managed applications.
    pub fn schedule(&self, apps: usize) -> Schedule {
        let needed = match self.budget {
            Some(budget) if budget > 0.0 => {
                Duration::from_secs_f64(apps as f64 * self.cost / budget)
            }
            _ => Duration::ZERO,
        };
        let period = self.period.max(needed);
        let per_app = period.checked_div(apps.max(1) as u32).unwrap_or(period);
        let tick = per_app
            .clamp(MIN_TICK, MAX_TICK)
            .min(period)
            .max(Duration::from_millis(50));
        Schedule {
            period,
            stretched: period > self.period,
            tick,
        }
    }

    /// The applications to read at this tick (`now`), among the managed ones (`managed`,
    /// sorted), and when to tick next. The slice is proportional to the time since the last
    /// tick (at most two ticks' worth), so slow rounds or a late tick do not slow the sweep, and a
    /// long pause (a backoff) does not turn into a burst.
    pub fn tick(&mut self, managed: &[String], now: Instant) -> Slice {
        let schedule = self.schedule(managed.len());
        let stretch_notice = (schedule.stretched && !self.told_stretch).then(|| {
            self.told_stretch = true;
            format!(
                "the read budget covers {} managed applications only once every {:.0} s, longer than --interval {:.0} s: the sweep period is stretched to {:.0} s (raise --read-budget or --interval)",
                managed.len(),
                schedule.period.as_secs_f64(),
                self.period.as_secs_f64(),
                schedule.period.as_secs_f64()
            )
        });
        if managed.is_empty() {
            let pass_begins = self.parentless
                && self
                    .pass_began
                    .is_none_or(|began| now.saturating_duration_since(began) >= schedule.period);
            if pass_begins {
                self.pass_began = Some(now);
            }
            return Slice {
                app_ids: BTreeSet::new(),
                pass_begins,
                next_in: schedule.tick,
                stretch_notice,
            };
        }
        let elapsed = self
            .last_tick
            .map_or(schedule.tick, |last| now.saturating_duration_since(last))
            .min(schedule.tick * 2);
        self.last_tick = Some(now);
        self.credit += managed.len() as f64 * elapsed.as_secs_f64()
            / schedule.period.as_secs_f64().max(f64::EPSILON);
        let take = (self.credit.floor() as usize).min(managed.len());
        self.credit -= take as f64;
        let start = self.cursor % managed.len();
        let app_ids = (0..take)
            .map(|i| managed[(start + i) % managed.len()].clone())
            .collect();
        self.cursor = (start + take) % managed.len();
        // The slice holds the first application: a pass begins.
        let pass_begins =
            self.parentless && take > 0 && (start == 0 || start + take > managed.len());
        if pass_begins {
            self.pass_began = Some(now);
        }
        Slice {
            app_ids,
            pass_begins,
            next_in: schedule.tick,
            stretch_notice,
        }
    }

    /// Records that these applications were read at `at`.
    pub fn read<'a>(&mut self, app_ids: impl IntoIterator<Item = &'a String>, at: Instant) {
        for id in app_ids {
            self.read_at.insert(id.clone(), at);
        }
    }

    /// The age of the oldest read among the managed applications: every one was read within
    /// this long (zero when none is managed).
    pub fn coverage(&self, managed: &[String], now: Instant) -> Duration {
        managed
            .iter()
            .map(|id| now.saturating_duration_since(*self.read_at.get(id).unwrap_or(&self.started)))
            .max()
            .unwrap_or_default()
    }

    /// Forgets applications no longer managed (their reads would only grow the map).
    pub fn retain(&mut self, managed: &[String]) {
        let keep: std::collections::HashSet<&String> = managed.iter().collect();
        self.read_at.retain(|id, _| keep.contains(id));
    }
}

/// What a pass of the sweep costs per managed application in `state`, on average: the GET and
/// the client list of each, plus one list per described kinds' collection the state manages
/// (an application's roles, role groups, login preferences; the resources and service
/// providers once a pass), as `ReadSet::with_slice` reads them.
pub fn requests_per_app(state: &crate::state::entry::StateSnapshot) -> f64 {
    let apps = managed_apps(state).len();
    if apps == 0 {
        return REQUESTS_PER_APP;
    }
    let collections: BTreeSet<_> = state
        .object_entries()
        .map(|(a, e)| (a.kind, e.app_id.as_deref()))
        .collect();
    REQUESTS_PER_APP + collections.len() as f64 / apps as f64
}

/// The ids of the managed applications in `state`, sorted: what the sweep goes through.
pub fn managed_apps(state: &crate::state::entry::StateSnapshot) -> Vec<String> {
    let ids: BTreeSet<String> = state
        .app_entries()
        .map(|(_, e)| e.application_id().to_owned())
        .collect();
    ids.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use crate::state::address::Address;
    #[test]
    fn a_late_tick_reads_more_and_a_long_pause_no_more_than_two_ticks_worth() {
        let managed = ids(100);
        let t0 = Instant::now();
        let mut sweep = Sweep::new(Duration::from_secs(100), None, t0);
        assert_eq!(sweep.schedule(100).tick, Duration::from_secs(1));
        assert_eq!(sweep.tick(&managed, t0).app_ids.len(), 1);
        assert_eq!(
            sweep
                .tick(&managed, t0 + Duration::from_secs(2))
                .app_ids
                .len(),
            2
        );
        let after_pause = sweep.tick(&managed, t0 + Duration::from_secs(600));
        assert_eq!(after_pause.app_ids.len(), 2, "capped at two ticks' worth");
    }

    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("app{i:05}")).collect()
    }

    /// Ticks through `span`; how many times each application was read, and the requests made
    /// per second of sweep on average.
    fn run(sweep: &mut Sweep, managed: &[String], span: Duration) -> (HashMap<String, u32>, f64) {
        let mut reads: HashMap<String, u32> = HashMap::new();
        let mut elapsed = Duration::ZERO;
        let mut requests = 0.0;
        let start = sweep.started;
        while elapsed < span {
            let slice = sweep.tick(managed, start + elapsed);
            for id in &slice.app_ids {
                *reads.entry(id.clone()).or_default() += 1;
            }
            requests += slice.app_ids.len() as f64 * sweep.cost;
            elapsed += slice.next_in;
        }
        (reads, requests / elapsed.as_secs_f64())
    }

    #[test]
    fn every_application_is_read_once_per_period_within_the_budget() {
        let managed = ids(600);
        let mut sweep = Sweep::new(Duration::from_secs(300), Some(5.0), Instant::now());
        let schedule = sweep.schedule(managed.len());
        assert!(!schedule.stretched);
        assert_eq!(schedule.period, Duration::from_secs(300));
        let (reads, rate) = run(&mut sweep, &managed, Duration::from_secs(300));
        assert_eq!(reads.len(), 600, "every application read in one period");
        assert!(reads.values().all(|n| *n == 1), "none read twice");
        assert!(rate <= 5.0 + 1e-9, "{rate} requests/s");
    }

    #[test]
    fn a_budget_too_small_stretches_the_period_and_says_so_once() {
        let managed = ids(2_000);
        let mut sweep = Sweep::new(Duration::from_secs(300), Some(5.0), Instant::now());
        let schedule = sweep.schedule(managed.len());
        assert!(schedule.stretched);
        assert_eq!(schedule.period, Duration::from_secs(800));
        let t0 = sweep.started;
        let first = sweep.tick(&managed, t0);
        let notice = first.stretch_notice.expect("told");
        assert!(
            notice.contains("800 s") && notice.contains("--read-budget"),
            "{notice}"
        );
        assert!(
            sweep
                .tick(&managed, t0 + first.next_in)
                .stretch_notice
                .is_none(),
            "told once"
        );
        let (reads, rate) = run(&mut sweep, &managed, Duration::from_secs(800));
        assert!(rate <= 5.0 + 1e-9, "{rate} requests/s");
        assert!(reads.len() >= 1_990, "{}", reads.len());
    }

    #[test]
    fn the_described_kinds_collections_count_against_the_budget() {
        use crate::model::kinds::ObjKind;
        use crate::state::entry::{Ownership, StateEntry, StateSnapshot};
        let mut state = StateSnapshot::default();
        for i in 0..600 {
            let app = format!("a{i}");
            let entry = StateEntry {
                address: Address::app(&app),
                name: String::new(),
                app_id: Some(format!("app{i:05}")),
                id: None,
                ownership: Ownership::Created,
                last_applied: Default::default(),
                protect: false,
                applied_at: String::new(),
            };
            state.insert(entry);
            // Every application has two roles (one collection) and login preferences.
            for (kind, key) in [
                (ObjKind::Role, "clerk"),
                (ObjKind::Role, "lead"),
                (ObjKind::LoginPreferences, ""),
            ] {
                let address = Address::new(kind, Some(&app), key);
                let object = StateEntry {
                    address: address.clone(),
                    name: key.to_owned(),
                    id: Some(format!("{i}{key}")),
                    app_id: Some(format!("app{i:05}")),
                    ownership: Ownership::Created,
                    last_applied: Default::default(),
                    protect: false,
                    applied_at: String::new(),
                };
                state.insert(object);
            }
        }
        let resource = Address::new(ObjKind::Resource, None, "https://api.example.com");
        state.insert(StateEntry {
            address: resource,
            name: "payouts".into(),
            id: Some("r".into()),
            app_id: None,
            ownership: Ownership::Created,
            last_applied: Default::default(),
            protect: false,
            applied_at: String::new(),
        });
        // 600 × (GET, clients, roles, login preferences) + the resources, per application.
        let per_app = requests_per_app(&state);
        assert_eq!(per_app, 4.0 + 1.0 / 600.0);
        let managed = managed_apps(&state);
        let mut sweep = Sweep::new(Duration::from_secs(300), Some(5.0), Instant::now());
        assert!(
            !sweep.schedule(managed.len()).stretched,
            "2 requests each fit"
        );
        sweep.set_cost(per_app);
        let schedule = sweep.schedule(managed.len());
        assert!(schedule.stretched, "4 requests each do not");
        assert_eq!(schedule.period.as_secs(), 480);
        let (reads, rate) = run(&mut sweep, &managed, schedule.period);
        assert!(rate <= 5.0 + 1e-9, "{rate} requests/s");
        assert!(reads.len() >= 590, "{}", reads.len());
    }

    #[test]
    fn a_pass_begins_with_the_first_application_or_once_a_period_without_any() {
        let t0 = Instant::now();
        let mut sweep = Sweep::new(Duration::from_secs(60), None, t0);
        let managed = ids(6);
        // Nothing parentless managed: no pass to mark.
        assert!(!sweep.tick(&managed, t0).pass_begins);
        let mut sweep = Sweep::new(Duration::from_secs(60), None, t0);
        sweep.set_parentless(true);
        let mut begun = Vec::new();
        let mut at = t0;
        for _ in 0..12 {
            let slice = sweep.tick(&managed, at);
            if slice.pass_begins {
                assert!(slice.app_ids.contains("app00000"), "{slice:?}");
                begun.push(at.duration_since(t0).as_secs());
            }
            at += slice.next_in;
        }
        assert_eq!(begun, [0, 60], "once per period: {begun:?}");

        // No application managed, resources are: a pass once per period all the same.
        let mut sweep = Sweep::new(Duration::from_secs(60), None, t0);
        sweep.set_parentless(true);
        let mut begun = Vec::new();
        let mut at = t0;
        while at < t0 + Duration::from_secs(130) {
            let slice = sweep.tick(&[], at);
            assert!(slice.app_ids.is_empty());
            if slice.pass_begins {
                begun.push(at.duration_since(t0).as_secs());
            }
            at += slice.next_in;
        }
        assert_eq!(begun, [0, 60, 120], "{begun:?}");
    }

    #[test]
    fn a_short_period_reads_everything_each_tick_and_unlimited_never_stretches() {
        let managed = ids(3);
        let mut sweep = Sweep::new(Duration::from_millis(300), None, Instant::now());
        let schedule = sweep.schedule(3);
        assert_eq!(schedule.tick, Duration::from_millis(300));
        assert!(!schedule.stretched);
        let now = sweep.started;
        assert_eq!(sweep.tick(&managed, now).app_ids.len(), 3);
        assert!(sweep.tick(&[], now).app_ids.is_empty());
    }

    #[test]
    fn coverage_is_the_age_of_the_oldest_read() {
        let start = Instant::now();
        let managed = ids(2);
        let mut sweep = Sweep::new(Duration::from_secs(60), None, start);
        assert_eq!(
            sweep.coverage(&managed, start + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        sweep.read(&managed[..1], start + Duration::from_secs(4));
        sweep.read(&managed[1..], start + Duration::from_secs(2));
        assert_eq!(
            sweep.coverage(&managed, start + Duration::from_secs(10)),
            Duration::from_secs(8)
        );
        sweep.retain(&managed[..1]);
        assert_eq!(sweep.read_at.len(), 1);
    }
}
