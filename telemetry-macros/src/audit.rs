//! The compile-time privacy audit: one function per rule, each reporting at
//! the span of what it is about, all rules run on every build.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

use crate::ast::{Field, Input};
use crate::attr::Classification;
use crate::ctxt::Ctxt;
use crate::names::{name_problem, sensitivity, Sensitive};

pub(crate) fn audit(cx: &mut Ctxt, input: &Input<'_>) {
    event_has_description(cx, input);
    event_name_is_valid(cx, input);
    audit_fields(cx, &input.fields);
}

/// The rules for the fields of an event, and of an object (a struct with
/// `#[derive(TelemetryProperty)]`): the same rules, at any depth.
pub(crate) fn audit_fields(cx: &mut Ctxt, fields: &[Field<'_>]) {
    property_names_are_unique(cx, fields);
    for field in fields {
        if field.attrs.skip.is_some() {
            skip_stands_alone(cx, field);
            continue;
        }
        property_name_is_valid(cx, field);
        if !map_is_not_a_property(cx, field) {
            continue;
        }
        if !free_text_is_classified(cx, field) {
            continue;
        }
        if !sensitive_public_field_has_reason(cx, field) {
            continue;
        }
        public_text_has_reason(cx, field);
    }
}

/// The trait a public field's type must implement, by what the audit found
/// and what was written: the derive's output calls a writer with this
/// bound, so that what the type can hold decides, not how it is spelled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Bound {
    /// No classification: public by default (numbers, enums, ...).
    PublicByDefault,
    /// A sensitive word in the name and no reason: a measure or a value of
    /// a closed set (no text, no uuid).
    Closed,
    /// `#[telemetry(public)]` without a reason: no free text.
    NotText,
    /// `#[telemetry(public, reason = "...")]`: any property.
    Value,
}

/// The bound a field sent as public needs (`None` for `opt_in` and
/// `redact`ed fields). An identifier without a reason is refused by the
/// audit before this is asked.
pub(crate) fn public_bound(field: &Field<'_>) -> Option<Bound> {
    let explicit = match field.attrs.classification.as_ref().map(|c| c.value) {
        None => false,
        Some(Classification::Public) => true,
        Some(_) => return None,
    };
    Some(match (field.attrs.reason.is_some(), explicit) {
        (true, true) => Bound::Value,
        (true, false) => Bound::PublicByDefault,
        (false, _) if field_sensitivity(field).is_some() => Bound::Closed,
        (false, true) => Bound::NotText,
        (false, false) => Bound::PublicByDefault,
    })
}

/// Why a field's name (as written, or renamed) looks sensitive.
fn field_sensitivity(field: &Field<'_>) -> Option<Sensitive> {
    sensitivity(&field.ident.unraw_string()).or_else(|| sensitivity(&field.name.0))
}

/// The struct's doc comment is the catalog entry: what the event records and why.
fn event_has_description(cx: &mut Ctxt, input: &Input<'_>) {
    if input.doc.is_none() {
        cx.error_spanned_by(
            &input.original.ident,
            format_args!(
                "event `{}` has no doc comment; describe what it records and why (it becomes the catalog entry)",
                input.original.ident
            ),
        );
    }
}

fn event_name_is_valid(cx: &mut Ctxt, input: &Input<'_>) {
    let (name, span) = &input.name;
    if let Some(problem) = name_problem(name) {
        cx.error_at(*span, format_args!("event name \"{name}\" {problem}"));
    }
}

fn property_name_is_valid(cx: &mut Ctxt, field: &Field<'_>) {
    let (name, span) = &field.name;
    if let Some(problem) = name_problem(name) {
        cx.error_at(*span, format_args!("property name \"{name}\" of field `{}` {problem}", field.ident));
    }
}

