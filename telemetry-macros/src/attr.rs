//! Parses `#[telemetry(...)]` attributes. Each key is one branch, with its
//! syntax in a comment; every error points at the key it is about.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr};

use crate::ctxt::Ctxt;
use crate::names::suggest;

/// A value with the span of the key that set it.
pub(crate) struct WithSpan<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// What is sent in place of a redacted value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedactMode {
    Drop,
    Marker,
    Hash,
    Length,
}

const REDACT_MODES: [&str; 4] = ["drop", "marker", "hash", "length"];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Classification {
    Public,
    OptIn,
    Redact(RedactMode),
}

impl Classification {
    fn key(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::OptIn => "opt_in",
            Classification::Redact(_) => "redact",
        }
    }
}

/// `#[telemetry(...)]` on the event struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) name: Option<LitStr>,
    pub(crate) opt_in: Option<Span>,
    pub(crate) sample: Option<WithSpan<f64>>,
    pub(crate) krate: Option<syn::Path>,
}

const CONTAINER_KEYS: [&str; 4] = ["name", "opt_in", "sample", "crate"];

impl ContainerAttrs {
    pub(crate) fn from_syn(cx: &mut Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
        let mut out = ContainerAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("telemetry")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let key = key_of(&meta);
                match key.as_str() {
                    // #[telemetry(name = "command_run")]
                    "name" => set_once(cx, &meta, &mut out.name, meta.value()?.parse()?),
                    // #[telemetry(opt_in)]
                    "opt_in" => set_once(cx, &meta, &mut out.opt_in, meta.path.span()),
                    // #[telemetry(sample = 0.1)] (or `sample = 1`)
                    "sample" => {
                        let lit: syn::Lit = meta.value()?.parse()?;
                        let rate: f64 = match &lit {
                            syn::Lit::Float(f) => f.base10_parse()?,
                            syn::Lit::Int(i) => i.base10_parse::<u32>()?.into(),
                            _ => {
                                return Err(syn::Error::new(
                                    lit.span(),
                                    "expected a number, like `sample = 0.1`",
                                ))
                            }
                        };
                        if !(rate > 0.0 && rate <= 1.0) {
                            cx.error_spanned_by(&lit, "sample rate must be above 0 and at most 1");
                        }
                        set_once(cx, &meta, &mut out.sample, WithSpan { value: rate, span: lit.span() })
                    }
                    // #[telemetry(crate = "my_telemetry")]
                    "crate" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        set_once(cx, &meta, &mut out.krate, lit.parse()?)
                    }
                    _ => Err(unknown_key(&meta, &key, "event", &CONTAINER_KEYS)),
                }
            });
            if let Err(err) = parsed {
                cx.push(err);
            }
        }
        out
    }
}

/// `#[telemetry(...)]` on a field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) classification: Option<WithSpan<Classification>>,
    pub(crate) reason: Option<LitStr>,
    pub(crate) rename: Option<LitStr>,
    pub(crate) skip: Option<Span>,
    /// An attribute could not be read (already reported): rules that depend
    /// on what it said are not checked, to avoid a second, misleading error.
    pub(crate) unreadable: bool,
}

const FIELD_KEYS: [&str; 6] = ["public", "redact", "opt_in", "reason", "rename", "skip"];

impl FieldAttrs {
    pub(crate) fn from_syn(cx: &mut Ctxt, field: &syn::Ident, attrs: &[Attribute]) -> FieldAttrs {
        let mut out = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("telemetry")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let key = key_of(&meta);
                let span = meta.path.span();
                match key.as_str() {
                    // #[telemetry(public)]
                    "public" => out.classify(cx, field, Classification::Public, span),
                    // #[telemetry(opt_in)]
                    "opt_in" => out.classify(cx, field, Classification::OptIn, span),
                    // #[telemetry(redact)] or #[telemetry(redact = "hash")]
                    "redact" => {
                        let mode = if meta.input.peek(syn::Token![=]) {
                            parse_redact_mode(cx, &meta.value()?.parse()?)
                        } else {
                            RedactMode::Drop
                        };
                        out.classify(cx, field, Classification::Redact(mode), span)
                    }
                    // #[telemetry(reason = "why this is safe to send")]
                    "reason" => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if let Some(problem) = reason_problem(&lit.value()) {
                            cx.error_spanned_by(
                                &lit,
                                format_args!(
                                    "`reason` of field `{field}` must say in words why the value is \
                                     safe to send: {problem}"
                                ),
                            );
                        }
                        set_once(cx, &meta, &mut out.reason, lit)
                    }
                    // #[telemetry(rename = "property_name")]
                    "rename" => set_once(cx, &meta, &mut out.rename, meta.value()?.parse()?),
                    // #[telemetry(skip)]
                    "skip" => set_once(cx, &meta, &mut out.skip, span),
                    _ => Err(unknown_key(&meta, &key, "field", &FIELD_KEYS)),
                }
            });
            if let Err(err) = parsed {
                out.unreadable = true;
                cx.push(err);
            }
        }
        out
    }

    fn classify(
        &mut self,
        cx: &mut Ctxt,
        field: &syn::Ident,
        class: Classification,
        span: Span,
    ) -> syn::Result<()> {
        let Some(prev) = &self.classification else {
            self.classification = Some(WithSpan { value: class, span });
            return Ok(());
        };
        if prev.value.key() == class.key() {
            cx.error_at(
                span,
                format_args!("duplicate telemetry attribute `{}` on field `{field}`", class.key()),
            );
        } else {
            cx.error_at(
                span,
                format_args!(
                    "conflicting telemetry attributes `{}` and `{}` on field `{field}`: a field has exactly one classification",
                    prev.value.key(),
                    class.key()
                ),
            );
        }
        // The field's classification is in doubt: the rules that depend on
        // it are not checked (see `unreadable`).
        self.unreadable = true;
        Ok(())
    }
}

