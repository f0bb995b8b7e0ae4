//! `#[requires_telemetry]`: gate a function on consent, or instrument it.
//!
//! The signature is re-emitted unchanged; the body moves into a closure (or
//! an `async move` block) so that `return` and `?` keep their meaning, and
//! so that a panic can be contained (gated form) or the result inspected
//! (instrumenting form).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::expand::{private_path, type_string};
use crate::names::{name_problem, sensitivity, suggest, Sensitive};

#[derive(Default)]
struct Args {
    /// `usage` or `full`, with the span of the key.
    level: Option<(&'static str, Span)>,
    instrument: Option<Span>,
    name: Option<LitStr>,
    arguments: Vec<Ident>,
    krate: Option<syn::Path>,
}

/// Properties every instrumented call records; arguments cannot reuse them.
const CALL_PROPERTIES: [&str; 3] = ["duration_ms", "outcome", "error_type"];

const KEYS: [&str; 6] = ["usage", "full", "instrument", "name", "args", "crate"];

impl Args {
    fn parse(cx: &mut Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args::default();
        let mut errors = Ctxt::default();
        let parser = syn::meta::parser(|meta| args.parse_key(&mut errors, &meta));
        if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
            cx.push(err);
        }
        cx.extend(errors);
        if args.instrument.is_none() {
            if let Some(name) = &args.name {
                cx.error_spanned_by(name, "`name` applies only to #[requires_telemetry(instrument, ...)]");
            }
            if let Some(first) = args.arguments.first() {
                cx.error_spanned_by(
                    first,
                    "`args(...)` applies only to #[requires_telemetry(instrument, ...)]",
                );
            }
        }
        args
    }

    fn is_full(&self) -> bool {
        matches!(self.level, Some(("full", _)))
    }

    fn parse_key(&mut self, cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        let span = meta.path.span();
        let once = |cx: &mut Ctxt, taken: bool| {
            if taken {
                cx.error_at(span, format_args!("duplicate requires_telemetry argument `{key}`"));
            }
        };
        match key.as_str() {
            // #[requires_telemetry(usage)] (the default) or #[requires_telemetry(full)]
            "usage" | "full" => {
                let level = if key == "full" { "full" } else { "usage" };
                match self.level {
                    Some((prev, _)) if prev == level => once(cx, true),
                    Some((prev, _)) => cx.error_at(
                        span,
                        format_args!(
                            "conflicting requires_telemetry levels `{prev}` and `{level}`: choose one"
                        ),
                    ),
                    None => self.level = Some((level, span)),
                }
                Ok(())
            }
            // #[requires_telemetry(instrument)]
            "instrument" => {
                once(cx, self.instrument.is_some());
                self.instrument = Some(span);
                Ok(())
            }
            // #[requires_telemetry(instrument, name = "event_name")]
            "name" => {
                once(cx, self.name.is_some());
                self.name = Some(meta.value()?.parse()?);
                Ok(())
            }
            // #[requires_telemetry(instrument, args(retries, mode))]
            "args" => meta.parse_nested_meta(|arg| {
                let ident = arg.path.get_ident().ok_or_else(|| arg.error("expected an argument name"))?;
                if self.arguments.contains(ident) {
                    cx.error_spanned_by(
                        ident,
                        format_args!("argument `{ident}` is named twice in `args(...)`"),
                    );
                } else {
                    self.arguments.push(ident.clone());
                }
                Ok(())
            }),
            // #[requires_telemetry(crate = "my_telemetry")]
            "crate" => {
                once(cx, self.krate.is_some());
                let lit: LitStr = meta.value()?.parse()?;
                self.krate = Some(lit.parse()?);
                Ok(())
            }
            _ => {
                let hint = suggest(&key, &KEYS).map(|k| format!("; did you mean `{k}`?")).unwrap_or_else(|| {
                    "; expected `usage`, `full`, `instrument`, `name = \"...\"`, `args(...)` or `crate = \"...\"`"
                        .into()
                });
                Err(meta.error(format_args!("unknown requires_telemetry argument `{key}`{hint}")))
            }
        }
    }
}

