//! Versioned-model evidence for the plan.
//!
//! A version is selected as `model.vN` (JSON logs name it so, and the parser names a version
//! so when a text summary's file says it) or by the relation it builds,
//! `model_vN`, which every supported dbt version also selects it by. A text log's SKIP line
//! names a version by its model's bare name, which selects every version: the exact shapes
//! then exclude the versions the log shows finished (`--exclude model_v1`), the descendants
//! form is not used for such a model, a resume never excludes a versioned model's bare name,
//! and the note says what the log could not tell.

use super::unique_names_str;
use crate::log::RunReport;
use crate::node::{version_parts, NodeName, ResourceType};
use std::collections::{BTreeMap, BTreeSet};

/// What the log says about the versions of versioned models it names without a version
/// (text SKIP lines, some summary headers), for the exact shapes.
#[derive(Debug, Default)]
pub(super) struct Versions {
    /// The versions of those models the log shows finished, as it names them (`m_v1`,
    /// `m.v1`): excluded, since the bare name selects every version.
    pub(super) exclude: Vec<String>,
    /// A failed model is one of them and a version of it finished: `failed+` would select
    /// that version's descendants, so the descendants form does not fit.
    pub(super) excludes_failed: bool,
    pub(super) note: Option<String>,
    /// Those models, by their bare names.
    pub(super) bare: Vec<String>,
    /// The original's `--select` terms, when a bare name must be kept inside them: the bare
    /// name selects every version, some maybe outside the original selection.
    pub(super) scope: Vec<String>,
}

impl Versions {
    /// `names` with each bare versioned name kept inside the original selection
    /// (`name,term` for every original `--select` term: dbt intersects them).
    pub(super) fn scoped(&self, names: Vec<String>) -> Vec<String> {
        if self.scope.is_empty() {
            return names;
        }
        let scoped = names.into_iter().flat_map(|n| {
            if self.bare.contains(&n) {
                self.scope
                    .iter()
                    .map(|t| format!("{n},{t}"))
                    .collect::<Vec<_>>()
            } else {
                vec![n]
            }
        });
        unique_names_str(scoped.collect())
    }

    pub(super) fn of(
        report: &RunReport,
        failed: &[(NodeName, ResourceType)],
        skipped: &[(NodeName, ResourceType)],
    ) -> Self {
        let evidence = VersionEvidence::of(report);
        let mut exclude: Vec<String> = Vec::new();
        let mut excludes_failed = false;
        let mut described: Vec<String> = Vec::new();
        let mut bare: Vec<String> = Vec::new();
        let is_bare = |n: &NodeName| !n.as_str().contains('.');
        let failed_models = failed.iter().map(|f| (f, true));
        let skipped_models = skipped.iter().map(|s| (s, false));
        let mut seen = BTreeSet::new();
        for ((name, kind), is_failed) in failed_models.chain(skipped_models) {
            if *kind != ResourceType::Model || !is_bare(name) || !evidence.is_versioned(name) {
                continue;
            }
            if !seen.insert(name.as_str()) {
                continue;
            }
            let finished = evidence.finished_versions(name);
            let valid: Vec<String> = finished
                .iter()
                .filter_map(|v| NodeName::parse(v).ok())
                .map(|v| v.to_string())
                .collect();
            excludes_failed |= is_failed && !valid.is_empty();
            described.push(if valid.is_empty() {
                format!("`{name}` (every version)")
            } else {
                format!(
                    "`{name}` (every version but {}, which finished)",
                    valid.join(", ")
                )
            });
            exclude.extend(valid);
            bare.push(name.to_string());
        }
        let note = (!described.is_empty()).then(|| {
            format!(
                "the log names the versioned model{} {} without saying which version did not succeed, so every version it does not show finished is selected (--log-format json names each version)",
                if described.len() == 1 { "" } else { "s" },
                described.join(", ")
            )
        });
        Self {
            exclude: unique_names_str(exclude),
            excludes_failed,
            note,
            bare,
            scope: vec![],
        }
    }
}

/// Which models a log shows to have versions, and which of their versions finished.
#[derive(Debug, Default)]
pub(super) struct VersionEvidence<'a> {
    /// Model name -> the names of its finished versions (`m_v1` from a text result line,
    /// `m.v1` from JSON).
    finished: BTreeMap<&'a str, Vec<&'a str>>,
    /// Models named with a version anywhere in the log, or known to have versions.
    versioned: BTreeSet<&'a str>,
}

impl<'a> VersionEvidence<'a> {
    pub(super) fn of(report: &'a RunReport) -> Self {
        let mut evidence = Self::default();
        let models = |n: &&crate::node::SkippedNode| n.resource_type == ResourceType::Model;
        for node in report.finished.nodes.iter().filter(models) {
            if let Some((base, _)) = version_parts(&node.name) {
                evidence.finished.entry(base).or_default().push(&node.name);
                evidence.versioned.insert(base);
            }
        }
        let others = report
            .failed
            .iter()
            .filter(|n| n.resource_type == ResourceType::Model)
            .map(|n| n.name.as_str())
            .chain(
                report
                    .skipped
                    .iter()
                    .filter(models)
                    .map(|n| n.name.as_str()),
            );
        for name in others {
            if let Some((base, _)) = version_parts(name) {
                evidence.versioned.insert(base);
            }
        }
        evidence
            .versioned
            .extend(report.versions_unknown.iter().map(String::as_str));
        evidence
    }

