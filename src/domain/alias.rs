use std::fmt;

use rand::Rng;
use unicode_normalization::UnicodeNormalization;

/// Names strangers could mistake for staff or for the service, in English and Turkish, each with whether it is
/// refused inside other words too. An alias is refused when, compared by [`look_alike_key`] (so `Yönetici`,
/// Cyrillic `аdmin`, Greek `mοd` and dotless `admın` count):
/// - one of its parts (split at `_`) IS one of these, e.g. `Tanis_Destek`, `mod_42`, `resmi_hesap`;
/// - or it CONTAINS one marked `true`, e.g. `TanisDestek`, `superadmin`.
///
/// Words that are also ordinary word stems or names are refused only as whole parts: `mod` (`modern`), `sistem`
/// (`sistematik`), `resmi` (the name `Resmiye`), `yardım` (`yardımsever`), `root`, `ekip`. The price of the
/// inside rule is that a few ordinary words containing a staff word are refused (`tanışma` contains `tanış`);
/// for a service named `tanış` that is the right side to err on.
const RESERVED: &[(&str, bool)] = &[
    ("admin", true),
    ("administrator", true),
    ("moderator", true),
    ("moderatör", true),
    ("mod", false),
    ("tanis", true),
    ("tanış", true),
    ("system", false),
    ("sistem", false),
    ("support", true),
    ("destek", true),
    ("staff", false),
    ("official", true),
    ("resmi", false),
    ("root", false),
    ("yönetici", true),
    ("yetkili", true),
    ("görevli", true),
    ("operator", true),
    ("operatör", true),
    ("güvenlik", true),
    ("yardım", false),
    ("ekip", false),
    // What a purged account's kept records show (src/store/purge.rs): nobody may pass for one.
    ("deleted", false),
    ("silindi", false),
];

/// What an alias looks like, for comparing it with [`RESERVED`]: digits read as the letters they stand in for
/// (`adm1n`, `r00t`); the UTS #39 confusable skeleton, taken as written (capitals keep their look-alikes:
/// Cyrillic `А` and `Т`, Latin `I` and `l`) and again in lower case; combining marks dropped (`ö`→`o`, `ş`→`s`, `İ`→`I`);
/// lower case; and the letters that the skeleton leaves apart but a reader does not tell apart: `ı`, `l`
/// and `i` (Turkish dotless and dotted i, and the capital `I` that the skeleton reads as `l`). Two strings with
/// the same key look alike.
fn look_alike_key(s: &str) -> String {
    let leet: String = s
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'i',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
    let skeleton = |s: &str| -> String { unicode_security::confusable_detection::skeleton(s).collect() };
    // Once as written, once in lower case: the look-alikes of `M` and of `m` are not the same.
    skeleton(&skeleton(&leet).to_lowercase())
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if matches!(c, 'ı' | 'l') { 'i' } else { c })
        .collect()
}

/// The keys of [`RESERVED`], computed once.
fn reserved_keys() -> &'static [(String, bool)] {
    static KEYS: std::sync::OnceLock<Vec<(String, bool)>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| RESERVED.iter().map(|(word, inside)| (look_alike_key(word), *inside)).collect())
}

/// Whether the alias looks like staff or the service (see [`RESERVED`]).
fn looks_reserved(alias: &str) -> bool {
    let parts: Vec<String> = alias.split('_').filter(|p| !p.is_empty()).map(look_alike_key).collect();
    let whole: String = parts.concat();
    reserved_keys().iter().any(|(key, inside)| {
        parts.iter().any(|p| p == key) || *whole == **key || (*inside && whole.contains(key.as_str()))
    })
}

/// The public name, NFKC-normalised: 3–20 Unicode letters, digits or underscores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("the alias must have 3 to 20 letters, digits or underscores")]
    Invalid,
    #[error("the alias is reserved")]
    Reserved,
}

impl Alias {
    pub fn parse(input: &str) -> Result<Self, AliasError> {
        if input.len() > 200 {
            return Err(AliasError::Invalid);
        }
        let alias: String = input.nfkc().collect();
        let chars = alias.chars().count();
        if !(3..=20).contains(&chars) || !alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(AliasError::Invalid);
        }
        if looks_reserved(&alias) {
            return Err(AliasError::Reserved);
        }
        Ok(Self(alias))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key under which tags are unique: `KediAdam#9021` and `kediadam#9021` cannot
    /// both exist, so nobody can impersonate a stranger by changing case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// The key of an alias as typed (normalised as [`Alias::parse`] does, then lower-cased), to look one up.
pub fn lookup_key(input: &str) -> String {
    input.nfkc().collect::<String>().to_lowercase()
}

/// How a user is shown to anyone but themself and the admins: `alias#tag` (`kediadam#9021`), from the stored
/// alias and tag. The one place the two are joined.
pub fn handle(alias: &str, tag: &str) -> String {
    format!("{alias}#{tag}")
}

/// A handle as someone typed it (`KediAdam#9021`), to find its user: the alias in any case (its [`lookup_key`]),
/// and the tag. The alias is not held to the rules of [`Alias`] (an account may predate them), only bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedHandle {
    key: String,
    tag: Tag,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handle must be alias#tag with four digits")]
pub struct HandleError;

impl TypedHandle {
    pub fn parse(input: &str) -> Result<Self, HandleError> {
        let (alias, tag) = input.rsplit_once('#').ok_or(HandleError)?;
        if alias.is_empty() || alias.len() > 200 {
            return Err(HandleError);
        }
        let tag = Tag::parse(tag).ok_or(HandleError)?;
        Ok(Self { key: lookup_key(alias), tag })
    }

