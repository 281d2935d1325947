//! The template's dashboard body against the widget schema CloudWatch documents ("Dashboard
//! Body Structure and Syntax" in the CloudWatch API Reference): cfn-lint and `sam validate`
//! do not look inside the JSON string, and PutDashboard would reject it only at deploy time.
//! `tests/support/dashboard_body.py` fills in the body's `!Sub` references (each must name a
//! parameter, pseudo parameter or resource); the checks below are the documented rules.

use dbt_rerun_core::metrics::decision_log_line;
use dbt_rerun_core::testing::{decide_record, TaskBuilder};
use dbt_rerun_tests::moto::moto_python;
use dbt_rerun_tests::repo_root;
use serde_json::{json, Value};

struct Dashboard {
    body: Value,
    references: Vec<String>,
}

fn dashboards() -> Vec<(String, Dashboard)> {
    dashboards_with(&[])
}

/// The dashboards with the stack's `params` (`(name, value)`) set, the others at their
/// defaults.
fn dashboards_with(params: &[(&str, &str)]) -> Vec<(String, Dashboard)> {
    let out = std::process::Command::new(moto_python())
        .arg(repo_root().join("tests/support/dashboard_body.py"))
        .arg(repo_root().join("template.yaml"))
        .args(
            params
                .iter()
                .flat_map(|(n, v)| ["--param".to_owned(), format!("{n}={v}")]),
        )
        .output()
        .expect("dashboard_body.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    found
        .into_iter()
        .map(|d| {
            let text = d["body"].as_str().unwrap();
            let body = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("the body is not JSON: {e}\n{text}"));
            let references = d["references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (
                d["resource"].as_str().unwrap().to_owned(),
                Dashboard { body, references },
            )
        })
        .collect()
}

fn the_dashboard() -> Dashboard {
    let mut all = dashboards();
    assert_eq!(all.len(), 1, "one dashboard in the stack");
    all.remove(0).1
}

// The schema, as documented.

const WIDGET_TYPES: &[&str] = &["metric", "text", "log", "alarm", "explorer"];
const METRIC_VIEWS: &[&str] = &["timeSeries", "singleValue", "gauge", "bar", "pie", "table"];
const LOG_VIEWS: &[&str] = &["table", "timeSeries", "bar", "pie"];
const METRIC_KEYS: &[&str] = &[
    "accountId",
    "annotations",
    "liveData",
    "legend",
    "metrics",
    "period",
    "region",
    "sparkline",
    "stacked",
    "stat",
    "table",
    "timezone",
    "title",
    "view",
    "yAxis",
];
const LOG_KEYS: &[&str] = &["accountId", "region", "title", "query", "view"];
const TEXT_KEYS: &[&str] = &["markdown", "background"];
/// A metric's rendering properties, and an expression's fields.
const RENDERING_KEYS: &[&str] = &[
    "accountId",
    "color",
    "id",
    "label",
    "period",
    "region",
    "stat",
    "visible",
    "yAxis",
];

