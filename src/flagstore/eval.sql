-- belay's flag evaluator inside PostgreSQL: the same answers as the C++ evaluator
-- (src/flags/, Unleash's client semantics), so RLS policies, views and functions can read
-- flags. Installed by the flag store; idempotent (create or replace). The store's
-- belay.flag_enabled / belay.flag_variant read a snapshot and call belay.flag_evaluate.
--
--   belay.flag_evaluate(features, segments, name, context) -> jsonb
--     features: {"<flag name>": <feature in Unleash client-features form>, ...}
--     segments: {"<segment id>": {"id", "name", "constraints"}, ...} (null = none)
--     context:  Unleash's context {userId, sessionId, remoteAddress, environment, appName,
--               currentTime, properties{...}}; other top-level keys are properties.
--     returns what flags::to_json(flags::variant(...)) returns:
--       {"enabled", "variant": {"name", "enabled", "payload"?, "feature_enabled"}, "reason",
--        "errorCode"?, "errorMessage"?}
--
-- Errors are results, never exceptions:
--   FLAG_NOT_FOUND  "no flag of that name in the snapshot" (the C++ text)
--   INVALID_CONTEXT "the context must be a JSON object of strings, numbers and booleans"
--                   (where flags::context_from_json fails)
--   PARSE_ERROR     "the flag's definition is not in Unleash's client features form"
--                   (where flags::document_from_json fails). C++ refuses a whole document;
--                   SQL checks what an evaluation reads: the flag, its parents and the
--                   segments their strategies name.
--
-- Where SQL cannot be C++ (tests/flags_sql_test.cc pins the rest to be identical):
--  * REGEX runs PostgreSQL's regex engine, not RE2. They agree on the common subset
--    (literals, . [] [^] * + ? {m,n} | () ^ $, \d \w on ASCII, caseInsensitive on ASCII
--    letters). They differ on: case folding of non-ASCII letters (RE2 folds all; PostgreSQL
--    follows the database's LC_CTYPE, only ASCII under "C"); "." and newlines (RE2's "."
--    skips \n, PostgreSQL's matches it); \s and \v (RE2 leaves \v out); patterns only
--    one accepts (lookaround, backreferences, \m \M, [[:<:]] are PostgreSQL-only and make
--    C++ never match; (?P<n>..), \pL, \z, flags after the start are RE2-only and make SQL
--    never match; repetition counts over 255 are RE2-only; \12 is octal in RE2 and
--    refused here). An invalid pattern never matches in either. flag_re2_to_pg translates
--    the rest of RE2's syntax (eval/values.sql).
--  * applicationHostname compares with the setting belay.hostname (lower-cased), or
--    "undefined" when unset: the database has no view of the application's host name.
--  * jsonb keeps numbers as decimals, not as the JSON text: a number written with an
--    exponent ("1e16") is read as the integer it denotes where C++ prints it as JavaScript
--    would ("1e+16"); integers written "1.0" count as integers (weights, segment ids) where
--    C++ refuses them; numbers beyond a double's range (which C++ cannot even parse) are
--    kept as decimal text.
--  * gradualRolloutRandom, random stickiness and an empty stickiness value draw random();
--    DATE_* with no currentTime read clock_timestamp().
--
-- Cost: about 65 us an evaluation on one shared core (PL/pgSQL; docs/benchmarks.md), plus
-- decompressing `features` when it comes from a compressed column (each call does).
-- Checking a definition is the costliest step: belay.flag_variant trusts what the snapshot
-- rebuild found (flag_snapshot_flags.well_formed); called directly, definitions found
-- well-formed are remembered for the session by a keyed digest (belay.flag_bad, setting
-- belay.flag_checked).
--
-- Volatility and parallel safety: random(), clock_timestamp() and that memo make the
-- evaluator VOLATILE; a REGEX is matched in a block that catches an invalid pattern, which
-- opens a subtransaction, and the memo sets a setting: PostgreSQL 15 allows neither in
-- parallel mode, so the evaluator (and wrappers calling it) must stay PARALLEL UNSAFE.
-- Hashing and parsing helpers are IMMUTABLE PARALLEL SAFE.

-- The evaluator is this file (the entry points, below) and eval/: hash.sql, values.sql,
-- context.sql, check.sql, strategies.sql, installed in that order after this one
-- (src/CMakeLists.txt joins them). SQL-language functions are checked when created, so
-- each may call only what an earlier file or an earlier statement defined; PL/pgSQL
-- bodies resolve their calls when first run.

create schema if not exists belay;

-- ---- Entry points ----------------------------------------------------------------------

-- An ERROR result (flags::error_evaluation).
create or replace function belay.flag_error(code text, message text) returns jsonb
language sql immutable parallel safe as $$
  select jsonb_build_object('enabled', false, 'reason', 'ERROR', 'errorCode', code, 'errorMessage', message,
                            'variant', jsonb_build_object('name', 'disabled', 'enabled', false, 'feature_enabled', false))
$$;

-- flags::to_json(flags::variant(snapshot, name, context)), told whether the definitions
-- are well-formed (flag_definition_ok) as the snapshot rebuild found them: flag_variant
-- passes flag_snapshot_flags.well_formed, so it checks nothing and trusts no session
-- memo. null: check here.
create or replace function belay.flag_evaluate_formed(features jsonb, segments jsonb, name text, context jsonb,
                                                      well_formed boolean) returns jsonb
language plpgsql volatile as $$
declare
  ctx jsonb := belay.flag_context(coalesce(context, '{}'));
  feature jsonb;
begin
  if ctx is null then
    return belay.flag_error('INVALID_CONTEXT', 'the context must be a JSON object of strings, numbers and booleans');
  end if;
  feature := case when jsonb_typeof(features) = 'object' then features -> name end;
  if feature is null then
    return belay.flag_error('FLAG_NOT_FOUND', 'no flag of that name in the snapshot');
  end if;
  if not coalesce(well_formed, belay.flag_definition_ok(features, segments, feature)) then
    return belay.flag_error('PARSE_ERROR', 'the flag''s definition is not in Unleash''s client features form');
  end if;
  return belay.flag_resolve(features, coalesce(segments, '{}'), name, feature, ctx);
end $$;

-- The entry point: flags::to_json(flags::variant(snapshot, name, context)).
create or replace function belay.flag_evaluate(features jsonb, segments jsonb, name text, context jsonb) returns jsonb
language sql volatile as $$
  select belay.flag_evaluate_formed(features, segments, name, context, null::boolean)
$$;
