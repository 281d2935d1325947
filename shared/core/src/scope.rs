//! Which dbt tasks a deployment serves: its clusters and task families, each a list of names
//! or a name prefix (`dbt-*`), as the template's `ClusterNames` / `TaskDefinitionFamilies`
//! hand them to the functions (`DBT_RERUN_CLUSTERS`, `DBT_RERUN_TASK_FAMILIES`).
//!
//! The rule and IAM already keep other tasks out; the functions check again so that a wider
//! rule, a manual request or a planned launch of a family the stack does not serve is refused
//! by name rather than half-handled.

use std::fmt;

/// Cluster or family names: any, these, or every name starting with a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NameSet {
    /// No restriction (the variable is not set).
    #[default]
    Any,
    /// Exactly these names.
    Listed(Vec<String>),
    /// Every name that starts with this (written `dbt-*`).
    Prefix(String),
}

/// Longest ECS cluster or task definition family name.
const MAX_NAME: usize = 255;

fn is_ecs_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl NameSet {
    /// Reads `a,b,c` (names), `dbt-*` (a prefix) or an empty value (any). ECS names are
    /// letters, digits, `-` and `_`; a `*` may only end a single prefix.
    pub fn parse(value: &str) -> Result<NameSet, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(NameSet::Any);
        }
        if let Some(prefix) = value.strip_suffix('*') {
            if is_ecs_name(prefix) {
                return Ok(NameSet::Prefix(prefix.to_owned()));
            }
            return Err(format!(
                "`{value}`: a prefix is one name followed by * (such as dbt-*), not a list"
            ));
        }
        let names: Vec<String> = value.split(',').map(|n| n.trim().to_owned()).collect();
        match names.iter().find(|n| !is_ecs_name(n)) {
            Some(bad) => Err(format!(
                "`{bad}` is not an ECS name (letters, digits, - and _; names separated by commas, or one prefix ending in *)"
            )),
            None => Ok(NameSet::Listed(names)),
        }
    }

    /// Whether `name` is one of these.
    pub(crate) fn admits(&self, name: &str) -> bool {
        match self {
            NameSet::Any => true,
            NameSet::Listed(names) => names.iter().any(|n| n == name),
            NameSet::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }

    /// The single name this set is, when it lists exactly one.
    pub fn single(&self) -> Option<&str> {
        match self {
            NameSet::Listed(names) if names.len() == 1 => Some(&names[0]),
            _ => None,
        }
    }
}

impl fmt::Display for NameSet {
    /// `a, b`, `dbt-* (every name starting with dbt-)` or `any`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameSet::Any => f.write_str("any"),
            NameSet::Listed(names) => f.write_str(&names.join(", ")),
            NameSet::Prefix(p) => write!(f, "{p}* (every name starting with {p})"),
        }
    }
}

/// The clusters and task families a deployment serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `DBT_RERUN_CLUSTERS` (else `DBT_RERUN_CLUSTER`).
    pub clusters: NameSet,
    /// The variable `clusters` came from, for the refusal.
    pub clusters_var: &'static str,
    /// `DBT_RERUN_TASK_FAMILIES`.
    pub families: NameSet,
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            clusters: NameSet::Any,
            clusters_var: "DBT_RERUN_CLUSTERS",
            families: NameSet::Any,
        }
    }
}

impl Scope {
    /// Why a task of `family` in `cluster` is not this deployment's, or None when it is.
    /// Either name may be an ARN (`.../cluster/NAME`, `.../task-definition/FAMILY:REV`).
    pub fn refusal(&self, cluster: &str, family: &str) -> Option<String> {
        self.refuses_cluster(cluster)
            .or_else(|| self.refuses_family(family))
    }

    /// Why `cluster` (a name or an ARN) is not this deployment's.
    pub fn refuses_cluster(&self, cluster: &str) -> Option<String> {
        let cluster = cluster_name(cluster);
        (!self.clusters.admits(cluster)).then(|| {
            format!(
                "cluster {} is not one of this deployment's ({}: {})",
                crate::log::truncate(cluster, MAX_NAME),
                self.clusters_var,
                self.clusters
            )
        })
    }

