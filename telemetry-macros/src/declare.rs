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
use crate::audit::audit;
use crate::ctxt::Ctxt;
use crate::expand::{field_schema, private_path, schema, type_check};

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

/// One label of `counter!`: `#(attrs) name`.
struct Label {
    attrs: Vec<Attribute>,
    ident: Ident,
}

/// `counter! { /// doc  pub static NAME = "counter_name", labels: [a, b]; }`
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
            let parsed = Punctuated::<Label, Token![,]>::parse_terminated_with(&content, |input| {
                Ok(Label { attrs: input.call(Attribute::parse_outer)?, ident: input.parse()? })
            })?;
            labels.extend(parsed);
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
    // Each label is a text field whose values are literals in the code:
    // public unless it says otherwise.
    let fields: FieldsNamed = {
        let labels = decl.labels.iter().map(|label| {
            let attrs = &label.attrs;
            let ident = &label.ident;
            quote!(#(#attrs)* #ident: &'static str)
        });
        syn::parse_quote!({ #(#labels),* })
    };
    let as_struct = as_struct(&decl.head, fields);
    let Some(mut input) = audited(&mut cx, &decl.head, &as_struct) else {
        return cx.into_compile_errors();
    };
    for field in &mut input.fields {
        match &field.attrs.classification {
            None => {
                field.attrs.classification =
                    Some(WithSpan { value: Classification::Public, span: field.ident.span() })
            }
            Some(c) if c.value == Classification::Public => {}
            Some(c) => cx.error_at(
                c.span,
                format_args!(
                    "label `{}` of a counter is public: its values are literals chosen in the code; \
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
    if let Err(errors) = cx.check() {
        return errors.to_compile_error();
    }
    let private = private_path(input.attrs.krate.as_ref());
    let name = &input.name.0;
    let description = input.doc.as_deref().unwrap_or_default();
    let labels: Vec<&String> = input.fields.iter().map(|f| &f.name.0).collect();
    let label_schemas = input.fields.iter().map(|f| field_schema(&private, f, &[]));
    let n = labels.len();
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
        )
    };
    quote! {
        #(#docs)*
        #vis static #ident: #private::Counter<#n> = {
            const __TELEMETRY_SCHEMA: #private::EventSchema = #private::event_schema(
                #name,
                #description,
                #private::Level::Usage,
                1.0,
                &[#(#label_schemas,)* #count],
                ::core::module_path!(),
            );
            #private::inventory::submit! { #private::Registration(&__TELEMETRY_SCHEMA) }
            #private::Counter::__declared(&__TELEMETRY_SCHEMA, [#(#labels),*])
        };
    }
}
