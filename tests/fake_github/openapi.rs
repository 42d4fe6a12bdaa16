//! Holds the fake GitHub to GitHub's published REST description, so the fake stays GitHub
//! and not our idea of it: every journaled request must name an operation the description
//! has (method + path template), with path and query parameters its schemas accept (and no
//! query parameter it does not list) and a JSON body its `requestBody` schema accepts; every
//! JSON answer the fake gives must match the response schema for its status code.
//!
//! The description is the npm package `@octokit/openapi`
//! (`generated/api.github.com.deref.json`, every `$ref` inlined), installed by
//! `.ci/openapi.sh` into the ignored `.ci/cache`. Its path comes from
//! `SDL_GATE_GITHUB_OPENAPI`, else the place `.ci/openapi.sh` installs to. It is large
//! (about 70 MB), so it is read once per test binary, on first use, and schemas are
//! compiled on demand and cached.
//!
//! OpenAPI 3.0 schemas are not JSON Schema: `nullable: true` is converted into a type union
//! (or an `anyOf` with `null` when the schema has no `type`) and into `null` in an `enum`
//! before the `jsonschema` crate compiles them as Draft 7. Formats are validated
//! (`date-time`, `uri`, `email`, ...); OpenAPI-only formats (`int64`, `binary`, ...) are
//! annotations, as the OpenAPI specification defines them.
//!
//! When the description is absent the checks are skipped with a note printed once; under
//! `CI=true` that is itself a violation, so CI always runs them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

/// The variable naming `api.github.com.deref.json`.
pub const ENV: &str = "SDL_GATE_GITHUB_OPENAPI";
/// The `@octokit/openapi` version `.ci/openapi.sh` installs (keep the two in step).
pub const PINNED_VERSION: &str = "23.0.2";

/// One operation of the description.
struct Operation {
    method: String,
    template: String,
    segments: Vec<Segment>,
    /// Query parameter → its schema.
    query: BTreeMap<String, Value>,
    /// Path parameter → its schema.
    path_params: BTreeMap<String, Value>,
    body: Option<Value>,
    body_required: bool,
    /// Status code (`"200"`, `"default"`) → JSON schema of the answer, if it has one.
    responses: HashMap<String, Option<Value>>,
}

enum Segment {
    Literal(String),
    Param(String),
    /// A last parameter whose values hold slashes: `{path}` of contents, `{ref}` of refs.
    Rest(String),
}

/// A compiled schema, or why it does not compile.
type Compiled = Arc<Result<jsonschema::Validator, String>>;

/// The loaded description.
pub struct Description {
    ops: Vec<Operation>,
    /// Webhook name (`x-webhooks`, e.g. `code-scanning-alert-closed-by-user`) → the schema of
    /// its payload.
    webhooks: HashMap<String, Value>,
    /// (operation, `"request"` or status code) → compiled schema.
    compiled: Mutex<HashMap<(usize, String), Compiled>>,
}

/// The path the description is read from.
pub fn description_path() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
            ".ci/cache/octokit-openapi-{PINNED_VERSION}/node_modules/@octokit/openapi/generated/api.github.com.deref.json"
        )),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static DESCRIPTION: OnceLock<Result<Description, String>> = OnceLock::new();

/// The description, loaded on first use; `Err` says why it is not available.
pub fn description() -> &'static Result<Description, String> {
    DESCRIPTION.get_or_init(|| {
        let path = description_path();
        let started = std::time::Instant::now();
        let loaded = load(&path);
        if let Ok(d) = &loaded {
            eprintln!(
                "GitHub's REST description: {} operations read from {} in {:?}",
                d.ops.len(),
                path.display(),
                started.elapsed()
            );
        }
        if let Err(e) = &loaded {
            // Straight to stderr, past the test harness's capture: a skip must be seen.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "note: the fake GitHub is not checked against GitHub's REST description: {e} \
                 (run .ci/openapi.sh and set {ENV} to the path it prints){}",
                if in_ci() {
                    "; CI=true: this fails the tests"
                } else {
                    ""
                }
            );
        }
        loaded
    })
}

