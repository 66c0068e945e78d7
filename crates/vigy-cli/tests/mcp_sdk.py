"""vigy's MCP server as the official Python SDK (`mcp`, pinned in
scripts/requirements-test.txt) sees it, over stdio (a `vigy --db DB mcp`
child) and streamable HTTP (a running `vigy serve`'s `/mcp`).

Driven by tests/mcp_sdk.rs:

    python mcp_sdk.py --vigy PATH/TO/vigy --db STDIO.db --url http://127.0.0.1:PORT/mcp

Each transport gets the same checks, as a generic MCP client would use the
server: tools are listed and their schemas read (flat, described, bounded),
a vigy is registered with arguments filled from the schema alone (and the
filled arguments validated against it), programs are checked and
simulated, results carry structured content that the SDK validates against
each tool's output schema, resources and the prompt are read. Exits non-zero
with the failed check on the first failure.
"""

import argparse
import json
import sys

import anyio
import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp import MCPError

COUNTER = '(vigy-incr "n")\n(vigy-desired "n" (vigy-get "n"))\n(vigy-push (hash-map "n" (vigy-get "n")))\n'


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def fill(tool, values):
    """Arguments for `tool` as a form filler makes them: only the schema's
    own properties, every required one present, and the whole validated
    against the tool's input schema."""
    schema = tool.input_schema
    properties = schema["properties"]
    for key in values:
        check(key in properties, f"{tool.name}: the schema has no field {key!r} (it has {sorted(properties)})")
    for key in schema.get("required", []):
        check(key in values, f"{tool.name}: required field {key!r} not filled")
    jsonschema.validate(values, schema)
    return values


def structured(result, what):
    """The structured content of a successful result, after checking the
    text content (for older clients) says the same."""
    check(not result.is_error, f"{what}: unexpected error result {result.structured_content}")
    content = result.structured_content
    check(isinstance(content, dict), f"{what}: no structured content")
    texts = [c.text for c in result.content if c.type == "text"]
    check(texts and json.loads(texts[0]) == content, f"{what}: the text content differs from the structured content")
    return content


