//! dbt nodes as the log names them, and the validated names that may enter a command line.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of dbt node a log line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// A model: a relation dbt builds from SQL or Python.
    Model,
    /// A data test (generic or singular): a query that must return no rows.
    Test,
    /// A unit test (dbt 1.8+): a model's logic checked against given rows.
    UnitTest,
    /// A seed: a CSV file dbt loads.
    Seed,
    /// A snapshot: a table dbt keeps the history of rows in.
    Snapshot,
    /// A user-defined function (dbt 1.11+), which `dbt build` creates in the warehouse.
    Function,
    /// Anything else dbt may report (analysis, operation, source freshness, ...).
    Other,
}

impl ResourceType {
    /// Maps dbt's own spelling (`model`, `test`, `unit_test`, ...) to a resource type.
    pub(crate) fn from_dbt(word: &str) -> Self {
        match word {
            "model" => Self::Model,
            "test" => Self::Test,
            "unit_test" => Self::UnitTest,
            "seed" => Self::Seed,
            "snapshot" => Self::Snapshot,
            "function" => Self::Function,
            _ => Self::Other,
        }
    }

    /// Data tests and unit tests: leaves of the DAG that dbt selects indirectly with their model.
    pub(crate) fn is_test(self) -> bool {
        matches!(self, Self::Test | Self::UnitTest)
    }

    /// Models, seeds, snapshots and functions: text result lines (START, OK, ERROR) name them
    /// by the relation they build (`schema.alias`), which is not their node name when the
    /// project sets an alias.
    pub(crate) fn named_by_relation(self) -> bool {
        matches!(
            self,
            Self::Model | Self::Seed | Self::Snapshot | Self::Function
        )
    }

    /// dbt's own spelling, as the record and `--resource-type` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Test => "test",
            Self::UnitTest => "unit_test",
            Self::Seed => "seed",
            Self::Snapshot => "snapshot",
            Self::Function => "function",
            Self::Other => "other",
        }
    }
}

/// How a node failed: `error` (it could not run: SQL error, seed load error, ...) or `fail`
/// (a test ran and found rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailStatus {
    /// The node could not run (SQL error, seed load error, compilation error, ...).
    Error,
    /// A test ran and found rows.
    Fail,
}

/// A node the log reports as errored or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedNode {
    /// The node's name as dbt prints it (not yet validated for use in a command).
    pub name: String,
    /// What kind of node: a plan selects models, tests and seeds differently.
    pub resource_type: ResourceType,
    /// `model.project.name`, when the log carries it (JSON logs do).
    pub unique_id: Option<String>,
    /// `error` or `fail`, as dbt reports it.
    pub status: FailStatus,
    /// First line of dbt's message, without colour codes.
    pub message: String,
    /// The message's text, bounded, for classification; not part of the record.
    #[serde(skip)]
    pub detail: String,
}

/// A node dbt skipped because something upstream failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedNode {
    /// The node's name as dbt prints it (not yet validated for use in a command).
    pub name: String,
    /// What kind of node: a plan selects models, tests and seeds differently.
    pub resource_type: ResourceType,
    /// `model.project.name`, when the log carries it (JSON logs do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// A dbt node name checked to hold only characters dbt allows in node names, so it can be put
/// in an argv as a selector: it cannot start a flag, carry a graph operator, a method prefix,
/// whitespace or shell syntax.
///
/// Architecture invariant: nothing read from a log reaches a command line except through this
/// type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

/// The longest name accepted; dbt truncates long generated test names well below this.
pub(crate) const MAX_NODE_NAME_LEN: usize = 256;

/// Why a string from a log is not usable as a node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid dbt node name ({why})")]
pub struct InvalidNodeName {
    shown: String,
    why: &'static str,
}

