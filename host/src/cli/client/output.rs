//! How a client command shows its answer: a table, `key: value` lines, one line, or the API's
//! JSON as it is (`--json`).

use serde_json::Value;

/// How to show a result.
pub(in crate::cli) enum Shape {
    /// A list under this key, with these columns (JSON pointer-ish dotted paths).
    Table(&'static str, &'static [&'static str]),
    /// One object.
    Object,
    /// Nothing to show (e.g. 204); print this line.
    Done(String),
    /// The command printed what it had to as it went.
    Printed,
}

/// Prints `value` as `shape` says, or as pretty JSON when `json` (nothing for no value).
pub(super) fn show(value: &Value, shape: Shape, json: bool) -> anyhow::Result<()> {
    if json {
        if !value.is_null() {
            println!("{}", serde_json::to_string_pretty(value)?);
        }
        return Ok(());
    }
    match shape {
        Shape::Table(key, columns) => print_table(
            value[key].as_array().map(Vec::as_slice).unwrap_or_default(),
            columns,
        ),
        Shape::Object => print_object(value),
        Shape::Done(line) => println!("{line}"),
        Shape::Printed => {}
    }
    Ok(())
}

fn cell(value: &Value, column: &str) -> String {
    // An empty column is the value itself (an array's items).
    let value = if column.is_empty() {
        value
    } else {
        column.split('.').fold(value, |v, key| &v[key])
    };
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| cell(i, ""))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn print_table(rows: &[Value], columns: &[&str]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row, c)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
                .min(60)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| {
                let v: String = v.chars().take(*w).collect();
                format!("{v:<w$}")
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for row in cells {
        println!("{}", line(row));
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

fn print_object(value: &Value) {
    match value.as_object() {
        Some(fields) => {
            let width = fields.keys().map(String::len).max().unwrap_or(0);
            for (key, field) in fields {
                let text = match field {
                    Value::String(s) => s.clone(),
                    Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!("{key:<width$}  {text}");
            }
        }
        None => println!("{value}"),
    }
}
