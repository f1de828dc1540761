//! Translations: the message catalogue (`locales/*.yml`) looked up per request locale.
//!
//! The locale is always passed in; nothing sets a process-wide locale, since one server
//! answers users of both languages at once.

use papilio_core::FieldError;

/// The text of `key` in `locale`, or the key itself when the catalogue lacks it.
pub fn tr(locale: &str, key: &str) -> String {
    rust_i18n::t!(key, locale = locale).into_owned()
}

/// The text of `key` with `%{name}` placeholders filled from `params`.
pub fn tr_with(locale: &str, key: &str, params: &[(String, String)]) -> String {
    let mut text = tr(locale, key);
    for (name, value) in params {
        text = text.replace(&format!("%{{{name}}}"), value);
    }
    text
}

/// Whether the catalogue has `key` in `locale` (not just its fallback).
pub fn has(locale: &str, key: &str) -> bool {
    rust_i18n::available_locales!().iter().any(|l| *l == locale) && tr(locale, key) != key
}

/// The label of a master-data entity or document type.
pub fn entity_label(locale: &str, kind: &str) -> String {
    let key = format!("entity.{kind}");
    let text = tr(locale, &key);
    if text == key { kind.to_owned() } else { text }
}

/// The label of field `name` of `kind`: an entity-specific label if the catalogue has one,
/// else the shared one, else the name.
pub fn field_label(locale: &str, kind: &str, name: &str) -> String {
    let specific = format!("label.{kind}.{name}");
    let text = tr(locale, &specific);
    if text != specific {
        return text;
    }
    // Line fields arrive as `lines[3].quantity`: label them by the last part, with the line.
    if let Some((prefix, last)) = name.rsplit_once('.')
        && let Some(n) = prefix.strip_prefix("lines[").and_then(|p| p.strip_suffix(']'))
    {
        let line = n.parse::<usize>().map(|i| i + 1).unwrap_or(0);
        return tr_with(
            locale,
            "field.line_field",
            &[("line".into(), line.to_string()), ("field".into(), field_label(locale, kind, last))],
        );
    }
    let shared = format!("field.{name}");
    let text = tr(locale, &shared);
    if text == shared { name.to_owned() } else { text }
}

/// The message for one field error: "<label>: <rule text>".
pub fn field_error(locale: &str, kind: &str, e: &FieldError) -> String {
    let mut params = e.params.clone();
    params.push(("field".into(), field_label(locale, kind, &e.field)));
    let rule = tr_with(locale, &format!("rule.{}", e.rule), &params);
    format!("{}: {rule}", field_label(locale, kind, &e.field))
}

/// The rule text alone, for showing next to its field in a form.
pub fn rule_text(locale: &str, e: &FieldError) -> String {
    tr_with(locale, &format!("rule.{}", e.rule), &e.params)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn keys_of_flat_file(name: &str) -> BTreeSet<String> {
        let path = format!("{}/locales/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("_version") && l.contains(':'))
            .map(|l| l.split(':').next().unwrap().trim().to_owned())
            .collect()
    }

    #[test]
    fn both_languages_have_every_message() {
        // The two flat catalogues hold the same keys.
        assert_eq!(keys_of_flat_file("en.yml"), keys_of_flat_file("zh-CN.yml"));
        // Each "_version: 2" file gives every key in both languages.
        let dir = format!("{}/locales", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.starts_with("_version: 2") {
                continue;
            }
            let mut key: Option<String> = None;
            let mut langs: BTreeSet<String> = BTreeSet::new();
            let check = |key: &Option<String>, langs: &BTreeSet<String>| {
                if let Some(k) = key {
                    let want: BTreeSet<String> = ["en", "zh-CN"].map(String::from).into();
                    assert_eq!(langs, &want, "{} in {}", k, path.display());
                }
            };
            for line in text.lines().skip(1) {
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                if let Some(lang) = line.strip_prefix("  ") {
                    langs.insert(lang.split(':').next().unwrap().trim().to_owned());
                } else {
                    check(&key, &langs);
                    key = Some(line.trim_end_matches(':').to_owned());
                    langs.clear();
                }
            }
            check(&key, &langs);
        }
    }

    #[test]
    fn every_master_field_has_a_label_in_both_languages() {
        for def in papilio_core::entities::ALL {
            for locale in ["en", "zh-CN"] {
                assert!(
                    super::has(locale, &format!("entity.{}", def.kind)),
                    "entity.{} {locale}",
                    def.kind
                );
                for f in def.fields {
                    assert!(
                        super::has(locale, &format!("field.{}", f.name)),
                        "field.{} {locale}",
                        f.name
                    );
                }
            }
        }
    }
}