fn property_names_are_unique(cx: &mut Ctxt, fields: &[Field<'_>]) {
    let mut seen: HashMap<&str, &Field<'_>> = HashMap::new();
    for field in fields.iter().filter(|f| f.attrs.skip.is_none()) {
        let (name, span) = &field.name;
        match seen.get(name.as_str()) {
            Some(first) => cx.error_at(
                *span,
                format_args!("duplicate property name \"{name}\": field `{}` already uses it", first.ident),
            ),
            None => {
                seen.insert(name, field);
            }
        }
    }
}

/// `skip` removes the field entirely, so nothing else can apply to it.
fn skip_stands_alone(cx: &mut Ctxt, field: &Field<'_>) {
    let attrs = &field.attrs;
    let others = [
        attrs.classification.as_ref().map(|c| (c.span, "a classification")),
        attrs.reason.as_ref().map(|r| (r.span(), "`reason`")),
        attrs.rename.as_ref().map(|r| (r.span(), "`rename`")),
    ];
    for (span, what) in others.into_iter().flatten() {
        cx.error_at(
            span,
            format_args!("conflicting telemetry attributes: `skip` with {what} on field `{}`", field.ident),
        );
    }
}

/// A map with text keys would send its keys as names chosen at run time,
/// which no catalog can list (and which are free text): its keys must be
/// the values of a `#[derive(TelemetryProperty)]` enum. Returns whether the
/// field passed. The traits refuse any other key type too, behind an alias
/// as well; this names why for the common case.
fn map_is_not_a_property(cx: &mut Ctxt, field: &Field<'_>) -> bool {
    let Some((map, key)) = find_map(field.ty) else { return true };
    if !is_text(key) {
        return true;
    }
    cx.error_spanned_by(
        map,
        format_args!(
            "field `{}` is a map with text keys, which cannot be a telemetry property: its keys \
             would be sent as names chosen at run time, which the catalog cannot list; use a \
             #[derive(TelemetryProperty)] enum as the key type, an object (a struct with \
             #[derive(TelemetryProperty)]) with one field per key, or a list of objects",
            field.ident
        ),
    );
    false
}

/// The first map (`HashMap`, `BTreeMap`, `IndexMap`) in `ty` as written,
/// itself or inside an option, list, box or reference, with its key type.
fn find_map(ty: &Type) -> Option<(&Type, &Type)> {
    match ty {
        Type::Reference(r) => find_map(&r.elem),
        Type::Slice(s) => find_map(&s.elem),
        Type::Array(a) => find_map(&a.elem),
        Type::Paren(p) => find_map(&p.elem),
        Type::Group(g) => find_map(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if matches!(last.ident.to_string().as_str(), "HashMap" | "BTreeMap" | "IndexMap") {
                let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
                return args.args.iter().find_map(|arg| match arg {
                    GenericArgument::Type(key) => Some((ty, key)),
                    _ => None,
                });
            }
            match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
                    GenericArgument::Type(inner) => find_map(inner),
                    _ => None,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Free text has no default: the author must say how it is treated.
/// Returns whether the field passed. Text as written is named here; text
/// behind an alias or a newtype is refused by the traits, with the same
/// choices.
fn free_text_is_classified(cx: &mut Ctxt, field: &Field<'_>) -> bool {
    if field.attrs.classification.is_some() || field.attrs.unreadable || !is_text(field.ty) {
        return true;
    }
    cx.error_spanned_by(
        field.ty,
        format_args!(
            "field `{}` is free text and needs a classification: a #[derive(TelemetryProperty)] enum \
             if its values come from a fixed set, #[telemetry(redact)] to never send it raw \
             (redact = \"hash\" still counts distinct values), #[telemetry(opt_in)] to send it only \
             with full consent, or #[telemetry(public, reason = \"...\")] saying why the text is \
             safe to send as it is",
            field.ident
        ),
    );
    false
}

/// A name like `server_url` or `user_id` sent as public needs a written
/// reason. Identifiers need one whatever their type; a sensitive word needs
/// one unless the type is a measure or a closed set, which the traits
/// decide at expansion ([`Bound::Closed`]); text as written is refused here,
/// with a message naming the word. Returns whether the field passed.
fn sensitive_public_field_has_reason(cx: &mut Ctxt, field: &Field<'_>) -> bool {
    let public = field.attrs.classification.as_ref().is_none_or(|c| c.value == Classification::Public);
    if !public || field.attrs.reason.is_some() || field.attrs.unreadable {
        return true;
    }
    let what = match field_sensitivity(field) {
        None => return true,
        Some(Sensitive::Identifier(word)) => {
            format!("is an identifier (`{word}`), which needs a reason whatever its type,")
        }
        Some(Sensitive::Word(word, category)) if is_text(field.ty) => {
            format!("looks sensitive (`{word}`: {category}), holds text,")
        }
        Some(Sensitive::Word(..)) => return true,
    };
    let span = field.attrs.classification.as_ref().map_or(field.ident.span(), |c| c.span);
    cx.error_at(
        span,
        format_args!(
            "field `{}` {what} and would be sent as public: add \
             #[telemetry(public, reason = \"...\")] saying why it is safe, or use \
             #[telemetry(redact)] or #[telemetry(opt_in)]",
            field.ident
        ),
    );
    false
}

/// `#[telemetry(public)]` on text is a decision like any other: it needs a
/// written reason, and the message offers an enum or redaction first. Text
/// as written is named here; text behind an alias or a newtype is refused
/// by the traits ([`Bound::NotText`]).
fn public_text_has_reason(cx: &mut Ctxt, field: &Field<'_>) {
    let Some(public) = field.attrs.classification.as_ref().filter(|c| c.value == Classification::Public)
    else {
        return;
    };
    if field.attrs.reason.is_some() || field.attrs.unreadable || !is_text(field.ty) {
        return;
    }
    cx.error_at(
        public.span,
        format_args!(
            "field `{}` is text marked #[telemetry(public)] without a reason: text can hold anything \
             the user typed or owns; use a #[derive(TelemetryProperty)] enum if its values come from \
             a fixed set, or #[telemetry(redact = \"hash\")] to count distinct values without \
             sending them; if the text is safe to send as it is, say why: \
             #[telemetry(public, reason = \"...\")]",
            field.ident
        ),
    );
}

/// `u8`, `i8`, `u16` and `char`: what text is made of, so a list of them is text.
fn is_text_unit(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| matches!(s.ident.to_string().as_str(), "u8" | "i8" | "u16" | "char")))
}

/// Whether `ty` is text as written: a string, a path, an OS string, a
/// `char`, or a list of bytes or characters (`Vec<u8>`, `[u8; 32]`,
/// `&[u16]`), or an option, list, box or reference of text. The traits
/// enforce the same at any depth; this names the problem in the message.
pub(crate) fn is_text(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_text(&r.elem),
        Type::Slice(s) => is_text(&s.elem) || is_text_unit(&s.elem),
        Type::Array(a) => is_text(&a.elem) || is_text_unit(&a.elem),
        Type::Paren(p) => is_text(&p.elem),
        Type::Group(g) => is_text(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else { return false };
            let name = last.ident.to_string();
            let list = matches!(name.as_str(), "Vec" | "VecDeque" | "Box" | "Cow" | "Rc" | "Arc");
            match name.as_str() {
                "String" | "str" | "OsString" | "OsStr" | "PathBuf" | "Path" | "CString" | "CStr"
                | "char" => true,
                "Cow" | "Option" | "Vec" | "Box" | "Arc" | "Rc" | "VecDeque" => match &last.arguments {
                    PathArguments::AngleBracketed(args) => args.args.iter().any(|arg| match arg {
                        GenericArgument::Type(inner) => is_text(inner) || (list && is_text_unit(inner)),
                        _ => false,
                    }),
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for syn::Ident {
    fn unraw_string(&self) -> String {
        let s = self.to_token_stream().to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types() {
        for text in [
            "String",
            "&'a str",
            "Option<String>",
            "Vec<Cow<'static, str>>",
            "Box<str>",
            "std::string::String",
            "Vec<u8>",
            "[u8; 32]",
            "&[u8]",
            "Box<[u8]>",
            "Vec<char>",
            "PathBuf",
            "OsString",
            "Option<Vec<u16>>",
        ] {
            assert!(is_text(&syn::parse_str(text).unwrap()), "{text}");
        }
        for other in ["u32", "Option<u8>", "Vec<bool>", "Uuid", "Duration", "Kind"] {
            assert!(!is_text(&syn::parse_str(other).unwrap()), "{other}");
        }
    }
}