fn load(path: &std::path::Path) -> Result<Description, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    drop(bytes);
    let Value::Object(mut doc) = doc else {
        return Err(format!("{} is not a JSON object", path.display()));
    };
    let Some(Value::Object(paths)) = doc.remove("paths") else {
        return Err(format!("{} has no `paths`", path.display()));
    };
    let mut webhooks = HashMap::new();
    if let Some(Value::Object(hooks)) = doc.remove("x-webhooks") {
        for (name, mut item) in hooks {
            let schema = match item.get_mut("post").and_then(|p| p.get_mut("requestBody")) {
                Some(Value::Object(rb)) => json_schema_of(rb),
                _ => None,
            };
            if let Some(schema) = schema {
                webhooks.insert(name, schema);
            }
        }
    }
    drop(doc);
    let mut ops = Vec::new();
    for (template, item) in paths {
        let Value::Object(mut item) = item else {
            continue;
        };
        let shared_query = params_in(item.get("parameters"), "query");
        let shared_path = params_in(item.get("parameters"), "path");
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(Value::Object(mut op)) = item.remove(method) else {
                continue;
            };
            let mut query = shared_query.clone();
            query.extend(params_in(op.get("parameters"), "query"));
            let mut path_params = shared_path.clone();
            path_params.extend(params_in(op.get("parameters"), "path"));
            let (body, body_required) = match op.remove("requestBody") {
                Some(Value::Object(mut rb)) => {
                    let required = rb.get("required").and_then(Value::as_bool) == Some(true);
                    (json_schema_of(&mut rb), required)
                }
                _ => (None, false),
            };
            let mut responses = HashMap::new();
            if let Some(Value::Object(rs)) = op.remove("responses") {
                for (code, r) in rs {
                    let schema = match r {
                        Value::Object(mut r) => json_schema_of(&mut r),
                        _ => None,
                    };
                    responses.insert(code, schema);
                }
            }
            ops.push(Operation {
                method: method.to_ascii_uppercase(),
                segments: template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| {
                        let name = s.trim_start_matches('{').trim_end_matches('}');
                        if s == "{path}" || s == "{ref}" {
                            Segment::Rest(name.to_string())
                        } else if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param(name.to_string())
                        } else {
                            Segment::Literal(s.to_string())
                        }
                    })
                    .collect(),
                template: template.clone(),
                query,
                path_params,
                body,
                body_required,
                responses,
            });
        }
    }
    if ops.is_empty() {
        return Err(format!("{} describes no operations", path.display()));
    }
    Ok(Description {
        ops,
        webhooks,
        compiled: Mutex::new(HashMap::new()),
    })
}

/// The parameters `in` `location` (`query`, `path`): name → schema (`{}` when it has none).
fn params_in(params: Option<&Value>, location: &str) -> BTreeMap<String, Value> {
    params
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some(location))
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str)?;
            let schema = p
                .get("schema")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            Some((name.to_string(), schema))
        })
        .collect()
}

/// A query or path value as the JSON its schema's type expects (`"100"` → `100` for an
/// integer); a value that does not convert stays a string, which the schema then rejects.
fn typed(raw: &str, schema: &Value) -> Value {
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    let text = percent_decode(raw);
    match kind {
        "integer" => text.parse::<i64>().map_or(Value::String(text), Value::from),
        "number" => text.parse::<f64>().map_or(Value::String(text), Value::from),
        "boolean" => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        "array" => Value::Array(
            text.split(',')
                .map(|s| Value::from(s.to_string()))
                .collect(),
        ),
        _ => Value::String(text),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `application/json` (or `*+json`) schema of a request body or response object.
fn json_schema_of(obj: &mut Map<String, Value>) -> Option<Value> {
    let Some(Value::Object(content)) = obj.remove("content") else {
        return None;
    };
    let mut fallback = None;
    for (mime, mut media) in content {
        let schema = media.get_mut("schema").map(Value::take);
        if mime == "application/json" {
            return schema;
        }
        if mime.ends_with("+json") && fallback.is_none() {
            fallback = schema;
        }
    }
    fallback
}

/// Whether an `allOf` list is exactly GitHub's `[Simple User, Enterprise]` pair.
fn is_user_or_enterprise(list: &Value) -> bool {
    let titles: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("title").and_then(Value::as_str))
        .collect();
    titles == ["Simple User", "Enterprise"]
}

/// Converts an OpenAPI 3.0 Schema Object into JSON Schema (Draft 7), recursively through
/// the keywords that hold schemas (never through `enum`, `default` or `example` data).
pub fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let converted = match k.as_str() {
            "properties" | "patternProperties" => match v {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, s)| (name.clone(), to_json_schema(s)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => to_json_schema(v),
            "allOf" if is_user_or_enterprise(v) => {
                // Deliberate exemption: the description types an installation's `account` as
                // `allOf: [Simple User, Enterprise]`, which no real answer satisfies (a user
                // has no `slug`, an enterprise no `login`); GitHub means "one of the two".
                if let Value::Array(list) = v {
                    out.insert(
                        "anyOf".into(),
                        Value::Array(list.iter().map(to_json_schema).collect()),
                    );
                }
                continue;
            }
            "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(list) => Value::Array(list.iter().map(to_json_schema).collect()),
                other => other.clone(),
            },
            // OpenAPI-only keywords with no JSON Schema meaning.
            "nullable" | "discriminator" | "xml" | "externalDocs" | "example" => continue,
            _ => v.clone(),
        };
        out.insert(k.clone(), converted);
    }
    if obj.get("nullable").and_then(Value::as_bool) == Some(true) {
        if let Some(Value::Array(e)) = out.get_mut("enum")
            && !e.contains(&Value::Null)
        {
            e.push(Value::Null);
        }
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), Value::Array(vec![t.into(), "null".into()]));
            }
            Some(Value::Array(mut ts)) => {
                if !ts.contains(&Value::from("null")) {
                    ts.push("null".into());
                }
                out.insert("type".into(), Value::Array(ts));
            }
            _ => {
                return serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]});
            }
        }
    }
    Value::Object(out)
}

