//! `GET /github/app-created`: the page GitHub's App-manifest flow redirects to with
//! `?code=…&state=…` (the manifest's `redirect_url`). It tells the person who just created the
//! App how to turn the one-hour code into the App's id, key and webhook secret. The service does
//! not exchange the code itself: the answer holds the private key, which belongs in a file the
//! operator controls, not in the service's database.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The longest `code`/`state` accepted; GitHub's codes are short hexadecimal strings.
const MAX_PARAM: usize = 100;

/// Serves the page, or 400 naming the query parameter at fault.
pub async fn page(Query(query): Query<HashMap<String, String>>) -> Response {
    match render(&query) {
        Ok(html) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            html,
        )
            .into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response(),
    }
}

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    let value = query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!("query parameter `{name}` is missing: open this page from GitHub's App-manifest redirect")
        })?;
    if value.len() > MAX_PARAM
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "query parameter `{name}` is not a manifest-flow value (letters, digits, - and _, at most {MAX_PARAM})"
        ));
    }
    Ok(value)
}

/// The page for a redirect's query, or the message naming the parameter at fault. Values are
/// restricted to `[A-Za-z0-9_-]`, so nothing in them can break out of the HTML.
fn render(query: &HashMap<String, String>) -> Result<String, String> {
    let code = param(query, "code")?;
    let state = query
        .get("state")
        .map(|_| param(query, "state"))
        .transpose()?;
    let state_line = match state {
        Some(state) => format!(
            "<p>Check that <code>state</code> is the value you put in the form: <code>{state}</code>. If it is not, do not go on.</p>"
        ),
        None => {
            "<p>GitHub sent no <code>state</code>: if you put one in the form, do not go on.</p>"
                .to_owned()
        }
    };
    Ok(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sdl-gate: GitHub App created</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}pre{{background:#f4f4f4;padding:1rem;overflow:auto}}</style></head>
<body>
<h1>The sdl-gate GitHub App was created</h1>
{state_line}
<p>Within one hour, exchange the code for the App's id, private key and webhook secret (no authentication needed), on the machine that runs the service:</p>
<pre>curl -sX POST https://api.github.com/app-manifests/{code}/conversions &gt; app.json
# GitHub Enterprise Server: https://HOST/api/v3/app-manifests/{code}/conversions
jq -r .pem app.json &gt; /etc/sdl-gate/github-app.pem &amp;&amp; chmod 600 /etc/sdl-gate/github-app.pem
jq -r '.id, .slug, .webhook_secret' app.json</pre>
<p>Then set <code>SDL_GATE_GITHUB_APP_ID</code>, <code>SDL_GATE_GITHUB_PRIVATE_KEY_PATH</code> and <code>SDL_GATE_GITHUB_WEBHOOK_SECRET</code>, restart <code>sdl-gate serve</code>, delete <code>app.json</code>, and install the App on the repositories to gate (<code>https://github.com/apps/SLUG/installations/new</code>). The key file must be readable by the user the service runs as. See docs/github-app.md.</p>
</body></html>
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_page_names_the_code_and_state() {
        let html = render(&query(&[("code", "a1b2c3"), ("state", "xyz")])).expect("renders");
        assert!(html.contains("app-manifests/a1b2c3/conversions"));
        assert!(html.contains("<code>xyz</code>"));
    }

    #[test]
    fn markup_in_a_parameter_is_refused_naming_it() {
        let err = render(&query(&[("code", "<script>")])).expect_err("refused");
        assert!(err.contains("`code`"), "{err}");
        let err = render(&query(&[("code", "abc"), ("state", "a\"b")])).expect_err("refused");
        assert!(err.contains("`state`"), "{err}");
        let err = render(&query(&[])).expect_err("refused");
        assert!(err.contains("`code` is missing"), "{err}");
    }
}
