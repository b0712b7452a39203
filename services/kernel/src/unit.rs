//! Unit paths and the subject scheme (DESIGN "Units, paths and subjects").

use std::fmt;
use std::str::FromStr;

/// A unit's place in the tree, root first: `340823.jishan.school01`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unit path {path:?}: {rule}")]
pub struct UnitPathError {
    pub path: String,
    pub rule: &'static str,
}

/// Deepest tree we accept; real trees (province → village) are far shallower,
/// and the limit keeps subjects within NATS's comfortable size.
const MAX_DEPTH: usize = 8;
const MAX_TOKEN: usize = 32;

impl UnitPath {
    pub fn parse(s: &str) -> Result<Self, UnitPathError> {
        let err = |rule| UnitPathError {
            path: s.to_owned(),
            rule,
        };
        if s.is_empty() {
            return Err(err("must not be empty"));
        }
        let tokens: Vec<&str> = s.split('.').collect();
        if tokens.len() > MAX_DEPTH {
            return Err(err("at most 8 levels"));
        }
        for t in &tokens {
            if t.is_empty() {
                return Err(err("empty level (two dots, or a dot at either end)"));
            }
            if t.len() > MAX_TOKEN {
                return Err(err("each level at most 32 characters"));
            }
            if !t
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(err("levels use only a-z, 0-9, '_' and '-'"));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }

    pub fn parent(&self) -> Option<UnitPath> {
        self.0.rsplit_once('.').map(|(p, _)| Self(p.to_owned()))
    }

    /// True for the unit itself and every unit below it.
    pub fn contains(&self, other: &UnitPath) -> bool {
        other.0 == self.0
            || (other.0.len() > self.0.len()
                && other.0.starts_with(&self.0)
                && other.0.as_bytes()[self.0.len()] == b'.')
    }

    /// True only for units strictly below this one.
    pub fn is_ancestor_of(&self, other: &UnitPath) -> bool {
        self != other && self.contains(other)
    }
}

impl fmt::Display for UnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UnitPath {
    type Err = UnitPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for UnitPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for UnitPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A county's path is all digits (`340823`): given in the
        // environment it reads as a number.
        let s = d.deserialize_any(crate::config::TextVisitor)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Prefix of every Gongkai subject; the JetStream stream captures `gk.>`.
pub const SUBJECT_ROOT: &str = "gk";

/// `gk.<service>.<entity>.<verb>.<unit path tokens>`: the type first and the
/// unit last, so that a subtree is one wildcard.
pub fn event_subject(service: &str, entity: &str, verb: &str, unit: &UnitPath) -> String {
    format!("{SUBJECT_ROOT}.{service}.{entity}.{verb}.{unit}")
}

/// The two filters that together match every event of `unit`'s subtree for
/// one service/entity (`*` for any): the unit itself and everything below.
pub fn subtree_filters(service: &str, entity: &str, unit: &UnitPath) -> [String; 2] {
    [
        format!("{SUBJECT_ROOT}.{service}.{entity}.*.{unit}"),
        format!("{SUBJECT_ROOT}.{service}.{entity}.*.{unit}.>"),
    ]
}

/// Filter for events of the units strictly below `unit`.
pub fn descendants_filter(service: &str, entity: &str, unit: &UnitPath) -> String {
    format!("{SUBJECT_ROOT}.{service}.{entity}.*.{unit}.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_design_examples() {
        for p in [
            "340823",
            "340823.jishan",
            "340823.jishan.school01",
            "a_b-c.d",
        ] {
            assert!(UnitPath::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn rejects_bad_paths_with_the_rule() {
        let cases = [
            ("", "must not be empty"),
            ("340823..x", "empty level"),
            (".340823", "empty level"),
            ("340823.", "empty level"),
            ("340823.Jishan", "only a-z"),
            ("340823.籍山", "only a-z"),
            ("a.b.c.d.e.f.g.h.i", "at most 8"),
            ("340823 x", "only a-z"),
            ("340823.*", "only a-z"),
            ("340823.>", "only a-z"),
        ];
        for (p, rule) in cases {
            let e = UnitPath::parse(p).expect_err(p);
            assert!(e.to_string().contains(rule), "{p}: {e}");
        }
    }

    #[test]
    fn tree_relations() {
        let county = UnitPath::parse("340823").unwrap();
        let town = UnitPath::parse("340823.jishan").unwrap();
        let other = UnitPath::parse("3408231").unwrap();
        assert!(county.contains(&town));
        assert!(county.contains(&county));
        assert!(!county.is_ancestor_of(&county));
        assert!(county.is_ancestor_of(&town));
        assert!(!county.contains(&other), "prefix of a token is not a child");
        assert!(!town.contains(&county));
        assert_eq!(town.parent(), Some(county.clone()));
        assert_eq!(county.parent(), None);
        assert_eq!(town.depth(), 2);
    }

    #[test]
    fn subjects_put_type_first_and_unit_last() {
        let town = UnitPath::parse("340823.jishan").unwrap();
        assert_eq!(
            event_subject("publishing", "document", "published", &town),
            "gk.publishing.document.published.340823.jishan"
        );
        let county = UnitPath::parse("340823").unwrap();
        assert_eq!(
            subtree_filters("*", "*", &county),
            ["gk.*.*.*.340823".to_owned(), "gk.*.*.*.340823.>".to_owned()]
        );
    }
}