    /// Why the family of `task_definition` (a family, `FAMILY:REV` or an ARN) is not this
    /// deployment's.
    pub fn refuses_family(&self, task_definition: &str) -> Option<String> {
        let family = family_name(task_definition);
        (!self.families.admits(family)).then(|| {
            format!(
                "task family {} is not one of this deployment's (DBT_RERUN_TASK_FAMILIES: {})",
                crate::log::truncate(family, MAX_NAME),
                self.families
            )
        })
    }
}

/// `NAME` of a cluster ARN (`arn:aws:ecs:r:a:cluster/NAME`), or the name itself.
pub fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// The family of a task definition given as `FAMILY`, `FAMILY:REV` or its ARN
/// (`arn:aws:ecs:r:a:task-definition/FAMILY:REV`).
pub(crate) fn family_name(task_definition: &str) -> &str {
    let tail = task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition);
    tail.split(':').next().unwrap_or(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_admits_its_names_only() {
        let set = NameSet::parse(" dbt-hourly, dbt-nightly ,dbt_weekly").unwrap();
        assert_eq!(
            set,
            NameSet::Listed(vec![
                "dbt-hourly".into(),
                "dbt-nightly".into(),
                "dbt_weekly".into()
            ])
        );
        assert!(set.admits("dbt-nightly"));
        assert!(!set.admits("dbt-night"));
        assert!(!set.admits("dbt-docs"));
        assert_eq!(set.to_string(), "dbt-hourly, dbt-nightly, dbt_weekly");
        assert_eq!(NameSet::parse("solo").unwrap().single(), Some("solo"));
    }

    #[test]
    fn a_prefix_admits_every_name_that_starts_with_it() {
        let set = NameSet::parse("dbt-*").unwrap();
        assert_eq!(set, NameSet::Prefix("dbt-".into()));
        assert!(set.admits("dbt-hourly"));
        assert!(set.admits("dbt-"));
        assert!(!set.admits("xdbt-hourly"));
        assert!(!set.admits("DBT-hourly"));
        assert_eq!(set.single(), None);
        assert_eq!(set.to_string(), "dbt-* (every name starting with dbt-)");
    }

    #[test]
    fn empty_admits_anything_and_bad_values_say_why() {
        assert_eq!(NameSet::parse("  ").unwrap(), NameSet::Any);
        assert!(NameSet::Any.admits("whatever"));
        for (value, says) in [
            ("a,,b", "`` is not an ECS name"),
            ("dbt hourly", "`dbt hourly` is not an ECS name"),
            ("a,dbt-*", "a prefix is one name followed by *"),
            ("*", "a prefix is one name"),
            ("dbt-*-x", "`dbt-*-x` is not an ECS name"),
            ("family:dbt", "`family:dbt` is not an ECS name"),
        ] {
            let err = NameSet::parse(value).unwrap_err();
            assert!(err.contains(says), "{value}: {err}");
        }
    }

    #[test]
    fn a_refusal_names_the_cluster_or_the_family() {
        let scope = Scope {
            clusters: NameSet::parse("dbt-prod").unwrap(),
            families: NameSet::parse("dbt-hourly,dbt-nightly").unwrap(),
            ..Scope::default()
        };
        assert_eq!(
            scope.refusal(
                "arn:aws:ecs:eu-west-1:1:cluster/dbt-prod",
                "arn:aws:ecs:eu-west-1:1:task-definition/dbt-nightly:12"
            ),
            None
        );
        assert_eq!(scope.refusal("dbt-prod", "dbt-hourly:3"), None);
        let family = scope.refusal("dbt-prod", "dbt-docs").unwrap();
        assert_eq!(
            family,
            "task family dbt-docs is not one of this deployment's (DBT_RERUN_TASK_FAMILIES: dbt-hourly, dbt-nightly)"
        );
        let cluster = scope
            .refusal("arn:aws:ecs:r:1:cluster/other", "dbt-docs")
            .unwrap();
        assert_eq!(
            cluster,
            "cluster other is not one of this deployment's (DBT_RERUN_CLUSTERS: dbt-prod)"
        );
        assert_eq!(Scope::default().refusal("any", "thing"), None);
    }
}
