//! Collects errors so that one build reports every problem, each at its span.
//!
//! As in serde_derive, a context must be consumed (by [`Ctxt::check`] or
//! [`Ctxt::into_compile_errors`]) before it is dropped: dropping one that
//! was never checked panics, so that a code path which forgets to report
//! what it collected fails loudly in development instead of compiling the
//! user's code without its errors.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) struct Ctxt {
    /// `None` once checked.
    errors: Option<Vec<syn::Error>>,
}

impl Default for Ctxt {
    fn default() -> Ctxt {
        Ctxt { errors: Some(Vec::new()) }
    }
}

impl Ctxt {
    pub(crate) fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn error_at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.as_mut().expect("an error pushed after the context was checked").push(error);
    }

    /// Takes every error collected by `other`, which counts as checked.
    pub(crate) fn extend(&mut self, mut other: Ctxt) {
        for error in other.errors.take().unwrap_or_default() {
            self.push(error);
        }
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.errors.as_ref().is_some_and(|errors| !errors.is_empty())
    }

    /// Every error collected, combined into one, or `Ok` when there was none.
    pub(crate) fn check(mut self) -> syn::Result<()> {
        let mut errors = self.errors.take().unwrap_or_default().into_iter();
        let Some(mut combined) = errors.next() else { return Ok(()) };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }

    /// The `compile_error!` invocations for everything collected.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.check().err().map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.is_some() {
            panic!("telemetry-macros: an error context was dropped without being checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "dropped without being checked")]
    fn an_unchecked_context_panics_when_dropped() {
        let mut cx = Ctxt::default();
        cx.error_at(proc_macro2::Span::call_site(), "lost");
    }

    #[test]
    #[should_panic(expected = "dropped without being checked")]
    fn an_unchecked_context_panics_even_without_errors() {
        let _cx = Ctxt::default();
    }

    #[test]
    fn a_checked_context_reports_every_error() {
        let mut cx = Ctxt::default();
        cx.error_at(proc_macro2::Span::call_site(), "first");
        let mut other = Ctxt::default();
        other.error_at(proc_macro2::Span::call_site(), "second");
        cx.extend(other);
        let err = cx.check().unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
        assert!(Ctxt::default().check().is_ok());
    }
}
