//! The shape a query may have, checked on the parsed document before it is
//! validated or run: how deep its fields nest, how many fields it selects,
//! how many of them are aliased. Fragments are expanded where they are
//! spread, so a small document that repeats a fragment costs what it asks
//! for; the walk stops at the first limit passed, so checking is bounded
//! by the limits, not by the document.
//!
//! async-graphql's own `limit_depth`/`limit_complexity` are set on the
//! schema builder, which the generated schema does not expose; this is the
//! same rule (every field costs 1) applied in front of it.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::Limits;

/// `Err` with the reason if an operation of `document` passes a limit.
pub(crate) fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), String> {
    for (_, operation) in document.operations.iter() {
        let mut walk = Walk { document, limits, fields: 0, aliases: 0, spread: Vec::new() };
        walk.selections(&operation.node.selection_set.node, 1)?;
    }
    Ok(())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a Limits,
    fields: usize,
    aliases: usize,
    /// Fragments being expanded, to stop on a cycle (which validation then
    /// refuses in its own words).
    spread: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn selections(&mut self, set: &'a SelectionSet, depth: usize) -> Result<(), String> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if depth > self.limits.max_depth {
                        return Err(format!("the query nests fields deeper than {} levels", self.limits.max_depth));
                    }
                    self.fields += 1;
                    if self.fields > self.limits.max_fields {
                        return Err(format!("the query selects more than {} fields", self.limits.max_fields));
                    }
                    if field.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > self.limits.max_aliases {
                            return Err(format!("the query has more than {} aliases", self.limits.max_aliases));
                        }
                    }
                    self.selections(&field.selection_set.node, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.spread.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(&spread.node.fragment_name.node) {
                        self.spread.push(name);
                        self.selections(&fragment.node.selection_set.node, depth)?;
                        self.spread.pop();
                    }
                }
                Selection::InlineFragment(inline) => self.selections(&inline.node.selection_set.node, depth)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Result<(), String> {
        let limits = Limits { max_depth: 3, max_fields: 10, max_aliases: 2, ..Limits::default() };
        check(&async_graphql::parser::parse_query(query).unwrap(), &limits)
    }

    #[test]
    fn a_query_should_pass_within_every_limit() {
        shape("{ a { b { c } } x: d y: e }").unwrap();
    }

    #[test]
    fn each_limit_should_refuse_with_its_reason() {
        assert!(shape("{ a { b { c { d } } } }").unwrap_err().contains("deeper than 3"));
        assert!(shape("{ a b c d e f g h i j k }").unwrap_err().contains("more than 10 fields"));
        assert!(shape("{ x: a y: a z: a }").unwrap_err().contains("more than 2 aliases"));
    }

    #[test]
    fn fragments_should_count_where_they_are_spread() {
        let bomb = "{ ...F ...F ...F } fragment F on Query { a b c d }";
        assert!(shape(bomb).unwrap_err().contains("fields"));
        assert!(shape("{ a { ...G } } fragment G on A { b { c { d } } }").unwrap_err().contains("deeper"));
        // A cycle stops the walk; validation refuses it later.
        shape("{ ...F } fragment F on Query { a ...F }").unwrap();
    }
}
