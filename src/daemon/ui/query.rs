//! The object list's query: filters (kind, status, name), sort order and page, parsed from the
//! URL leniently (an unknown value is ignored, never an error page) and applied to a board's rows
//! server-side, so a tenant of 10,000 objects sends one page of them.

use serde::Deserialize;

use super::view::{ObjectStatus, Row};

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The query string as sent (every field optional, every value text).
#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    /// Kind filter.
    pub kind: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Name filter (a substring, case-insensitive).
    pub q: Option<String>,
    /// Sort column.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    /// Page number, from 1.
    pub page: Option<String>,
}

/// The column the list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// The object's name (kind, then the rest).
    #[default]
    Name,
    /// Its kind.
    Kind,
    /// Its status, most urgent first.
    Status,
    /// When it was last applied.
    Applied,
}

impl SortBy {
    /// Every column.
    pub const ALL: [SortBy; 4] = [SortBy::Name, SortBy::Kind, SortBy::Status, SortBy::Applied];

    /// Its name in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Kind => "kind",
            SortBy::Status => "status",
            SortBy::Applied => "applied",
        }
    }
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this status.
    pub status: Option<ObjectStatus>,
    /// Only names containing this (lower case).
    pub name: Option<String>,
    /// The sort column.
    pub sort: SortBy,
    /// Descending.
    pub descending: bool,
    /// The page, from 1.
    pub page: usize,
}

impl Query {
    /// The query a URL asks for; what does not parse is left at its default.
    pub fn from_raw(raw: RawQuery) -> Self {
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            kind: text(raw.kind),
            status: text(raw.status).and_then(|s| ObjectStatus::parse(&s)),
            name: text(raw.q).map(|s| s.to_lowercase()),
            sort: text(raw.sort)
                .and_then(|s| SortBy::ALL.into_iter().find(|c| c.as_str() == s))
                .unwrap_or_default(),
            descending: raw.dir.as_deref() == Some("desc"),
            page: raw
                .page
                .and_then(|p| p.parse::<usize>().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
        }
    }

    fn keeps(&self, row: &Row) -> bool {
        self.kind.as_ref().is_none_or(|k| row.kind == *k)
            && self.status.is_none_or(|s| row.status == s)
            && self
                .name
                .as_ref()
                .is_none_or(|n| row.key.to_lowercase().contains(n.as_str()))
    }

    /// The URL query string of this query with some parts changed (`None` keeps a part).
    pub fn link(
        &self,
        sort: Option<SortBy>,
        descending: Option<bool>,
        page: Option<usize>,
    ) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(k) = &self.kind {
            url.append_pair("kind", k);
        }
        if let Some(s) = self.status {
            url.append_pair("status", s.as_str());
        }
        if let Some(n) = &self.name {
            url.append_pair("q", n);
        }
        let sort = sort.unwrap_or(self.sort);
        if sort != SortBy::Name {
            url.append_pair("sort", sort.as_str());
        }
        if descending.unwrap_or(self.descending) {
            url.append_pair("dir", "desc");
        }
        let page = page.unwrap_or(self.page);
        if page > 1 {
            url.append_pair("page", &page.to_string());
        }
        format!("/?{}", url.finish())
    }
}

/// One page of the list.
#[derive(Debug)]
pub struct Page<'a> {
    /// Its rows.
    pub rows: Vec<&'a Row>,
    /// Rows matching the filters, on every page.
    pub matching: usize,
    /// This page (clamped to the last one).
    pub page: usize,
    /// How many pages there are (at least 1).
    pub pages: usize,
}

/// The page of `rows` that `query` asks for. Rows come sorted by key; other orders sort only the
/// matching rows, by the column and then by key.
pub fn select<'a>(rows: &'a [Row], query: &Query) -> Page<'a> {
    let mut matching: Vec<&Row> = rows.iter().filter(|r| query.keeps(r)).collect();
    match query.sort {
        SortBy::Name => {}
        SortBy::Kind => matching.sort_by(|a, b| a.kind.cmp(&b.kind)),
        SortBy::Status => matching.sort_by_key(|r| r.status),
        SortBy::Applied => matching.sort_by(|a, b| a.applied_at.cmp(&b.applied_at)),
    }
    if query.descending {
        matching.reverse();
    }
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages);
    let count = matching.len();
    let rows = matching
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Page {
        rows,
        matching: count,
        page,
        pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Row> {
        let mut rows: Vec<Row> = (0..n)
            .map(|i| Row {
                key: format!("Client/app{:03}/c", i / 2),
                kind: if i % 2 == 0 { "Client" } else { "Role" }.into(),
                name: format!("app{:03}/c", i / 2),
                application: None,
                status: if i % 7 == 0 {
                    ObjectStatus::Drift
                } else {
                    ObjectStatus::InSync
                },
                applied_at: Some(format!("2026-12-04T09:{:02}:00Z", i % 60)),
                revision: None,
                source: None,
                applied: None,
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows
    }

    fn raw(pairs: &[(&str, &str)]) -> Query {
        let text = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Query::from_raw(serde_urlencoded_like(&text))
    }

    fn serde_urlencoded_like(text: &str) -> RawQuery {
        let mut q = RawQuery::default();
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            let v = Some(v.into_owned());
            match &*k {
                "kind" => q.kind = v,
                "status" => q.status = v,
                "q" => q.q = v,
                "sort" => q.sort = v,
                "dir" => q.dir = v,
                "page" => q.page = v,
                _ => {}
            }
        }
        q
    }

    #[test]
    fn filters_combine_and_pages_are_clamped() {
        let rows = rows(300);
        let all = select(&rows, &Query::from_raw(RawQuery::default()));
        assert_eq!(
            (all.matching, all.pages, all.rows.len()),
            (300, 6, PAGE_SIZE)
        );
        let drift = select(&rows, &raw(&[("status", "drift"), ("kind", "Client")]));
        assert!(drift
            .rows
            .iter()
            .all(|r| r.status == ObjectStatus::Drift && r.kind == "Client"));
        assert_eq!(drift.matching, (0..300).filter(|i| i % 14 == 0).count());
        let named = select(&rows, &raw(&[("q", "APP01")]));
        assert!(named.rows.iter().all(|r| r.key.contains("app01")));
        assert_eq!(named.matching, 20);
        let last = select(&rows, &raw(&[("page", "99")]));
        assert_eq!((last.page, last.rows.len()), (6, 50));
    }

    #[test]
    fn sorting_by_a_column_and_direction() {
        let rows = rows(20);
        let by_status = select(&rows, &raw(&[("sort", "status")]));
        assert_eq!(by_status.rows[0].status, ObjectStatus::Drift);
        let newest = select(&rows, &raw(&[("sort", "applied"), ("dir", "desc")]));
        assert!(newest.rows[0].applied_at >= newest.rows[1].applied_at);
    }

    #[test]
    fn unknown_values_fall_back_and_links_keep_the_filters() {
        let q = raw(&[
            ("status", "bogus"),
            ("sort", "x"),
            ("page", "-3"),
            ("q", "a&b"),
        ]);
        assert_eq!(q.status, None);
        assert_eq!(q.sort, SortBy::Name);
        assert_eq!(q.page, 1);
        assert_eq!(q.link(None, None, Some(2)), "/?q=a%26b&page=2");
        assert_eq!(
            q.link(Some(SortBy::Status), Some(true), None),
            "/?q=a%26b&sort=status&dir=desc"
        );
    }
}