/// `#[telemetry(rename = "...")]` on an enum variant.
#[derive(Default)]
pub(crate) struct VariantAttrs {
    pub(crate) rename: Option<LitStr>,
}

impl VariantAttrs {
    pub(crate) fn from_syn(cx: &mut Ctxt, attrs: &[Attribute]) -> VariantAttrs {
        let mut out = VariantAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("telemetry")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let key = key_of(&meta);
                match key.as_str() {
                    // #[telemetry(rename = "value")]
                    "rename" => set_once(cx, &meta, &mut out.rename, meta.value()?.parse()?),
                    _ => Err(unknown_key(&meta, &key, "variant", &["rename"])),
                }
            });
            if let Err(err) = parsed {
                cx.push(err);
            }
        }
        out
    }
}

fn key_of(meta: &ParseNestedMeta<'_>) -> String {
    meta.path.get_ident().map(ToString::to_string).unwrap_or_else(|| {
        meta.path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::")
    })
}

fn set_once<T>(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) -> syn::Result<()> {
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, format_args!("duplicate telemetry attribute `{}`", key_of(meta)));
    } else {
        *slot = Some(value);
    }
    Ok(())
}

fn unknown_key(meta: &ParseNestedMeta<'_>, key: &str, what: &str, known: &[&str]) -> syn::Error {
    let hint = match suggest(key, known) {
        Some(near) => format!("; did you mean `{near}`?"),
        None => format!(
            "; expected one of {}",
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    meta.error(format_args!("unknown telemetry {what} attribute `{key}`{hint}"))
}

fn parse_redact_mode(cx: &mut Ctxt, lit: &LitStr) -> RedactMode {
    match lit.value().as_str() {
        "drop" => RedactMode::Drop,
        "marker" => RedactMode::Marker,
        "hash" => RedactMode::Hash,
        "length" => RedactMode::Length,
        other => {
            let hint =
                suggest(other, &REDACT_MODES).map(|m| format!("did you mean \"{m}\"? ")).unwrap_or_default();
            cx.error_spanned_by(
                lit,
                format_args!("unknown redact mode \"{other}\"; {hint}expected \"drop\", \"marker\", \"hash\" or \"length\""),
            );
            RedactMode::Drop
        }
    }
}

/// The fewest words a reason is made of, each of at least two letters.
pub(crate) const REASON_MIN_WORDS: usize = 2;

/// Why a written reason is not one, or `None`: it must be made of words
/// (at least [`REASON_MIN_WORDS`] of two letters or more), and hold no
/// invisible or control character, which would make the catalog say
/// something else than the code seems to.
pub(crate) fn reason_problem(reason: &str) -> Option<String> {
    if let Some(c) = reason.chars().find(|&c| is_invisible(c)) {
        return Some(format!("it holds an invisible or control character (U+{:04X})", u32::from(c)));
    }
    let words = reason
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|word| word.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .count();
    (words < REASON_MIN_WORDS).then(|| {
        format!(
            "it has {words} word(s) of two letters or more, and a reason needs at least {REASON_MIN_WORDS}"
        )
    })
}

/// Control characters, and the format characters that change how text is
/// shown without being seen: zero-width spaces and joiners, direction
/// marks and overrides, the word joiner, invisible operators, the byte
/// order mark, soft hyphen and tags.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_made_of_words() {
        for reason in [
            "a random v4 uuid, linked to no person or machine",
            "fixed set",
            "the tool names come from the server's fixed list",
            "Werkzeugnamen aus fester Liste",
        ] {
            assert_eq!(reason_problem(reason), None, "{reason:?}");
        }
        for reason in [
            "",
            "  ",
            "\u{200b}",
            "\u{200b}\u{200b} \u{2060}",
            ".",
            "...!?",
            "ok",
            "x y z",
            "safe",
            "a 1 2 3",
        ] {
            assert!(reason_problem(reason).is_some(), "{reason:?}");
        }
        for hidden in [
            "fixed\u{200b} set",
            "fixed set\u{202e}",
            "fixed\tset",
            "fixed set\u{feff}",
            "fixed\u{e0041} set",
        ] {
            assert!(reason_problem(hidden).unwrap().contains("invisible"), "{hidden:?}");
        }
    }
}
