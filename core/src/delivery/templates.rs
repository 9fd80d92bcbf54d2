//! Message templates and their rendering: text parts take the values as
//! they are, HTML parts HTML-escaped.

/// Subject, text and HTML templates of each message. Placeholders:
/// `{code}` (OTP), `{link}` (magic URL), `{minutes}` (lifetime),
/// `{phrase}` (security phrase line, empty when none was asked for),
/// `{project}`. In the HTML templates every value is HTML-escaped, so
/// `href="{link}"` is the exact link.
///
/// The defaults put a link alone on its own line of the text part, between
/// `<` and `>` (RFC 3986, appendix C): a mail client that makes links of
/// bare text then ends it exactly there. Keep that when you write your own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Templates {
    /// Subject of the email OTP message.
    pub email_otp_subject: String,
    /// Text part of the email OTP message.
    pub email_otp_body: String,
    /// HTML part of the email OTP message.
    pub email_otp_html: String,
    /// Subject of the magic URL message.
    pub magic_url_subject: String,
    /// Text part of the magic URL message.
    pub magic_url_body: String,
    /// HTML part of the magic URL message.
    pub magic_url_html: String,
    /// Text of the SMS.
    pub sms_body: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            email_otp_subject: "Your {project} login code".to_owned(),
            email_otp_body: "Your login code is {code}\nIt expires in {minutes} minutes.\n{phrase}\nIf you did not ask for it, ignore this message.\n".to_owned(),
            email_otp_html: "<p>Your login code is <strong>{code}</strong></p>\n<p>It expires in {minutes} minutes.</p>\n<p>{phrase}</p>\n<p>If you did not ask for it, ignore this message.</p>\n".to_owned(),
            magic_url_subject: "Your {project} login link".to_owned(),
            magic_url_body: "Log in with this link:\n\n<{link}>\n\nIt expires in {minutes} minutes.\n{phrase}\nIf you did not ask for it, ignore this message.\n".to_owned(),
            magic_url_html: "<p>Log in with this link:</p>\n<p><a href=\"{link}\">Log in to {project}</a></p>\n<p>It expires in {minutes} minutes.</p>\n<p>{phrase}</p>\n<p>If you did not ask for it, ignore this message.</p>\n".to_owned(),
            sms_body: "Your {project} login code is {code}. It expires in {minutes} minutes.".to_owned(),
        }
    }
}

/// The values substituted into a template.
#[derive(Debug, Default)]
pub(crate) struct TemplateValues<'a> {
    pub code: &'a str,
    pub link: &'a str,
    pub minutes: u64,
    pub phrase: Option<&'a str>,
    pub project: &'a str,
}

/// Fills `{code}`, `{link}`, `{minutes}`, `{phrase}`, `{project}` in one pass
/// (substituted values are never scanned again), values as they are.
pub(crate) fn render(template: &str, values: &TemplateValues<'_>) -> String {
    fill(template, values, |value, out| out.push_str(value))
}

/// [`render`] for an HTML template: every value HTML-escaped.
pub(crate) fn render_html(template: &str, values: &TemplateValues<'_>) -> String {
    fill(template, values, escape_html)
}

fn fill(template: &str, values: &TemplateValues<'_>, write: impl Fn(&str, &mut String)) -> String {
    let phrase = values
        .phrase
        .map(|p| format!("Security phrase: {p}"))
        .unwrap_or_default();
    let minutes = values.minutes.to_string();
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let replaced = [
            ("{code}", values.code),
            ("{link}", values.link),
            ("{minutes}", minutes.as_str()),
            ("{phrase}", phrase.as_str()),
            ("{project}", values.project),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match replaced {
            Some((name, value)) => {
                write(value, &mut out);
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes `& < > " '` for HTML text and attribute values.
fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_substitutes_once() {
        let values = TemplateValues {
            code: "{link}",
            link: "L",
            minutes: 10,
            phrase: Some("red fox"),
            project: "p",
        };
        let text = render("{code} {minutes} {phrase} {unknown} {", &values);
        assert_eq!(text, "{link} 10 Security phrase: red fox {unknown} {");
    }

    #[test]
    fn html_values_are_escaped() {
        let values = TemplateValues {
            link: "https://a.example/cb?x=1&userId=u&secret=s'\"<>",
            project: "<b>",
            ..TemplateValues::default()
        };
        let html = render_html("<a href=\"{link}\">{project}</a>", &values);
        assert_eq!(
            html,
            "<a href=\"https://a.example/cb?x=1&amp;userId=u&amp;secret=s&#39;&quot;&lt;&gt;\">&lt;b&gt;</a>"
        );
    }

    #[test]
    fn default_text_puts_the_link_alone_between_angle_brackets() {
        let values = TemplateValues {
            link: "https://a.example/cb?userId=u&secret=s",
            minutes: 15,
            project: "p",
            ..TemplateValues::default()
        };
        let text = render(&Templates::default().magic_url_body, &values);
        assert!(
            text.lines().any(|l| l == "<https://a.example/cb?userId=u&secret=s>"),
            "{text}"
        );
    }
}
