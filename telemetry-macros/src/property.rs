//! `#[derive(TelemetryProperty)]`: a fieldless enum, sent as the snake_case
//! name of its variant (enum values come from a fixed set the program
//! defines, so they are public by default), or a newtype struct, which is
//! whatever its field is: a newtype over text is text, and needs a
//! classification wherever it is used.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DataEnum, DeriveInput, Fields, Type};

use crate::attr::{ContainerAttrs, VariantAttrs};
use crate::ctxt::Ctxt;
use crate::expand::private_path;
use crate::names::{name_problem, to_snake_case};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let container = ContainerAttrs::from_syn(&mut cx, &input.attrs);
    let event_only = [
        container.name.as_ref().map(|n| n.span()),
        container.opt_in,
        container.sample.as_ref().map(|s| s.span),
    ];
    for span in event_only.into_iter().flatten() {
        cx.error_at(span, "only `crate = \"...\"` applies to a TelemetryProperty type");
    }
    let private = private_path(container.krate.as_ref());
    let expanded = match &input.data {
        Data::Enum(data) => enumeration(&mut cx, &private, input, data),
        Data::Struct(data) => match &data.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                Some(newtype(&private, input, &fields.unnamed[0].ty))
            }
            _ => None,
        },
        Data::Union(_) => None,
    };
    let Some(expanded) = expanded.filter(|_| !cx.has_errors()) else {
        if !matches!(input.data, Data::Enum(_)) {
            cx.error_spanned_by(
                &input.ident,
                "TelemetryProperty can only be derived for a fieldless enum or a newtype struct \
                 (one unnamed field)",
            );
        }
        // A minimal impl keeps uses of the type from producing a cascade of
        // unrelated errors.
        let errors = cx.into_compile_errors();
        let markers = [quote!(PublicByDefault), quote!(PublicListItem)];
        let fallback = impls(&private, input, quote!(Text), quote!(#private::Value::Null), None, &markers);
        return quote!(#errors #fallback);
    };
    expanded
}

fn enumeration(
    cx: &mut Ctxt,
    private: &TokenStream,
    input: &DeriveInput,
    data: &DataEnum,
) -> Option<TokenStream> {
    let mut arms = Vec::new();
    let mut values = Vec::new();
    for variant in &data.variants {
        let attrs = VariantAttrs::from_syn(cx, &variant.attrs);
        if !matches!(variant.fields, Fields::Unit) {
            cx.error_spanned_by(
                variant,
                format_args!(
                    "variant `{}` has fields; TelemetryProperty enums must be fieldless \
                     (their values come from a fixed set)",
                    variant.ident
                ),
            );
            continue;
        }
        let (value, span) = match &attrs.rename {
            Some(lit) => (lit.value(), lit.span()),
            None => (to_snake_case(&variant.ident.to_string()), variant.ident.span()),
        };
        if let Some(problem) = name_problem(&value) {
            cx.error_at(span, format_args!("value \"{value}\" of variant `{}` {problem}", variant.ident));
        }
        let ident = &variant.ident;
        arms.push(quote!(Self::#ident => #value,));
        values.push(value);
    }
    // An enum without variants has no values: its match is the whole body.
    let (to_value, pack) = if arms.is_empty() {
        (quote!(match *self {}), quote!(match *self {}))
    } else {
        let text = quote!(match self { #(#arms)* });
        (quote!(#private::Value::from(#text)), quote!(__telemetry_out.text(#text)))
    };
    let kind = quote!(OneOf(&[#(#values),*]));
    Some(impls(
        private,
        input,
        kind,
        to_value,
        Some(pack),
        &[quote!(PublicByDefault), quote!(PublicListItem)],
    ))
}

/// The impls of a newtype: each trait holds when it holds for the field.
fn newtype(private: &TokenStream, input: &DeriveInput, field: &Type) -> TokenStream {
    let ident = &input.ident;
    // `for<'__telemetry>` defers a bound to each use: without it, a bound on
    // a concrete type that does not hold (`String: PublicByDefault`) is an
    // error at the impl instead of an impl that does not apply.
    let bounded = |t: TokenStream| {
        let mut generics = input.generics.clone();
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(for<'__telemetry> #field: #private::#t));
        generics
    };
    let value_generics = bounded(quote!(PropertyValue));
    let (impl_generics, ty_generics, where_clause) = value_generics.split_for_impl();
    let marker = |t: TokenStream| {
        let generics = bounded(t.clone());
        let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::#t for #ident #ty_generics #where_clause {}
        }
    };
    let public = marker(quote!(PublicByDefault));
    let listed = marker(quote!(PublicListItem));
    let text_generics = bounded(quote!(RedactableText));
    let (text_impl_generics, _, text_where_clause) = text_generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        #[automatically_derived]
        impl #impl_generics #private::PropertyValue for #ident #ty_generics #where_clause {
            const KIND: #private::ValueKind = <#field as #private::PropertyValue>::KIND;
            fn to_value(&self) -> #private::Value {
                #private::PropertyValue::to_value(&self.0)
            }
            #[inline]
            fn __pack(&self, __telemetry_out: &mut #private::ValueWriter<'_>) {
                #private::PropertyValue::__pack(&self.0, __telemetry_out)
            }
        }
        #public
        #listed
        #[automatically_derived]
        impl #text_impl_generics #private::RedactableText for #ident #ty_generics #text_where_clause {
            fn redacted_length(&self) -> #private::Option<usize> {
                #private::RedactableText::redacted_length(&self.0)
            }
            fn redacted_digest(&self) -> #private::Option<#private::Digest> {
                #private::RedactableText::redacted_digest(&self.0)
            }
        }
    }
}

/// `Audited` and `PropertyValue`, plus the marker traits named in `markers`.
fn impls(
    private: &TokenStream,
    input: &DeriveInput,
    kind: TokenStream,
    to_value: TokenStream,
    pack: Option<TokenStream>,
    markers: &[TokenStream],
) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let pack = pack.map(|pack| {
        quote! {
            #[inline]
            fn __pack(&self, __telemetry_out: &mut #private::ValueWriter<'_>) {
                #pack
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        #[automatically_derived]
        impl #impl_generics #private::PropertyValue for #ident #ty_generics #where_clause {
            const KIND: #private::ValueKind = #private::ValueKind::#kind;
            fn to_value(&self) -> #private::Value {
                #to_value
            }
            #pack
        }
        #(
            #[automatically_derived]
            impl #impl_generics #private::#markers for #ident #ty_generics #where_clause {}
        )*
    }
}
