//! `event!` and `counter!`: declarations of what the dynamic API can send,
//! audited by the same rules as `#[derive(TelemetryEvent)]` (each is read
//! as the struct it describes) and registered in the catalog.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{bracketed, Attribute, DeriveInput, FieldsNamed, Ident, LitStr, Token, Visibility};

use crate::ast::Input;
use crate::attr::{Classification, WithSpan};
use crate::audit::{audit, is_text};
use crate::ctxt::Ctxt;
use crate::expand::{field_schema, private_path, schema, type_check};
use crate::names::name_problem;
use syn::ext::IdentExt as _;

/// `#(attrs) vis static IDENT = "name" ...`, the head both macros share.
struct Head {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    name: LitStr,
}

impl Parse for Head {
    fn parse(input: ParseStream<'_>) -> syn::Result<Head> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![static]>()?;
        let ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let name = input.parse()?;
        Ok(Head { attrs, vis, ident, name })
    }
}

/// `event! { /// doc  pub static NAME = "event_name" { fields } }`
struct EventDecl {
    head: Head,
    fields: FieldsNamed,
}

impl Parse for EventDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<EventDecl> {
        let head = input.parse()?;
        let fields = input.parse()?;
        let _ = input.parse::<Option<Token![;]>>()?;
        Ok(EventDecl { head, fields })
    }
}

/// One label of `counter!`: `#(attrs) name: Type`, or
/// `#(attrs) name: Type = ["value", ...]`, which declares `Type` as an enum
/// of these values.
struct Label {
    attrs: Vec<Attribute>,
    ident: Ident,
    ty: syn::Type,
    /// The declared literals, when the label declares its own enum.
    values: Option<(syn::token::Bracket, Vec<LitStr>)>,
}

impl Parse for Label {
    fn parse(input: ParseStream<'_>) -> syn::Result<Label> {
        let attrs = input.call(Attribute::parse_outer)?;
        let ident: Ident = input.parse()?;
        if !input.peek(Token![:]) {
            let ty = to_upper_camel_case(&ident.unraw().to_string());
            return Err(syn::Error::new(
                ident.span(),
                format_args!(
                    "label `{ident}` needs the type of its values: `{ident}: {ty}`, where `{ty}` is a \
                     #[derive(TelemetryProperty)] enum whose variants are the label's values, or \
                     `{ident}: {ty} = [\"value\", ...]` to declare that enum with its values (a \
                     label's values are decided in the code, never text)"
                ),
            ));
        }
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        let values = if input.parse::<Option<Token![=]>>()?.is_some() {
            let content;
            let bracket = bracketed!(content in input);
            let literals = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
            Some((bracket, literals.into_iter().collect()))
        } else {
            None
        };
        Ok(Label { attrs, ident, ty, values })
    }
}

/// `counter! { /// doc  pub static NAME = "counter_name", labels: [a: A, b: B]; }`
struct CounterDecl {
    head: Head,
    labels: Vec<Label>,
}

impl Parse for CounterDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<CounterDecl> {
        let head = input.parse()?;
        let mut labels = Vec::new();
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            if key != "labels" {
                return Err(syn::Error::new(key.span(), "expected `labels: [...]`"));
            }
            input.parse::<Token![:]>()?;
            let content;
            bracketed!(content in input);
            labels.extend(Punctuated::<Label, Token![,]>::parse_terminated(&content)?);
        }
        let _ = input.parse::<Option<Token![;]>>()?;
        Ok(CounterDecl { head, labels })
    }
}

/// The struct a declaration describes, for the audit: its fields are the
/// event's properties (or the counter's labels).
fn as_struct(head: &Head, fields: FieldsNamed) -> DeriveInput {
    DeriveInput {
        attrs: head.attrs.clone(),
        vis: head.vis.clone(),
        ident: head.ident.clone(),
        generics: syn::Generics::default(),
        data: syn::Data::Struct(syn::DataStruct {
            struct_token: Token![struct](head.ident.span()),
            fields: syn::Fields::Named(fields),
            semi_token: None,
        }),
    }
}

/// Reads the declaration as a struct, takes its name from the literal and
/// audits it.
fn audited<'a>(cx: &mut Ctxt, head: &Head, as_struct: &'a DeriveInput) -> Option<Input<'a>> {
    let mut input = Input::from_syn(cx, as_struct)?;
    if let Some(name) = &input.attrs.name {
        cx.error_spanned_by(name, "the name is given after `=`; remove `name = \"...\"`");
    }
    input.name = (head.name.value(), head.name.span());
    Some(input)
}

fn docs(head: &Head) -> impl Iterator<Item = &Attribute> {
    head.attrs.iter().filter(|a| a.path().is_ident("doc"))
}

