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
//! Versioned models named without their version: see `versioned.rs`.

#[cfg(test)]
mod tests;
mod versioned;

use crate::command::{DbtCommand, Selection};
use crate::log::RunReport;
use crate::microbatch::{coverage, BatchRerun, BatchWindow, Coverage, Rerun};
use crate::node::{InvalidNodeName, NodeName, ResourceType};
use serde::Serialize;
use versioned::{VersionEvidence, Versions};

// The override accounting moved to `crate::overrides`; its old paths stay.
pub use crate::overrides::{json_len, overrides_len, ECS_OVERRIDE_LIMIT};

/// How the re-run selects its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanShape {
    /// Every failed and skipped node by name, with `--indirect-selection empty`.
    Exact,
    /// The same without the skipped tests, which indirect selection brings back with their models.
    ExactModels,
    /// `failed+` for each failed model, seed or snapshot, within the original selection.
    Descendants,
    /// The original selection minus what finished: the log does not list every skipped node.
    Resume,
    /// The original command unchanged: nothing narrower is exact or fits.
    Original,
}

/// A planned re-run command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RerunCommand {
    /// The re-run's dbt argv: the original's with the selection replaced.
    pub argv: Vec<String>,
    /// Which of the five shapes it is.
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
    pub(crate) const NONE: Self = Self {
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
    /// Words appended at the end, in order.
    pub appended: Vec<String>,
}

impl RerunCommand {
    /// The edit that turns `command` into this plan's argv; None when the plan is not
    /// `command` with its selection replaced (never the case for the shapes of this module).
    pub(crate) fn edit_of(&self, command: &DbtCommand) -> Option<ArgvEdit> {
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
    /// The log names no failed node.
    #[error("the log names no failed node, so there is nothing to re-run")]
    NothingFailed,
    /// A name from the log is not a valid dbt node name.
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