/// Everything wrong with `body`, each naming where.
fn check_body(body: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(top) = body.as_object() else {
        return vec!["the body is not a JSON object".into()];
    };
    for key in top.keys() {
        if !["widgets", "variables", "start", "end", "periodOverride"].contains(&key.as_str()) {
            errors.push(format!("unknown top-level field `{key}`"));
        }
    }
    if let Some(p) = top.get("periodOverride") {
        if !matches!(p.as_str(), Some("auto" | "inherit")) {
            errors.push(format!("periodOverride {p} is not auto or inherit"));
        }
    }
    if top.contains_key("end") && !top.contains_key("start") {
        errors.push("end without start".into());
    }
    if let Some(start) = top.get("start") {
        match start.as_str() {
            Some(s) if relative_time(s) || top.contains_key("end") => {}
            _ => errors.push(format!(
                "start {start} is not a relative time (-PT..H/M, -P..D/W/M) and there is no end"
            )),
        }
    }
    let Some(widgets) = top.get("widgets").and_then(Value::as_array) else {
        errors.push("no widgets array".into());
        return errors;
    };
    if widgets.len() > 500 {
        errors.push(format!("{} widgets, at most 500", widgets.len()));
    }
    let mut placed: Vec<(usize, [i64; 4])> = Vec::new();
    for (i, w) in widgets.iter().enumerate() {
        let at = |what: &str| format!("widget {i}: {what}");
        let Some(w) = w.as_object() else {
            errors.push(at("not an object"));
            continue;
        };
        for key in w.keys() {
            if !["type", "x", "y", "width", "height", "properties"].contains(&key.as_str()) {
                errors.push(at(&format!("unknown field `{key}`")));
            }
        }
        let int = |key: &str| w.get(key).map(|v| v.as_i64().ok_or(()));
        let (x, y) = (int("x"), int("y"));
        let width = int("width").unwrap_or(Ok(6));
        let height = int("height").unwrap_or(Ok(6));
        if x.is_some() != y.is_some() {
            errors.push(at("x and y go together"));
        }
        match x {
            Some(Ok(x)) if (0..=23).contains(&x) => {}
            None => {}
            _ => errors.push(at("x is not an integer 0-23")),
        }
        match y {
            Some(Ok(y)) if y >= 0 => {}
            None => {}
            _ => errors.push(at("y is not an integer >= 0")),
        }
        match width {
            Ok(1..=24) => {}
            _ => errors.push(at("width is not an integer 1-24")),
        }
        match height {
            Ok(1..=1000) => {}
            _ => errors.push(at("height is not an integer 1-1000")),
        }
        if let (Some(Ok(x)), Some(Ok(y)), Ok(width), Ok(height)) = (x, y, width, height) {
            if x + width > 24 {
                errors.push(at("reaches past the 24 columns"));
            }
            let rect = [x, y, x + width, y + height];
            for (j, other) in &placed {
                if rect[0] < other[2]
                    && other[0] < rect[2]
                    && rect[1] < other[3]
                    && other[1] < rect[3]
                {
                    errors.push(at(&format!("overlaps widget {j}")));
                }
            }
            placed.push((i, rect));
        }
        let Some(props) = w.get("properties").and_then(Value::as_object) else {
            errors.push(at("no properties object"));
            continue;
        };
        match w.get("type").and_then(Value::as_str) {
            Some("metric") => check_metric(props, &at, &mut errors),
            Some("log") => check_log(props, &at, &mut errors),
            Some("text") => check_text(props, &at, &mut errors),
            Some(t) if WIDGET_TYPES.contains(&t) => {}
            other => errors.push(at(&format!(
                "type {other:?} is not one of {WIDGET_TYPES:?}"
            ))),
        }
    }
    errors
}

/// `-PT6H`, `-PT30M`, `-P7D`, `-P2W`, `-P3M`.
fn relative_time(s: &str) -> bool {
    let (digits, units) = if let Some(rest) = s.strip_prefix("-PT") {
        (rest, "HM")
    } else if let Some(rest) = s.strip_prefix("-P") {
        (rest, "DWM")
    } else {
        return false;
    };
    let Some(unit) = digits.chars().last() else {
        return false;
    };
    let number = &digits[..digits.len() - 1];
    units.contains(unit) && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
}

fn unknown_keys(
    props: &serde_json::Map<String, Value>,
    known: &[&str],
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) {
    for key in props.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(at(&format!("unknown property `{key}`")));
        }
    }
}

fn region(
    props: &serde_json::Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) {
    if props
        .get("region")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(at("no region"));
    }
}

fn valid_stat(stat: &str) -> bool {
    matches!(
        stat,
        "SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum"
    ) || stat
        .strip_prefix('p')
        .is_some_and(|p| p.parse::<f64>().is_ok_and(|n| (0.0..=100.0).contains(&n)))
}

fn valid_period(v: &Value) -> bool {
    v.as_i64().is_some_and(|p| p >= 60 && p % 60 == 0)
}

