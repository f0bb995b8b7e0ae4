//! Borrowed views of the derive input, with parsed attributes.

use proc_macro2::Span;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{ContainerAttrs, FieldAttrs};
use crate::ctxt::Ctxt;
use crate::names::to_snake_case;

pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) attrs: ContainerAttrs,
    pub(crate) doc: Option<String>,
    /// The event name and the span to blame for it.
    pub(crate) name: (String, Span),
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
    pub(crate) doc: Option<String>,
    /// The property name and the span to blame for it.
    pub(crate) name: (String, Span),
}

impl<'a> Input<'a> {
    /// `None` when the input is not a struct with named fields (reported).
    pub(crate) fn from_syn(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Input<'a>> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(&named.named),
                _ => None,
            },
            _ => None,
        };
        let attrs = ContainerAttrs::from_syn(cx, &input.attrs);
        let Some(named) = named else {
            cx.error_spanned_by(
                &input.ident,
                "TelemetryEvent can only be derived for a struct with named fields; \
                 each field becomes one classified property",
            );
            return None;
        };
        let name = match &attrs.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (to_snake_case(&input.ident.to_string()), input.ident.span()),
        };
        let fields = named.iter().map(|field| Field::from_syn(cx, field)).collect();
        Some(Input { original: input, doc: doc_comment(&input.attrs), attrs, name, fields })
    }
}

impl Input<'_> {
    /// The fields that become properties (all but `skip`ped ones).
    pub(crate) fn sent_fields(&self) -> impl Iterator<Item = &Field<'_>> {
        self.fields.iter().filter(|f| f.attrs.skip.is_none())
    }
}

impl<'a> Field<'a> {
    pub(crate) fn from_syn(cx: &mut Ctxt, field: &'a syn::Field) -> Field<'a> {
        let ident = field.ident.as_ref().expect("named field");
        let attrs = FieldAttrs::from_syn(cx, ident, &field.attrs);
        let name = match &attrs.rename {
            Some(lit) => (lit.value(), lit.span()),
            None => (ident.unraw().to_string(), ident.span()),
        };
        Field { ident, ty: &field.ty, attrs, doc: doc_comment(&field.attrs), name }
    }
}

/// The `///` lines, joined, with the single space after `///` removed.
pub(crate) fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

use syn::ext::IdentExt as _;
