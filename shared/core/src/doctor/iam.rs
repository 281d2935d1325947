//! IAM policy documents, read far enough to answer "which statement lets the functions do
//! this": actions and resources with IAM's wildcards, and the condition keys whose values the
//! doctor knows (the rest are taken as met, and the report names the statement so a person can
//! look).

use serde::Serialize;
use serde_json::Value;

/// A policy attached to the functions' role, by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// The policy's name, as the report names it.
    pub name: String,
    /// Its statements, in document order.
    pub statements: Vec<Statement>,
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// `Sid`, when the statement has one.
    pub sid: Option<String>,
    /// `Effect` is `Allow` (else `Deny`).
    pub allow: bool,
    /// `Action`: action names, IAM's wildcards allowed.
    pub actions: Vec<String>,
    /// `Resource`: ARNs, IAM's wildcards allowed.
    pub resources: Vec<String>,
    /// The `Condition` block as written (an object of operator -> key -> value(s)).
    pub condition: Value,
}

/// One string or a list of them.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

impl Policy {
    /// Reads a policy document (JSON).
    pub fn parse(name: &str, document: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(document)
            .map_err(|e| format!("policy {name} is not JSON: {e}"))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return Err(format!("policy {name} has no Statement")),
        };
        Ok(Policy {
            name: name.to_owned(),
            statements: statements
                .iter()
                .map(|s| Statement {
                    sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
                    allow: s.get("Effect").and_then(Value::as_str) == Some("Allow"),
                    actions: strings(s.get("Action")),
                    resources: strings(s.get("Resource")),
                    condition: s.get("Condition").cloned().unwrap_or(Value::Null),
                })
                .collect(),
        })
    }
}

/// A request to authorise: the action, the resource's ARN and the condition keys known.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The IAM action (`ecs:RunTask`).
    pub action: &'a str,
    /// The ARN of the resource it acts on.
    pub resource: &'a str,
    /// Condition keys the doctor knows, with their values (`iam:PassedToService`, ...).
    pub context: &'a [(&'a str, &'a str)],
}

/// Who allows a request: the policy and the statement (its Sid, else its position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The allowing policy's name.
    pub policy: String,
    /// The statement's Sid, else its place in the policy (`#2`).
    pub statement: String,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "statement {} of policy {}", self.statement, self.policy)
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn covers(statement: &Statement, request: &Request<'_>) -> bool {
    let action = statement.actions.iter().any(|a| {
        glob(
            &a.to_ascii_lowercase(),
            &request.action.to_ascii_lowercase(),
        )
    });
    action
        && statement
            .resources
            .iter()
            .any(|r| glob(r, request.resource))
        && conditions_met(&statement.condition, request.context)
}

/// The operators whose keys the doctor can evaluate; any other is taken as met.
fn conditions_met(condition: &Value, context: &[(&str, &str)]) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        let Some(keys) = keys.as_object() else {
            return true;
        };
        let like = matches!(operator.as_str(), "StringLike" | "ArnLike" | "ArnEquals");
        let known = like || operator == "StringEquals";
        keys.iter().all(|(key, wanted)| {
            let value = context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
            match (known, value) {
                (true, Some((_, value))) => {
                    strings(Some(wanted))
                        .iter()
                        .any(|w| if like { glob(w, value) } else { w == value })
                }
                _ => true,
            }
        })
    })
}

/// The statement that allows `request`, unless a Deny covers it; None when nothing allows it.
pub(crate) fn allowing(policies: &[Policy], request: &Request<'_>) -> Option<Grant> {
    let all = || {
        policies
            .iter()
            .flat_map(|p| p.statements.iter().enumerate().map(move |(i, s)| (p, i, s)))
    };
    if all().any(|(_, _, s)| !s.allow && covers(s, request)) {
        return None;
    }
    all()
        .find(|(_, _, s)| s.allow && covers(s, request))
        .map(|(p, i, s)| Grant {
            policy: p.name.clone(),
            statement: s.sid.clone().unwrap_or_else(|| format!("#{}", i + 1)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(glob(
            "arn:*:ecs:*:*:task-definition/dbt-*:*",
            "arn:aws:ecs:eu-west-1:1:task-definition/dbt-hourly:4"
        ));
        assert!(!glob(
            "arn:aws:ecs:eu-west-1:1:task-definition/dbt:*",
            "arn:aws:ecs:eu-west-1:1:task-definition/dbt-hourly:4"
        ));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*", "") && glob("abc", "abc") && !glob("abc", "abcd"));
    }

    #[test]
    fn the_allowing_statement_is_named_and_a_deny_wins() {
        let policy = Policy::parse(
            "RerunPermissions",
            r#"{"Version": "2012-10-17", "Statement": [
                {"Sid": "PassTheDbtTaskRolesToEcsOnly", "Effect": "Allow", "Action": "iam:PassRole",
                 "Resource": ["arn:aws:iam::1:role/dbt-task", "arn:aws:iam::1:role/dbt-exec"],
                 "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
                {"Effect": "Allow", "Action": ["ecs:RunTask"], "Resource": "arn:*:ecs:*:*:task-definition/dbt-*:*",
                 "Condition": {"ArnLike": {"ecs:cluster": ["arn:*:ecs:*:*:cluster/prod"]}}}
            ]}"#,
        )
        .unwrap();
        let pass = |role: &str, service: &str| {
            allowing(
                std::slice::from_ref(&policy),
                &Request {
                    action: "iam:PassRole",
                    resource: role,
                    context: &[("iam:PassedToService", service)],
                },
            )
        };
        assert_eq!(
            pass("arn:aws:iam::1:role/dbt-task", "ecs-tasks.amazonaws.com")
                .unwrap()
                .to_string(),
            "statement PassTheDbtTaskRolesToEcsOnly of policy RerunPermissions"
        );
        assert_eq!(
            pass("arn:aws:iam::1:role/other", "ecs-tasks.amazonaws.com"),
            None
        );
        assert_eq!(
            pass("arn:aws:iam::1:role/dbt-task", "lambda.amazonaws.com"),
            None
        );
        let run = |cluster: &str| {
            allowing(
                std::slice::from_ref(&policy),
                &Request {
                    action: "ECS:RunTask",
                    resource: "arn:aws:ecs:eu-west-1:1:task-definition/dbt-hourly:3",
                    context: &[("ecs:cluster", cluster)],
                },
            )
        };
        assert_eq!(
            run("arn:aws:ecs:eu-west-1:1:cluster/prod")
                .unwrap()
                .statement,
            "#2"
        );
        assert_eq!(run("arn:aws:ecs:eu-west-1:1:cluster/dev"), None);
        let mut denied = policy.clone();
        denied.statements.push(Statement {
            sid: None,
            allow: false,
            actions: vec!["ecs:*".into()],
            resources: vec!["*".into()],
            condition: Value::Null,
        });
        assert_eq!(
            allowing(
                &[denied],
                &Request {
                    action: "ecs:RunTask",
                    resource: "arn:aws:ecs:eu-west-1:1:task-definition/dbt-hourly:3",
                    context: &[],
                }
            ),
            None
        );
        assert!(Policy::parse("p", "{}").is_err());
    }
}
