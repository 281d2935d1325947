//! The re-run command: the original command with its node selection replaced so that it
//! covers exactly what did not succeed, and nothing outside the original selection.
//!
//! Shapes, tried in order until one fits the length budget (ECS limits the whole override
//! to 8192 characters):
//!
//! 1. [`PlanShape::Exact`]: every failed and skipped node by name, with
//!    `--indirect-selection empty` (build/test) so dbt adds nothing to the list. Needs the
//!    log to list every skipped node, which dbt does unless `--fail-fast` cancelled the run.
//! 2. [`PlanShape::ExactModels`]: the same without the skipped tests, which the original
//!    indirect selection brings back with their models (a skipped test always has a failed or
//!    skipped parent). Not with `--selector` or `--indirect-selection empty`.
//! 3. [`PlanShape::Descendants`]: `failed+` for each failed model, seed or snapshot,
//!    intersected with each original `--select` term: dbt skips exactly the descendants of
//!    what failed. Only when no test failed (a failed test skips its model's children, which
//!    no operator names).
//! 4. [`PlanShape::Resume`]: for runs whose skipped nodes are not all listed (`--fail-fast`):
//!    the original selection minus the nodes that finished, with `--indirect-selection empty`
//!    and the tests eager selection would have added named explicitly (`s+1,resource_type:test`).
//! 5. [`PlanShape::Original`]: the original command unchanged, when nothing narrower is exact
//!    or fits; the plan's note says why.
//!
//! Versioned models: a version is selected as `model.vN` (JSON logs name it so, and the
//! parser names a version so when a text summary's file says it) or by the relation it builds,
//! `model_vN`, which every supported dbt version also selects it by. A text log's SKIP line
//! names a version by its model's bare name, which selects every version: the exact shapes
//! then exclude the versions the log shows finished (`--exclude model_v1`), the descendants
//! form is not used for such a model, a resume never excludes a versioned model's bare name,
//! and the note says what the log could not tell.

use crate::command::{DbtCommand, Selection};
use crate::log::RunReport;
use crate::microbatch::{coverage, BatchRerun, BatchWindow, Coverage, Rerun};
use crate::node::{version_parts, InvalidNodeName, NodeName, ResourceType};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The longest `overrides` ECS accepts for RunTask, in characters of JSON.
pub const ECS_OVERRIDE_LIMIT: usize = 8192;

/// How the re-run selects its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanShape {
    Exact,
    ExactModels,
    Descendants,
    Resume,
    Original,
}

/// A planned re-run command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RerunCommand {
    pub argv: Vec<String>,
    pub shape: PlanShape,
    /// Why this shape, when it is not the exact list.
    pub note: Option<String>,
    /// How many nodes it runs and how many finished ones it leaves out.
    pub work: Work,
    /// For a run whose microbatch models did not build every batch: the window the re-run
    /// carries, and which batches it builds again (see [`crate::microbatch`]).
    pub microbatch: Option<BatchRerun>,
}

/// The work a planned re-run does and the work it saves, in nodes: what the `RerunNodes` and
/// `NodesSaved` metrics count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Work {
    /// Nodes the re-run runs: the failed and skipped nodes for the exact shapes, every node of
    /// the run (dbt's own total) for the original command. None when the log cannot tell: a
    /// resume (dbt lists no node it had not started) or a whole command whose run never ended.
    pub rerun_nodes: Option<u64>,
    /// Finished nodes the re-run leaves out, which a whole-command retry would have run again:
    /// every finished node for the exact shapes, those a resume excludes, 0 for the original.
    pub nodes_saved: u64,
}

impl Work {
    /// The original command again: all of the run's nodes, when dbt's closing stats line
    /// counted them; nothing saved.
    pub fn whole(report: Option<&RunReport>) -> Self {
        Self {
            rerun_nodes: report
                .filter(|r| r.end_of_run)
                .and_then(|r| r.stats)
                .map(|s| s.total),
            nodes_saved: 0,
        }
    }

    /// Nothing to run (a step that runs no node) and nothing saved.
    pub const NONE: Self = Self {
        rerun_nodes: Some(0),
        nodes_saved: 0,
    };

    /// Two parts of one re-run together: a count is known when both parts know theirs.
    pub fn and(self, other: Self) -> Self {
        Self {
            rerun_nodes: self
                .rerun_nodes
                .zip(other.rerun_nodes)
                .map(|(a, b)| a.saturating_add(b)),
            nodes_saved: self.nodes_saved.saturating_add(other.nodes_saved),
        }
    }
}

/// How a planned argv differs from the original: some of its words removed (the selection
/// the plan replaces, a `--threads` lowered), some appended (the new selection, the lower
/// `--threads`). Every other word is the original's,
/// in place, so the same change can be made to the words of a shell script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgvEdit {
    /// Positions in the original argv, ascending.
    pub removed: Vec<usize>,
    pub appended: Vec<String>,
}

impl RerunCommand {
    /// The edit that turns `command` into this plan's argv; None when the plan is not
    /// `command` with its selection replaced (never the case for the shapes of this module).
    pub fn edit_of(&self, command: &DbtCommand) -> Option<ArgvEdit> {
        let original = command.to_argv();
        let narrowed = self.shape != PlanShape::Original;
        let removed = command.flag_positions(crate::command::Strip {
            select: narrowed,
            exclude: self.shape == PlanShape::Resume,
            indirect: narrowed,
            event_time: self.window().is_some(),
        });
        let kept: Vec<&String> = original
            .iter()
            .enumerate()
            .filter(|(i, _)| !removed.contains(i))
            .map(|(_, w)| w)
            .collect();
        let prefix_matches =
            self.argv.len() >= kept.len() && self.argv.iter().zip(&kept).all(|(a, b)| a == *b);
        prefix_matches.then(|| ArgvEdit {
            removed,
            appended: self.argv[kept.len()..].to_vec(),
        })
    }
}