pub(crate) fn event(tokens: TokenStream) -> TokenStream {
    let decl: EventDecl = match syn::parse2(tokens) {
        Ok(decl) => decl,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let as_struct = as_struct(&decl.head, decl.fields);
    let Some(input) = audited(&mut cx, &decl.head, &as_struct) else {
        return cx.into_compile_errors();
    };
    audit(&mut cx, &input);
    if let Err(errors) = cx.check() {
        return errors.to_compile_error();
    }
    let private = private_path(input.attrs.krate.as_ref());
    let schema = schema(&private, &input);
    let kinds = input.sent_fields().map(|f| {
        let ty = f.ty;
        quote_spanned!(ty.span()=> <#ty as #private::PropertyValue>::KIND)
    });
    let checks = input.sent_fields().map(|f| type_check(&private, f));
    let Head { vis, ident, .. } = &decl.head;
    let docs = docs(&decl.head);
    quote! {
        #(#docs)*
        #[allow(deprecated)]
        #vis static #ident: #private::DynamicEvent = {
            const __TELEMETRY_SCHEMA: #private::EventSchema = #schema;
            #private::inventory::submit! { #private::Registration(&__TELEMETRY_SCHEMA) }
            #[allow(dead_code)]
            fn __telemetry_types() {
                #(#checks)*
            }
            #private::DynamicEvent::__declared(&__TELEMETRY_SCHEMA, &[#(#kinds),*])
        };
    }
}

pub(crate) fn counter(tokens: TokenStream) -> TokenStream {
    let decl: CounterDecl = match syn::parse2(tokens) {
        Ok(decl) => decl,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    if decl.labels.len() > MAX_LABELS {
        cx.error_spanned_by(
            &decl.labels[MAX_LABELS].ident,
            format_args!("a counter has at most {MAX_LABELS} labels"),
        );
    }
    // Each label is a field whose type is its values' enum: public, a
    // closed set, its name audited like a property's.
    let fields: FieldsNamed = {
        let labels = decl.labels.iter().map(|label| {
            let attrs = &label.attrs;
            let (ident, ty) = (&label.ident, &label.ty);
            quote!(#(#attrs)* #ident: #ty)
        });
        syn::parse_quote!({ #(#labels),* })
    };
    let as_struct = as_struct(&decl.head, fields);
    let Some(mut input) = audited(&mut cx, &decl.head, &as_struct) else {
        return cx.into_compile_errors();
    };
    for field in &mut input.fields {
        if is_text(field.ty) {
            // Named here for the common case; any other type that is not a
            // closed set is refused by the traits (`counter_label` below).
            let ident = field.ident;
            let ty = to_upper_camel_case(&ident.unraw().to_string());
            cx.error_spanned_by(
                field.ty,
                format_args!(
                    "label `{ident}` takes its values from a closed set declared in the code, and this \
                     type is text: use a #[derive(TelemetryProperty)] enum (`{ident}: {ty}`), or declare \
                     the values with the label (`{ident}: {ty} = [\"value\", ...]`)"
                ),
            );
            field.attrs.unreadable = true;
        }
        match &field.attrs.classification {
            None => {
                field.attrs.classification =
                    Some(WithSpan { value: Classification::Public, span: field.ident.span() })
            }
            Some(c) if c.value == Classification::Public => {}
            Some(c) => cx.error_at(
                c.span,
                format_args!(
                    "label `{}` of a counter is public: its values are an enum's, chosen in the code; \
                     only `public` and `reason = \"...\"` apply",
                    field.ident
                ),
            ),
        }
        if field.name.0 == "count" {
            cx.error_at(field.name.1, "label name \"count\" is reserved for the counter's value");
        }
        if let Some(span) = field.attrs.skip {
            cx.error_at(span, "a counter label cannot be skipped");
        }
    }
    if input.attrs.opt_in.is_some() || input.attrs.sample.is_some() {
        cx.error_spanned_by(&decl.head.ident, "a counter takes no `opt_in` or `sample`");
    }
    audit(&mut cx, &input);
    let private = private_path(input.attrs.krate.as_ref());
    let krate = input.attrs.krate.as_ref();
    let enums: Vec<TokenStream> =
        decl.labels.iter().filter_map(|label| label_enum(&mut cx, krate, &decl.head, label)).collect();
    if let Err(errors) = cx.check() {
        return errors.to_compile_error();
    }
    let name = &input.name.0;
    let description = input.doc.as_deref().unwrap_or_default();
    let names: Vec<&String> = input.fields.iter().map(|f| &f.name.0).collect();
    let label_schemas = input.fields.iter().map(|f| field_schema(&private, f, &[]));
    // The type of the label values: `()`, the one label's enum, or a tuple.
    let types: Vec<&syn::Type> = decl.labels.iter().map(|label| &label.ty).collect();
    let labels = match types.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    };
    // Each label's type is checked on its own, at the type as written, so
    // that text (or any type that is not a closed set) is reported there.
    let checks = types.iter().map(|ty| quote_spanned!(ty.span()=> #private::counter_label::<#ty>();));
    let Head { vis, ident, .. } = &decl.head;
    let docs = docs(&decl.head);
    let count_span = Span::call_site();
    let count = quote_spanned! {count_span=>
        #private::field_schema(
            "count",
            "u64",
            #private::Classification::Public,
            "How many times it was counted since the last event.",
            #private::None,
            &[],
            "",
            &[],
        )
    };
    quote! {
        #(#enums)*
        #(#docs)*
        #[allow(deprecated)]
        #vis static #ident: #private::Counter<#labels> = {
            const __TELEMETRY_SCHEMA: #private::EventSchema = #private::event_schema(
                #name,
                #description,
                #private::Level::Usage,
                1.0,
                &[#(#label_schemas,)* #count],
                ::core::module_path!(),
            );
            #private::inventory::submit! { #private::Registration(&__TELEMETRY_SCHEMA) }
            const _: () = {
                #(#checks)*
            };
            #private::Counter::__declared(&__TELEMETRY_SCHEMA, &[#(#names),*])
        };
    }
}

/// The most labels a counter has (the tuples its values are given in).
const MAX_LABELS: usize = 8;

/// For a label declared with its values (`status: Status = ["ok",
/// "error"]`), the enum it declares: one variant per value, in UpperCamelCase
/// (`"web_search"` is `WebSearch`), sent as the value itself; with the
/// impls of `#[derive(TelemetryProperty)]`, which checks each value.
fn label_enum(cx: &mut Ctxt, krate: Option<&syn::Path>, head: &Head, label: &Label) -> Option<TokenStream> {
    let (bracket, values) = label.values.as_ref()?;
    let syn::Type::Path(path) = &label.ty else {
        cx.error_spanned_by(
            &label.ty,
            "a label declared with its values names the enum it declares: `status: Status = [...]`",
        );
        return None;
    };
    let Some(enum_ident) = path.path.get_ident().filter(|_| path.qself.is_none()) else {
        cx.error_spanned_by(
            &label.ty,
            "a label declared with its values names the enum it declares: `status: Status = [...]`",
        );
        return None;
    };
    if values.is_empty() {
        cx.error_at(bracket.span.join(), format_args!("label `{}` declares no values", label.ident));
        return None;
    }
    let vis = &head.vis;
    let counter = head.name.value();
    let mut variants: Vec<(Ident, &LitStr)> = Vec::new();
    for lit in values {
        let value = lit.value();
        if let Some(problem) = name_problem(&value) {
            cx.error_spanned_by(lit, format_args!("value \"{value}\" of label `{}` {problem}", label.ident));
            continue;
        }
        // A snake_case value starts with a letter: its UpperCamelCase form
        // is an identifier, and `Self` the only keyword among them.
        let variant = to_upper_camel_case(&value);
        if variant == "Self" {
            cx.error_spanned_by(lit, format_args!("value \"{value}\" cannot name a variant of an enum"));
            continue;
        }
        if variants.iter().any(|(v, _)| *v == variant) {
            cx.error_spanned_by(
                lit,
                format_args!("value \"{value}\" of label `{}` is declared twice", label.ident),
            );
            continue;
        }
        variants.push((Ident::new(&variant, lit.span()), lit));
    }
    if variants.len() < values.len() {
        return None;
    }
    let doc = format!("The values of the label `{}` of the counter `{counter}`.", label.ident);
    let definition_variants = variants.iter().map(|(variant, lit)| {
        let doc = format!("`{}`", lit.value());
        quote!(#[doc = #doc] #variant)
    });
    let definition = quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
        #vis enum #enum_ident {
            #(#definition_variants),*
        }
    };
    // The derive reads the same enum with each value as the variant's
    // `rename`; the definition itself carries no `#[telemetry]`, which only
    // a derive may declare.
    let krate = krate.map(|path| {
        let path = quote!(#path).to_string();
        quote!(#[telemetry(crate = #path)])
    });
    let derive_variants = variants.iter().map(|(variant, lit)| quote!(#[telemetry(rename = #lit)] #variant));
    let as_derived: DeriveInput = syn::parse_quote! {
        #krate
        #vis enum #enum_ident {
            #(#derive_variants),*
        }
    };
    let impls = crate::property::derive(&as_derived);
    Some(quote!(#definition #impls))
}

/// `web_search` -> `WebSearch`, `ok` -> `Ok`.
fn to_upper_camel_case(value: &str) -> String {
    value
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
