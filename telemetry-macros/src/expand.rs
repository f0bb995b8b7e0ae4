//! Generates the `TelemetryEvent` impl: the schema constant and a
//! `write_properties` that applies each field's classification at the
//! consent level in force, writing straight into the property list.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Type, WherePredicate};

use crate::ast::{Field, Input};
use crate::attr::{Classification, RedactMode};
use crate::audit::{audit, public_bound, Bound};
use crate::ctxt::Ctxt;
use crate::function::with_static_lifetimes;

pub(crate) fn derive_event(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed = Input::from_syn(&mut cx, input);
    if let Some(parsed) = &parsed {
        audit(&mut cx, parsed);
    }
    match (parsed, cx.check()) {
        (Some(parsed), Ok(())) => expand(&parsed),
        // After an error, a minimal impl keeps uses of the event from
        // producing a cascade of unrelated errors.
        (parsed, errors) => {
            let krate = parsed.and_then(|p| p.attrs.krate);
            let errors = errors.err().map(|e| e.to_compile_error());
            let fallback = fallback_impl(input, krate.as_ref());
            quote! { #errors #fallback }
        }
    }
}

/// `::telemetry_runtime::__private`, or the path given by `crate = "..."`.
pub(crate) fn private_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::telemetry_runtime::__private),
    }
}

fn expand(input: &Input<'_>) -> TokenStream {
    let private = private_path(input.attrs.krate.as_ref());
    let ident = &input.original.ident;
    let mut generics = input.original.generics.clone();
    let type_params: Vec<&Ident> = input.original.generics.type_params().map(|p| &p.ident).collect();
    let bounds: Vec<WherePredicate> = input
        .fields
        .iter()
        .filter(|f| f.attrs.skip.is_none() && mentions_any(f.ty, &type_params))
        .map(|f| {
            let ty = f.ty;
            let bound = required_trait(&private, f);
            syn::parse_quote!(#ty: #bound)
        })
        .collect();
    generics.make_where_clause().predicates.extend(bounds);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let writes = input.sent_fields().map(|f| write_field(&private, f));
    let schema = schema(&private, input);
    let registration = register(&private, &schema);

    quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::TelemetryEvent for #ident #ty_generics #where_clause {
            const SCHEMA: #private::EventSchema = #schema;

            #[inline]
            fn write_properties(
                &self,
                __telemetry_level: #private::Level,
                __telemetry_out: &mut #private::Properties,
            ) {
                // For the `opt_in` fields of objects among the fields.
                __telemetry_out.__set_consent(__telemetry_level);
                #(#writes)*
            }
        }
        #registration
    }
}

/// The event's level: `Full` for an opt-in event.
pub(crate) fn min_level(input: &Input<'_>) -> TokenStream {
    if input.attrs.opt_in.is_some() {
        quote!(Full)
    } else {
        quote!(Usage)
    }
}

/// The `EventSchema` of an audited input, for the catalog.
pub(crate) fn schema(private: &TokenStream, input: &Input<'_>) -> TokenStream {
    let name = &input.name.0;
    let description = input.doc.as_deref().unwrap_or_default();
    let min_level = min_level(input);
    let sample_rate = input.attrs.sample.as_ref().map_or(1.0, |s| s.value);
    let type_params: Vec<&Ident> = input.original.generics.type_params().map(|p| &p.ident).collect();
    let field_schemas = input.sent_fields().map(|f| field_schema(private, f, &type_params));
    // Through constructors: the schema types are `#[non_exhaustive]`, so
    // the user's crate cannot write them as struct literals.
    quote! {
        #private::event_schema(
            #name,
            #description,
            #private::Level::#min_level,
            #sample_rate,
            &[#(#field_schemas),*],
            ::core::module_path!(),
        )
    }
}

/// A reference to the writer whose bounds a field's type must meet for its
/// classification, spanned at the type so that a missing trait is reported
/// there (for the declarations of `event!`, whose values are written at run
/// time).
pub(crate) fn type_check(private: &TokenStream, field: &Field<'_>) -> TokenStream {
    let ty = field.ty;
    let writer = Ident::new(writer(field), Span::call_site());
    quote_spanned!(ty.span()=> let _ = #private::Properties::#writer::<#ty>;)
}

/// The writer of `Properties` (and of an object's `ValueWriter`) for a
/// field's classification: each carries the bound that classification
/// requires of the type.
pub(crate) fn writer(field: &Field<'_>) -> &'static str {
    match (classification(field), public_bound(field)) {
        (_, Some(Bound::PublicByDefault)) => "__public",
        (_, Some(Bound::Closed)) => "__public_closed",
        (_, Some(Bound::NotText)) => "__public_not_text",
        (_, Some(Bound::Value)) => "__public_with_reason",
        (Some(Classification::OptIn), None) => "__opt_in",
        (Some(Classification::Redact(RedactMode::Drop)), None) => "__redact_drop",
        (Some(Classification::Redact(RedactMode::Marker)), None) => "__redact_marker",
        (Some(Classification::Redact(RedactMode::Length)), None) => "__redact_length",
        (Some(Classification::Redact(RedactMode::Hash)), None) => "__redact_hash",
        (Some(Classification::Public) | None, None) => unreachable!("a public field has a bound"),
    }
}

/// Registers a schema at link time, for the catalog.
pub(crate) fn register(private: &TokenStream, schema: &TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #private::inventory::submit! { #private::Registration(&#schema) }
        };
    }
}