pub(crate) fn expand(args: TokenStream, function: ItemFn) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = Args::parse(&mut cx, args);
    if let Some(constness) = &function.sig.constness {
        cx.error_spanned_by(
            constness,
            "#[requires_telemetry] cannot be used on a `const fn`: consent is known only at run time",
        );
    }
    let expanded = if args.instrument.is_some() {
        instrument(&mut cx, &args, &function)
    } else {
        gate(&mut cx, &args, &function)
    };
    if let Err(errors) = cx.check() {
        // Keep the function as written so that its callers still compile.
        let errors = errors.to_compile_error();
        return quote!(#errors #function);
    }
    expanded
}

/// What a gated function returns when its body does not run.
enum Default_ {
    Unit,
    None,
}

fn gate(cx: &mut Ctxt, args: &Args, function: &ItemFn) -> TokenStream {
    let private = private_path(args.krate.as_ref());
    let default = match &function.sig.output {
        ReturnType::Default => Default_::Unit,
        ReturnType::Type(_, ty) if is_unit(ty) => Default_::Unit,
        ReturnType::Type(_, ty) if is_option(ty) => Default_::None,
        ReturnType::Type(_, ty) => {
            cx.error_spanned_by(
                ty,
                "#[requires_telemetry] functions must return `()` or `Option<T>`, because their body \
                 does not run when telemetry is off; use #[requires_telemetry(instrument)] to measure \
                 a function that always runs",
            );
            return TokenStream::new();
        }
    };
    let default = match default {
        Default_::Unit => quote!(()),
        Default_::None => quote!(#private::None),
    };
    let level = if args.is_full() { quote!(Full) } else { quote!(Usage) };
    let name = function.sig.ident.to_string();
    let body = &function.block;
    let run = if function.sig.asyncness.is_some() {
        quote! {
            match #private::contain_async(#name, async move #body).await {
                #private::Some(__telemetry_value) => __telemetry_value,
                #private::None => #default,
            }
        }
    } else {
        // A call in tail position to a function of its own (cold), so that
        // with telemetry off the function is one load, a branch and its
        // return, whatever the size of the body.
        let ret = closure_return(&function.sig.output);
        quote!(#private::run_gated(move || #ret #body, #name, || #default))
    };
    rebuild(
        function,
        quote! {
            if !#private::enabled(#private::Level::#level) {
                return #default;
            }
            #run
        },
    )
}

