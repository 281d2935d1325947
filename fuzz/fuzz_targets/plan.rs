//! Any original command with any log: planning never panics, and the planned command never
//! holds an argument that is neither the original's, a flag the planner writes, a term the
//! planner derives from the original's selection, nor a validated node name.
#![no_main]

use dbt_rerun_core::command::DbtCommand;
use dbt_rerun_core::log::LogParser;
use dbt_rerun_core::plan::{plan_rerun, plan_resume};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // The command's arguments, NUL-separated, then a 0xFF byte, then the log.
    let (head, log) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let argv: Vec<String> = head
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Ok(command) = DbtCommand::parse(&argv) else {
        return;
    };
    let mut parser = LogParser::default();
    for line in log.split(|b| *b == b'\n') {
        parser.push_line(line);
    }
    let report = parser.finish();
    let budget = 200 + (data.len() % 8000);
    let original = common::Original::new(&argv);
    let plans = [
        plan_rerun(&command, &report, budget).ok(),
        Some(plan_resume(&command, &report, budget)),
    ];
    for plan in plans.into_iter().flatten() {
        for arg in &plan.argv {
            assert!(
                original.allowed(arg),
                "{arg:?} reached the command from {argv:?}"
            );
        }
    }
});