impl RerunCommand {
    /// The microbatch window the plan carries, if any.
    pub fn window(&self) -> Option<BatchWindow> {
        self.microbatch.as_ref().and_then(|m| m.window)
    }
}

/// Why no re-run command can be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the log names no failed node, so there is nothing to re-run")]
    NothingFailed,
    #[error("refusing to put a name from the log into the command: {0}")]
    InvalidName(#[from] InvalidNodeName),
}

/// Plans the re-run of `command` after the run `report` describes. `budget` is the longest
/// the argv may be as JSON. A microbatch model whose batches were not all built runs with a
/// window covering them, or the plan is the whole original command (see
/// [`crate::microbatch`]).
pub fn plan_rerun(
    command: &DbtCommand,
    report: &RunReport,
    budget: usize,
) -> Result<RerunCommand, PlanError> {
    let plan = plan_nodes(command, report, budget)?;
    Ok(cover_batches(plan, command, report, Rerun::Nodes, budget))
}

/// [`plan_rerun`] of the nodes, before the batches are covered.
fn plan_nodes(
    command: &DbtCommand,
    report: &RunReport,
    budget: usize,
) -> Result<RerunCommand, PlanError> {
    if !command.selects_nodes() {
        return Ok(original(
            command,
            report,
            format!(
                "`dbt {}` does not select nodes: re-running the command as it was",
                command.verb
            ),
        ));
    }
    if report.failed.is_empty() {
        return Err(PlanError::NothingFailed);
    }
    let selection = command.selection();
    let fits = |argv: &Vec<String>| json_len(argv) <= budget;

    if report.end_of_run && report.skipped_complete() {
        let failed = report
            .failed
            .iter()
            .map(|n| Ok((NodeName::parse(&n.name)?, n.resource_type)))
            .collect::<Result<Vec<_>, InvalidNodeName>>()?;
        let skipped = report
            .skipped
            .iter()
            .map(|n| Ok((NodeName::parse(&n.name)?, n.resource_type)))
            .collect::<Result<Vec<_>, InvalidNodeName>>()?;
        let mut versions = Versions::of(report, &failed, &skipped);
        if !versions.bare.is_empty() && !selection.select.is_empty() {
            // Every version of a bare name must stay inside the original selection: as an
            // intersection with each of its terms, which dbt honours under
            // `--indirect-selection empty` from 1.10 only.
            if !terms_rewritable(&selection) || !dbt_at_least(report, (1, 10)) {
                return Ok(original(
                    command,
                    report,
                    format!(
                        "the log names the versioned model {} without its version, and every version of it might reach outside the original selection: re-running the whole original command",
                        versions.bare.join(", ")
                    ),
                ));
            }
            versions.scope = selection.select.clone();
        }
        let continued = children_may_have_continued(report);
        let candidates =
            match candidates(command, &selection, &failed, &skipped, &versions, continued) {
                Ok(candidates) => candidates,
                Err(note) => return Ok(original(command, report, note)),
            };
        if let Some(mut plan) = candidates.into_iter().find(|c| fits(&c.argv)) {
            // Whichever shape: dbt runs exactly the failed and skipped nodes again (and, from
            // 1.12, the children that ran after a failed model with `on_error: continue`,
            // which the log does not show: then the counts are a bound, by as many).
            let rerun = unique_names(failed.iter().chain(&skipped).map(|(n, _)| n)).len();
            plan.work = Work {
                rerun_nodes: Some(rerun as u64),
                nodes_saved: report.finished.count,
            };
            return Ok(plan);
        }
        return Ok(original(
            command,
            report,
            format!(
                "the {} failed and skipped nodes do not fit ECS's override limit in any exact form: \
                 re-running the whole original command",
                failed.len() + skipped.len()
            ),
        ));
    }

    Ok(plan_resume(command, report, budget))
}

/// Plans the resume of a run cut off part-way (killed, out of memory, interrupted): the
/// original command minus the nodes the log shows as finished, so nothing finished is redone
/// and nothing unfinished is dropped. When that cannot be expressed exactly (or does not fit
/// `budget`), the original command, with a note saying why. A microbatch model cut off in
/// its batches runs with a window covering every batch of the run (see
/// [`crate::microbatch`]).
pub fn plan_resume(command: &DbtCommand, report: &RunReport, budget: usize) -> RerunCommand {
    let plan = plan_resume_nodes(command, report, budget);
    cover_batches(plan, command, report, Rerun::Resume, budget)
}

/// [`plan_resume`] of the nodes, before the batches are covered.
fn plan_resume_nodes(command: &DbtCommand, report: &RunReport, budget: usize) -> RerunCommand {
    if !command.selects_nodes() {
        return original(
            command,
            report,
            format!(
                "`dbt {}` does not select nodes: re-running the command as it was",
                command.verb
            ),
        );
    }
    if report.finished.count == 0 {
        return original(
            command,
            report,
            "no node had finished: re-running the original command".to_owned(),
        );
    }
    match resume(command, &command.selection(), report) {
        Ok(plan) if json_len(&plan.argv) <= budget => plan,
        Ok(_) => original(
            command,
            report,
            "the run's unfinished nodes do not fit ECS's override limit as a selection: \
             re-running the whole original command"
                .to_owned(),
        ),
        Err(why) => original(command, report, why),
    }
}