fn classification(field: &Field<'_>) -> Option<Classification> {
    field.attrs.classification.as_ref().map(|c| c.value)
}

/// The trait a field's type must implement for its classification, in the
/// where clause of an impl whose fields name its type parameters.
pub(crate) fn required_trait(private: &TokenStream, field: &Field<'_>) -> TokenStream {
    match (classification(field), public_bound(field)) {
        (_, Some(Bound::PublicByDefault)) => quote!(#private::PublicByDefault),
        (_, Some(Bound::Closed)) => quote!(#private::ClosedValue),
        (_, Some(Bound::NotText)) => quote!(#private::NotText),
        (Some(Classification::Redact(RedactMode::Hash | RedactMode::Length)), _) => {
            quote!(#private::RedactableText)
        }
        _ => quote!(#private::PropertyValue),
    }
}

/// The statement that writes one field: a call to the writer of its
/// classification (see [`writer`]) on the event's `Properties`. Type
/// errors (an unsupported type, free text behind an alias, a sensitive name
/// on text, `redact = "hash"` on a number) are reported at the field's
/// type, through the span of the call. The writers are methods of the
/// `Properties` the sealed trait's signature names (the path below is the
/// one the signature uses, so it is that type, and `__telemetry_out` is of
/// it), so no `crate = "..."` path can put other functions in their place.
fn write_field(private: &TokenStream, field: &Field<'_>) -> TokenStream {
    let member = field.ident;
    let name = &field.name.0;
    let ty = field.ty;
    let writer = Ident::new(writer(field), Span::call_site());
    let field_name = quote!(const { #private::FieldName::new(#name) });
    let properties = quote!(#private::Properties);
    if writer == "__redact_drop" {
        return quote_spanned!(ty.span()=> #properties::#writer::<#ty>(__telemetry_out, &self.#member););
    }
    // The type is named explicitly so that a missing trait is reported at
    // the whole type as written. Field values are written straight into the
    // packed properties, without a `Value` in between (so text is copied
    // once, and nothing allocates).
    quote_spanned!(ty.span()=> #properties::#writer::<#ty>(__telemetry_out, #field_name, &self.#member);)
}

/// The `FieldSchema` of a field. The nested fields of an object type come
/// from its `FIELDS`, named with `'static` lifetimes (the schema is a
/// constant outside any impl); a type that names a type parameter of the
/// input (`type_params`) cannot be named there, and lists none.
pub(crate) fn field_schema(private: &TokenStream, field: &Field<'_>, type_params: &[&Ident]) -> TokenStream {
    let name = &field.name.0;
    let (fields, values, unit) = if mentions_any(field.ty, type_params) || field.attrs.unreadable {
        (quote!(&[]), quote!(&[]), quote!(""))
    } else {
        let ty = field.ty;
        let static_ty = with_static_lifetimes(ty.to_token_stream());
        (
            quote_spanned!(ty.span()=> { #[allow(unused_imports)] use #private::NoFields as _; <#private::Fields<#static_ty>>::FIELDS }),
            quote_spanned!(ty.span()=> { #[allow(unused_imports)] use #private::NoValues as _; <#private::Fields<#static_ty>>::VALUES }),
            quote_spanned!(ty.span()=> { #[allow(unused_imports)] use #private::NoValues as _; <#private::Fields<#static_ty>>::UNIT }),
        )
    };
    let ty = type_string(field.ty);
    let description = field.doc.as_deref().unwrap_or_default();
    let class = match classification(field) {
        None | Some(Classification::Public) => quote!(Public),
        Some(Classification::OptIn) => quote!(OptIn),
        Some(Classification::Redact(mode)) => {
            let mode = match mode {
                RedactMode::Drop => quote!(Drop),
                RedactMode::Marker => quote!(Marker),
                RedactMode::Hash => quote!(Hash),
                RedactMode::Length => quote!(Length),
            };
            quote!(Redact(#private::RedactMode::#mode))
        }
    };
    let reason = match &field.attrs.reason {
        Some(lit) => quote!(#private::Some(#lit)),
        None => quote!(#private::None),
    };
    quote! {
        #private::field_schema(
            #name,
            #ty,
            #private::Classification::#class,
            #description,
            #reason,
            #values,
            #unit,
            #fields,
        )
    }
}

/// The type as a person writes it: `Option<&'a str>`, not `Option < & 'a str >`.
pub(crate) fn type_string(ty: &Type) -> String {
    let mut out = ty.to_token_stream().to_string();
    for (from, to) in
        [(" < ", "<"), ("< ", "<"), (" >", ">"), (" :: ", "::"), ("& ", "&"), (" ,", ","), ("' ", "'")]
    {
        out = out.replace(from, to);
    }
    out
}

pub(crate) fn mentions_any(ty: &Type, params: &[&Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[&Ident]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(ident) => params.iter().any(|p| **p == ident),
            proc_macro2::TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}

/// Uses the path of `crate = "..."` when it could be read, so that an audit
/// error is not followed by an unresolved crate.
fn fallback_impl(input: &DeriveInput, krate: Option<&syn::Path>) -> TokenStream {
    let private = private_path(krate);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = ident.to_string();
    quote! {
        #[allow(deprecated)]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        impl #impl_generics #private::TelemetryEvent for #ident #ty_generics #where_clause {
            const SCHEMA: #private::EventSchema = #private::EventSchema::undocumented(#name, #private::Level::Usage);
            fn write_properties(&self, _: #private::Level, _: &mut #private::Properties) {}
        }
    }
}
