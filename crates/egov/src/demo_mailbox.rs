//! The demo's mailbox page: every message the demo sent, as its recipient
//! would read it, so verification and reset links can be followed without
//! a mail server. Mounted only by `egov demo` (never with a real SMTP URL).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use egov_mail::MailSink;
use egov_web::i18n::ShellText;
use egov_web::{AppError, PageContext, PageMeta};

pub fn router(sink: MailSink) -> Router {
    Router::new().route("/demo/mailbox", get(mailbox)).with_state(sink)
}

struct MessageView {
    to: String,
    subject: String,
    received: String,
    /// Lines, each marked whether it is a link.
    lines: Vec<(bool, String)>,
}

#[derive(Template)]
#[template(path = "demo_mailbox.html")]
struct MailboxPage {
    page: PageMeta,
    shell: &'static ShellText,
    title: &'static str,
    lead: &'static str,
    empty: &'static str,
    messages: Vec<MessageView>,
}

async fn mailbox(State(sink): State<MailSink>, context: PageContext) -> Result<Response, AppError> {
    let messages = sink
        .messages()
        .into_iter()
        .map(|mail| MessageView {
            to: mail.recipients.join(", "),
            subject: mail.subject,
            received: (mail.received_at + chrono::Duration::seconds(i64::from(egov_core::clock::VN_OFFSET_SECONDS)))
                .format("%d/%m/%Y %H:%M:%S")
                .to_string(),
            lines: mail
                .text
                .lines()
                .map(|line| {
                    (
                        line.starts_with("https://") || line.starts_with("http://"),
                        line.to_owned(),
                    )
                })
                .collect(),
        })
        .collect();
    let title = context.lang.pick("Hộp thư của bản trình diễn", "Demo mailbox");
    let page = MailboxPage {
        page: context.meta(title),
        shell: context.shell(),
        title,
        lead: context.lang.pick(
            "Thư do bản trình diễn gửi đi (xác minh thư điện tử, đặt lại mật khẩu, thông báo), mới nhất trước. Hệ thống thật gửi qua máy chủ SMTP.",
            "Mail the demo sent (address verification, password reset, notices), newest first. A real instance sends through an SMTP server.",
        ),
        empty: context.lang.pick("Chưa có thư nào.", "No mail yet."),
        messages,
    };
    Ok(Html(page.render()?).into_response())
}