impl Description {
    /// The operation for `method path`: exact segment matches first, most literal segments
    /// winning; then templates whose last parameter takes the rest of the path (GitHub's
    /// `{path}` of contents and `{ref}` of git refs hold slashes).
    fn find(&self, method: &str, path: &str) -> Result<usize, String> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, usize, bool)> = None; // (op, literals, loose)
        let mut other_methods = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            let Some((literals, loose)) = matches(&op.segments, &segs) else {
                continue;
            };
            if op.method != method {
                other_methods.push(op.method.clone());
                continue;
            }
            let better = match best {
                None => true,
                Some((_, l, bl)) => (bl && !loose) || (bl == loose && literals > l),
            };
            if better {
                best = Some((i, literals, loose));
            }
        }
        match best {
            Some((i, _, _)) => Ok(i),
            None if other_methods.is_empty() => Err(format!(
                "GitHub's REST API has no operation for {method} {path}"
            )),
            None => Err(format!(
                "GitHub's REST API has no {method} for {path} (it has {})",
                other_methods.join(", ")
            )),
        }
    }

    fn validator(&self, op: usize, key: &str, schema: &Value) -> Compiled {
        let mut cache = match self.compiled.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        cache
            .entry((op, key.to_string()))
            .or_insert_with(|| {
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft7)
                        .should_validate_formats(true)
                        .build(&to_json_schema(schema))
                        .map_err(|e| e.to_string()),
                )
            })
            .clone()
    }

    fn validate(&self, op: usize, key: &str, schema: &Value, instance: &Value) -> Vec<String> {
        let v = self.validator(op, key, schema);
        match v.as_ref() {
            Err(e) => vec![format!("the schema does not compile: {e}")],
            Ok(v) => v
                .iter_errors(instance)
                .take(10)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    format!("at `{}`: {e}", if at.is_empty() { "/" } else { &at })
                })
                .collect(),
        }
    }

    /// What GitHub's description of webhook `name` (an `x-webhooks` key such as
    /// `code-scanning-alert-closed-by-user`) rejects in `payload`: for the deliveries tests
    /// build by hand where no recorded example exists.
    pub fn check_webhook(&self, name: &str, payload: &Value) -> Vec<String> {
        match self.webhooks.get(name) {
            // Webhook schemas are cached past the operations' indices.
            Some(schema) => self
                .validate(usize::MAX, name, schema, payload)
                .into_iter()
                .map(|e| format!("webhook {name}: {e}"))
                .collect(),
            None => vec![format!("GitHub describes no webhook `{name}`")],
        }
    }

    /// What GitHub's description rejects in one exchange: the request
    /// (`method`, `path` without the API prefix, raw `query`, JSON `body`) and the fake's
    /// answer (`status`, JSON `answer`; `None` when it is not JSON, which only the scripted
    /// "bad body" fault does on purpose: then the answer is not checked).
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
        status: u16,
        answer: Option<&Value>,
    ) -> Vec<String> {
        let i = match self.find(method, path) {
            Ok(i) => i,
            Err(e) => return vec![e],
        };
        let op = &self.ops[i];
        let name = format!("{method} {} ({path})", op.template);
        let mut out = Vec::new();
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for (k, seg) in op.segments.iter().enumerate() {
            let (param, raw) = match seg {
                Segment::Param(p) => (p, segs.get(k).copied().unwrap_or("").to_string()),
                Segment::Rest(p) => (p, segs.get(k..).unwrap_or_default().join("/")),
                Segment::Literal(_) => continue,
            };
            if let Some(schema) = op.path_params.get(param) {
                let value = typed(&raw, schema);
                for e in self.validate(i, &format!("path:{param}"), schema, &value) {
                    out.push(format!("{name}: path parameter `{param}` {e}"));
                }
            }
        }
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (key, raw) = kv.split_once('=').unwrap_or((kv, ""));
            match op.query.get(key) {
                Some(schema) => {
                    let value = typed(raw, schema);
                    for e in self.validate(i, &format!("query:{key}"), schema, &value) {
                        out.push(format!("{name}: query parameter `{key}` {e}"));
                    }
                }
                None => out.push(format!(
                    "{name}: query parameter `{key}` is not one of the operation's ({})",
                    op.query.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            }
        }
        match (body, &op.body) {
            (Some(b), Some(schema)) => {
                for e in self.validate(i, "request", schema, b) {
                    out.push(format!("{name}: request body {e}"));
                }
            }
            (Some(_), None) => out.push(format!("{name}: the operation takes no JSON body")),
            (None, _) if op.body_required => {
                out.push(format!("{name}: the operation requires a JSON body"))
            }
            (None, _) => {}
        }
        // `304 Not Modified` answers a conditional GET (RFC 9110 15.4.5) whether or not the
        // operation lists it (GitHub's description lists it for some reads, e.g. a pull
        // request, not for others, e.g. its reviews, yet GitHub sends ETags on all of them);
        // it has no body, and is never an answer to a write.
        if status == 304 {
            if method != "GET" {
                out.push(format!(
                    "{name}: 304 Not Modified answers only a conditional GET"
                ));
            }
            if answer.is_some() {
                out.push(format!("{name}: a 304 answer has no body"));
            }
            return out;
        }
        let code = status.to_string();
        match op.responses.get(&code) {
            // No answer to check: the scripted fault that answers a body that is not JSON
            // (the fake's only answers that are not JSON; deliberately not GitHub).
            Some(Some(_)) if answer.is_none() => {}
            Some(Some(schema)) => {
                if let Some(a) = answer {
                    for e in self.validate(i, &code, schema, a) {
                        out.push(format!("{name}: fake's {status} answer {e}"));
                    }
                }
            }
            Some(None) => {}
            // Errors (401, 403, 429, 5xx, ...) are answered by every operation though few
            // list them; a success the operation does not have is the fake being wrong.
            None if (200..300).contains(&status) => out.push(format!(
                "{name}: GitHub does not answer {status} here (it answers {})",
                {
                    let mut codes: Vec<&String> = op.responses.keys().collect();
                    codes.sort();
                    codes.into_iter().cloned().collect::<Vec<_>>().join(", ")
                }
            )),
            None => {}
        }
        out
    }
}

