//! Pages the service serves to people, over real HTTP on loopback: the App-manifest flow's
//! redirect page, at the path the shipped manifest's `redirect_url` names.

mod service_support;

use serde_json::Value;
use service_support::*;

#[tokio::test]
async fn the_manifest_redirect_url_is_served() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config/github-app-manifest.json"),
        )
        .expect("the manifest is readable"),
    )
    .expect("the manifest is JSON");
    let redirect = manifest["redirect_url"]
        .as_str()
        .expect("redirect_url is set");
    let path = redirect
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .expect("redirect_url has a path");

    let db = sqlite_db();
    let store = open(&db).await;
    let svc = spawn(store, Recorder::new(), config(fast_queue(), 1)).await;
    let base = format!("http://{}", svc.addr);
    let c = reqwest::Client::new();

    let r = c
        .get(format!("{base}{path}?code=0123abcd&state=s3cr3t"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap_or_default(),
        "text/html; charset=utf-8"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().contains_key("content-security-policy"));
    let html = r.text().await.expect("body");
    assert!(
        html.contains("app-manifests/0123abcd/conversions"),
        "{html}"
    );
    assert!(html.contains("s3cr3t"));

    let r = c
        .get(format!("{base}{path}?code=%3Cimg%20src%3Dx%3E"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let text = r.text().await.expect("body");
    assert!(text.contains("`code`") && !text.contains("<img"), "{text}");
    svc.shutdown().await;
}
