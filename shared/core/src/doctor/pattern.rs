//! Whether an EventBridge rule's pattern lets a task's STOPPED event through, as far as its
//! cluster and family decide: EventBridge's matching of one string field (exact values,
//! `prefix`, `suffix`, `wildcard`, `anything-but`, `equals-ignore-case`). The rest of the
//! pattern (which stops) is the template's, checked by the rule test.

use serde_json::Value;

/// Whether the alternatives of a pattern field (`["a", {"prefix": "b"}]`) match `value`; a
/// field the pattern does not name matches anything. Err names an operator it cannot read.
pub(crate) fn field_matches(alternatives: Option<&Value>, value: &str) -> Result<bool, String> {
    let Some(alternatives) = alternatives else {
        return Ok(true);
    };
    let Some(alternatives) = alternatives.as_array() else {
        return Err(format!("the pattern's field is not a list: {alternatives}"));
    };
    for alternative in alternatives {
        if alternative_matches(alternative, value)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn alternative_matches(alternative: &Value, value: &str) -> Result<bool, String> {
    let Some(object) = alternative.as_object() else {
        // moto keeps a null where the template's !If chose AWS::NoValue.
        return Ok(alternative.as_str() == Some(value));
    };
    let Some((operator, arg)) = object.iter().next().filter(|_| object.len() == 1) else {
        return Err(format!("cannot read the pattern's {alternative}"));
    };
    let text = |arg: &Value| arg.as_str().map(str::to_owned);
    Ok(match (operator.as_str(), arg) {
        ("prefix", Value::Object(o)) => o
            .get("equals-ignore-case")
            .and_then(Value::as_str)
            .is_some_and(|p| value.to_lowercase().starts_with(&p.to_lowercase())),
        ("prefix", p) => text(p).is_some_and(|p| value.starts_with(&p)),
        ("suffix", s) => text(s).is_some_and(|s| value.ends_with(&s)),
        ("wildcard", w) => text(w).is_some_and(|w| wildcard(&w, value)),
        ("equals-ignore-case", e) => text(e).is_some_and(|e| e.eq_ignore_ascii_case(value)),
        ("anything-but", Value::Array(items)) => !items.iter().any(|i| i.as_str() == Some(value)),
        ("anything-but", Value::Object(o)) => match o.get("prefix").and_then(Value::as_str) {
            Some(p) => !value.starts_with(p),
            None => return Err(format!("cannot read the pattern's {alternative}")),
        },
        ("anything-but", one) => one.as_str() != Some(value),
        _ => return Err(format!("cannot read the pattern's {alternative}")),
    })
}

/// EventBridge's `wildcard`: `*` stands for any run of characters, nothing else is special.
fn wildcard(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == value;
    }
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    value.ends_with(last)
}

/// Whether `pattern` lets through a STOPPED task of `family` in the cluster `cluster_arn`.
pub(crate) fn admits(pattern: &Value, cluster_arn: &str, family: &str) -> Result<bool, String> {
    let detail = pattern.get("detail");
    let source = field_matches(pattern.get("source"), "aws.ecs")?;
    let kind = field_matches(pattern.get("detail-type"), "ECS Task State Change")?;
    let group = field_matches(
        detail.and_then(|d| d.get("group")),
        &format!("family:{family}"),
    )?;
    let cluster = field_matches(detail.and_then(|d| d.get("clusterArn")), cluster_arn)?;
    Ok(source && kind && group && cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_form_of_the_templates_rule_admits_its_families_only() {
        let cluster = "arn:aws:ecs:eu-west-1:1:cluster/dbt-prod";
        let listed = json!({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
            "detail": {"clusterArn": [cluster], "group": ["family:dbt-hourly", "family:dbt-nightly"]}});
        assert_eq!(admits(&listed, cluster, "dbt-nightly"), Ok(true));
        assert_eq!(admits(&listed, cluster, "dbt-hourlly"), Ok(false));
        assert_eq!(
            admits(
                &listed,
                "arn:aws:ecs:eu-west-1:1:cluster/dev",
                "dbt-nightly"
            ),
            Ok(false)
        );
        let prefix = json!({"source": ["aws.ecs"], "detail": {
            "clusterArn": [{"prefix": "arn:aws:ecs:eu-west-1:1:cluster/dbt-"}],
            "group": [{"prefix": "family:dbt-"}]}});
        assert_eq!(admits(&prefix, cluster, "dbt-weekly"), Ok(true));
        assert_eq!(admits(&prefix, cluster, "analytics"), Ok(false));
        let any_cluster = json!({"detail": {"group": ["family:x", null]}});
        assert_eq!(admits(&any_cluster, cluster, "x"), Ok(true));
        assert!(admits(
            &json!({"detail": {"group": [{"numeric": [">", 1]}]}}),
            cluster,
            "x"
        )
        .is_err());
        assert_eq!(
            field_matches(Some(&json!([{"anything-but": ["a"]}])), "b"),
            Ok(true)
        );
        assert_eq!(
            field_matches(Some(&json!([{"wildcard": "family:dbt-*"}])), "family:dbt-x"),
            Ok(true)
        );
    }
}
