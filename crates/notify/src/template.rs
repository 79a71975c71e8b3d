//! Operators' own message templates (minijinja, loaded from files named in the channel's
//! `template` and `html_template` keys).
//!
//! A template sees the notice as `kind`, `headline`, `severity` (the highest), `receiver`,
//! `route`, `group_key`, `group_labels`, `truncated`, `created_at`, `silence` and `alerts`;
//! each alert carries its stored fields (`title`, `severity`, `host`, `source_ip`, `count`,
//! `first_seen`, `labels`, `tags`…) plus `line` and `subject`, the default renderings.
//! Templates are checked when the configuration loads (the error names the file and line)
//! and rendered with a fuel limit, so a runaway loop fails one notice instead of stalling
//! the worker.

use crate::channel::SendError;
use crate::render::{alert_line, headline, subject, top_severity};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Value, json};
use std::path::Path;
use watchpost_alert::Notification;

/// Largest template file read.
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024;
/// Instructions one rendering may run.
const FUEL: u64 = 200_000;
/// Longest rendering kept (longer output is cut and marked).
const MAX_OUTPUT_CHARS: usize = 256 * 1024;

/// How a template's output is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Text as written (mail text parts, SMS, syslog, chat).
    None,
    /// HTML-escape every interpolated value (the email's HTML part).
    Html,
    /// Slack mrkdwn: `&`, `<` and `>` escaped in every interpolated value, so a title
    /// cannot ping `<!channel>`; the template's own markup stays.
    Slack,
}

/// One compiled template.
pub struct Template {
    env: Environment<'static>,
    /// The file it came from, for error messages.
    origin: String,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("origin", &self.origin)
            .finish()
    }
}

impl Template {
    /// Reads and compiles the template at `path`.
    pub fn load(path: &Path, escape: Escape) -> Result<Template, String> {
        let origin = path.display().to_string();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("template {origin}: {e}"))?
            .len();
        if size > MAX_TEMPLATE_BYTES {
            return Err(format!(
                "template {origin}: {size} bytes, more than the {MAX_TEMPLATE_BYTES} allowed"
            ));
        }
        let source =
            std::fs::read_to_string(path).map_err(|e| format!("template {origin}: {e}"))?;
        Template::compile(origin, source, escape)
    }

    /// Compiles `source`; `origin` names it in errors.
    pub fn compile(origin: String, source: String, escape: Escape) -> Result<Template, String> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(move |_| match escape {
            Escape::Html => AutoEscape::Html,
            Escape::None | Escape::Slack => AutoEscape::None,
        });
        if escape == Escape::Slack {
            env.set_formatter(|out, _state, value| {
                out.write_str(&crate::slack::escape(&value.to_string()))
                    .map_err(minijinja::Error::from)
            });
        }
        env.add_template_owned("message", source)
            .map_err(|e| describe(&origin, &e))?;
        Ok(Template { env, origin })
    }

    /// Renders the template for `n`.
    pub fn render(&self, n: &Notification) -> Result<String, SendError> {
        let template = self
            .env
            .get_template("message")
            .map_err(|e| SendError::permanent(describe(&self.origin, &e)))?;
        let mut out = template
            .render(context(n))
            .map_err(|e| SendError::permanent(describe(&self.origin, &e)))?;
        if out.len() > MAX_OUTPUT_CHARS {
            let mut cut = MAX_OUTPUT_CHARS;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        Ok(out)
    }
}

/// `template FILE line N: what went wrong`.
fn describe(origin: &str, e: &minijinja::Error) -> String {
    let what = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string());
    match e.line() {
        Some(line) => format!("template {origin} line {line}: {} ({what})", e.kind()),
        None => format!("template {origin}: {} ({what})", e.kind()),
    }
}

/// What a template sees.
pub fn context(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.insert("line".into(), alert_line(a).into());
                map.insert("subject".into(), subject(a).into());
            }
            v
        })
        .collect();
    json!({
        "id": n.id,
        "kind": n.kind.name(),
        "headline": headline(n),
        "severity": top_severity(n).as_str(),
        "receiver": n.receiver,
        "route": n.route,
        "group_key": n.group_key,
        "group_labels": n.group_labels,
        "truncated": n.truncated,
        "created_at": n.created_at.to_rfc3339(),
        "silence": n.silence,
        "alerts": alerts,
    })
}

/// `n` narrowed to one of its alerts, for channels that send one message per alert.
pub fn for_alert(n: &Notification, a: &watchpost_core::Alert) -> Notification {
    Notification {
        alerts: vec![a.clone()],
        truncated: 0,
        ..n.clone()
    }
}

/// The template's text when there is one, else the channel's default.
pub fn text_or(
    template: Option<&Template>,
    n: &Notification,
    default: impl FnOnce() -> String,
) -> Result<String, SendError> {
    match template {
        Some(t) => t.render(n),
        None => Ok(default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let err = Template::compile(
            "/etc/watchpost/mail.j2".into(),
            "Alert\n{{ headline }}\n{% for a in alerts %}\n{{ a.title }\n".into(),
            Escape::None,
        )
        .unwrap_err();
        assert!(
            err.starts_with("template /etc/watchpost/mail.j2 line 4:"),
            "{err}"
        );
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let t = Template::compile(
            "t".into(),
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                .into(),
            Escape::None,
        )
        .unwrap();
        let n = crate::render::tests::sample_notification();
        let err = t.render(&n).unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("fuel"), "{}", err.message);
    }

    #[test]
    fn html_templates_escape_what_detections_wrote() {
        let t = Template::compile(
            "t.html".into(),
            "<p>{{ alerts[0].title }}</p>".into(),
            Escape::Html,
        )
        .unwrap();
        let mut n = crate::render::tests::sample_notification();
        n.alerts[0].title = "<script>alert(1)</script>".into();
        assert_eq!(
            t.render(&n).unwrap(),
            "<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>"
        );
    }
}