/// `plan` with the window that builds again every batch of a microbatch model the run did not
/// build; the whole original command when the batches cannot be placed in time (or the window
/// does not fit `budget`). Never a bare selection of such a model: it would build only the
/// batches near now, and the others would stay empty.
fn cover_batches(
    plan: RerunCommand,
    command: &DbtCommand,
    report: &RunReport,
    rerun: Rerun,
    budget: usize,
) -> RerunCommand {
    let batches = match coverage(report, command, rerun) {
        Coverage::Nothing => return plan,
        Coverage::Window(batches) => batches,
        Coverage::Unknown(batches) => return unplaced(command, report, batches),
    };
    let Some(window) = batches.window else {
        return unplaced(command, report, batches);
    };
    let argv = match DbtCommand::parse(&plan.argv) {
        Ok(planned) => {
            let mut argv = planned
                .without_flags(crate::command::Strip {
                    event_time: true,
                    ..Default::default()
                })
                .to_argv();
            argv.extend(window.flags());
            argv
        }
        Err(e) => {
            let why = format!("the planned command cannot be read back ({e})");
            return unplaced(
                command,
                report,
                BatchRerun {
                    note: why,
                    ..batches
                },
            );
        }
    };
    if json_len(&argv) > budget {
        let why = "the window does not fit ECS's override limit".to_owned();
        return unplaced(
            command,
            report,
            BatchRerun {
                note: why,
                ..batches
            },
        );
    }
    let note = match plan.note {
        Some(note) => format!("{note}; {}", batches.note),
        None => batches.note.clone(),
    };
    RerunCommand {
        argv,
        note: Some(note),
        microbatch: Some(batches),
        ..plan
    }
}

/// The whole original command, for microbatch batches no window can cover: said in the note.
fn unplaced(command: &DbtCommand, report: &RunReport, batches: BatchRerun) -> RerunCommand {
    let caveat = if command
        .flag_value(crate::microbatch::EVENT_TIME_START)
        .is_some()
    {
        ", with its own window"
    } else {
        "; dbt chooses its batches again (a bare selection would build only the batches near \
         now), and a batch it does not choose that was not built stays empty until backfilled"
    };
    let note = format!(
        "microbatch: {}: re-running the whole original command{caveat}",
        batches.note
    );
    RerunCommand {
        microbatch: Some(BatchRerun {
            window: None,
            ..batches
        }),
        ..original(command, report, note)
    }
}

fn original(command: &DbtCommand, report: &RunReport, note: String) -> RerunCommand {
    RerunCommand {
        argv: command.to_argv(),
        shape: PlanShape::Original,
        note: Some(note),
        work: Work::whole(Some(report)),
        microbatch: None,
    }
}

/// build and test run tests, so they take `--indirect-selection`.
fn runs_tests(command: &DbtCommand) -> bool {
    matches!(command.verb.as_str(), "build" | "test")
}

fn with_selection(
    command: &DbtCommand,
    keep_exclude: bool,
    select: &[String],
    exclude: &[String],
    indirect: Option<&str>,
) -> Vec<String> {
    let mut cmd = command.without_selection(keep_exclude);
    if !select.is_empty() {
        cmd.args.push("--select".to_owned());
        cmd.args.extend(select.iter().cloned());
    }
    if !exclude.is_empty() {
        cmd.args.push("--exclude".to_owned());
        cmd.args.extend(exclude.iter().cloned());
    }
    if let Some(mode) = indirect.filter(|_| runs_tests(command)) {
        cmd.args.push("--indirect-selection".to_owned());
        cmd.args.push(mode.to_owned());
    }
    cmd.to_argv()
}

fn unique_names<'a>(nodes: impl Iterator<Item = &'a NodeName>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    nodes
        .filter(|n| seen.insert(n.as_str()))
        .map(|n| n.to_string())
        .collect()
}

fn exact(
    command: &DbtCommand,
    failed: &[(NodeName, ResourceType)],
    skipped: &[(NodeName, ResourceType)],
    versions: &Versions,
) -> RerunCommand {
    let names = versions.scoped(unique_names(failed.iter().chain(skipped).map(|(n, _)| n)));
    RerunCommand {
        argv: with_selection(command, true, &names, &versions.exclude, Some("empty")),
        shape: PlanShape::Exact,
        note: versions.note.clone(),
        work: Work::default(),
        microbatch: None,
    }
}

/// What the log says about the versions of versioned models it names without a version
/// (text SKIP lines, some summary headers), for the exact shapes.
#[derive(Debug, Default)]
struct Versions {
    /// The versions of those models the log shows finished, as it names them (`m_v1`,
    /// `m.v1`): excluded, since the bare name selects every version.
    exclude: Vec<String>,
    /// A failed model is one of them and a version of it finished: `failed+` would select
    /// that version's descendants, so the descendants form does not fit.
    excludes_failed: bool,
    note: Option<String>,
    /// Those models, by their bare names.
    bare: Vec<String>,
    /// The original's `--select` terms, when a bare name must be kept inside them: the bare
    /// name selects every version, some maybe outside the original selection.
    scope: Vec<String>,
}