fn matches(template: &[Segment], segs: &[&str]) -> Option<(usize, bool)> {
    let literals = template
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    let fits = |t: &Segment, s: &str| match t {
        Segment::Literal(l) => l == s,
        Segment::Param(_) | Segment::Rest(_) => !s.is_empty(),
    };
    if template.len() == segs.len() {
        return template
            .iter()
            .zip(segs)
            .all(|(t, s)| fits(t, s))
            .then_some((literals, false));
    }
    // The last parameter takes the rest: `/repos/{owner}/{repo}/contents/{path}`.
    if let Some(Segment::Rest(_)) = template.last()
        && segs.len() > template.len()
    {
        let n = template.len() - 1;
        return template[..n]
            .iter()
            .zip(segs)
            .all(|(t, s)| fits(t, s))
            .then_some((literals, true));
    }
    None
}

/// What the description rejects in the webhook payload `name`: skipped (no violations) when
/// the description is absent, except under `CI=true`.
pub fn webhook_violations(name: &str, payload: &Value) -> Vec<String> {
    match description() {
        Ok(d) => d.check_webhook(name, payload),
        Err(e) if in_ci() => vec![format!(
            "GitHub's REST description is required under CI=true: {e}"
        )],
        Err(_) => Vec::new(),
    }
}

/// What the description rejects in one exchange, for the fake's hook: skipped (no
/// violations) when the description is absent, except under `CI=true`.
pub fn violations(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    status: u16,
    answer: Option<&Value>,
) -> Vec<String> {
    // The OAuth web flow (`/login/oauth/authorize`, `/login/oauth/access_token`) is served by
    // the github.com host, not the REST API, so the REST description has no word on it.
    if path.starts_with("/login/oauth/") {
        return Vec::new();
    }
    match description() {
        Ok(d) => d.check(method, path, query, body, status, answer),
        Err(e) if in_ci() => vec![format!(
            "GitHub's REST description is required under CI=true: {e}"
        )],
        Err(_) => Vec::new(),
    }
}
