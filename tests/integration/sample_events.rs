//! Every sample event in `events/` through on-task-stopped (dry run), with its sample log in
//! moto's CloudWatch: the decision is the one the file's name promises
//! (`<decision>-<case>.json`).

use dbt_rerun_core::event::EcsTask;
use dbt_rerun_tests::moto::Moto;
use dbt_rerun_tests::repo_root;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_gets_the_decision_its_name_promises() {
    // The samples' ARNs: account 111122223333, task definition revision 2.
    let moto = Moto::start_as(Some("111122223333"), 2);
    let aws = moto.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let mut config = moto.service_config(Duration::from_secs(1));
    config.dry_run = true;
    let service = dbt_rerun_aws::on_task_stopped(&aws, config);
    let ecs = aws_sdk_ecs::Client::new(&aws);

    let dir = repo_root().join("events");
    let mut checked = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let promised = stem.split('-').next().unwrap().to_owned();
        let bytes = std::fs::read(path).unwrap();
        let event: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let task: EcsTask = serde_json::from_value(event["detail"].clone()).unwrap();
        let log = dir.join("logs").join(format!("{stem}.log"));
        if log.exists() {
            let lines: Vec<String> = std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            moto.write_log(&logs, &task, &lines, true).await;
        }
        let record = service
            .handle(&bytes)
            .await
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let decision = serde_json::to_value(record.decision).unwrap();
        assert_eq!(decision, promised.as_str(), "{stem}: {}", record.reason);
        if promised == "rerun" {
            let rerun = record.rerun.as_ref().unwrap();
            assert_eq!(rerun.task_arn, None, "{stem}: a dry run launches nothing");
        }
        // The killed samples come with the log of a real run killed part-way: they resume.
        if stem.ends_with("oom") || stem.ends_with("spot-interruption") {
            assert!(record.resume, "{stem}: {}", record.reason);
        }
        checked.push(stem);
    }
    assert!(checked.len() >= 10, "{checked:?}");
    for needed in [
        "success",
        "transient-model-error",
        "model-error",
        "test-failure",
        "compile-error",
        "oom",
        "image-pull-failure",
        "spot-interruption",
        "running",
    ] {
        assert!(
            checked.iter().any(|s| s.ends_with(needed)),
            "no sample event for {needed}"
        );
    }
    let tasks = ecs
        .list_tasks()
        .cluster(&moto.setup.cluster)
        .send()
        .await
        .unwrap();
    assert!(tasks.task_arns().is_empty(), "the dry run started a task");
}
