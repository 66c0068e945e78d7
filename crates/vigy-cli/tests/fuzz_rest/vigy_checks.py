"""A schemathesis check for vigy (loaded through SCHEMATHESIS_HOOKS by
crates/vigy-cli/tests/fuzz_rest.rs): a schema-valid request may be refused
only by a rule the document cannot state, never by one it states."""

import schemathesis

# How vigy words the refusals of rules the document states: the REST
# adapter's extractors and the generated validation (vigy-api's validate()).
DOCUMENTED_RULES = ("invalid request body:", "invalid query:", "invalid path:")
BOUNDS = (" must be at least ", " must be at most ")


@schemathesis.check
def positive_data_refused_only_by_a_grammar(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        detail = response.json().get("detail", "")
    except Exception:
        raise AssertionError("a 400 without a problem body")
    if detail.startswith(DOCUMENTED_RULES) or any(b in detail for b in BOUNDS):
        raise AssertionError(f"a schema-valid request was refused by a rule the document states: {detail}")
    return None
