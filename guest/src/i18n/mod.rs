//! The language of error messages: which of ZITADEL's catalogue languages a request gets,
//! and the texts of the keys this endpoint uses.
//!
//! The choice follows ZITADEL's translator: the caller's preferred language, else the best
//! match of `Accept-Language`, else the instance's default language, else English. A
//! requested tag matches a catalogue language when it names it exactly or when its primary
//! subtag does (`de-CH` gets `de`). A key with no text in the chosen language is sent in
//! English.

mod texts;

use texts::{LANGUAGES, Texts};

/// The i18n keys whose texts the endpoint sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `Errors.User.NotFound`.
    UserNotFound,
    /// `Errors.User.NotHuman`.
    UserNotHuman,
    /// `Errors.Internal`.
    Internal,
    /// `Errors.Token.Invalid`.
    TokenInvalid,
}

/// One language of the catalogue.
#[derive(Clone, Copy)]
pub struct Language(&'static Texts);

impl core::fmt::Debug for Language {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0.tag)
    }
}

impl PartialEq for Language {
    fn eq(&self, other: &Self) -> bool {
        self.0.tag == other.0.tag
    }
}

impl Language {
    /// English, the catalogue's fallback for every key.
    pub fn english() -> Self {
        Self::find("en").expect("the catalogue has English")
    }

    /// The catalogue language a single BCP 47 tag asks for, if any.
    pub fn find(tag: &str) -> Option<Self> {
        let tag = tag.trim();
        let exact = |t: &&Texts| t.tag.eq_ignore_ascii_case(tag);
        if let Some(texts) = LANGUAGES.iter().find(exact) {
            return Some(Self(texts));
        }
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        LANGUAGES
            .iter()
            .find(|t| t.tag.eq_ignore_ascii_case(primary))
            .map(Self)
    }

    /// Picks the language as ZITADEL does: `preferred` (the caller's own setting), else the
    /// best match of the `accept_language` header value, else `default` (the instance's),
    /// else English.
    pub fn choose(preferred: Option<&str>, accept_language: Option<&str>, default: &str) -> Self {
        preferred
            .and_then(Self::find)
            .or_else(|| accept_language.and_then(best_accepted))
            .or_else(|| Self::find(default))
            .unwrap_or_else(Self::english)
    }

    /// The language's BCP 47 tag.
    pub fn tag(self) -> &'static str {
        self.0.tag
    }

    /// The text of `key` in this language, or in English where it has none.
    pub fn text(self, key: Key) -> &'static str {
        let pick = |t: &Texts| match key {
            Key::UserNotFound => t.user_not_found,
            Key::UserNotHuman => t.user_not_human,
            Key::Internal => t.internal,
            Key::TokenInvalid => t.token_invalid,
        };
        pick(self.0)
            .or_else(|| pick(Self::english().0))
            .unwrap_or_default()
    }
}

/// The catalogue language that an `Accept-Language` value ranks highest: entries by
/// descending quality, ties in the order sent; `*`, `q=0` and malformed entries are skipped.
fn best_accepted(header: &str) -> Option<Language> {
    let mut best: Option<(u16, Language)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let Some(quality) = parts.map(str::trim).try_fold(1000, |q, param| {
            match param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                Some(value) => parse_quality(value),
                None => Some(q),
            }
        }) else {
            continue;
        };
        if quality == 0 || tag.is_empty() || tag == "*" {
            continue;
        }
        if best.is_some_and(|(q, _)| q >= quality) {
            continue;
        }
        if let Some(language) = Language::find(tag) {
            best = Some((quality, language));
        }
    }
    best.map(|(_, language)| language)
}

/// An HTTP quality value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction.bytes().chain(core::iter::repeat(b'0')).take(3);
    let fraction = thousandths.fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(fraction),
        "1" if fraction == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(language: Language) -> &'static str {
        language.tag()
    }

    #[test]
    fn preferred_language_wins_over_accept_language() {
        assert_eq!(tag(Language::choose(Some("it"), Some("fr"), "de")), "it");
    }

    #[test]
    fn unknown_preferred_language_falls_through_to_accept_language() {
        assert_eq!(tag(Language::choose(Some("xx"), Some("fr"), "de")), "fr");
    }

    #[test]
    fn highest_quality_wins_and_ties_keep_their_order() {
        assert_eq!(
            tag(Language::choose(None, Some("fr;q=0.5, de;q=0.9"), "en")),
            "de"
        );
        assert_eq!(tag(Language::choose(None, Some("it, fr"), "en")), "it");
    }

    #[test]
    fn region_subtag_matches_its_primary_language() {
        assert_eq!(tag(Language::choose(None, Some("de-CH"), "en")), "de");
    }

    #[test]
    fn zero_quality_wildcards_and_garbage_are_skipped() {
        let header = "de;q=0, *, fr;q=2, it;q=abc, ;q=1";
        assert_eq!(tag(Language::choose(None, Some(header), "ja")), "ja");
    }

    #[test]
    fn unknown_default_language_falls_back_to_english() {
        assert_eq!(tag(Language::choose(None, None, "tlh")), "en");
    }

    #[test]
    fn quality_values_parse_to_thousandths() {
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("0.125"), Some(125));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
    }

    #[test]
    fn english_texts_match_the_spec() {
        let en = Language::english();
        assert_eq!(en.text(Key::UserNotFound), "User could not be found");
        assert_eq!(en.text(Key::UserNotHuman), "The User must be personal");
        assert_eq!(en.text(Key::Internal), "An internal error occurred");
        assert_eq!(en.text(Key::TokenInvalid), "Token is invalid");
    }

    #[test]
    fn catalogue_is_sorted_and_complete_in_english() {
        assert!(LANGUAGES.windows(2).all(|w| w[0].tag < w[1].tag));
        assert_eq!(LANGUAGES.len(), 34, "ZITADEL ships 34 languages");
    }
}
