//! The SMTP sink's side of a connection: the commands, STARTTLS, AUTH and
//! the rules of [`crate::smtp_tls`], for [`crate::sinks::SmtpSink`].

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::sinks::{angle, parse_message, Mail};
use crate::smtp_tls::{accept, b64, plain_credentials, unb64, Acceptor, Mechanism, SinkAuth, SinkEvent, SinkIo};

pub(crate) struct SinkShared {
    pub(crate) tls: Acceptor,
    pub(crate) auth: Option<SinkAuth>,
    pub(crate) mails: Arc<Mutex<Vec<Mail>>>,
    pub(crate) events: Arc<Mutex<Vec<SinkEvent>>>,
}

impl SinkShared {
    fn event(&self, event: SinkEvent) {
        self.events.lock().expect("events").push(event);
    }
}

type Conn = BufReader<Box<dyn SinkIo>>;

async fn reply(conn: &mut Conn, text: &str) -> std::io::Result<()> {
    conn.write_all(text.as_bytes()).await?;
    conn.flush().await
}

/// Reads one line; `None` at the end of the connection.
async fn next_line(conn: &mut Conn) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    Ok((conn.read_line(&mut line).await? > 0).then_some(line))
}

pub(crate) async fn smtp_session(stream: TcpStream, sink: Arc<SinkShared>) -> std::io::Result<()> {
    let mut io: Box<dyn SinkIo> = Box::new(stream);
    let mut tls = false;
    if let Acceptor::Implicit(acceptor) = &sink.tls {
        match accept(acceptor, io).await {
            Ok(upgraded) => io = upgraded,
            Err(error) => {
                sink.event(SinkEvent::TlsFailed(error.to_string()));
                return Ok(());
            }
        }
        tls = true;
        sink.event(SinkEvent::TlsEstablished);
    }
    let mut conn: Conn = BufReader::new(io);
    reply(&mut conn, "220 tokengate-test-sink ESMTP\r\n").await?;
    let mut authenticated: Option<(String, Mechanism)> = None;
    let mut from: Option<String> = None;
    let mut to = Vec::new();
    loop {
        let Some(line) = next_line(&mut conn).await? else {
            return Ok(());
        };
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let verb = upper.split([' ', ':']).next().unwrap_or_default().to_owned();
        let needs_starttls = matches!(sink.tls, Acceptor::StartTls(_)) && !tls;
        let refuse = |code: u16| {
            sink.event(SinkEvent::Refused {
                command: verb.clone(),
                code,
            })
        };
        match verb.as_str() {
            "EHLO" => {
                let mut lines = vec!["tokengate-test-sink".to_owned(), "8BITMIME".to_owned()];
                if needs_starttls {
                    lines.push("STARTTLS".to_owned());
                } else if let Some(auth) = &sink.auth {
                    let names: Vec<&str> = auth.mechanisms.iter().map(|m| m.name()).collect();
                    lines.push(format!("AUTH {}", names.join(" ")));
                }
                lines.push("SMTPUTF8".to_owned());
                let last = lines.len() - 1;
                let text: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                reply(&mut conn, &text).await?;
            }
            "HELO" | "RSET" | "NOOP" => {
                if verb == "RSET" {
                    (from, to) = (None, Vec::new());
                }
                reply(&mut conn, "250 OK\r\n").await?;
            }
            "STARTTLS" => {
                let Acceptor::StartTls(acceptor) = &sink.tls else {
                    refuse(502);
                    reply(&mut conn, "502 5.5.1 STARTTLS not offered\r\n").await?;
                    continue;
                };
                if tls || !conn.buffer().is_empty() {
                    // Already TLS, or commands pipelined behind STARTTLS
                    // (they would run as if they came over TLS).
                    refuse(503);
                    reply(&mut conn, "503 5.5.1 Bad sequence of commands\r\n").await?;
                    continue;
                }
                reply(&mut conn, "220 2.0.0 Ready to start TLS\r\n").await?;
                match accept(acceptor, conn.into_inner()).await {
                    Ok(upgraded) => conn = BufReader::new(upgraded),
                    Err(error) => {
                        sink.event(SinkEvent::TlsFailed(error.to_string()));
                        return Ok(());
                    }
                }
                tls = true;
                sink.event(SinkEvent::TlsEstablished);
                // RFC 3207: the client starts over with EHLO.
                (authenticated, from, to) = (None, None, Vec::new());
            }
            "AUTH" => {
                if needs_starttls {
                    refuse(530);
                    reply(&mut conn, "530 5.7.0 Must issue a STARTTLS command first\r\n").await?;
                    continue;
                }
                let Some(auth) = &sink.auth else {
                    refuse(502);
                    reply(&mut conn, "502 5.5.1 AUTH not offered\r\n").await?;
                    continue;
                };
                if authenticated.is_some() {
                    refuse(503);
                    reply(&mut conn, "503 5.5.1 Already authenticated\r\n").await?;
                    continue;
                }
                let mut words = command.split_whitespace().skip(1);
                let named = words.next().unwrap_or_default();
                let Some(mechanism) = auth
                    .mechanisms
                    .iter()
                    .copied()
                    .find(|m| m.name().eq_ignore_ascii_case(named))
                else {
                    refuse(504);
                    reply(&mut conn, "504 5.5.4 Unrecognized authentication type\r\n").await?;
                    continue;
                };
                let initial = words.next().map(str::to_owned);
                let Some((user, password)) = read_credentials(&mut conn, mechanism, initial).await? else {
                    refuse(501);
                    reply(&mut conn, "501 5.5.2 Cannot decode the response\r\n").await?;
                    continue;
                };
                if user == auth.user && password == auth.password {
                    sink.event(SinkEvent::AuthSucceeded {
                        user: user.clone(),
                        mechanism,
                    });
                    authenticated = Some((user, mechanism));
                    reply(&mut conn, "235 2.7.0 Authentication successful\r\n").await?;
                } else {
                    sink.event(SinkEvent::AuthFailed { user, mechanism });
                    reply(&mut conn, "535 5.7.8 Authentication credentials invalid\r\n").await?;
                }
            }
            "MAIL" | "RCPT" | "DATA" if needs_starttls => {
                refuse(530);
                reply(&mut conn, "530 5.7.0 Must issue a STARTTLS command first\r\n").await?;
            }
            "MAIL" | "RCPT" | "DATA" if sink.auth.is_some() && authenticated.is_none() => {
                refuse(530);
                reply(&mut conn, "530 5.7.0 Authentication required\r\n").await?;
            }
            "MAIL" => {
                from = Some(angle(&command));
                to.clear();
                reply(&mut conn, "250 OK\r\n").await?;
            }
            "RCPT" if from.is_none() => {
                refuse(503);
                reply(&mut conn, "503 5.5.1 MAIL first\r\n").await?;
            }
            "RCPT" => {
                to.push(angle(&command));
                reply(&mut conn, "250 OK\r\n").await?;
            }
            "DATA" if to.is_empty() => {
                refuse(503);
                reply(&mut conn, "503 5.5.1 RCPT first\r\n").await?;
            }
            "DATA" => {
                reply(&mut conn, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    let Some(line) = next_line(&mut conn).await? else {
                        return Ok(());
                    };
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let parsed = parse_message(&data);
                sink.mails.lock().expect("mails").push(Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    subject: parsed.subject,
                    body: parsed.text,
                    html: parsed.html,
                    content_type: parsed.content_type,
                    tls,
                    auth_user: authenticated.as_ref().map(|(user, _)| user.clone()),
                    auth_mechanism: authenticated.as_ref().map(|(_, mechanism)| *mechanism),
                });
                reply(&mut conn, "250 OK queued\r\n").await?;
            }
            "QUIT" => {
                reply(&mut conn, "221 Bye\r\n").await?;
                return Ok(());
            }
            _ => {
                refuse(502);
                reply(&mut conn, "502 Command not implemented\r\n").await?;
            }
        }
    }
}

/// User and password of an AUTH exchange (initial response or `334`
/// challenges); `None` if the client's answers do not decode.
async fn read_credentials(
    conn: &mut Conn,
    mechanism: Mechanism,
    initial: Option<String>,
) -> std::io::Result<Option<(String, String)>> {
    match mechanism {
        Mechanism::Plain => {
            let response = match initial {
                Some(response) => response,
                None => {
                    reply(conn, "334 \r\n").await?;
                    next_line(conn).await?.unwrap_or_default()
                }
            };
            Ok(plain_credentials(response.trim()))
        }
        Mechanism::Login => {
            let user = match initial {
                Some(user) => user,
                None => {
                    reply(conn, &format!("334 {}\r\n", b64("Username:"))).await?;
                    next_line(conn).await?.unwrap_or_default()
                }
            };
            reply(conn, &format!("334 {}\r\n", b64("Password:"))).await?;
            let password = next_line(conn).await?.unwrap_or_default();
            Ok(unb64(&user).zip(unb64(&password)))
        }
    }
}
