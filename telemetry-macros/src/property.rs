//! `#[derive(TelemetryProperty)]`: a fieldless enum, sent as the snake_case
//! name of its variant (enum values come from a fixed set the program
//! defines, so they are public by default), or a newtype struct, which is
//! whatever its field is: a newtype over text is text, and needs a
//! classification wherever it is used; or a struct with named fields, an
//! object whose fields are audited and classified like an event's.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DataEnum, DeriveInput, Fields, Type};

use crate::ast::Field;
use crate::attr::{Classification, ContainerAttrs, RedactMode, VariantAttrs};
use crate::audit::audit_fields;
use crate::ctxt::Ctxt;
use crate::expand::{field_schema, mentions_any, private_path, required_trait, writer};
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
            Fields::Named(fields) => object(&mut cx, &private, input, fields),
            _ => None,
        },
        Data::Union(_) => None,
    };
    let expanded = expanded.filter(|_| !cx.has_errors());
    let named = matches!(&input.data, Data::Struct(s) if matches!(s.fields, Fields::Named(_)));
    if expanded.is_none() && !matches!(input.data, Data::Enum(_)) && !named {
        cx.error_spanned_by(
            &input.ident,
            "TelemetryProperty can only be derived for a fieldless enum, a newtype struct \
             (one unnamed field) or a struct with named fields (an object)",
        );
    }
    match (expanded, cx.check()) {
        (Some(expanded), Ok(())) => expanded,
        // A minimal impl keeps uses of the type from producing a cascade of
        // unrelated errors.
        (_, errors) => {
            let errors = errors.err().map(|e| e.to_compile_error());
            let markers = [
                quote!(PublicByDefault),
                quote!(PublicListItem),
                quote!(NotText),
                quote!(NotTextItem),
                quote!(ClosedValue),
            ];
            let fallback =
                impls(&private, input, quote!(Text), quote!(#private::Value::Null), None, &markers);
            quote!(#errors #fallback)
        }
    }
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
    // The values are a fixed set of valid names: they can be a map's keys.
    let key = if arms.is_empty() { quote!(match *self {}) } else { quote!(match self { #(#arms)* }) };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // A value of a closed set: public by default, in lists too, not text,
    // and neither a measure's nor an identifier's worry.
    let markers = [
        quote!(PublicByDefault),
        quote!(PublicListItem),
        quote!(NotText),
        quote!(NotTextItem),
        quote!(ClosedValue),
    ];
    let impls = impls(private, input, kind, to_value, Some(pack), &markers);
    Some(quote! {
        #impls
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::PropertyKey for #ident #ty_generics #where_clause {
            fn __key(&self) -> &'static str {
                #key
            }
        }
    })
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
            #[allow(deprecated)]
            impl #impl_generics #private::#t for #ident #ty_generics #where_clause {}
        }
    };
    let public = marker(quote!(PublicByDefault));
    let listed = marker(quote!(PublicListItem));
    let not_text = marker(quote!(NotText));
    let not_text_item = marker(quote!(NotTextItem));
    let closed = marker(quote!(ClosedValue));
    let text_generics = bounded(quote!(RedactableText));
    let (text_impl_generics, _, text_where_clause) = text_generics.split_for_impl();
    quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {
            const UNIT: &'static str = <#field as #private::Audited>::UNIT;
        }
        #[automatically_derived]
        #[allow(deprecated)]
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
        #not_text
        #not_text_item
        #closed
        #[automatically_derived]
        #[allow(deprecated)]
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

/// An object: each field audited and classified like an event's, written
/// as a name and a value; an `opt_in` field only at `Full` consent, a
/// `redact`ed one as its marker, length or keyed hash. Public by default
/// (and in lists) only when every field it sends is public.
fn object(
    cx: &mut Ctxt,
    private: &TokenStream,
    input: &DeriveInput,
    named: &syn::FieldsNamed,
) -> Option<TokenStream> {
    let fields: Vec<Field<'_>> = named.named.iter().map(|field| Field::from_syn(cx, field)).collect();
    audit_fields(cx, &fields);
    if cx.has_errors() {
        return None;
    }
    let ident = &input.ident;
    let sent: Vec<&Field<'_>> = fields.iter().filter(|f| f.attrs.skip.is_none()).collect();
    let class = |f: &Field<'_>| f.attrs.classification.as_ref().map(|c| c.value);
    let public = |f: &Field<'_>| matches!(class(f), None | Some(Classification::Public));

    // Bounds for fields whose type names a type parameter, as for events.
    let type_params: Vec<&syn::Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    let mut generics = input.generics.clone();
    for field in sent.iter().filter(|f| mentions_any(f.ty, &type_params)) {
        let ty = field.ty;
        let bound = required_trait(private, field);
        generics.make_where_clause().predicates.push(syn::parse_quote!(#ty: #bound));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let kinds = sent.iter().filter(|f| public(f)).map(|f| {
        let (name, ty) = (&f.name.0, f.ty);
        quote_spanned!(ty.span()=> (#name, <#ty as #private::PropertyValue>::KIND))
    });
    let schemas = sent.iter().map(|f| field_schema(private, f, &[]));
    let mut writes = Vec::new();
    let mut values = Vec::new();
    for field in &sent {
        let (member, name, ty) = (field.ident, &field.name.0, field.ty);
        let field_name = quote!(const { #private::FieldName::new(#name) });
        // The writers are methods of the `ValueWriter` the sealed trait's
        // `__pack` is given, each with the bound of the field's
        // classification (see `expand::write_field`).
        let writer = syn::Ident::new(writer(field), proc_macro2::Span::call_site());
        let out = quote!(#private::ValueWriter::<'_>);
        let to_value =
            quote!((#private::Cow::Borrowed(#name), #private::PropertyValue::to_value(&self.#member)));
        match class(field) {
            None | Some(Classification::Public) => {
                writes.push(quote_spanned!(ty.span()=>
                    #out::#writer::<#ty>(__telemetry_out, &mut __telemetry_object, #field_name, &self.#member);
                ));
                values.push(to_value);
            }
            Some(Classification::OptIn) => {
                writes.push(quote_spanned!(ty.span()=>
                    #out::#writer::<#ty>(__telemetry_out, &mut __telemetry_object, #field_name, &self.#member);
                ));
            }
            Some(Classification::Redact(RedactMode::Drop)) => {
                writes
                    .push(quote_spanned!(ty.span()=> #out::#writer::<#ty>(__telemetry_out, &self.#member);));
            }
            Some(Classification::Redact(mode)) => {
                writes.push(quote_spanned!(ty.span()=>
                    #out::#writer::<#ty>(__telemetry_out, &mut __telemetry_object, #field_name, &self.#member);
                ));
                let helper = match mode {
                    RedactMode::Marker => "__redact_marker",
                    RedactMode::Length => "__redact_length",
                    _ => "__redact_hash",
                };
                let helper = syn::Ident::new(helper, proc_macro2::Span::call_site());
                let call = quote_spanned!(ty.span()=> #private::Value::#helper::<#ty>(&self.#member));
                values.push(quote!((#private::Cow::Borrowed(#name), #call)));
            }
        }
    }
    // Not text whatever its fields: each field was classified (with its
    // reason) where it is declared. Public by default, in lists, and a
    // closed value (under a sensitive name) only when every field it sends
    // is public.
    let mut markers = vec![quote!(NotText), quote!(NotTextItem)];
    if sent.iter().all(|f| public(f)) {
        markers.extend([quote!(PublicByDefault), quote!(PublicListItem), quote!(ClosedValue)]);
    }
    let markers = markers.iter().map(|marker| {
        quote! {
            #[automatically_derived]
            #[allow(deprecated)]
            impl #impl_generics #private::#marker for #ident #ty_generics #where_clause {}
        }
    });
    Some(quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::PropertyValue for #ident #ty_generics #where_clause {
            const KIND: #private::ValueKind = #private::ValueKind::Object(&[#(#kinds),*]);
            const FIELDS: &'static [#private::FieldSchema] = &[#(#schemas),*];
            /// The public fields and what the redacted ones send; `opt_in`
            /// fields are left out (no consent level is known here).
            fn to_value(&self) -> #private::Value {
                #private::Value::Object(::std::vec![#(#values),*])
            }
            #[inline]
            fn __pack(&self, __telemetry_out: &mut #private::ValueWriter<'_>) {
                if let #private::Some(mut __telemetry_object) = __telemetry_out.object_start() {
                    #(#writes)*
                    __telemetry_out.object_end(__telemetry_object);
                }
            }
        }
        #(#markers)*
    })
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
        #[allow(deprecated)]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {}
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #private::PropertyValue for #ident #ty_generics #where_clause {
            const KIND: #private::ValueKind = #private::ValueKind::#kind;
            fn to_value(&self) -> #private::Value {
                #to_value
            }
            #pack
        }
        #(
            #[automatically_derived]
            #[allow(deprecated)]
            impl #impl_generics #private::#markers for #ident #ty_generics #where_clause {}
        )*
    }
}
