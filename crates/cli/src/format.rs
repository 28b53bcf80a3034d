//! `--format` as Docker's CLI reads it: Go templates (the `gotmpl` crate, a port of Go's
//! `text/template`) with Docker's functions (`json`, `split`, `join`, `title`, `lower`,
//! `upper`, `pad`, `truncate`), a `table` prefix that adds a header row and aligns columns the
//! way Docker's tab writer does, and the `\t` / `\n` escapes Docker turns into tabs and
//! newlines.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use gotmpl::{MissingKey, Template, Value};

/// How `docker network ls` and `docker network inspect` name the keyword formats.
pub const TABLE: &str = "table";
pub const JSON: &str = "json";

/// One parsed `--format`: rows through `body`, a header through `header` when a table.
pub struct Format {
    body: Template,
    header: Option<Template>,
    /// The labels of the row being rendered, for `{{.Label "KEY"}}`.
    labels: Arc<Mutex<BTreeMap<String, String>>>,
    /// What the user gave, for errors.
    source: String,
    /// The fields a row has, named in errors about a missing one.
    fields: &'static str,
}

impl Format {
    /// Parse `source` (already resolved from a keyword). `fields` lists the placeholders a
    /// row has, for the error about one it lacks; `tables` whether a `table` prefix makes a
    /// table (for `ls`; `inspect` takes it as text, as Docker does).
    pub fn parse(source: &str, fields: &'static str, tables: bool) -> Result<Format, String> {
        let table = tables && source.starts_with(TABLE);
        let text = if table {
            &source[TABLE.len()..]
        } else {
            source
        };
        let text = text
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let text = label_calls(&text);
        let labels = Arc::new(Mutex::new(BTreeMap::new()));
        let bad = |e: gotmpl::TemplateError| {
            format!("invalid --format {source:?}: template parsing error: {e}")
        };
        let body = with_functions(Template::new(""), &labels)
            .missing_key(MissingKey::Error)
            .parse(&text)
            .map_err(bad)?;
        let header = if table {
            Some(
                with_header_functions(Template::new(""))
                    .parse(&text)
                    .map_err(bad)?,
            )
        } else {
            None
        };
        Ok(Format {
            body,
            header,
            labels,
            source: source.to_string(),
            fields,
        })
    }

    /// Render every row (each a map of its fields; `labels` the row's labels for `.Label`);
    /// `header` holds each field's column title.
    pub fn render(
        &self,
        header: &BTreeMap<&str, &str>,
        rows: &[(Value, BTreeMap<String, String>)],
    ) -> Result<String, String> {
        let mut out = String::new();
        for (row, labels) in rows {
            *self.labels.lock().unwrap_or_else(|p| p.into_inner()) = labels.clone();
            let line = self.body.execute_to_string(row).map_err(|e| {
                format!(
                    "invalid --format {:?}: {e} (the fields are {})",
                    self.source, self.fields
                )
            })?;
            out.push_str(&line);
            out.push('\n');
        }
        let Some(h) = &self.header else {
            return Ok(out);
        };
        let titles: BTreeMap<Arc<str>, Value> = header
            .iter()
            .map(|(k, v)| (Arc::from(*k), Value::String(Arc::from(*v))))
            .collect();
        let head = h
            .execute_to_string(&Value::Map(Arc::new(titles)))
            .unwrap_or_default();
        Ok(align(&format!("{head}\n{out}")))
    }
}

/// Columns as Docker's tab writer sets them: cells at least 10 wide with their 3 spaces of
/// padding (Go's minwidth counts the padding, this crate's does not).
pub fn align(text: &str) -> String {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
    let _ = tw.write_all(text.as_bytes());
    let bytes = tw.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A JSON document as a template's value.
pub fn value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::Uint(u),
            _ => Value::Float(n.as_f64().unwrap_or_default()),
        },
        J::String(s) => Value::String(Arc::from(s.as_str())),
        J::Array(a) => Value::List(a.iter().map(value).collect::<Vec<_>>().into()),
        J::Object(o) => Value::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), value(v)))
                .collect(),
        )),
    }
}

