//! The three specs must say the same thing. OpenAPI is the reference; each
//! other spec is compared with it, and every disagreement is one line naming
//! the spec file, the operation or type, and the field.

use crate::ir::{Api, Edge, Field, Model, OpKind, Shape};

/// Every disagreement between `reference` and each of `others`, sorted.
pub fn check(reference: &Api, others: &[&Api]) -> Vec<String> {
    let mut problems = Vec::new();
    for other in others {
        compare(reference, other, &mut problems);
    }
    problems.sort();
    problems.dedup();
    problems
}

fn compare(reference: &Api, other: &Api, out: &mut Vec<String>) {
    let (r, o) = (&reference.source, &other.source);
    for (id, want) in &reference.operations {
        let Some(got) = other.operations.get(id) else {
            out.push(format!("{o}: operation `{id}` is missing (it is in {r})"));
            continue;
        };
        let at = format!("{o}: operation `{id}`");
        if let (Some(want_kind), Some(got_kind)) = (want.kind, got.kind)
            && want_kind != got_kind
        {
            out.push(format!("{at} is a {got_kind}, {r} says a {want_kind}"));
        }
        compare_fields(&at, "parameter", r, &want.params, &got.params, out);
        if want.body != got.body {
            let show = |b: &Option<String>| b.as_deref().map_or("none".to_owned(), |b| format!("`{b}`"));
            out.push(format!("{at}: body is {}, {r} says {}", show(&got.body), show(&want.body)));
        }
        if want.output != got.output {
            out.push(format!("{at}: returns `{}`, {r} says `{}`", got.output, want.output));
        }
    }
    for id in other.operations.keys().filter(|id| !reference.operations.contains_key(*id)) {
        out.push(format!("{o}: operation `{id}` is not in {r}"));
    }
    for (name, want) in &reference.models {
        match other.models.get(name) {
            None => out.push(format!("{o}: type `{name}` is missing (it is in {r})")),
            Some(got) => compare_models(o, r, want, got, out),
        }
    }
    for name in other.models.keys().filter(|n| !reference.models.contains_key(*n)) {
        out.push(format!("{o}: type `{name}` is not in {r}"));
    }
    for edge in &other.edges {
        check_edge(reference, o, edge, out);
    }
}

/// A field bound to an operation must be able to call it: a batched read
/// returning the field's type, its arguments parameters of the operation,
/// and every other parameter a field of the parent of the same type.
fn check_edge(reference: &Api, o: &str, edge: &Edge, out: &mut Vec<String>) {
    let r = &reference.source;
    let at = format!("{o}: field `{}.{}` (@bind `{}`)", edge.model, edge.field, edge.op);
    let Some(op) = reference.operations.get(&edge.op) else {
        out.push(format!("{at}: no such operation in {r}"));
        return;
    };
    if op.kind != Some(OpKind::Read) || !op.batch {
        out.push(format!("{at}: only a read marked x-batch in {r} can resolve a nested field"));
    }
    if op.output != edge.output {
        out.push(format!("{at}: returns `{}`, the operation returns `{}`", edge.output, op.output));
    }
    for arg in edge.args.iter().filter(|a| !op.params.iter().any(|p| &p.name == *a)) {
        out.push(format!("{at}: argument `{arg}` is not a parameter of the operation"));
    }
    let parent = match reference.models.get(&edge.model).map(|m| &m.shape) {
        Some(Shape::Struct(fields)) => fields.as_slice(),
        _ => &[],
    };
    for param in op.params.iter().filter(|p| !edge.args.contains(&p.name)) {
        if !parent.iter().any(|f| f.name == param.name && f.ty == param.ty && f.optional == Some(false)) {
            out.push(format!(
                "{at}: parameter `{}` is neither an argument nor a field of `{}`",
                param.name, edge.model
            ));
        }
    }
}

fn compare_models(o: &str, r: &str, want: &Model, got: &Model, out: &mut Vec<String>) {
    let name = &want.name;
    match (&want.shape, &got.shape) {
        (Shape::Struct(want), Shape::Struct(got)) => {
            compare_fields(&format!("{o}: type `{name}`"), "field", r, want, got, out);
        }
        (Shape::Enum(want), Shape::Enum(got)) => {
            for value in want.iter().filter(|v| !got.contains(v)) {
                out.push(format!("{o}: enum `{name}`: value `{value}` is missing (it is in {r})"));
            }
            for value in got.iter().filter(|v| !want.contains(v)) {
                out.push(format!("{o}: enum `{name}`: value `{value}` is not in {r}"));
            }
        }
        (Shape::Enum(_), Shape::Struct(_)) => out.push(format!("{o}: type `{name}` is a struct, {r} says an enum")),
        (Shape::Struct(_), Shape::Enum(_)) => out.push(format!("{o}: type `{name}` is an enum, {r} says a struct")),
    }
}

fn compare_fields(at: &str, what: &str, r: &str, want: &[Field], got: &[Field], out: &mut Vec<String>) {
    for w in want {
        let Some(g) = got.iter().find(|g| g.name == w.name) else {
            out.push(format!("{at}: {what} `{}` is missing (it is in {r})", w.name));
            continue;
        };
        if w.ty != g.ty {
            out.push(format!("{at}: {what} `{}` is {}, {r} says {}", w.name, g.ty, w.ty));
        }
        if let (Some(wo), Some(go)) = (w.optional, g.optional)
            && wo != go
        {
            let word = |optional: bool| if optional { "optional" } else { "required" };
            out.push(format!("{at}: {what} `{}` is {}, {r} says {}", w.name, word(go), word(wo)));
        }
    }
    for g in got.iter().filter(|g| !want.iter().any(|w| w.name == g.name)) {
        out.push(format!("{at}: {what} `{}` is not in {r}", g.name));
    }
}