impl NodeName {
    /// Validates `name`: ASCII letters, digits and `_`, with `-` and `.` allowed inside (file
    /// names with dashes, versioned models such as `dim_customers.v2`), starting with a letter,
    /// digit or `_`.
    pub fn parse(name: &str) -> Result<Self, InvalidNodeName> {
        let fail = |why| InvalidNodeName {
            shown: name
                .chars()
                .take(80)
                .collect::<String>()
                .escape_debug()
                .to_string(),
            why,
        };
        let first = name.bytes().next().ok_or_else(|| fail("empty"))?;
        if name.len() > MAX_NODE_NAME_LEN {
            return Err(fail("too long"));
        }
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return Err(fail("must start with a letter, digit or underscore"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(fail("only letters, digits, `_`, `-` and `.` are allowed"));
        }
        if name.ends_with('.') || name.contains("..") {
            return Err(fail("misplaced `.`"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The node name of a `unique_id` such as `model.shop.fct_orders`,
    /// `test.shop.not_null_x.1a2b3c` or `model.shop.dim_customers.v2`.
    pub fn from_unique_id(unique_id: &str) -> Result<Self, InvalidNodeName> {
        let parts: Vec<&str> = unique_id.split('.').collect();
        let name = match (parts.first().copied(), parts.len()) {
            // unit_test.<project>.<model>.<test name>
            (Some("unit_test"), 4) => parts[3].to_owned(),
            // model.<project>.<name>.v<N>: versioned models are selected as `name.vN`.
            (Some("model"), 4) if is_version(parts[3]) => format!("{}.{}", parts[2], parts[3]),
            // <type>.<project>.<name>[.<hash>]: generic tests end in a hash that is not part
            // of the name.
            (_, 3 | 4) => parts[2].to_owned(),
            _ => unique_id.to_owned(),
        };
        Self::parse(&name)
    }

    /// The name, safe to put in an argv as a selector.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_version(part: &str) -> bool {
    part.len() > 1 && part.starts_with('v') && part[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The name dbt selects one version of a versioned model by, `name.vN`, from its unique_id
/// (`model.shop.dim_customers.v2`); None for any other unique_id. dbt's JSON events give a
/// version's bare model name as its `node_name`, and selecting that selects every version.
pub(crate) fn versioned_name(unique_id: &str) -> Option<String> {
    let mut parts = unique_id.split('.');
    let (Some("model"), Some(_), Some(name), Some(version), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (is_version(version) && !name.is_empty()).then(|| format!("{name}.{version}"))
}

/// A name that may name one version of a model: `dim_customers.v2` (how dbt selects a
/// version) or `dim_customers_v2` (the relation a version builds unless it sets an alias, and
/// a selector dbt 1.5+ accepts for that version too) split into the model's name and the
/// version (`v2`). Any model name ending in `_v<digits>` looks like this; whether it is a
/// version only the project knows.
pub fn version_parts(name: &str) -> Option<(&str, &str)> {
    let at = name.rfind(['.', '_'])?;
    let (base, version) = (&name[..at], &name[at + 1..]);
    (!base.is_empty() && is_version(version)).then_some((base, version))
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_valid() {
        for name in [
            "fct_orders",
            "accepted_values_stg_orders_status__placed__shipped",
            "my-model",
            "dim_customers.v2",
            "_private",
            "2024_backfill",
        ] {
            assert_eq!(NodeName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn names_that_could_change_a_command_are_rejected() {
        for name in [
            "",
            "--full-refresh",
            "-x",
            "fct_orders+",
            "+fct_orders",
            "@fct_orders",
            "tag:nightly",
            "a,b",
            "a b",
            "a;rm -rf /",
            "a'b",
            "a\"b",
            "a*",
            "fct_orders\u{2010}x",
            "ｆct",
            "a\nb",
            ".hidden",
            "a..b",
            "trailing.",
        ] {
            assert!(NodeName::parse(name).is_err(), "{name:?} was accepted");
        }
        assert!(NodeName::parse(&"a".repeat(MAX_NODE_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn unique_ids_give_selectable_names() {
        let name = |id| NodeName::from_unique_id(id).unwrap().to_string();
        assert_eq!(name("model.shop.fct_orders"), "fct_orders");
        assert_eq!(
            name("test.shop.not_null_fct_orders_order_id.4e687af8d0"),
            "not_null_fct_orders_order_id"
        );
        assert_eq!(
            name("test.shop.assert_no_negative_revenue"),
            "assert_no_negative_revenue"
        );
        assert_eq!(
            name("unit_test.shop.agg_daily_revenue.test_sums_orders"),
            "test_sums_orders"
        );
        assert_eq!(name("model.shop.dim_customers.v2"), "dim_customers.v2");
        assert_eq!(name("seed.shop.raw_orders"), "raw_orders");
        assert_eq!(name("snapshot.shop.orders_snapshot"), "orders_snapshot");
        assert_eq!(name("function.shop.order_size"), "order_size");
    }

    #[test]
    fn versions_are_named_as_dbt_selects_them() {
        assert_eq!(
            versioned_name("model.shop.dim_accounts.v2").as_deref(),
            Some("dim_accounts.v2")
        );
        for id in [
            "model.shop.dim_accounts",
            "test.shop.not_null_dim_accounts_v2_id.1a2b3c",
            "model.shop.dim_accounts.latest",
            "model.shop.a.v1.x",
            "seed.shop.raw.v1",
        ] {
            assert_eq!(versioned_name(id), None, "{id}");
        }
        assert_eq!(
            version_parts("dim_accounts.v2"),
            Some(("dim_accounts", "v2"))
        );
        assert_eq!(
            version_parts("dim_accounts_v12"),
            Some(("dim_accounts", "v12"))
        );
        assert_eq!(version_parts("dim_accounts"), None);
        assert_eq!(version_parts("dim_v"), None);
        assert_eq!(version_parts("_v1"), None);
        assert_eq!(version_parts("accounts_v1x"), None);
    }
}