    /// The alias's key, as [`Alias::key`] makes it.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn tag(&self) -> Tag {
        self.tag
    }
}

/// How many distinct tags one alias can have (`0000`–`9999`).
pub const TAG_SPACE: u16 = 10_000;

/// The four digits after `#` that tell apart people with the same alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u16);

impl Tag {
    pub fn random() -> Self {
        Self(rand::rng().random_range(0..TAG_SPACE))
    }

    pub fn from_index(n: u16) -> Option<Self> {
        (n < TAG_SPACE).then_some(Self(n))
    }

    /// Parses the stored form (`"0042"`).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.parse().expect("four digits")))
    }

    pub fn index(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_letters_digits_and_underscore_are_accepted() {
        assert_eq!(Alias::parse("kediadam").unwrap().as_str(), "kediadam");
        assert_eq!(Alias::parse("Çılgın_Kedi42").unwrap().as_str(), "Çılgın_Kedi42");
        assert_eq!(Alias::parse("猫猫猫").unwrap().as_str(), "猫猫猫");
    }

    #[test]
    fn nfkc_folds_compatibility_forms_before_the_rules_apply() {
        // Full-width letters are the same alias as ASCII ones.
        assert_eq!(Alias::parse("ｋｅｄｉ").unwrap().as_str(), "kedi");
    }

    #[test]
    fn length_and_character_rules_are_enforced() {
        for bad in ["ab", "a".repeat(21).as_str(), "kedi adam", "kedi-adam", "kedi😀", ""] {
            assert_eq!(Alias::parse(bad), Err(AliasError::Invalid), "{bad:?}");
        }
        assert!(Alias::parse(&"ş".repeat(20)).is_ok());
    }

    /// Staff look-alikes are refused; ordinary names, Turkish ones with their own letters included, are not.
    #[test]
    fn reserved_names_are_refused_in_any_disguise_and_ordinary_names_pass() {
        let refused = [
            "admin",
            "Admin_1",
            "MODERATOR99",
            "tanis",
            "ｔａｎｉｓ",
            "Support",
            "Tanış",
            "TANIŞ",
            "Yönetici",
            "YÖNETİCİ",
            "yonetici",
            "Moderatör",
            "Yetkili",
            "yetkili_42",
            "Görevli",
            "\u{0430}dmin", // Cyrillic а
            "m\u{03bf}d",   // Greek ο
            "admın",        // dotless ı
            "ADMİN",        // dotted capital İ
            "Tanis_Destek",
            "TanisDestek",
            "destek_ekibi",
            "mod_kedi",
            "kedi_mod",
            "superadmin",
            "admin2024",
            "adm1n",
            "Sistem",
            "resmi_hesap",
            "official_tr",
            "root",
            "r00t",
            "GüvenlikBirimi",
            "yardım_masası",
            "\u{0422}\u{0410}NIS", // Cyrillic Т and А
            "t\u{0430}n\u{0131}s", // Cyrillic а, dotless ı
            "destek\u{0301}",      // a combining accent
            "ekip",
            "Operatör",
            "deleted",
            "Silindi_",
        ];
        for bad in refused {
            assert_eq!(Alias::parse(bad), Err(AliasError::Reserved), "{bad:?}");
        }
        let accepted = [
            "kediadam",
            "modern",
            "Işıl",
            "Gökçe",
            "Çağrı",
            "Kerem",
            "ekipman",
            "Ayşe_34",
            "Rootbeer",
            "moda_tutkunu",
            "Sistine",
            "Resmiye",
            "sistematik",
            "yardımsever",
        ];
        for good in accepted {
            assert!(Alias::parse(good).is_ok(), "{good:?} is an ordinary name");
        }
        assert!(refused.len() + accepted.len() >= 40);
    }

    #[test]
    fn a_typed_handle_is_an_alias_in_any_case_then_four_digits() {
        let longest_alias = "a".repeat(200);
        let long = format!("{longest_alias}#0001");
        let good = [
            ("kediadam#9021", "kediadam", 9021),
            ("KediAdam#0042", "kediadam", 42),
            ("ｋｅｄｉ#0000", "kedi", 0),
            ("a#b#9999", "a#b", 9999),
            (long.as_str(), longest_alias.as_str(), 1),
        ];
        for (input, key, tag) in good {
            let handle = TypedHandle::parse(input).unwrap();
            assert_eq!((handle.key(), handle.tag().index()), (key, tag), "{input:?}");
        }
        let too_long = format!("{}#0001", "a".repeat(201));
        for bad in
            ["", "kediadam", "#9021", "kediadam#", "kediadam#921", "kediadam#90210", "kediadam#9o21", too_long.as_str()]
        {
            assert_eq!(TypedHandle::parse(bad), Err(HandleError), "{bad:?}");
        }
        assert_eq!(HandleError.to_string(), "handle must be alias#tag with four digits");
    }

    #[test]
    fn tags_are_four_digits_with_leading_zeros() {
        assert_eq!(Tag::from_index(42).unwrap().to_string(), "0042");
        assert_eq!(Tag::parse("0042"), Tag::from_index(42));
        assert_eq!(Tag::from_index(TAG_SPACE), None);
        assert_eq!(Tag::parse("42"), None);
    }
}