fn instrument(cx: &mut Ctxt, args: &Args, function: &ItemFn) -> TokenStream {
    let private = private_path(args.krate.as_ref());
    let event = match &args.name {
        Some(lit) => {
            if let Some(problem) = name_problem(&lit.value()) {
                cx.error_spanned_by(lit, format_args!("event name \"{}\" {problem}", lit.value()));
            }
            lit.value()
        }
        None => function.sig.ident.to_string(),
    };
    let level = if args.is_full() { quote!(Full) } else { quote!(Usage) };
    let mut schema_fields = Vec::new();
    let mut kinds = Vec::new();
    let recorded: Vec<TokenStream> = args
        .arguments
        .iter()
        .filter_map(|arg| {
            let Some(ty) = argument_type(function, arg) else {
                cx.error_spanned_by(
                    arg,
                    format_args!("`{}` has no argument named `{arg}`", function.sig.ident),
                );
                return None;
            };
            if let Some(problem) = name_problem(&arg.to_string()) {
                cx.error_spanned_by(arg, format_args!("property name \"{arg}\" {problem}"));
            }
            // An identifier is refused whatever its type; a sensitive word
            // is recorded only when its type is a measure or a closed set,
            // which the traits decide (`argument_closed` below).
            let sensitive = sensitivity(&arg.to_string());
            if let Some(Sensitive::Identifier(word)) = sensitive {
                cx.error_spanned_by(
                    arg,
                    format_args!(
                        "argument `{arg}` is an identifier (`{word}`) and would be sent as public; \
                         record it through a #[derive(TelemetryEvent)] event that classifies it"
                    ),
                );
            }
            if CALL_PROPERTIES.contains(&arg.to_string().as_str()) {
                cx.error_spanned_by(
                    arg,
                    format_args!("argument `{arg}` would overwrite the call's own `{arg}` property; rename the argument"),
                );
            }
            if mentions_generic(ty, function) {
                cx.error_spanned_by(
                    ty,
                    format_args!(
                        "`args(...)` cannot record `{arg}`: its type is generic (or `impl Trait`), \
                         and an instrumented function's event declares each argument's type"
                    ),
                );
                return None;
            }
            let name = arg.to_string();
            let ty_name = type_string(ty);
            let static_ty = with_static_lifetimes(ty.to_token_stream());
            let fields = quote_spanned!(ty.span()=> { #[allow(unused_imports)] use #private::NoFields as _; <#private::Fields<#static_ty>>::FIELDS });
            schema_fields.push(quote! {
                #private::field_schema(
                    #name,
                    #ty_name,
                    #private::Classification::Public,
                    "An argument of the call.",
                    #private::None,
                    { #[allow(unused_imports)] use #private::NoValues as _; <#private::Fields<#static_ty>>::VALUES },
                    { #[allow(unused_imports)] use #private::NoValues as _; <#private::Fields<#static_ty>>::UNIT },
                    #fields,
                )
            });
            // Spanned at the argument's type: a type that is not public by
            // default (free text, say) is reported there.
            let static_ty = with_static_lifetimes(ty.to_token_stream());
            kinds.push(quote_spanned!(ty.span()=> #private::argument_kind::<#static_ty>()));
            let value = match sensitive {
                Some(Sensitive::Word(..)) => quote_spanned!(ty.span()=> #private::argument_closed::<#ty>(&#arg)),
                _ => quote_spanned!(ty.span()=> #private::argument::<#ty>(&#arg)),
            };
            Some(quote!((#name, #value)))
        })
        .collect();
    let schema = call_schema(&private, &event, &level, &function.sig.ident, &schema_fields);
    // The call's event is declared like an `event!`: registered for the
    // catalog, with the shape of each property.
    let registration = quote! {
        #[allow(deprecated)]
        static __TELEMETRY_EVENT: #private::DynamicEvent = {
            const __TELEMETRY_SCHEMA: #private::EventSchema = #schema;
            #private::inventory::submit! { #private::Registration(&__TELEMETRY_SCHEMA) }
            #private::DynamicEvent::__declared(
                &__TELEMETRY_SCHEMA,
                &[
                    #private::ValueKind::Number,
                    #private::ValueKind::OneOf(&["ok", "error"]),
                    #private::ValueKind::Text,
                    #(#kinds),*
                ],
            )
        };
    };
    let body = &function.block;
    // The body is emitted once, as a closure (or future) that both paths
    // call. Named arguments are read before the body may move them, and
    // only when the call is recorded.
    let expansion = if function.sig.asyncness.is_some() {
        quote! {
            #registration
            let __telemetry_call = match #private::call_started(#private::Level::#level) {
                #private::Some(__telemetry_started) => #private::Some((__telemetry_started, [#(#recorded),*])),
                #private::None => #private::None,
            };
            let __telemetry_body = async move #body;
            match __telemetry_call {
                #private::None => __telemetry_body.await,
                #private::Some((__telemetry_started, __telemetry_arguments)) => {
                    let __telemetry_result = __telemetry_body.await;
                    #[allow(unused_imports)]
                    use #private::{PlainOutcome as _, ResultOutcome as _};
                    let __telemetry_outcome = (&#private::OutcomeProbe(&__telemetry_result)).outcome();
                    #private::record_call(&__TELEMETRY_EVENT, __telemetry_started, __telemetry_outcome, __telemetry_arguments);
                    __telemetry_result
                }
            }
        }
    } else {
        // The recorded path is a call in tail position to a function of
        // its own, so that with telemetry off the function is its body
        // behind one load and a branch, without a stack frame of its own.
        let ret = closure_return(&function.sig.output);
        quote! {
            #registration
            let __telemetry_arguments = if #private::enabled(#private::Level::#level) {
                #private::Some([#(#recorded),*])
            } else {
                #private::None
            };
            let __telemetry_body = move || #ret #body;
            match __telemetry_arguments {
                #private::None => #private::call_once(__telemetry_body),
                #private::Some(__telemetry_arguments) => {
                    #private::record_around(__telemetry_body, &__TELEMETRY_EVENT, __telemetry_arguments, |__telemetry_result| {
                        #[allow(unused_imports)]
                        use #private::{PlainOutcome as _, ResultOutcome as _};
                        (&#private::OutcomeProbe(__telemetry_result)).outcome()
                    })
                }
            }
        }
    };
    rebuild(function, expansion)
}

/// The schema of an instrumented function's event, for the catalog.
fn call_schema(
    private: &TokenStream,
    event: &str,
    level: &TokenStream,
    function: &Ident,
    arguments: &[TokenStream],
) -> TokenStream {
    let description = format!("A call of `{function}`: how long it took and whether it succeeded.");
    let public = |name: &str, ty: &str, description: &str, values: &[&str], unit: &str| {
        quote! {
            #private::field_schema(#name, #ty, #private::Classification::Public, #description, #private::None, &[#(#values),*], #unit, &[])
        }
    };
    let duration = public("duration_ms", "Duration", "How long the call took.", &[], "ms");
    let outcome = public("outcome", "&'static str", "How the call ended.", &["ok", "error"], "");
    let error_type = public(
        "error_type",
        "&'static str",
        "For an error, the error's Rust type name (never its message).",
        &[],
        "",
    );
    quote! {
        #private::event_schema(
            #event,
            #description,
            #private::Level::#level,
            1.0,
            &[#duration, #outcome, #error_type, #(#arguments),*],
            ::core::module_path!(),
        )
    }
}

/// The function with its attributes and signature unchanged and a new body.
/// Inner attributes (`#![allow(...)]`) stay at the top of the body.
fn rebuild(function: &ItemFn, body: TokenStream) -> TokenStream {
    let ItemFn { attrs, vis, sig, .. } = function;
    let (inner, outer): (Vec<_>, Vec<_>) =
        attrs.iter().partition(|attr| matches!(attr.style, syn::AttrStyle::Inner(_)));
    quote!(#(#outer)* #vis #sig { #(#inner)* #body })
}

/// `-> T` for the body closure, so `return` inside it type-checks against
/// the function's return type; left out where a closure cannot name the
/// type (`impl Trait`).
fn closure_return(output: &ReturnType) -> TokenStream {
    match output {
        ReturnType::Type(_, ty) if !mentions_impl(ty) => quote!(-> #ty),
        ReturnType::Default => quote!(-> ()),
        ReturnType::Type(..) => TokenStream::new(),
    }
}

fn mentions_impl(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// The type with every named lifetime made `'static`, so that the event's
/// declaration can name it outside the function (the shape of a value does
/// not depend on lifetimes).
pub(crate) fn with_static_lifetimes(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut after_quote = false;
    for tt in tokens {
        let tt = match tt {
            proc_macro2::TokenTree::Ident(ident) if after_quote => {
                proc_macro2::TokenTree::Ident(Ident::new("static", ident.span()))
            }
            proc_macro2::TokenTree::Group(group) => {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), with_static_lifetimes(group.stream()));
                new.set_span(group.span());
                proc_macro2::TokenTree::Group(new)
            }
            other => other,
        };
        after_quote = matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == '\'');
        out.push(tt);
    }
    out.into_iter().collect()
}

/// Whether `ty` names a type parameter of `function`, `Self` or `impl Trait`:
/// types a declaration inside the function cannot name.
fn mentions_generic(ty: &Type, function: &ItemFn) -> bool {
    fn walk(tokens: TokenStream, params: &[&Ident]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(ident) => {
                ident == "impl" || ident == "Self" || params.iter().any(|p| **p == ident)
            }
            proc_macro2::TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    let params: Vec<&Ident> = function.sig.generics.type_params().map(|p| &p.ident).collect();
    walk(ty.to_token_stream(), &params)
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

fn argument_type<'a>(function: &'a ItemFn, name: &Ident) -> Option<&'a Type> {
    function.sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) if pat.ident == *name => Some(&*typed.ty),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    })
}
