//! Matching keys: how people's names, company names and e-mail addresses are folded so
//! that "Jürgen Müller" meets "JURGEN MULLER" and "Ромашка ООО" meets "ООО «Ромашка»".
//! Keys are for matching only; what people typed is stored and shown unchanged (phones
//! are normalised to E.164 by [`crate::common::validate::phone`]).

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Legal-form words dropped from either end of a company name: English, German,
/// French, Spanish/Italian, Dutch, Nordic and Russian forms (Cyrillic and Latin
/// spellings), compared after folding.
const LEGAL_FORMS: &[&str] = &[
    "llc",
    "ltd",
    "limited",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "plc",
    "llp",
    "lp",
    "gmbh",
    "ag",
    "kg",
    "ohg",
    "ug",
    "ev",
    "sarl",
    "sa",
    "sas",
    "sasu",
    "eurl",
    "sl",
    "srl",
    "spa",
    "bv",
    "nv",
    "ab",
    "aps",
    "oy",
    "ooo",
    "oao",
    "zao",
    "pao",
    "ip",
    "ооо",
    "оао",
    "зао",
    "пао",
    "ао",
    "ип",
];

/// A name folded for matching: compatibility forms and accents removed (NFKD without
/// combining marks), letters without a decomposition spelled out (ß → ss, ø → o, …),
/// lower case, every run of non-alphanumeric characters one space, trimmed.
/// Idempotent: folding a folded name changes nothing.
pub(crate) fn fold_name(text: &str) -> String {
    // Decomposed, lower-cased, decomposed again: lower-casing can bring back marks
    // ('İ' → "i\u{307}") and compatibility letters can decompose to capitals ('ℌ' → 'H'),
    // and a key must not change when folded again.
    let letters: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut folded = String::with_capacity(letters.len());
    let mut space = false;
    for c in letters.nfkd().filter(|c| !is_combining_mark(*c)) {
        let spelled = match c {
            'ß' => "ss",
            'æ' => "ae",
            'œ' => "oe",
            'ø' => "o",
            'đ' | 'ð' => "d",
            'ł' => "l",
            'þ' => "th",
            'ı' => "i",
            _ => "",
        };
        if !spelled.is_empty() {
            push_word_char(&mut folded, &mut space, spelled);
        } else if c.is_alphanumeric() {
            let mut buffer = [0; 4];
            push_word_char(&mut folded, &mut space, c.encode_utf8(&mut buffer));
        } else {
            space = !folded.is_empty();
        }
    }
    folded
}

fn push_word_char(folded: &mut String, space: &mut bool, text: &str) {
    if *space {
        folded.push(' ');
        *space = false;
    }
    folded.push_str(text);
}

/// A company name folded like [`fold_name`], with legal forms dropped from both ends
/// ("Acme Ltd." and "ACME" meet; "ООО Ромашка" and "Ромашка" meet). A name that is
/// nothing but legal forms is kept whole, so the key is never empty for a non-empty
/// name. Idempotent.
pub(crate) fn fold_company(text: &str) -> String {
    // Dots go first so that abbreviations stay words: "S.A.R.L." is "sarl", "Co." "co".
    let folded = fold_name(&text.replace('.', ""));
    let mut words: Vec<&str> = folded.split(' ').collect();
    while words.len() > 1 && LEGAL_FORMS.contains(&words[words.len() - 1]) {
        words.pop();
    }
    while words.len() > 1 && LEGAL_FORMS.contains(&words[0]) {
        words.remove(0);
    }
    words.join(" ")
}

/// How e-mail addresses are compared, per the business's mail domains' rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct EmailPolicy {
    /// Domains where `name+anything@domain` is delivered to `name@domain` (e.g.
    /// `"gmail.com"`, `"fastmail.com"`): the `+…` part is ignored when matching.
    /// Empty by default — on many servers `+` is an ordinary character.
    pub fold_plus: Vec<String>,
}

impl EmailPolicy {
    /// An address with any `+tag` removed (`anna+shop@x.de` → `anna@x.de`), whatever
    /// the policy: the widest match, which [`EmailPolicy::key`] then narrows. Text
    /// without an `@` (a phone) comes back unchanged.
    pub fn base(email: &str) -> String {
        match email.rsplit_once('@') {
            Some((local, domain)) => match local.split_once('+') {
                Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
                _ => email.to_string(),
            },
            None => email.to_string(),
        }
    }

    /// The matching key of a stored (already validated, lower-case) address.
    pub fn key(&self, email: &str) -> String {
        let folds = email.rsplit_once('@').is_some_and(|(_, domain)| {
            self.fold_plus
                .iter()
                .any(|wanted| wanted.trim().eq_ignore_ascii_case(domain))
        });
        if folds {
            Self::base(email)
        } else {
            email.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_meet_across_case_accents_and_punctuation() {
        assert_eq!(
            fold_name("  Jürgen  MÜLLER-Lüdenscheidt "),
            "jurgen muller ludenscheidt"
        );
        assert_eq!(fold_name("Straße"), "strasse");
        assert_eq!(fold_name("Søren Ærø"), "soren aero");
        assert_eq!(fold_name("Алёна Петрова"), "алена петрова");
        assert_eq!(fold_name("ＡＢＣ １２３"), "abc 123");
        assert_eq!(fold_name("!!!"), "");
    }

    #[test]
    fn company_legal_forms_fall_away_at_either_end() {
        assert_eq!(fold_company("Acme Ltd."), "acme");
        assert_eq!(fold_company("ACME, Inc"), "acme");
        assert_eq!(
            fold_company("Fenster Schmidt GmbH & Co. KG"),
            "fenster schmidt"
        );
        assert_eq!(fold_company("ООО «Ромашка»"), "ромашка");
        assert_eq!(fold_company("S.A.R.L. Dupont"), "dupont");
        assert_eq!(fold_company("SARL Dupont"), "dupont");
        assert_eq!(fold_company("LLC"), "llc");
    }

    #[test]
    fn plus_addresses_fold_only_where_the_policy_says() {
        let policy = EmailPolicy {
            fold_plus: vec!["gmail.com".into()],
        };
        assert_eq!(policy.key("anna+shop@gmail.com"), "anna@gmail.com");
        assert_eq!(policy.key("anna+shop@firma.de"), "anna+shop@firma.de");
        assert_eq!(policy.key("+x@gmail.com"), "+x@gmail.com");
        assert_eq!(
            EmailPolicy::default().key("anna+shop@gmail.com"),
            "anna+shop@gmail.com"
        );
    }

    proptest::proptest! {
        #[test]
        fn folding_is_idempotent(text in "\\PC{0,40}") {
            let name = fold_name(&text);
            proptest::prop_assert_eq!(fold_name(&name), name.clone());
            let company = fold_company(&text);
            proptest::prop_assert_eq!(fold_company(&company), company);
        }
    }
}