    pub(super) fn is_versioned(&self, model: &NodeName) -> bool {
        self.versioned.contains(model.as_str())
    }

    fn finished_versions(&self, model: &NodeName) -> &[&'a str] {
        self.finished
            .get(model.as_str())
            .map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cmd, node, report};
    use crate::log::FinishedNodes;
    use crate::node::FailStatus::*;
    use crate::node::ResourceType::*;
    use crate::plan::{json_len, plan_rerun, plan_resume, PlanShape};

    #[test]
    fn a_version_named_by_its_bare_model_excludes_the_versions_that_finished() {
        // A text log: the latest version of dim_accounts (relation dim_accounts) failed, v1
        // (relation dim_accounts_v1) finished; the bare name selects every version.
        let mut r = report(
            &[("dim_accounts", Model, Error)],
            &[
                ("not_null_dim_accounts_v2_id", Test),
                ("account_orders", Model),
            ],
        );
        r.finished.nodes = vec![
            node("dim_accounts_v1", Model),
            node("account_names_v1", Model),
        ];
        r.finished.count = 2;
        let c = cmd("dbt build --exclude old");
        let plan = plan_rerun(&c, &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Exact);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --exclude old --select dim_accounts not_null_dim_accounts_v2_id \
             account_orders --exclude dim_accounts_v1 --indirect-selection empty"
        );
        let note = plan.note.unwrap();
        assert!(
            note.contains("`dim_accounts` (every version but dim_accounts_v1"),
            "{note}"
        );
        // `dim_accounts+` would select v1's descendants too: never the descendants form.
        let mut budget = 8192;
        loop {
            let plan = plan_rerun(&c, &r, budget).unwrap();
            assert_ne!(plan.shape, PlanShape::Descendants);
            if plan.shape == PlanShape::Original {
                break;
            }
            budget = json_len(&plan.argv) - 1;
        }
        // A version the log names (JSON, or a text summary by its file) needs nothing.
        let mut json = r.clone();
        json.failed[0].name = "dim_accounts.v2".into();
        json.finished.nodes[0].name = "dim_accounts.v1".into();
        let plan = plan_rerun(&c, &json, 8192).unwrap();
        assert!(
            !plan.argv.contains(&"dim_accounts.v1".to_string()),
            "{:?}",
            plan.argv
        );
        assert_eq!(plan.note, None);
        let plan = plan_rerun(&c, &json, 70).unwrap();
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --exclude old --select dim_accounts.v2+"
        );
    }

    #[test]
    fn a_versioned_model_named_without_a_version_selects_every_version_and_says_so() {
        let mut r = report(&[("fct", Model, Error)], &[("dim_accounts", Model)]);
        r.versions_unknown = vec!["dim_accounts".into()];
        let plan = plan_rerun(&cmd("dbt run"), &r, 8192).unwrap();
        assert_eq!(plan.argv.join(" "), "dbt run --select fct dim_accounts");
        assert!(plan
            .note
            .unwrap()
            .contains("`dim_accounts` (every version)"));
    }

    #[test]
    fn every_version_of_a_bare_name_stays_inside_the_original_selection() {
        let mut r = report(&[("fct", Model, Error)], &[("dim_accounts", Model)]);
        r.versions_unknown = vec!["dim_accounts".into()];
        r.dbt_version = Some("1.10.4".into());
        let c = cmd("dbt run --select fct+ tag:x");
        let plan = plan_rerun(&c, &r, 8192).unwrap();
        assert_eq!(
            plan.argv.join(" "),
            "dbt run --select fct dim_accounts,fct+ dim_accounts,tag:x"
        );
        // dbt 1.6 and 1.8 ignore graph operators under --indirect-selection empty: the
        // intersection cannot be trusted, so the whole command runs again, and says why.
        r.dbt_version = Some("1.8.8".into());
        let plan = plan_rerun(&cmd("dbt build --select fct+"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(plan
            .note
            .unwrap()
            .contains("might reach outside the original selection"),);
        // Without --select terms every version is inside the selection.
        let plan = plan_rerun(&cmd("dbt run --exclude old"), &r, 8192).unwrap();
        assert!(
            plan.argv.contains(&"dim_accounts".to_owned()),
            "{:?}",
            plan.argv
        );
    }

    #[test]
    fn a_resume_never_excludes_a_versioned_models_bare_name() {
        let mut r = report(&[], &[]);
        r.end_of_run = false;
        r.dbt_version = Some("1.11.0".into());
        r.finished = FinishedNodes {
            count: 3,
            nodes: vec![
                node("stg", Model),
                node("dim_accounts_v1", Model),
                node("dim_accounts", Model),
            ],
            before_first_failure: 3,
        };
        let plan = plan_resume(&cmd("dbt build"), &r, 8192);
        assert_eq!(plan.shape, PlanShape::Resume);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --exclude stg dim_accounts_v1 --indirect-selection empty"
        );
        assert!(plan
            .note
            .unwrap()
            .contains("`dim_accounts` finished but names a versioned model"));
    }
}
