//! The catalogue's column tree (RULES §1): data, loaded from
//! `deploy/catalog/default.toml`, which a unit extends with its own columns.

use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent: String,
    /// Documents here need a linked interpretation to be published.
    #[serde(default)]
    pub policy: bool,
    /// Documents here are interpretations (政策解读) of policy documents.
    #[serde(default)]
    pub interpretation: bool,
    /// Row of annual-report table 二 the column's documents count in:
    /// "规章" or "行政规范性文件".
    #[serde(default)]
    pub report_kind: String,
    #[serde(skip)]
    pub custom: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    column: Vec<ColumnDef>,
}

pub const REPORT_KINDS: [&str; 2] = ["规章", "行政规范性文件"];

/// A validated column tree.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    columns: Vec<ColumnDef>,
    by_code: HashMap<String, usize>,
}

pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The longest column name: a portal's menu item.
const NAME_MAX_CHARS: usize = 50;

impl Catalog {
    pub fn parse_toml(text: &str) -> Result<Catalog, String> {
        let f: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut c = Catalog::default();
        for (i, col) in f.column.into_iter().enumerate() {
            c.add(col).map_err(|e| format!("column[{i}]: {e}"))?;
        }
        Ok(c)
    }

    /// Adds a column; its parent must already be present.
    pub fn add(&mut self, col: ColumnDef) -> Result<(), String> {
        if !valid_code(&col.code) {
            return Err(format!(
                "code {:?}: 1–32 characters of a-z, 0-9, '_' or '-'",
                col.code
            ));
        }
        if col.name.trim().is_empty() {
            return Err(format!("name of {}: required", col.code));
        }
        if col.name.chars().count() > NAME_MAX_CHARS || col.name.chars().any(char::is_control) {
            return Err(format!(
                "name of {}: one line of at most {NAME_MAX_CHARS} characters",
                col.code
            ));
        }
        if self.by_code.contains_key(&col.code) {
            return Err(format!("code {}: already in the catalogue", col.code));
        }
        if !col.parent.is_empty() && !self.by_code.contains_key(&col.parent) {
            return Err(format!("parent {:?}: no such column", col.parent));
        }
        if col.policy && col.interpretation {
            return Err(format!(
                "column {}: cannot be both policy and interpretation",
                col.code
            ));
        }
        if !col.report_kind.is_empty() && !REPORT_KINDS.contains(&col.report_kind.as_str()) {
            return Err(format!(
                "report_kind of {}: one of 规章, 行政规范性文件",
                col.code
            ));
        }
        self.by_code.insert(col.code.clone(), self.columns.len());
        self.columns.push(col);
        Ok(())
    }

    pub fn get(&self, code: &str) -> Option<&ColumnDef> {
        self.by_code.get(code).map(|&i| &self.columns[i])
    }

    pub fn columns(&self) -> &[ColumnDef] {
        &self.columns
    }

    /// Codes whose documents count in table 二 under `kind`.
    pub fn codes_of_kind(&self, kind: &str) -> HashSet<&str> {
        self.columns
            .iter()
            .filter(|c| c.report_kind == kind)
            .map(|c| c.code.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_catalog() -> Catalog {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/catalog/default.toml"
        );
        Catalog::parse_toml(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn default_tree_has_the_national_layout() {
        let c = default_catalog();
        for name in [
            "政府信息公开指南",
            "政府信息公开制度",
            "法定主动公开内容",
            "政府信息公开年报",
        ] {
            assert!(
                c.columns()
                    .iter()
                    .any(|x| x.name == name && x.parent.is_empty()),
                "{name}"
            );
        }
        for name in [
            "机构职能",
            "政策文件",
            "政策解读",
            "财政资金",
            "工作总结",
            "回应关切",
        ] {
            assert!(c.columns().iter().any(|x| x.name == name), "{name}");
        }
        assert!(c.columns().iter().any(|x| x.policy));
        assert!(c.columns().iter().any(|x| x.interpretation));
        assert_eq!(c.codes_of_kind("规章").len(), 1);
        assert_eq!(c.codes_of_kind("行政规范性文件").len(), 1);
    }

    #[test]
    fn bad_trees_are_refused() {
        let mut c = default_catalog();
        let col = |code: &str, parent: &str| ColumnDef {
            code: code.into(),
            name: "x".into(),
            parent: parent.into(),
            policy: false,
            interpretation: false,
            report_kind: String::new(),
            custom: true,
        };
        assert!(c.add(col("zcwj", "")).unwrap_err().contains("already"));
        assert!(
            c.add(col("new", "nope"))
                .unwrap_err()
                .contains("no such column")
        );
        assert!(c.add(col("Bad Code", "")).unwrap_err().contains("a-z"));
        for name in ["栏目\n名称".to_owned(), "栏".repeat(51)] {
            let e = c
                .add(ColumnDef {
                    name,
                    ..col("named", "")
                })
                .unwrap_err();
            assert!(e.contains("name of named: one line of at most 50"), "{e}");
        }
        assert!(c.add(col("xyzx", "fdzdgknr")).is_ok());
        let e = Catalog::parse_toml("[[column]]\ncode = \"a\"\nname = \"A\"\nparent = \"b\"\n")
            .unwrap_err();
        assert!(e.starts_with("column[0]: parent"), "{e}");
    }
}
