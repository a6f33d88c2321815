//! The shared page rules of `lianfang-web`, in a real Chromium: a form of
//! the page's own origin posts and redirects; the same POST from another
//! origin, with a wrong Host, or without the `csrf` field is refused with
//! 403 and changes nothing. Also proves the browser harness itself.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use lianfang_tests::browser::Browser;
use lianfang_tests::http1;
use lianfang_web::csrf::Secret;
use lianfang_web::guard::{Origins, forbidden, same_origin};

#[derive(Clone)]
struct App {
    secret: Secret,
    notes: Arc<Mutex<Vec<String>>>,
}

#[derive(serde::Deserialize)]
struct NoteForm {
    text: String,
    csrf: Option<String>,
}

async fn page(State(app): State<App>) -> Html<String> {
    let notes = app.notes.lock().unwrap().join("|");
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><link rel=\"stylesheet\" href=\"{}\">\
         <main><h1>记录</h1><p id=\"notes\">{notes}</p><form method=\"post\" action=\"/\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><div class=\"field\"><label>内容</label>\
         <input type=\"text\" name=\"text\"></div><button type=\"submit\">保存</button></form></main></html>",
        lianfang_web::STYLE_PATH,
        app.secret.token("page")
    ))
}

async fn post(State(app): State<App>, Form(form): Form<NoteForm>) -> Response {
    if !app.secret.verify("page", form.csrf.as_deref()) {
        return forbidden("the form's csrf field is missing or wrong");
    }
    app.notes.lock().unwrap().push(form.text);
    Redirect::to("/").into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_form_posts_foreign_posts_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App {
        secret: Secret::random(),
        notes: Arc::default(),
    };
    let origins = Arc::new(Origins::for_listen(addr, false, &[]));
    let router = Router::new()
        .route("/", get(page).post(post))
        .route(lianfang_web::STYLE_PATH, get(lianfang_web::style))
        .layer(axum::middleware::from_fn_with_state(origins, same_origin))
        .with_state(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let token = app.secret.token("page");
    let foreign = tokio::task::spawn_blocking(move || {
        let cross = http1::post_form(
            addr,
            "/",
            &[("Origin", "http://evil.example")],
            &[("text", "cross"), ("csrf", &token)],
        )
        .unwrap();
        let rebinding = http1::post_form(
            addr,
            "/",
            &[("Host", "evil.example"), ("Origin", "http://evil.example")],
            &[("text", "rebinding"), ("csrf", &token)],
        )
        .unwrap();
        let own_origin = format!("http://{addr}");
        let no_token = http1::post_form(
            addr,
            "/",
            &[("Origin", &own_origin)],
            &[("text", "no token")],
        )
        .unwrap();
        (cross.status, rebinding.status, no_token.status)
    })
    .await
    .unwrap();
    assert_eq!(foreign, (403, 403, 403));
    assert!(
        app.notes.lock().unwrap().is_empty(),
        "a refused POST changed nothing"
    );

    let mut browser = Browser::start("web_guard").await;
    browser.goto(&format!("http://{addr}/")).await;
    browser.fill("text", "三问三登记 ok").await;
    browser.screenshot("form").await;
    browser.click("button[type=submit]").await;
    assert_eq!(browser.url().await, format!("http://{addr}/"));
    let text = browser.text().await;
    assert!(text.contains("三问三登记 ok"), "{text}");
    browser.screenshot("after-post").await;
    browser.close().await;
    assert_eq!(
        *app.notes.lock().unwrap(),
        vec!["三问三登记 ok".to_string()]
    );
}
