//! `#[derive(TelemetryProperty)]`: a fieldless enum sent as the snake_case
//! name of its variant. Enum values come from a fixed set the program
//! defines, so they are public by default.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

use crate::attr::{ContainerAttrs, VariantAttrs};
use crate::ctxt::Ctxt;
use crate::expand::private_path;
use crate::names::{name_problem, to_snake_case};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let Data::Enum(data) = &input.data else {
        cx.error_spanned_by(&input.ident, "TelemetryProperty can only be derived for a fieldless enum");
        return cx.into_compile_errors();
    };
    let container = ContainerAttrs::from_syn(&mut cx, &input.attrs);
    let event_only = [
        container.name.as_ref().map(|n| n.span()),
        container.opt_in,
        container.sample.as_ref().map(|s| s.span),
    ];
    for span in event_only.into_iter().flatten() {
        cx.error_at(span, "only `crate = \"...\"` applies to a TelemetryProperty enum");
    }
    let mut arms = Vec::new();
    for variant in &data.variants {
        let attrs = VariantAttrs::from_syn(&mut cx, &variant.attrs);
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
    }
    if cx.has_errors() {
        return cx.into_compile_errors();
    }
    let private = private_path(container.krate.as_ref());
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = if arms.is_empty() {
        quote!(match *self {})
    } else {
        quote!(#private::Value::from(match self { #(#arms)* }))
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::PropertyValue for #ident #ty_generics #where_clause {
            fn to_value(&self) -> #private::Value {
                #body
            }
        }
        #[automatically_derived]
        impl #impl_generics #private::PublicByDefault for #ident #ty_generics #where_clause {}
    }
}
