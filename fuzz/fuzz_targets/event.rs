//! Any bytes as an EventBridge event: decoding never panics, and a decoded event always gets
//! a decision that serialises.
#![no_main]

use dbt_rerun_core::decision::{decide, DecisionConfig, DecisionInput};
use dbt_rerun_core::event::parse_task_event;
use dbt_rerun_core::record::{DecisionRecord, LogFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_task_event(data) else {
        return;
    };
    let command = ["dbt".to_owned(), "build".to_owned()];
    let decided = decide(DecisionInput {
        task: &event.detail,
        report: None,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config: &DecisionConfig::default(),
    });
    let record = DecisionRecord::assemble(&decided, &LogFacts::default(), None);
    let _ = serde_json::to_string(&record).unwrap();
});