fn check_metric(
    props: &serde_json::Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) {
    unknown_keys(props, METRIC_KEYS, at, errors);
    region(props, at, errors);
    if let Some(view) = props.get("view") {
        if !view.as_str().is_some_and(|v| METRIC_VIEWS.contains(&v)) {
            errors.push(at(&format!("view {view} is not one of {METRIC_VIEWS:?}")));
        }
        if view == "gauge"
            && !(props["yAxis"]["left"]["min"].is_number()
                && props["yAxis"]["left"]["max"].is_number())
        {
            errors.push(at("a gauge needs yAxis.left min and max"));
        }
    }
    if let Some(stat) = props.get("stat") {
        if !stat.as_str().is_some_and(valid_stat) {
            errors.push(at(&format!("stat {stat} is not a CloudWatch statistic")));
        }
    }
    if let Some(period) = props.get("period") {
        if !valid_period(period) {
            errors.push(at(&format!("period {period} is not a multiple of 60")));
        }
    }
    for key in ["stacked", "liveData", "sparkline"] {
        if props.get(key).is_some_and(|v| !v.is_boolean()) {
            errors.push(at(&format!("{key} is not a boolean")));
        }
    }
    if let Some(position) = props.get("legend").map(|l| &l["position"]) {
        if !matches!(position.as_str(), Some("right" | "bottom" | "hidden")) {
            errors.push(at("legend.position is not right, bottom or hidden"));
        }
    }
    let alarms = props
        .get("annotations")
        .and_then(|a| a.get("alarms"))
        .is_some();
    let Some(metrics) = props.get("metrics") else {
        if !alarms {
            errors.push(at("no metrics (and no alarm annotation)"));
        }
        return;
    };
    if alarms {
        errors.push(at("an alarm annotation and metrics together"));
    }
    let Some(metrics) = metrics.as_array() else {
        errors.push(at("metrics is not an array of arrays"));
        return;
    };
    if metrics.len() > 500 {
        errors.push(at("more than 500 metrics"));
    }
    let mut ids = std::collections::BTreeSet::new();
    for (m, metric) in metrics.iter().enumerate() {
        let at_m = |what: &str| at(&format!("metric {m}: {what}"));
        let Some(items) = metric.as_array() else {
            errors.push(at_m("not an array"));
            continue;
        };
        let (strings, options) = match items.last() {
            Some(Value::Object(o)) => (&items[..items.len() - 1], Some(o)),
            _ => (&items[..], None),
        };
        if let Some(options) = options {
            let expression = options.get("expression");
            let mut known = RENDERING_KEYS.to_vec();
            if expression.is_some() {
                known.push("expression");
            }
            unknown_keys(options, &known, &at_m, errors);
            if let Some(id) = options.get("id") {
                let ok = id.as_str().is_some_and(|id| {
                    id.starts_with(|c: char| c.is_ascii_lowercase())
                        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if !ok || !ids.insert(id.to_string()) {
                    errors.push(at_m(&format!(
                        "id {id} does not start with a lowercase letter or is repeated"
                    )));
                }
            }
            if let Some(stat) = options.get("stat") {
                if !stat.as_str().is_some_and(valid_stat) {
                    errors.push(at_m(&format!("stat {stat} is not a CloudWatch statistic")));
                }
            }
            if let Some(period) = options.get("period") {
                if !valid_period(period) {
                    errors.push(at_m(&format!("period {period} is not a multiple of 60")));
                }
            }
            if let Some(axis) = options.get("yAxis") {
                if !matches!(axis.as_str(), Some("left" | "right")) {
                    errors.push(at_m("yAxis is not left or right"));
                }
            }
            if let Some(e) = expression {
                if !strings.is_empty() {
                    errors.push(at_m("an expression stands alone in its array"));
                }
                if e.as_str().is_none_or(|e| e.trim().is_empty()) {
                    errors.push(at_m("the expression is empty"));
                }
                if e.as_str().is_some_and(|e| e.starts_with("SEARCH(")) {
                    check_search(e.as_str().unwrap_or_default(), &at_m, errors);
                }
                continue;
            }
        }
        // [Namespace, MetricName, (DimensionName, DimensionValue)*]
        if strings.len() < 2 || strings.len() % 2 != 0 {
            errors.push(at_m("not [Namespace, MetricName, name, value, ...]"));
        }
        for (k, s) in strings.iter().enumerate() {
            match s.as_str() {
                Some(".") if m == 0 => errors.push(at_m("`.` in the first metric")),
                Some(s) if !s.is_empty() => {}
                _ => errors.push(at_m(&format!("item {k} is not a non-empty string"))),
            }
        }
    }
}

/// `SEARCH('{Namespace,Dim,...} terms', 'Stat', period)`.
fn check_search(e: &str, at: &dyn Fn(&str) -> String, errors: &mut Vec<String>) {
    let inner = e.strip_prefix("SEARCH(").and_then(|r| r.strip_suffix(')'));
    let parts: Option<(&str, &str, &str)> = inner.and_then(|i| {
        let (query, rest) = i.strip_prefix('\'')?.split_once("', '")?;
        let (stat, period) = rest.split_once("', ")?;
        Some((query, stat, period))
    });
    let Some((query, stat, period)) = parts else {
        errors.push(at(&format!(
            "SEARCH is not SEARCH('query', 'Stat', period): {e}"
        )));
        return;
    };
    if !query.starts_with('{') || !query.contains('}') {
        errors.push(at("the search has no {Namespace,Dimensions} schema"));
    }
    if !valid_stat(stat) {
        errors.push(at(&format!(
            "the search's stat {stat} is not a CloudWatch statistic"
        )));
    }
    if !period.parse::<i64>().is_ok_and(|p| p >= 60 && p % 60 == 0) {
        errors.push(at(&format!(
            "the search's period {period} is not a multiple of 60"
        )));
    }
}

fn check_log(
    props: &serde_json::Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) {
    unknown_keys(props, LOG_KEYS, at, errors);
    region(props, at, errors);
    if let Some(view) = props.get("view") {
        if !view.as_str().is_some_and(|v| LOG_VIEWS.contains(&v)) {
            errors.push(at(&format!("view {view} is not one of {LOG_VIEWS:?}")));
        }
    }
    let Some(query) = props.get("query").and_then(Value::as_str) else {
        errors.push(at("no query"));
        return;
    };
    // SOURCE 'group' | SOURCE 'group' | query...
    let mut rest = query.trim_start();
    let mut sources = 0;
    while let Some(after) = rest.strip_prefix("SOURCE '") {
        let Some((group, tail)) = after.split_once('\'') else {
            errors.push(at("an unterminated SOURCE"));
            return;
        };
        if group.is_empty() {
            errors.push(at("an empty SOURCE log group"));
        }
        sources += 1;
        rest = tail
            .trim_start()
            .strip_prefix('|')
            .unwrap_or("")
            .trim_start();
    }
    if sources == 0 {
        errors.push(at("the query does not start with SOURCE 'log-group'"));
    }
    if rest.is_empty() {
        errors.push(at("no query after the log groups"));
    }
}

fn check_text(
    props: &serde_json::Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<String>,
) {
    unknown_keys(props, TEXT_KEYS, at, errors);
    if !props.get("markdown").is_some_and(Value::is_string) {
        errors.push(at("no markdown"));
    }
    if let Some(bg) = props.get("background") {
        if !matches!(bg.as_str(), Some("solid" | "transparent")) {
            errors.push(at("background is not solid or transparent"));
        }
    }
}

#[test]
fn the_dashboard_body_follows_cloudwatchs_schema() {
    let dashboard = the_dashboard();
    let errors = check_body(&dashboard.body);
    assert!(errors.is_empty(), "{errors:#?}\n{:#}", dashboard.body);
    for r in [
        "MetricsNamespace",
        "ClusterFilter",
        "AWS::Region",
        "OnTaskStoppedLogGroup",
    ] {
        assert!(
            dashboard.references.iter().any(|x| x == r),
            "{r}: {:?}",
            dashboard.references
        );
    }
}

/// The searches of the dashboard's metric widgets.
fn searches_of(body: &Value) -> Vec<String> {
    widgets_of(body, "metric")
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap())
        .filter_map(|m| m[0]["expression"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn with_several_clusters_the_graphs_show_each_of_them_and_a_prefix_every_cluster() {
    for (params, filter) in [
        (
            vec![("ClusterNames", "dbt-prod,dbt-dev")],
            "(Cluster=\"dbt-prod\" OR Cluster=\"dbt-dev\")",
        ),
        (vec![("ClusterName", "dbt-prod")], "(Cluster=\"dbt-prod\")"),
        (vec![("ClusterNames", "dbt-*")], ""),
    ] {
        let mut all = dashboards_with(&params);
        let body = all.remove(0).1.body;
        let errors = check_body(&body);
        assert!(errors.is_empty(), "{params:?}: {errors:#?}");
        let searches = searches_of(&body);
        assert_eq!(searches.len(), 5, "{searches:#?}");
        for search in &searches {
            let expected = format!("SEARCH('{{DbtRerun,Cluster,TaskFamily}} {filter} MetricName=");
            assert!(search.starts_with(&expected), "{params:?}: {search}");
        }
    }
}

fn widgets_of<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == kind)
        .collect()
}

#[test]
fn the_dashboard_shows_the_decisions_per_family_errors_queues_and_the_latest_decisions() {
    let body = the_dashboard().body;
    let metric_widgets = widgets_of(&body, "metric");
    let searches: Vec<String> = metric_widgets
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap())
        .filter_map(|m| m[0]["expression"].as_str().map(str::to_owned))
        .collect();
    // Every metric the decision line writes per family (and the other side's additions).
    for metric in [
        "Reruns",
        "GiveUps",
        "Recovered",
        "FailedNodes",
        "NodesSaved",
    ] {
        let search = searches
            .iter()
            .find(|s| s.contains(&format!("MetricName=\"{metric}\"")))
            .unwrap_or_else(|| panic!("no widget of {metric}: {searches:#?}"));
        assert!(
            search.starts_with(
                "SEARCH('{DbtRerun,Cluster,TaskFamily} (Cluster=\"sample-ClusterName\")"
            ),
            "the stack's namespace, both dimensions, its cluster: {search}"
        );
    }
    // The decision line really carries the metrics the widgets graph, with those dimensions.
    let task = TaskBuilder::exited(Some(137)).build();
    let command = ["dbt", "build"].map(str::to_owned);
    let record = decide_record(dbt_rerun_core::DecisionInput {
        task: &task,
        report: None,
        log_note: None,
        command: Some(&command),
        entry_point: None,
        invocations: None,
        config: &dbt_rerun_core::DecisionConfig::default(),
    });
    let line: Value = serde_json::from_str(&decision_log_line(&record, "DbtRerun", 1)).unwrap();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Dimensions"], json!([["Cluster", "TaskFamily"]]));
    let emitted: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    for metric in ["Reruns", "GiveUps", "FailedNodes"] {
        assert!(emitted.contains(&metric), "{metric} in {emitted:?}");
    }

    let plain: Vec<&Value> = metric_widgets
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap())
        .filter(|m| m[0].is_string())
        .collect();
    // `.` repeats the metric before: resolve it to check what each line graphs.
    let mut resolved: Vec<Vec<String>> = Vec::new();
    for m in &plain {
        let items: Vec<String> = m
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .enumerate()
            .map(|(k, s)| {
                if s == "." {
                    resolved.last().unwrap()[k].clone()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        resolved.push(items);
    }
    let has = |ns: &str, name: &str, dim: &str, value: &str| {
        resolved
            .iter()
            .any(|m| m[..] == [ns, name, dim, value].map(str::to_owned)[..])
    };
    for function in ["OnTaskStoppedFunction", "RerunTaskFunction"] {
        assert!(
            has(
                "AWS/Lambda",
                "Errors",
                "FunctionName",
                &format!("dbt-rerun-{function}")
            ),
            "{function} errors: {resolved:?}"
        );
    }
    for queue in ["FailedInvocationQueue", "DeliveryDeadLetterQueue"] {
        assert!(
            has(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                &format!("dbt-rerun-{queue}-QueueName")
            ),
            "{queue} depth: {resolved:?}"
        );
    }

    let logs = widgets_of(&body, "log");
    assert_eq!(logs.len(), 1);
    let props = &logs[0]["properties"];
    assert_eq!(props["view"], "table");
    let query = props["query"].as_str().unwrap();
    assert!(
        query.starts_with("SOURCE 'dbt-rerun-OnTaskStoppedLogGroup' |"),
        "{query}"
    );
    assert!(
        query.contains("filter message = \"dbt-rerun decision\""),
        "{query}"
    );
    assert!(query.contains("sort @timestamp desc"), "{query}");
    // Every field the table shows is in the decision line.
    let fields = query
        .lines()
        .find_map(|l| l.trim_start_matches('|').trim().strip_prefix("fields "))
        .expect("a fields line");
    for field in fields
        .split(',')
        .map(|f| f.split(" as ").next().unwrap().trim())
    {
        if field.starts_with('@') {
            continue;
        }
        let value = field.split('.').fold(&line, |v, k| &v[k]);
        assert!(!value.is_null(), "{field} is not in the decision line");
    }
}

#[test]
fn the_checks_catch_what_cloudwatch_rejects() {
    let good = the_dashboard().body;
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        change(&mut body);
        check_body(&body).join("; ")
    };
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "no widgets array",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("widgets");
            }),
        ),
        (
            "periodOverride",
            Box::new(|b| b["periodOverride"] = json!("sometimes")),
        ),
        ("start", Box::new(|b| b["start"] = json!("yesterday"))),
        (
            "type",
            Box::new(|b| b["widgets"][1]["type"] = json!("graph")),
        ),
        ("x is not", Box::new(|b| b["widgets"][1]["x"] = json!(24))),
        (
            "x and y go together",
            Box::new(|b| {
                b["widgets"][1].as_object_mut().unwrap().remove("y");
            }),
        ),
        ("width", Box::new(|b| b["widgets"][1]["width"] = json!(25))),
        (
            "past the 24 columns",
            Box::new(|b| b["widgets"][2]["width"] = json!(20)),
        ),
        (
            "overlaps widget 1",
            Box::new(|b| b["widgets"][2]["x"] = json!(4)),
        ),
        (
            "no region",
            Box::new(|b| {
                b["widgets"][1]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("region");
            }),
        ),
        (
            "view",
            Box::new(|b| b["widgets"][1]["properties"]["view"] = json!("line")),
        ),
        (
            "stat",
            Box::new(|b| b["widgets"][1]["properties"]["stat"] = json!("Total")),
        ),
        (
            "period",
            Box::new(|b| b["widgets"][1]["properties"]["period"] = json!(90)),
        ),
        (
            "unknown property `metric`",
            Box::new(|b| b["widgets"][1]["properties"]["metric"] = json!([])),
        ),
        (
            "no metrics",
            Box::new(|b| {
                b["widgets"][1]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("metrics");
            }),
        ),
        (
            "not [Namespace, MetricName",
            Box::new(|b| b["widgets"][1]["properties"]["metrics"] = json!([["AWS/Lambda"]])),
        ),
        (
            "`.` in the first metric",
            Box::new(|b| b["widgets"][1]["properties"]["metrics"] = json!([[".", "Errors"]])),
        ),
        (
            "id",
            Box::new(|b| b["widgets"][1]["properties"]["metrics"][0][0]["id"] = json!("Reruns")),
        ),
        (
            "SEARCH is not",
            Box::new(|b| {
                b["widgets"][1]["properties"]["metrics"][0][0]["expression"] =
                    json!("SEARCH('{DbtRerun} Reruns')")
            }),
        ),
        (
            "no markdown",
            Box::new(|b| {
                b["widgets"][0]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("markdown");
            }),
        ),
        (
            "SOURCE 'log-group'",
            Box::new(|b| {
                let w = b["widgets"].as_array().unwrap().len() - 1;
                b["widgets"][w]["properties"]["query"] = json!("fields @timestamp");
            }),
        ),
        (
            "no query",
            Box::new(|b| {
                let w = b["widgets"].as_array().unwrap().len() - 1;
                b["widgets"][w]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("query");
            }),
        ),
    ];
    for (expected, change) in &cases {
        let errors = broken(change.as_ref());
        assert!(errors.contains(expected), "`{expected}` not in: {errors}");
    }
}
