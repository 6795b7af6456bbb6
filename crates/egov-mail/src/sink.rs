//! A local SMTP server that accepts every message and keeps it in memory:
//! the mail server of the demo and the tests. It speaks enough of RFC 5321
//! for a real client (lettre): EHLO/HELO, MAIL, RCPT, DATA with dot
//! unstuffing, RSET, NOOP, QUIT. Messages are decoded with mail-parser, so
//! readers see the subject and the text as the recipient would.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The most messages kept; older ones are dropped.
const KEEP: usize = 500;
/// The largest message accepted, in bytes.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<VecDeque<ReceivedMail>>,
    arrived: Notify,
}

/// A running sink; clones share the mailbox.
#[derive(Debug, Clone)]
pub struct MailSink {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl MailSink {
    /// Listens on `127.0.0.1` at a free port and serves until the runtime
    /// stops.
    pub async fn start() -> std::io::Result<MailSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let serving = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    if let Err(error) = session(stream, &shared).await {
                        tracing::debug!(%error, "SMTP sink session ended");
                    }
                });
            }
        });
        Ok(MailSink { address, shared })
    }

    /// The URL a [`crate::Mailer`] sends to.
    pub fn smtp_url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// Every message kept, newest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.lock().iter().rev().cloned().collect()
    }

    /// Messages to `recipient` (compared without case), newest first.
    pub fn messages_to(&self, recipient: &str) -> Vec<ReceivedMail> {
        self.lock()
            .iter()
            .rev()
            .filter(|mail| mail.recipients.iter().any(|to| to.eq_ignore_ascii_case(recipient)))
            .cloned()
            .collect()
    }

    /// Waits up to `timeout` for at least `count` messages to `recipient`.
    pub async fn wait_for(&self, recipient: &str, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let messages = self.messages_to(recipient);
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.messages_to(recipient);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ReceivedMail>> {
        self.shared
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keep(&self, mail: ReceivedMail) {
        {
            let mut messages = self.lock();
            if messages.len() == KEEP {
                messages.pop_front();
            }
            messages.push_back(mail);
        }
        self.shared.arrived.notify_waiters();
    }
}

/// Strips `<…>` and parameters from a MAIL/RCPT argument.
fn path_argument(argument: &str) -> String {
    let argument = argument.trim();
    let path = argument.split_whitespace().next().unwrap_or_default();
    path.trim_start_matches('<').trim_end_matches('>').to_owned()
}

async fn session(stream: TcpStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    let sink = MailSink {
        address: stream.local_addr()?,
        shared: Arc::clone(shared),
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 egov-sink ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command.get(..4).unwrap_or(command).to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-egov-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 egov-sink\r\n",
            "MAIL" => {
                from = path_argument(command.get(10..).unwrap_or_default());
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(path_argument(command.get(8..).unwrap_or_default()));
                b"250 OK\r\n"
            }
            "DATA" if recipients.is_empty() => b"503 RCPT first\r\n",
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let Some(raw) = read_data(&mut reader).await? else {
                    write.write_all(b"552 Message too large\r\n").await?;
                    continue;
                };
                sink.keep(parse(&from, std::mem::take(&mut recipients), &raw));
                b"250 OK queued\r\n"
            }
            "RSET" => {
                from.clear();
                recipients.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA up to the lone dot, undoing dot-stuffing; `None` when the
/// message is too large (the rest is still consumed).
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    let mut too_large = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_large).then_some(raw));
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if raw.len() + content.len() > MAX_MESSAGE {
            too_large = true;
        } else {
            raw.extend_from_slice(content);
        }
    }
}

fn parse(from: &str, recipients: Vec<String>, raw: &[u8]) -> ReceivedMail {
    let message = mail_parser::MessageParser::default().parse(raw);
    let subject = message
        .as_ref()
        .and_then(|message| message.subject())
        .unwrap_or_default()
        .to_owned();
    let text = message
        .as_ref()
        .and_then(|message| message.body_text(0))
        .map(|text| text.replace("\r\n", "\n"))
        .unwrap_or_default();
    ReceivedMail {
        received_at: chrono::Utc::now(),
        from: from.to_owned(),
        recipients,
        subject,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mailer, OutgoingMail};

    #[tokio::test]
    async fn a_real_client_delivers_vietnamese_text_intact() {
        let sink = MailSink::start().await.expect("sink");
        let mailer = Mailer::new(&sink.smtp_url(), "Cổng dịch vụ công <no-reply@example.vn>").expect("mailer");
        let text = "Xin chào Nguyễn Văn An,\n.dòng bắt đầu bằng dấu chấm\nĐường dẫn: https://example.vn/a?b=1&c=2\n";
        mailer
            .send(&OutgoingMail {
                to: "an.nguyen@example.vn".to_owned(),
                subject: "Xác minh địa chỉ thư điện tử".to_owned(),
                text: text.to_owned(),
            })
            .await
            .expect("delivered");
        let received = sink.wait_for("AN.NGUYEN@example.vn", 1, Duration::from_secs(5)).await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].subject, "Xác minh địa chỉ thư điện tử");
        assert_eq!(received[0].text.trim_end(), text.trim_end());
        assert_eq!(received[0].from, "no-reply@example.vn");
        assert!(sink.messages_to("someone.else@example.vn").is_empty());
    }

    #[tokio::test]
    async fn a_bad_recipient_is_refused_before_any_smtp() {
        let sink = MailSink::start().await.expect("sink");
        let mailer = Mailer::new(&sink.smtp_url(), "no-reply@example.vn").expect("mailer");
        let error = mailer
            .send(&OutgoingMail {
                to: "not an address".to_owned(),
                subject: "x".to_owned(),
                text: "x".to_owned(),
            })
            .await
            .expect_err("refused");
        assert!(matches!(error, crate::MailError::Address { .. }));
        assert!(sink.messages().is_empty());
    }

    #[test]
    fn smtp_paths_lose_their_brackets_and_parameters() {
        assert_eq!(path_argument(" <a@b.vn> SIZE=100"), "a@b.vn");
        assert_eq!(path_argument("a@b.vn"), "a@b.vn");
    }
}