impl Versions {
    /// `names` with each bare versioned name kept inside the original selection
    /// (`name,term` for every original `--select` term: dbt intersects them).
    fn scoped(&self, names: Vec<String>) -> Vec<String> {
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

    fn of(
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
struct VersionEvidence<'a> {
    /// Model name -> the names of its finished versions (`m_v1` from a text result line,
    /// `m.v1` from JSON).
    finished: BTreeMap<&'a str, Vec<&'a str>>,
    /// Models named with a version anywhere in the log, or known to have versions.
    versioned: BTreeSet<&'a str>,
}

impl<'a> VersionEvidence<'a> {
    fn of(report: &'a RunReport) -> Self {
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

    fn is_versioned(&self, model: &NodeName) -> bool {
        self.versioned.contains(model.as_str())
    }

    fn finished_versions(&self, model: &NodeName) -> &[&'a str] {
        self.finished
            .get(model.as_str())
            .map_or(&[], |v| v.as_slice())
    }
}

fn exact_models(
    command: &DbtCommand,
    selection: &Selection,
    failed: &[(NodeName, ResourceType)],
    skipped: &[(NodeName, ResourceType)],
    versions: &Versions,
) -> Option<RerunCommand> {
    let indirect = selection.indirect.as_deref();
    if !selection.selector.is_empty() || indirect == Some("empty") || !runs_tests(command) {
        return None;
    }
    let names = unique_names(
        failed
            .iter()
            .map(|(n, _)| n)
            .chain(skipped.iter().filter(|(_, t)| !t.is_test()).map(|(n, _)| n)),
    );
    let names = versions.scoped(names);
    let note = "skipped tests are selected with their models by dbt's indirect selection";
    Some(RerunCommand {
        argv: with_selection(command, true, &names, &versions.exclude, indirect),
        shape: PlanShape::ExactModels,
        note: Some(match &versions.note {
            Some(versions) => format!("{note}; {versions}"),
            None => note.to_owned(),
        }),
        work: Work::default(),
        microbatch: None,
    })
}

/// Whether the original's selection terms can be written again as arguments of their own:
/// a term that starts with `-` (possible inside a quoted `--select "a -x"`, where dbt reads it
/// as a term) would become a flag.
fn terms_rewritable(selection: &Selection) -> bool {
    !selection
        .select
        .iter()
        .chain(&selection.exclude)
        .any(|t| t.starts_with('-'))
}

fn descendants(
    command: &DbtCommand,
    selection: &Selection,
    failed: &[(NodeName, ResourceType)],
) -> Option<RerunCommand> {
    if !selection.selector.is_empty()
        || failed.iter().any(|(_, t)| t.is_test())
        || !terms_rewritable(selection)
    {
        return None;
    }
    let mut terms = Vec::new();
    for (name, _) in failed {
        if selection.select.is_empty() {
            terms.push(format!("{name}+"));
        } else {
            // Intersect with each original term, so nothing outside it is selected.
            terms.extend(selection.select.iter().map(|s| format!("{name}+,{s}")));
        }
    }
    let terms = unique_names_str(terms);
    Some(RerunCommand {
        argv: with_selection(command, true, &terms, &[], selection.indirect.as_deref()),
        shape: PlanShape::Descendants,
        note: Some(
            "every node downstream of a failed node was skipped, so `failed+` names them all"
                .to_owned(),
        ),
        work: Work::default(),
        microbatch: None,
    })
}

/// The exact shapes that fit this run, in order of preference; Err (the note) when none can be
/// exact and the whole command runs again.
fn candidates(
    command: &DbtCommand,
    selection: &Selection,
    failed: &[(NodeName, ResourceType)],
    skipped: &[(NodeName, ResourceType)],
    versions: &Versions,
    continued: bool,
) -> Result<Vec<RerunCommand>, String> {
    if continued {
        return with_continued_children(command, selection, failed, skipped)
            .filter(|_| versions.bare.is_empty())
            .map(|plan| vec![plan])
            .ok_or_else(|| continued_unnamed(failed));
    }
    let mut candidates = vec![exact(command, failed, skipped, versions)];
    candidates.extend(exact_models(command, selection, failed, skipped, versions));
    if !versions.excludes_failed {
        candidates.extend(descendants(command, selection, failed));
    }
    Ok(candidates)
}

/// A failed model's children may have run on its stale relation: dbt 1.12's `on_error:
/// continue` (a model config) runs them instead of skipping them, and the log does not say
/// which did. So from 1.12, a run with a failed model re-runs everything downstream of it.
fn children_may_have_continued(report: &RunReport) -> bool {
    let models = report
        .failed
        .iter()
        .any(|n| n.resource_type == ResourceType::Model);
    models && dbt_at_least(report, (1, 12))
}

/// Every node downstream of a failed model (`model+`, inside each original `--select` term),
/// and every other failed and skipped node by name. Under `on_error: skip_children` (dbt's
/// default) `model+` is the model and what it skipped, so the set is the failed and skipped
/// nodes exactly; under `on_error: continue` it adds the children that ran on the failed
/// model's stale relation. None where the original's selection cannot be intersected
/// (`--selector`, a term that would become a flag).
fn with_continued_children(
    command: &DbtCommand,
    selection: &Selection,
    failed: &[(NodeName, ResourceType)],
    skipped: &[(NodeName, ResourceType)],
) -> Option<RerunCommand> {
    if !selection.selector.is_empty() || !terms_rewritable(selection) {
        return None;
    }
    let mut terms = Vec::new();
    for (name, kind) in failed.iter().chain(skipped) {
        let term = if *kind == ResourceType::Model && failed.iter().any(|(f, _)| f == name) {
            format!("{name}+")
        } else {
            name.to_string()
        };
        if selection.select.is_empty() || !term.ends_with('+') {
            terms.push(term);
        } else {
            // Intersect with each original term (`stg+` inside `stg+` is itself).
            terms.extend(selection.select.iter().map(|s| {
                if *s == term {
                    term.clone()
                } else {
                    format!("{term},{s}")
                }
            }));
        }
    }
    Some(RerunCommand {
        argv: with_selection(
            command,
            true,
            &unique_names_str(terms),
            &[],
            selection.indirect.as_deref(),
        ),
        shape: PlanShape::Descendants,
        note: Some(
            "every node downstream of a failed model runs again (`model+`): from dbt 1.12 a \
             model with `on_error: continue` lets its children run on its stale relation, and \
             the log does not say which did"
                .to_owned(),
        ),
        work: Work::default(),
        microbatch: None,
    })
}

/// Why a run whose failed model's children may have continued is re-run whole.
fn continued_unnamed(failed: &[(NodeName, ResourceType)]) -> String {
    let models: Vec<&str> = failed
        .iter()
        .filter(|(_, t)| *t == ResourceType::Model)
        .map(|(n, _)| n.as_str())
        .collect();
    format!(
        "from dbt 1.12 the children of a failed model with `on_error: continue` run on its \
         stale relation and the log does not say which did, and the nodes downstream of {} \
         cannot be selected inside the original selection (a --selector, or a versioned model \
         the log names without its version): re-running the whole original command",
        models.join(", ")
    )
}

fn unique_names_str(terms: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    terms
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// Whether the log's dbt is at least `version` (false when the log does not say).
fn dbt_at_least(report: &RunReport, version: (u32, u32)) -> bool {
    let Some(v) = report.dbt_version.as_deref() else {
        return false;
    };
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= version
}

/// The tests eager indirect selection adds to a selector term, as explicit terms:
/// `s` -> `s+1,resource_type:test`; `s+2` -> `s+3,...`; `s+` needs none (its tests are its
/// descendants). Err when the term's own nodes cannot be widened this way (`+s`, `@s`).
fn eager_closure(term: &str, unit_tests: bool) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    for part in term.split(',') {
        if selects_ancestors(part) {
            return Err(format!(
                "the selector `{term}` selects ancestors, whose tests cannot be named for a resume"
            ));
        }
        match part.rsplit_once('+') {
            Some((_, "")) => return Ok(vec![]),
            Some((base, depth)) if depth.bytes().all(|b| b.is_ascii_digit()) => {
                let depth: u32 = depth
                    .parse()
                    .map_err(|_| format!("bad depth in `{term}`"))?;
                parts.push(format!("{base}+{}", depth + 1));
            }
            _ => parts.push(format!("{part}+1")),
        }
    }
    let base = parts.join(",");
    let mut terms = vec![format!("{base},resource_type:test")];
    if unit_tests {
        terms.push(format!("{base},resource_type:unit_test"));
    }
    Ok(terms)
}

/// `+a`, `2+a`, `@a`: the term reaches upstream.
fn selects_ancestors(part: &str) -> bool {
    let digits = part.bytes().take_while(u8::is_ascii_digit).count();
    part.starts_with('@') || part[digits..].starts_with('+')
}

/// Why a resume cannot be written for this selection and log, if it cannot.
fn resume_refused(selection: &Selection, report: &RunReport) -> Option<&'static str> {
    if !selection.selector.is_empty() {
        return Some("the run used --selector, which cannot be narrowed to its unfinished nodes: re-running the whole original command");
    }
    if !terms_rewritable(selection) {
        return Some("a selection term of the original starts with `-` and cannot be written as its own argument: re-running the whole original command");
    }
    if report.truncated {
        return Some("the log lists more finished nodes than dbt-rerun keeps: re-running the whole original command");
    }
    if report.aliased {
        return Some("the text log names finished models by their relation alias, not their node name, so they cannot be excluded by name (--log-format json names them): re-running the whole original command");
    }
    if report.conflicting {
        return Some("the log has lines imitating dbt's own (a node index started twice), so what finished is not trusted: re-running the whole original command");
    }
    None
}

fn resume(
    command: &DbtCommand,
    selection: &Selection,
    report: &RunReport,
) -> Result<RerunCommand, String> {
    if let Some(why) = resume_refused(selection, report) {
        return Err(why.to_owned());
    }
    let tests = runs_tests(command);
    let mode = selection.indirect.as_deref().unwrap_or("eager");
    if tests && !matches!(mode, "eager" | "empty") {
        return Err(format!(
            "--indirect-selection {mode} cannot be kept while excluding finished nodes: re-running the whole original command"
        ));
    }
    // Graph operators work under --indirect-selection empty only from dbt 1.10 (1.6 and 1.8
    // quietly drop them, checked with `dbt ls`): older dbt can resume only a selection that
    // needs no tests named for it.
    let operators_work = dbt_at_least(report, (1, 10));
    let widen = |terms: &[String]| -> Result<Vec<String>, String> {
        let mut out = terms.to_vec();
        if tests && mode == "eager" && !terms.is_empty() {
            if !operators_work {
                return Err(format!(
                    "resuming `{}` needs graph operators with --indirect-selection empty, which dbt before 1.10 ignores: re-running the whole original command",
                    terms.join(" ")
                ));
            }
            for t in terms {
                out.extend(eager_closure(t, true)?);
            }
        }
        Ok(out)
    };
    let select = widen(&selection.select)?;
    let mut exclude = widen(&selection.exclude)?;
    let (finished, kept_versioned) = finished_to_exclude(command, report);
    let count = finished.len();
    let excluded = unique_names(finished.iter());
    let saved = excluded.len() as u64;
    exclude.extend(excluded);
    let indirect = if tests { Some("empty") } else { None };
    let mut note = format!(
        "resuming: the original selection minus the {count} node{} that finished",
        if count == 1 { "" } else { "s" }
    );
    if children_may_have_continued(report) {
        note.push_str(
            " before the first failure (from dbt 1.12, a node that finished after a failed model \
             may be a child run on its stale relation by `on_error: continue`)",
        );
    }
    if !kept_versioned.is_empty() {
        note.push_str(&format!(
            "; {} finished but names a versioned model without its version, which would exclude every version: it runs again",
            kept_versioned.join(", ")
        ));
    }
    Ok(RerunCommand {
        argv: with_selection(command, false, &select, &exclude, indirect),
        shape: PlanShape::Resume,
        note: Some(note),
        // What never started is not in the log, so how many nodes remain is not known.
        work: Work {
            rerun_nodes: None,
            nodes_saved: saved,
        },
        microbatch: None,
    })
}

/// The finished nodes a resume excludes, and the versioned models' bare names it keeps.
fn finished_to_exclude(command: &DbtCommand, report: &RunReport) -> (Vec<NodeName>, Vec<String>) {
    // With --fail-fast, dbt records what finished after the first failure as skipped. From
    // 1.12, what finished after a failed model may be a child that ran on its stale relation
    // (`on_error: continue`): it runs again.
    let fail_fast = report.cancelled || command.has_flag(&["--fail-fast", "-x"]);
    let finished = if fail_fast || children_may_have_continued(report) {
        &report.finished.nodes[..report.finished.before_first_failure]
    } else {
        &report.finished.nodes[..]
    };
    // A finished name that is not a valid node name is left out: that node runs again, the
    // safe side. So is a versioned model's bare name (a text result line names the version
    // whose relation is the model's own name so): excluding it would drop every version.
    let evidence = VersionEvidence::of(report);
    let mut kept_versioned = Vec::new();
    let finished: Vec<NodeName> = finished
        .iter()
        .filter_map(|n| NodeName::parse(&n.name).ok())
        .filter(|n| {
            let versioned = !n.as_str().contains('.') && evidence.is_versioned(n);
            if versioned {
                kept_versioned.push(format!("`{n}`"));
            }
            !versioned
        })
        .collect();
    (finished, kept_versioned)
}

/// Characters of RunTask `overrides`, as ECS counts them against [`ECS_OVERRIDE_LIMIT`]:
/// the dbt container's command and environment, the other containers' overrides passed on,
/// and the task-level size. The one measure used to budget a plan and to check a launch.
pub fn overrides_len(
    container: &str,
    command: &[String],
    environment: &[crate::event::KeyValue],
    others: &[crate::event::ContainerOverride],
    cpu: Option<&str>,
    memory: Option<&str>,
) -> usize {
    let mut containers = vec![serde_json::json!({
        "name": container,
        "command": command,
        "environment": environment,
    })];
    containers.extend(others.iter().map(
        |o| serde_json::json!({"name": o.name, "command": o.command, "environment": o.environment}),
    ));
    serde_json::json!({"containerOverrides": containers, "cpu": cpu, "memory": memory})
        .to_string()
        .len()
}

/// Length of the argv as a JSON array, as it travels in the RunTask overrides.
pub fn json_len(argv: &[String]) -> usize {
    serde_json::to_string(argv)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{FinishedNodes, RunStats};
    use crate::node::{FailStatus, FailedNode, SkippedNode};

    fn cmd(s: &str) -> DbtCommand {
        DbtCommand::parse(&s.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap()
    }

    fn node(name: &str, t: ResourceType) -> SkippedNode {
        SkippedNode {
            name: name.into(),
            resource_type: t,
            unique_id: None,
        }
    }

    fn report(
        failed: &[(&str, ResourceType, FailStatus)],
        skipped: &[(&str, ResourceType)],
    ) -> RunReport {
        RunReport {
            failed: failed
                .iter()
                .map(|(n, t, s)| FailedNode {
                    name: (*n).into(),
                    resource_type: *t,
                    unique_id: None,
                    status: *s,
                    message: "x".into(),
                    detail: String::new(),
                })
                .collect(),
            skipped: skipped.iter().map(|(n, t)| node(n, *t)).collect(),
            stats: Some(RunStats {
                skip: skipped.len() as u64,
                ..RunStats::default()
            }),
            end_of_run: true,
            ..RunReport::default()
        }
    }

    use FailStatus::*;
    use ResourceType::*;

    #[test]
    fn from_dbt_1_12_everything_downstream_of_a_failed_model_runs_again() {
        // `on_error: continue` may have run fct's children on its stale table: `fct+`.
        let mut r = report(
            &[("fct", Model, Error), ("unique_dim_id", Test, Fail)],
            &[("agg", Model)],
        );
        r.dbt_version = Some("1.12.6".into());
        let plan = plan_rerun(&cmd("dbt build --select stg+ dim --exclude old"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Descendants);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --exclude old --select fct+,stg+ fct+,dim unique_dim_id agg"
        );
        let plan = plan_rerun(&cmd("dbt build --select fct+"), &r, 8192).unwrap();
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --select fct+ unique_dim_id agg"
        );
        assert!(plan.note.unwrap().contains("on_error: continue"));
        // Before 1.12 the exact list.
        r.dbt_version = Some("1.11.16".into());
        let plan = plan_rerun(&cmd("dbt build"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Exact);
        // A selector cannot be intersected: the whole command, and why.
        r.dbt_version = Some("1.12.0".into());
        let plan = plan_rerun(&cmd("dbt build --selector nightly"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(plan.note.unwrap().contains("downstream of fct"));
        // No failed model: nothing can have continued.
        let mut tests_only = report(&[("unique_dim_id", Test, Fail)], &[("agg", Model)]);
        tests_only.dbt_version = Some("1.12.6".into());
        let plan = plan_rerun(&cmd("dbt build"), &tests_only, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Exact);
    }

    #[test]
    fn the_exact_list_replaces_the_selection_and_keeps_every_flag() {
        let c =
            cmd("dbt build --select stg+ --target prod --vars {a:1} --exclude x --full-refresh");
        let r = report(
            &[("fct", Model, Error)],
            &[("agg", Model), ("not_null_agg_id", Test)],
        );
        let plan = plan_rerun(&c, &r, ECS_OVERRIDE_LIMIT).unwrap();
        assert_eq!(plan.shape, PlanShape::Exact);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --target prod --vars {a:1} --exclude x --full-refresh \
             --select fct agg not_null_agg_id --indirect-selection empty"
        );
    }

    #[test]
    fn selection_values_are_split_on_whitespace_like_dbt_does() {
        // Found by fuzzing: a --select value holding whitespace and newlines is several terms
        // (dbt splits it too), and the descendants form intersects with each of them.
        let c = DbtCommand::parse(&[
            "dbt".into(),
            "build".into(),
            "--select".into(),
            " stg+\n tag:x ".into(),
        ])
        .unwrap();
        let r = report(
            &[("fct", Model, Error)],
            &[("agg", Model), ("a_long_skipped_model_name", Model)],
        );
        let plan = plan_rerun(&c, &r, 55).unwrap();
        assert_eq!(plan.shape, PlanShape::Descendants);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --select fct+,stg+ fct+,tag:x"
        );
    }

    #[test]
    fn a_term_that_would_become_a_flag_is_never_written_alone() {
        // Found by fuzzing: `--select "a -x"` is two terms to dbt; written back as separate
        // arguments, `-x` would be --fail-fast.
        let c = DbtCommand::parse(&[
            "dbt".into(),
            "build".into(),
            "--select".into(),
            "stg+ -x".into(),
        ])
        .unwrap();
        let r = report(
            &[("fct", Model, Error)],
            &[("agg", Model), ("a_long_skipped_model_name", Model)],
        );
        let plan = plan_rerun(&c, &r, 55).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        let mut killed = r.clone();
        killed.end_of_run = false;
        killed.dbt_version = Some("1.11.0".into());
        killed.finished = FinishedNodes {
            count: 1,
            nodes: vec![node("stg", Model)],
            before_first_failure: 1,
        };
        let plan = plan_resume(&c, &killed, 8192);
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(plan.argv.iter().all(|a| a != "-x"), "{:?}", plan.argv);
    }

    #[test]
    fn names_of_digits_only_are_node_names_too() {
        // Found by fuzzing (the harness's own check mistook `19` for a depth suffix).
        let plan =
            plan_rerun(&cmd("dbt run"), &report(&[("19", Model, Error)], &[]), 8192).unwrap();
        assert_eq!(plan.argv.join(" "), "dbt run --select 19");
    }

    #[test]
    fn run_gets_no_indirect_selection_flag() {
        let plan = plan_rerun(
            &cmd("dbt run"),
            &report(&[("fct", Model, Error)], &[("agg", Model)]),
            8192,
        )
        .unwrap();
        assert_eq!(plan.argv.join(" "), "dbt run --select fct agg");
    }

    #[test]
    fn a_name_that_could_inject_a_flag_is_refused() {
        let r = report(&[("--full-refresh", Model, Error)], &[]);
        let err = plan_rerun(&cmd("dbt build"), &r, 8192).unwrap_err();
        assert!(matches!(err, PlanError::InvalidName(_)), "{err}");
        let r = report(&[("fct", Model, Error)], &[("a;rm", Model)]);
        assert!(plan_rerun(&cmd("dbt build"), &r, 8192).is_err());
    }

    #[test]
    fn when_the_list_is_too_long_skipped_tests_go_first_then_descendants() {
        let skipped: Vec<(String, ResourceType)> = (0..300)
            .map(|i| (format!("test_number_{i:04}_of_many"), Test))
            .chain((0..10).map(|i| (format!("model_{i}"), Model)))
            .collect();
        let skipped_ref: Vec<(&str, ResourceType)> =
            skipped.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let r = report(&[("fct", Model, Error)], &skipped_ref);
        let plan = plan_rerun(
            &cmd("dbt build --select stg+ tag:x"),
            &r,
            ECS_OVERRIDE_LIMIT,
        )
        .unwrap();
        assert_eq!(plan.shape, PlanShape::ExactModels);
        assert!(
            plan.argv.ends_with(&["model_9".to_string()]),
            "{:?}",
            plan.argv
        );

        let plan = plan_rerun(&cmd("dbt build --select stg+ tag:x"), &r, 60).unwrap();
        assert_eq!(plan.shape, PlanShape::Descendants);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --select fct+,stg+ fct+,tag:x"
        );

        let plan = plan_rerun(&cmd("dbt build --select stg+ tag:x"), &r, 20).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        assert_eq!(plan.argv.join(" "), "dbt build --select stg+ tag:x");
        assert!(plan.note.unwrap().contains("override limit"));
    }

    #[test]
    fn every_shape_counts_the_nodes_it_runs_and_the_finished_ones_it_saves() {
        let skipped: Vec<(String, ResourceType)> = (0..300)
            .map(|i| (format!("test_number_{i:04}_of_many"), Test))
            .chain((0..10).map(|i| (format!("model_{i}"), Model)))
            .collect();
        let skipped_ref: Vec<(&str, ResourceType)> =
            skipped.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let mut r = report(&[("fct", Model, Error)], &skipped_ref);
        r.finished.count = 40;
        r.stats = Some(RunStats {
            pass: 40,
            error: 1,
            skip: 310,
            total: 351,
            ..RunStats::default()
        });
        let c = cmd("dbt build --select stg+ tag:x");
        // Whichever exact shape names them, the failed and skipped nodes run again.
        for (budget, shape) in [
            (100_000, PlanShape::Exact),
            (ECS_OVERRIDE_LIMIT, PlanShape::ExactModels),
            (60, PlanShape::Descendants),
        ] {
            let plan = plan_rerun(&c, &r, budget).unwrap();
            assert_eq!(plan.shape, shape);
            let expected = Work {
                rerun_nodes: Some(311),
                nodes_saved: 40,
            };
            assert_eq!(plan.work, expected, "{shape:?}");
        }
        // The whole command: dbt's total, nothing saved.
        let plan = plan_rerun(&c, &r, 20).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        let expected = Work {
            rerun_nodes: Some(351),
            nodes_saved: 0,
        };
        assert_eq!(plan.work, expected);

        // A resume saves what it excludes (with --fail-fast, only what finished before the
        // first failure) and cannot know how many nodes remain.
        let mut r = report(&[("fct", Model, Error)], &[]);
        r.cancelled = true;
        r.dbt_version = Some("1.10.2".into());
        r.finished = FinishedNodes {
            count: 3,
            nodes: vec![
                node("stg", Model),
                node("not_null_stg_id", Test),
                node("late", Test),
            ],
            before_first_failure: 2,
        };
        let plan = plan_rerun(&cmd("dbt build --fail-fast"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Resume);
        let expected = Work {
            rerun_nodes: None,
            nodes_saved: 2,
        };
        assert_eq!(plan.work, expected);
        // A run that never ended, re-run whole: neither count is known to be more than 0.
        let killed = RunReport {
            lines: 3,
            ..RunReport::default()
        };
        let plan = plan_resume(&cmd("dbt build"), &killed, 8192);
        assert_eq!(plan.shape, PlanShape::Original);
        assert_eq!(plan.work, Work::default());
    }

    #[test]
    fn a_failed_test_rules_out_the_descendants_form() {
        let r = report(&[("unique_x", Test, Fail)], &[("child", Model)]);
        let plan = plan_rerun(&cmd("dbt build"), &r, 30).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
    }

    #[test]
    fn fail_fast_resumes_the_original_selection_minus_what_finished_first() {
        let mut r = report(&[("fct", Model, Error)], &[]);
        r.stats = Some(RunStats {
            skip: 5,
            ..RunStats::default()
        });
        r.cancelled = true;
        r.dbt_version = Some("1.10.2".into());
        r.finished = FinishedNodes {
            count: 3,
            nodes: vec![
                node("stg", Model),
                node("not_null_stg_id", Test),
                node("late", Test),
            ],
            before_first_failure: 2,
        };
        let plan = plan_rerun(
            &cmd("dbt build --fail-fast --select stg+ dim --exclude old"),
            &r,
            8192,
        )
        .unwrap();
        assert_eq!(plan.shape, PlanShape::Resume);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --fail-fast --select stg+ dim dim+1,resource_type:test dim+1,resource_type:unit_test \
             --exclude old old+1,resource_type:test old+1,resource_type:unit_test stg not_null_stg_id \
             --indirect-selection empty"
        );
    }

    #[test]
    fn from_dbt_1_12_a_resume_after_a_failed_model_reruns_what_finished_after_it() {
        // Killed after fct failed: `agg` finished after it, maybe on fct's stale table.
        let mut r = report(&[("fct", Model, Error)], &[]);
        r.end_of_run = false;
        r.dbt_version = Some("1.12.6".into());
        r.finished = FinishedNodes {
            count: 2,
            nodes: vec![node("stg", Model), node("agg", Model)],
            before_first_failure: 1,
        };
        let plan = plan_rerun(&cmd("dbt run"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Resume);
        assert_eq!(plan.argv.join(" "), "dbt run --exclude stg");
        assert!(plan.note.unwrap().contains("on_error: continue"));
        // Before 1.12 a child of a failed model never ran: everything finished is left out.
        r.dbt_version = Some("1.11.16".into());
        let plan = plan_rerun(&cmd("dbt run"), &r, 8192).unwrap();
        assert_eq!(plan.argv.join(" "), "dbt run --exclude stg agg");
        // No failed model: nothing can have continued.
        r.dbt_version = Some("1.12.6".into());
        r.failed.clear();
        let plan = plan_resume(&cmd("dbt run"), &r, 8192);
        assert_eq!(plan.argv.join(" "), "dbt run --exclude stg agg");
    }

    #[test]
    fn before_dbt_1_10_only_selections_that_need_no_named_tests_resume() {
        let mut r = report(&[("fct", Model, Error)], &[]);
        r.cancelled = true;
        r.stats = Some(RunStats {
            skip: 5,
            ..RunStats::default()
        });
        r.dbt_version = Some("1.8.8".into());
        r.finished = FinishedNodes {
            count: 1,
            nodes: vec![node("stg", Model)],
            before_first_failure: 1,
        };
        let plan = plan_rerun(&cmd("dbt build --fail-fast --select stg+"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
        assert!(plan.note.unwrap().contains("before 1.10"));
        let plan = plan_rerun(&cmd("dbt build --fail-fast"), &r, 8192).unwrap();
        assert_eq!(plan.shape, PlanShape::Resume);
        assert_eq!(
            plan.argv.join(" "),
            "dbt build --fail-fast --exclude stg --indirect-selection empty"
        );
        // `run` executes no tests, so graph operators need no help.
        let plan = plan_rerun(&cmd("dbt run --fail-fast --select stg+"), &r, 8192).unwrap();
        assert_eq!(
            plan.argv.join(" "),
            "dbt run --fail-fast --select stg+ --exclude stg"
        );
    }

    #[test]
    fn eager_closures_follow_depth_and_intersections() {
        assert_eq!(
            eager_closure("a", false).unwrap(),
            ["a+1,resource_type:test"]
        );
        assert_eq!(
            eager_closure("a+2", false).unwrap(),
            ["a+3,resource_type:test"]
        );
        assert!(eager_closure("a+", true).unwrap().is_empty());
        assert_eq!(
            eager_closure("tag:x,b", false).unwrap(),
            ["tag:x+1,b+1,resource_type:test"]
        );
        assert!(eager_closure("+a", false).is_err());
        assert!(eager_closure("2+a", false).is_err());
        assert!(eager_closure("@a", false).is_err());
    }

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

    #[test]
    fn verbs_without_selection_rerun_whole() {
        let plan = plan_rerun(
            &cmd("dbt run-operation stage_external_sources"),
            &report(&[], &[]),
            8192,
        )
        .unwrap();
        assert_eq!(plan.shape, PlanShape::Original);
    }
}
