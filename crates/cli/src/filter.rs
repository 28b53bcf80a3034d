//! `--filter KEY=VALUE` for `network ls` and `network prune`, with Docker's rules: values of
//! one key are alternatives (any may match), different keys must all match; `name` and `id`
//! match as regular expressions (an exact value always matches), `label` values (`KEY` or
//! `KEY=VALUE`) must all hold.

use std::collections::BTreeMap;

use engine::Network;

pub struct Filters {
    by_key: BTreeMap<String, Vec<String>>,
    /// Each value's regular expression, compiled once (None: not one; it matches exactly).
    patterns: BTreeMap<(String, String), Option<regex::Regex>>,
}

/// What `network ls` filters by.
pub const LS_KEYS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
/// What `network prune` filters by.
pub const PRUNE_KEYS: &[&str] = &["label", "label!", "until"];

impl Filters {
    pub fn parse(items: &[String], command: &str, valid: &[&str]) -> Result<Filters, String> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for item in items {
            let Some((k, v)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
                return Err(format!(
                    "invalid --filter {item:?}: bad format of filter (expected name=value)"
                ));
            };
            let k = k.trim().to_ascii_lowercase();
            if !valid.contains(&k.as_str()) {
                return Err(format!(
                    "invalid filter '{k}': {command} filters by {}",
                    list(valid)
                ));
            }
            by_key.entry(k).or_default().push(v.trim().to_string());
        }
        let patterns = by_key
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "name" | "id"))
            .flat_map(|(k, vs)| {
                vs.iter()
                    .map(move |v| ((k.clone(), v.clone()), regex::Regex::new(v).ok()))
            })
            .collect();
        Ok(Filters { by_key, patterns })
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// No value given for `key`, or one equal to `v`.
    fn exact(&self, key: &str, v: &str) -> bool {
        !self.has(key) || self.get(key).iter().any(|x| x == v)
    }

    /// No value given for `key`, or one equal to `v` or a regular expression found in it.
    fn matches(&self, key: &str, v: &str) -> bool {
        !self.has(key)
            || self.get(key).iter().any(|x| {
                x == v
                    || self
                        .patterns
                        .get(&(key.to_string(), x.clone()))
                        .and_then(Option::as_ref)
                        .is_some_and(|re| re.is_match(v))
            })
    }

    /// Every `KEY` or `KEY=VALUE` given for `key` holds in `labels`.
    fn labels_hold(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want),
        })
    }

    /// Check the values whose form is fixed, even when no network is listed.
    pub fn check_ls(&self) -> Result<(), String> {
        match self.get("dangling") {
            [] | [_] => {}
            _ => return Err("got more than one value for filter key \"dangling\"".into()),
        }
        if let Some(v) = self.get("dangling").first() {
            if !matches!(v.as_str(), "0" | "1" | "false" | "true") {
                return Err(format!(
                    "invalid value {v:?} for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"
                ));
            }
        }
        for t in self.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(format!(
                    "invalid filter: 'type'='{t}': expected custom or builtin"
                ));
            }
        }
        Ok(())
    }

    /// Whether `network ls` shows `net`, which has `endpoints` endpoints. Every network of
    /// underlay's is a custom one (none is predefined) and local.
    pub fn ls_selects(&self, net: &Network, endpoints: usize) -> bool {
        let dangling = self
            .get("dangling")
            .first()
            .map(|v| v == "1" || v == "true");
        self.exact("driver", net.driver().name())
            && self.matches("name", &net.name)
            && self.matches("id", &net.id)
            && self.labels_hold("label", &net.labels)
            && self.exact("scope", net.scope.name())
            && dangling.is_none_or(|d| d == (endpoints == 0))
            && (!self.has("type") || self.get("type").iter().any(|t| t == "custom"))
    }

    /// The instant `until` names, in seconds since the epoch (None when not given).
    pub fn until(&self, now: jiff::Timestamp) -> Result<Option<f64>, String> {
        match self.get("until") {
            [] => Ok(None),
            [v] => timestamp(v, now).map(Some),
            _ => Err("got more than one value for filter key \"until\"".into()),
        }
    }

    /// Whether `network prune` may remove `net` (it has no endpoints) by its labels and age.
    pub fn prune_selects(&self, net: &Network, until: Option<f64>) -> bool {
        let created = net
            .created
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_duration().as_secs_f64())
            .unwrap_or(f64::MAX);
        self.labels_hold("label", &net.labels)
            && !(self.has("label!") && self.labels_hold("label!", &net.labels))
            && until.is_none_or(|u| created < u)
    }
}

fn list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Docker's forms of an instant: a Go duration before now (`10m`, `1h30m`), seconds since the
/// epoch (`1700000000`, `1700000000.5`), RFC 3339 (`2006-01-02T15:04:05Z07:00`), or a date
/// and time without a zone (`2006-01-02`, `2006-01-02T15:04`, `2006-01-02T15:04:05`), in the
/// host's time zone.
pub fn timestamp(v: &str, now: jiff::Timestamp) -> Result<f64, String> {
    let secs = |t: jiff::Timestamp| t.as_duration().as_secs_f64();
    if let Ok(d) = v.parse::<jiff::SignedDuration>() {
        return Ok(secs(now) - d.as_secs_f64());
    }
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if let Ok(n) = v.parse::<f64>() {
            return Ok(n);
        }
    }
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(secs(t));
    }
    if let Ok(dt) = v.parse::<jiff::civil::DateTime>() {
        if let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::system()) {
            return Ok(secs(z.timestamp()));
        }
    }
    Err(format!(
        "failed to parse value as time or duration: {v:?} (expected a duration such as 24h or 1h30m, seconds since 1970, or a time such as 2006-01-02T15:04:05Z)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(items: &[&str], valid: &[&str]) -> Result<Filters, String> {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        Filters::parse(&items, "network ls", valid)
    }

    #[test]
    fn parses_and_refuses_like_docker() {
        let e = f(&["name"], LS_KEYS).err().unwrap();
        assert!(
            e.contains("bad format of filter (expected name=value)"),
            "{e}"
        );
        let e = f(&["foo=bar"], LS_KEYS).err().unwrap();
        assert!(
            e.contains("invalid filter 'foo'") && e.contains("scope or type"),
            "{e}"
        );
        let e = f(&["dangling=maybe"], LS_KEYS)
            .unwrap()
            .check_ls()
            .unwrap_err();
        assert!(e.contains("\"maybe\""), "{e}");
        let e = f(&["dangling=1", "dangling=0"], LS_KEYS)
            .unwrap()
            .check_ls()
            .unwrap_err();
        assert!(e.contains("more than one value"), "{e}");
        let e = f(&["type=weird"], LS_KEYS).unwrap().check_ls().unwrap_err();
        assert!(e.contains("'type'='weird'"), "{e}");
        assert!(f(&["until=1h"], LS_KEYS).is_err());
    }

    #[test]
    fn instants_in_docker_forms() {
        let now: jiff::Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let at = |v: &str| timestamp(v, now).unwrap();
        assert_eq!(at("1h30m"), at("2026-12-02T08:30:00Z"));
        assert_eq!(at("-1h"), at("2026-12-02T11:00:00+00:00"));
        assert_eq!(at("1796195931.5"), 1796195931.5);
        assert_eq!(at("2026-12-02T09:00:00+01:00"), at("2026-12-02T08:00:00Z"));
        assert!(timestamp("2026-12-02", now).is_ok());
        let e = timestamp("nonsense", now).unwrap_err();
        assert!(e.contains("\"nonsense\"") && e.contains("24h"), "{e}");
    }
}