async def exercise(session, transport):
    name = f"sdk-{transport}"
    init = await session.initialize()
    check(init.server_info.name == "vigy", f"server calls itself {init.server_info.name!r}")
    caps = init.capabilities
    check(caps.tools and caps.resources and caps.prompts, f"capabilities: {caps}")

    # Tools: flat, described, bounded, annotated, with output schemas.
    tools = {t.name: t for t in (await session.list_tools()).tools}
    for wanted in ["register_vigy", "check_program", "simulate_program", "get_vigy", "delete_vigy", "tick_vigy"]:
        check(wanted in tools, f"no tool {wanted} in {sorted(tools)}")
    for tool in tools.values():
        props = tool.input_schema.get("properties", {})
        check("body" not in props, f"{tool.name} wraps its body")
        for field, prop in props.items():
            check(prop.get("description"), f"{tool.name}.{field} has no description")
        check(tool.output_schema and tool.output_schema.get("type") == "object", f"{tool.name}: output schema")
        a = tool.annotations
        check(a is not None and a.open_world_hint is False, f"{tool.name}: annotations {a}")
    register = tools["register_vigy"]
    props = register.input_schema["properties"]
    # An interval or a cron pattern: neither is required on its own.
    check(sorted(register.input_schema["required"]) == ["name", "program"], "register's required")
    check({"cron", "tz", "jitter_ms", "catch_up_window_ms"} <= set(props), f"register's schedule fields {sorted(props)}")
    interval = props["tick_interval_ms"]
    check((interval.get("minimum"), interval.get("maximum")) == (100, 604800000), f"interval bounds {interval}")
    check(props["name"].get("maxLength") == 128, f"name bounds {props['name']}")
    hints = {n: (t.annotations.read_only_hint, t.annotations.destructive_hint, t.annotations.idempotent_hint)
             for n, t in tools.items()}
    check(hints["get_vigy"] == (True, False, True), f"get_vigy hints {hints['get_vigy']}")
    check(hints["check_program"][0] and hints["simulate_program"][0], "check/simulate are read-only")
    check(hints["delete_vigy"] == (False, True, True), f"delete_vigy hints {hints['delete_vigy']}")
    check(hints["register_vigy"][2] is True, "register_vigy is idempotent")
    check(hints["tick_vigy"] == (False, False, False), f"tick_vigy hints {hints['tick_vigy']}")
    check(hints["pause_vigy"] == (False, False, True), f"pause_vigy hints {hints['pause_vigy']}")
    check(hints["resume_vigy"] == (False, False, True), f"resume_vigy hints {hints['resume_vigy']}")
    # A generic client refuses an interval the schema forbids before sending it.
    try:
        fill(register, {"name": name, "program": COUNTER, "tick_interval_ms": 50})
        check(False, "the schema allows a 50 ms interval")
    except jsonschema.ValidationError:
        pass

    # Check and simulate before registering.
    ok = structured(await session.call_tool("check_program", fill(tools["check_program"], {"program": COUNTER})), "check")
    check(ok["ok"] is True, f"check of a good program: {ok}")
    bad = structured(await session.call_tool("check_program", {"program": "(vigy-noop"}), "check bad")
    check(bad["ok"] is False and bad["line"] == 1 and bad["column"] == 1 and bad["message"], f"diagnostic: {bad}")
    sim_args = fill(tools["simulate_program"], {"program": COUNTER, "ticks": 3})
    sim = structured(await session.call_tool("simulate_program", sim_args), "simulate")
    check([t["kv"]["n"] for t in sim["ticks"]] == [1, 2, 3], f"kv carries over: {sim}")
    check(all(t["actions"][0]["result"] == "skipped" for t in sim["ticks"]), "simulated actions are skipped")
    too_many = await session.call_tool("simulate_program", {"program": COUNTER, "ticks": 1000})
    check(too_many.is_error and too_many.structured_content["code"] == "invalid_argument", f"1000 ticks: {too_many}")
    unparsed = await session.call_tool("simulate_program", {"program": "(vigy-noop"})
    check(unparsed.is_error and unparsed.structured_content["code"] == "invalid_argument", "unparseable simulate")

    # Register from the schema's fields, tick it, read it back.
    args = fill(register, {"name": name, "program": COUNTER, "tick_interval_ms": 60000, "labels": {"via": transport}})
    vigy = structured(await session.call_tool("register_vigy", args), "register")
    check(vigy["name"] == name and vigy["tick_interval_ms"] == 60000 and vigy["labels"] == {"via": transport}, f"{vigy}")
    again = structured(await session.call_tool("register_vigy", args), "register again")
    check(again["id"] == vigy["id"], "registering again updates the same vigy")
    run = structured(await session.call_tool("tick_vigy", {"id": name}), "tick")
    check(run["result"] == "ok" and run["vigy_id"] == vigy["id"], f"tick: {run}")
    fast = await session.call_tool("register_vigy", {"name": name, "program": COUNTER, "tick_interval_ms": 50})
    check(fast.is_error and fast.structured_content["code"] == "invalid_argument", f"50 ms: {fast}")
    wrapped = await session.call_tool("register_vigy", {"body": args})
    check(wrapped.is_error and "body" in wrapped.structured_content["message"], f"a body wrapper: {wrapped}")
    missing = await session.call_tool("get_vigy", {"id": "no-such-vigy"})
    check(missing.is_error and missing.structured_content["code"] == "not_found", f"unknown vigy: {missing}")

    # Resources: the reference, and the vigy's program and runs.
    uris = {r.uri for r in (await session.list_resources()).resources}
    for uri in ["vigy://docs/intrinsics", f"vigy://vigies/{name}/program", f"vigy://vigies/{name}/runs"]:
        check(uri in uris, f"resource {uri} not listed in {sorted(uris)}")
    templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
    check(templates == {"vigy://vigies/{name}/program", "vigy://vigies/{name}/runs"}, f"templates {templates}")
    docs = (await session.read_resource("vigy://docs/intrinsics")).contents[0]
    check(docs.mime_type == "text/markdown" and "vigy-emit" in docs.text, "the intrinsics reference")
    program = (await session.read_resource(f"vigy://vigies/{name}/program")).contents[0]
    check(program.text == COUNTER, f"program resource: {program.text!r}")
    runs = json.loads((await session.read_resource(f"vigy://vigies/{name}/runs")).contents[0].text)
    check(runs["items"] and runs["items"][0]["vigy_id"] == vigy["id"], f"runs resource: {runs}")
    try:
        await session.read_resource("vigy://vigies/no-such-vigy/program")
        check(False, "an unknown vigy's program reads")
    except MCPError:
        pass

    # The prompt.
    prompts = {p.name: p for p in (await session.list_prompts()).prompts}
    check("write-vigy" in prompts, f"prompts {sorted(prompts)}")
    arguments = {a.name: a.required for a in prompts["write-vigy"].arguments}
    check(arguments == {"goal": True, "interval_ms": False}, f"prompt arguments {arguments}")
    goal = "keep the disk under 80 percent full"
    prompt = await session.get_prompt("write-vigy", {"goal": goal, "interval_ms": "5000"})
    text = prompt.messages[0].content.text
    for needle in [goal, "5000 ms", "at least 100 ms", "vigy-last-results", "vigy-condition", "check_program",
                   "simulate_program", "# Intrinsics"]:
        check(needle in text, f"the prompt does not mention {needle!r}")
    try:
        await session.get_prompt("write-vigy", {"goal": goal, "interval_ms": "50"})
        check(False, "the prompt takes a 50 ms interval")
    except MCPError:
        pass

    deleted = structured(await session.call_tool("delete_vigy", {"id": name}), "delete")
    check(deleted["id"] == vigy["id"], "delete returns the vigy")
    print(f"{transport}: {len(tools)} tools, {len(uris)} resources, the prompt: ok")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigy", required=True, help="the vigy binary, for stdio")
    parser.add_argument("--db", required=True, help="the database the stdio server opens")
    parser.add_argument("--url", required=True, help="a vigy serve's /mcp")
    args = parser.parse_args()

    server = StdioServerParameters(command=args.vigy, args=["--db", args.db, "mcp"], env={"RUST_LOG": "warn"})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session, "stdio")

    async with streamable_http_client(args.url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await exercise(session, "http")


if __name__ == "__main__":
    try:
        anyio.run(main)
    except AssertionError as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        sys.exit(1)
