//! Any bytes as an EventBridge event: decoding never panics, and a decoded event always gets
//! a decision that serialises.
#![no_main]

use dbt_rerun::decision::{decide, DecisionConfig, DecisionInput};
use dbt_rerun::record::{DecisionRecord, LogFacts};
use dbt_rerun::event::parse_task_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_task_event(data) else { return };
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
