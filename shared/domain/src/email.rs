//! E-mail addresses as Marketbill accepts them: one bare address (`local@domain`), nothing a
//! mail header could take for something else. The buyer's comes from the marketplace, the
//! seller's from a form and the sender's from configuration: all three are hostile until this
//! says otherwise. Syntax is checked by the `email_address` crate (RFC 5321/5322), on top of
//! a stricter policy: no display name, no quoting, no comments, no list, no white space or
//! control characters anywhere.

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an e-mail address is required")]
    Empty,
    #[error("an e-mail address is at most 254 characters")]
    TooLong,
    #[error("an e-mail address is one bare address (local@domain): no name, brackets, quotes, list or line break")]
    NotBare,
    #[error("this is not a valid e-mail address")]
    Invalid,
}

/// Characters that, in a header, would end the address, start another, or quote around it.
fn is_forbidden(c: char) -> bool {
    c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | ':' | '"' | '(' | ')' | '[' | ']' | '\\')
}

/// Checks one address and returns it trimmed of surrounding blanks.
pub fn parse_address(text: &str) -> Result<String, EmailError> {
    // Surrounding spaces are forgiven; a CR, LF or other control character never is.
    let trimmed = text.trim_matches(' ');
    if trimmed.is_empty() {
        return Err(EmailError::Empty);
    }
    if trimmed.len() > 254 {
        return Err(EmailError::TooLong);
    }
    if trimmed.chars().any(is_forbidden) || trimmed.matches('@').count() != 1 {
        return Err(EmailError::NotBare);
    }
    let (local, domain) = trimmed.split_once('@').ok_or(EmailError::Invalid)?;
    if local.is_empty() || !local.is_ascii() || !domain.contains('.') || domain.ends_with('.') {
        return Err(EmailError::Invalid);
    }
    if !email_address::EmailAddress::is_valid(trimmed) {
        return Err(EmailError::Invalid);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_pass() {
        for ok in ["x8f2k@relay.cdiscount.example", "factures+2026@maison-lumiere.example", " a.b@c.fr "] {
            assert!(parse_address(ok).is_ok(), "{ok}");
        }
        assert_eq!(parse_address(" a.b@c.fr ").as_deref(), Ok("a.b@c.fr"));
    }

    #[test]
    fn header_tricks_are_refused() {
        for bad in [
            "a@x.fr\r\nBcc: evil@y.fr",
            "a@x.fr\nCc: evil@y.fr",
            "a@x.fr\r",
            "a@x.fr>, <b@evil.fr",
            "a@x.fr>,<b@y.fr",
            "a@x.fr, b@y.fr",
            "Bob <bob@x.fr>",
            "\"a@x.fr\" <b@evil.fr>",
            "\"quoted local\"@x.fr",
            "a@x.fr (comment)",
            "a@b@x.fr",
            "a@[127.0.0.1]",
            "a@x.fr;b@y.fr",
            "a\u{0}@x.fr",
            "a\t@x.fr",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in ["", "   ", "nobody", "@x.fr", "a@", "a@localhost", "a@x.", ".a@x.fr", "a..b@x.fr"] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_address(&format!("{}@x.fr", "a".repeat(260))), Err(EmailError::TooLong));
    }
}