/// A template's value as JSON (for the `json` function). Maps come out with sorted keys.
fn json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil | Value::Function(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Uint(u) => J::from(*u),
        Value::Float(f) => J::from(*f),
        Value::String(s) => J::String(s.to_string()),
        Value::List(l) => J::Array(l.iter().map(json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.to_string(), json(v))).collect()),
    }
}

fn text(args: &[Value], i: usize) -> String {
    match args.get(i) {
        Some(Value::String(s)) => s.to_string(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn number(args: &[Value], i: usize) -> usize {
    match args.get(i) {
        Some(Value::Int(n)) => (*n).max(0) as usize,
        Some(Value::Uint(n)) => *n as usize,
        _ => 0,
    }
}

fn string(s: String) -> gotmpl::Result<Value> {
    Ok(Value::String(Arc::from(s)))
}

/// Docker's template functions, and `label` for `.Label "KEY"`.
fn with_functions(t: Template, labels: &Arc<Mutex<BTreeMap<String, String>>>) -> Template {
    let labels = labels.clone();
    t.func("json", |a| {
        string(json(a.first().unwrap_or(&Value::Nil)).to_string())
    })
    .func("split", |a| {
        let s = text(a, 0);
        let parts: Vec<Value> = if s.is_empty() {
            Vec::new()
        } else {
            s.split(text(a, 1).as_str())
                .map(|p| Value::String(Arc::from(p)))
                .collect()
        };
        Ok(Value::List(parts.into()))
    })
    .func("join", |a| {
        let parts: Vec<String> = match a.first() {
            Some(Value::List(l)) => l.iter().map(|v| text(std::slice::from_ref(v), 0)).collect(),
            _ => vec![text(a, 0)],
        };
        string(parts.join(&text(a, 1)))
    })
    .func("title", |a| string(title(&text(a, 0))))
    .func("lower", |a| string(text(a, 0).to_lowercase()))
    .func("upper", |a| string(text(a, 0).to_uppercase()))
    .func("pad", |a| {
        let s = text(a, 0);
        if s.is_empty() {
            return string(s);
        }
        string(format!(
            "{}{s}{}",
            " ".repeat(number(a, 1)),
            " ".repeat(number(a, 2))
        ))
    })
    .func("truncate", |a| {
        let s = text(a, 0);
        string(s.chars().take(number(a, 1)).collect())
    })
    .func("index", index)
    .func("label", move |a| {
        let l = labels.lock().unwrap_or_else(|p| p.into_inner());
        string(l.get(&text(a, 1)).cloned().unwrap_or_default())
    })
}

/// Go's `index`, with Docker's result for a key a map lacks: empty, not `<no value>`.
fn index(args: &[Value]) -> gotmpl::Result<Value> {
    let Some((first, keys)) = args.split_first() else {
        return Err(gotmpl::TemplateError::Exec(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    };
    let mut v = first.clone();
    for k in keys {
        v = match (&v, k) {
            (Value::Map(m), Value::String(key)) => m
                .get(key)
                .cloned()
                .unwrap_or_else(|| Value::String(Arc::from(""))),
            (Value::List(l), Value::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| l.get(i).cloned())
                .ok_or_else(|| {
                    gotmpl::TemplateError::Exec(format!(
                        "error calling index: index out of range: {i}"
                    ))
                })?,
            (other, _) => {
                return Err(gotmpl::TemplateError::Exec(format!(
                    "error calling index: cannot index {} with {}",
                    other.type_name(),
                    k.type_name()
                )))
            }
        };
    }
    Ok(v)
}

/// In a table's header every function leaves the column's title as it is, except `pad`; a
/// label's column is titled by the last dotted part of its key.
fn with_header_functions(t: Template) -> Template {
    let same = |a: &[Value]| string(text(a, 0));
    t.func("json", same)
        .func("split", same)
        .func("join", same)
        .func("title", same)
        .func("lower", same)
        .func("upper", same)
        .func("truncate", same)
        .func("pad", |a| {
            string(format!(
                "{}{}{}",
                " ".repeat(number(a, 1)),
                text(a, 0),
                " ".repeat(number(a, 2))
            ))
        })
        .func("label", |a| {
            let key = text(a, 1);
            let last = key.rsplit('.').next().unwrap_or_default();
            string(last.replace(['-', '_'], " "))
        })
}

/// Go's (deprecated) strings.Title: the first letter of every word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    out
}

/// `.Label "KEY"` is a method call with an argument in Go, which gotmpl's field access has no
/// form for: inside actions, outside string literals, it becomes `label . "KEY"`.
fn label_calls(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = after.find("}}").map(|c| c + 2).unwrap_or(after.len());
        out.push_str(&rewrite_action(&after[..close]));
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

fn rewrite_action(action: &str) -> String {
    let mut out = String::with_capacity(action.len() + 8);
    let mut chars = action.char_indices().peekable();
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' && q == '"' {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '`' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '.'
                && action[i..].starts_with(".Label")
                && !action[i + 6..].starts_with(|n: char| n.is_alphanumeric() || n == '_')
                && matches!(prev, ' ' | '{' | '(' | '|' | '-') =>
            {
                out.push_str("label .");
                for _ in 0..5 {
                    chars.next();
                }
            }
            None => out.push(c),
        }
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, labels: &[(&str, &str)]) -> (Value, BTreeMap<String, String>) {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let joined: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let v = serde_json::json!({"Name": name, "Labels": joined.join(",")});
        (value(&v), labels)
    }

    fn render(src: &str, rows: &[(Value, BTreeMap<String, String>)]) -> Result<String, String> {
        let header = BTreeMap::from([("Name", "NAME"), ("Labels", "LABELS")]);
        Format::parse(src, "Name, Labels", true)?.render(&header, rows)
    }

    #[test]
    fn renders_what_docker_renders() {
        let rows = [
            row("lan", &[("b", "two"), ("com.example.a", "1")]),
            row("x", &[]),
        ];
        // What Debian's docker 20.10 printed for the same networks.
        assert_eq!(
            render(r#"table {{upper .Name}}\t{{split .Labels ","}}\t{{json .Name}}\t{{.Label "x_y-z"}}"#, &rows).unwrap(),
            "NAME      LABELS                    NAME      x y z\nLAN       [b=two com.example.a=1]   \"lan\"     \nX         []                        \"x\"       \n"
        );
        assert_eq!(
            render(r#"{{upper .Name}}|{{pad .Name 1 2}}|{{truncate .Name 1}}|{{title .Name}}|{{join (split .Labels ",") ";"}}|{{.Label "com.example.a"}}"#, &rows).unwrap(),
            "LAN| lan  |l|Lan|b=two;com.example.a=1|1\nX| x  |x|X||\n"
        );
        assert_eq!(render(r"\t{{.Name}}\n", &rows[1..]).unwrap(), "\tx\n\n");
        assert_eq!(render(" {{.Name}} ", &rows[1..]).unwrap(), "x\n");
        assert_eq!(
            render("{{json .}}", &rows[1..]).unwrap(),
            "{\"Labels\":\"\",\"Name\":\"x\"}\n"
        );
    }

    #[test]
    fn a_bad_template_names_itself_and_the_fields() {
        let rows = [row("x", &[])];
        let e = render("{{.Nope}}", &rows).unwrap_err();
        assert!(
            e.contains("\"{{.Nope}}\"") && e.contains("Nope") && e.contains("Name, Labels"),
            "{e}"
        );
        let e = render("{{.Name", &rows).unwrap_err();
        assert!(
            e.contains("template parsing error") && e.contains("unclosed action"),
            "{e}"
        );
        assert!(render("{{nofunc .Name}}", &rows)
            .unwrap_err()
            .contains("nofunc"));
    }

    #[test]
    fn label_calls_are_rewritten_only_where_go_would_call_the_method() {
        assert_eq!(label_calls(r#"{{.Label "a"}}"#), r#"{{label . "a"}}"#);
        assert_eq!(
            label_calls(r#"{{- .Label "a" | upper}}"#),
            r#"{{- label . "a" | upper}}"#
        );
        assert_eq!(
            label_calls(r#"{{upper (.Label "a")}}"#),
            r#"{{upper (label . "a")}}"#
        );
        assert_eq!(
            label_calls(r#"{{.Labels}} .Label "x""#),
            r#"{{.Labels}} .Label "x""#
        );
        assert_eq!(
            label_calls(r#"{{printf " .Label "}}"#),
            r#"{{printf " .Label "}}"#
        );
    }
}
