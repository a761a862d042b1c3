//! How the corpus compares (conformance/README.md, "Values"): patterns with variables, and server frames with them
//! replaced.

use std::collections::HashMap;

use serde_json::Value;

pub(super) type Vars = HashMap<String, Value>;

/// `value` with every variable replaced; an unbound one is an error.
pub(super) fn substitute(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if s.starts_with('$') => vars.get(s).cloned().ok_or_else(|| format!("{s} is unbound"))?,
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute(v, vars)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Every key of `pattern` is in `actual` with an equal value (`null` also matching a key left out); nested objects
/// and arrays compared whole; a `$name` string binds or must equal its binding.
pub(super) fn matches(pattern: &Value, actual: &Value, vars: &mut Vars) -> Result<(), String> {
    let (Value::Object(pattern), Value::Object(actual)) = (pattern, actual) else {
        return Err("expected an object".into());
    };
    for (key, want) in pattern {
        let got = match actual.get(key) {
            Some(got) => got,
            None if want.is_null() => continue,
            None => return Err(format!("no {key}")),
        };
        equal(want, got, vars).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}

fn equal(want: &Value, got: &Value, vars: &mut Vars) -> Result<(), String> {
    match (want, got) {
        (Value::String(name), _) if name.starts_with('$') => match vars.get(name) {
            Some(bound) if bound == got => Ok(()),
            Some(bound) => Err(format!("{got}, but {name} is {bound}")),
            None => {
                vars.insert(name.clone(), got.clone());
                Ok(())
            }
        },
        (Value::Object(w), Value::Object(g)) if w.len() == g.len() => {
            w.iter().try_for_each(|(k, v)| equal(v, g.get(k).ok_or_else(|| format!("no {k}"))?, vars))
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            w.iter().zip(g).try_for_each(|(w, g)| equal(w, g, vars))
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{got}, expected {want}")),
    }
}
