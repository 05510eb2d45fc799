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
--    the rest of RE2's syntax (see there).
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

create schema if not exists belay;

-- ---- MurmurHash3 x86_32 and buckets ---------------------------------------------------

-- Unsigned 32-bit arithmetic in bigint: a product k * c mod 2^32 is split into c's 16-bit
-- halves so no intermediate exceeds 2^49.
create or replace function belay.flag_murmur3(data bytea, seed bigint) returns bigint
language plpgsql immutable strict parallel safe as $$
declare
  h bigint := seed & 4294967295;
  n int := length(data);
  nb int := n - n % 4;
  i int := 0;
  k bigint;
begin
  -- One statement per step of a block (statement overhead dominates in PL/pgSQL, so
  -- repeated subexpressions are cheaper than more statements).
  while i < nb loop
    k := get_byte(data, i) | (get_byte(data, i + 1) << 8) | (get_byte(data, i + 2) << 16)
         | (get_byte(data, i + 3)::bigint << 24);
    k := ((k * 11601) + (((k * 52382) & 65535) << 16)) & 4294967295;                  -- * 0xcc9e2d51
    k := ((((k << 15) | (k >> 17)) & 4294967295) * 13715 + (((((k << 15) | (k >> 17)) & 4294967295) * 7047 & 65535) << 16)) & 4294967295;
                                                                                  -- rotl 15, * 0x1b873593
    h := ((((h # k) << 13) | ((h # k) >> 19)) & 4294967295) * 5 + 3864292196 & 4294967295;   -- rotl 13, * 5 + 0xe6546b64
    i := i + 4;
  end loop;
  if n > nb then
    k := get_byte(data, nb) | (case when n - nb > 1 then get_byte(data, nb + 1) << 8 else 0 end)
         | (case when n - nb > 2 then get_byte(data, nb + 2) << 16 else 0 end);
    k := ((k * 11601) + (((k * 52382) & 65535) << 16)) & 4294967295;
    k := ((((k << 15) | (k >> 17)) & 4294967295) * 13715 + (((((k << 15) | (k >> 17)) & 4294967295) * 7047 & 65535) << 16)) & 4294967295;
    h := h # k;
  end if;
  h := h # n;
  h := h # (h >> 16);
  h := ((h * 51819) + (((h * 34283) & 65535) << 16)) & 4294967295;  -- * 0x85ebca6b
  h := h # (h >> 13);
  h := ((h * 44597) + (((h * 49842) & 65535) << 16)) & 4294967295;  -- * 0xc2b2ae35
  return h # (h >> 16);
end $$;

-- Bucket 1..modulus of "groupId:value": seed 0 and modulus 100 for rollouts, seed 86028157
-- and the total weight for variants; 0 when modulus <= 0 (flags::variant_bucket).
create or replace function belay.flag_bucket(group_id text, value text, seed bigint, modulus int) returns int
language sql immutable parallel safe as $$
  select case when modulus > 0
    then (belay.flag_murmur3(convert_to(group_id || ':' || value, 'UTF8'), seed) % modulus + 1)::int
    else 0 end
$$;

-- ---- Values: text as the C++ model reads it ---------------------------------------------

-- caseInsensitive folds ASCII letters only (lower() would fold all of Unicode).
create or replace function belay.flag_ascii_lower(t text) returns text
language sql immutable strict parallel safe as $$
  select translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;

-- A double as C++ prints it (shortest round trip, "1e+20"), whatever the session's
-- extra_float_digits.
create or replace function belay.flag_float_text(d float8) returns text
language sql immutable strict parallel safe set extra_float_digits = 1 as $$
  select d::text
$$;

-- A JSON number as text, as the C++ model's scalar_text (JavaScript's String(x)): integers
-- as digits, 12.0 as "12", other numbers as the double's shortest text.
create or replace function belay.flag_number_text(n numeric) returns text
language sql immutable parallel safe as $$
  select case
    when n = trunc(n) and abs(n) < 9e15 then trunc(n)::text
    when scale(n) = 0 and n between -9223372036854775808 and 18446744073709551615 then n::text
    when abs(n) >= 1.7976931348623157e308 or (n <> 0 and abs(n) < 2.2250738585072014e-308) then n::text
    else belay.flag_float_text(n::float8) end
$$;

-- A scalar's text (strings as they are, true/false, numbers as above); null for null,
-- objects and arrays.
create or replace function belay.flag_scalar_text(v jsonb) returns text
language sql immutable parallel safe as $$
  select case jsonb_typeof(v)
    when 'string' then v #>> '{}'
    when 'boolean' then v::text
    when 'number' then belay.flag_number_text(v::numeric) end
$$;

-- Helpers with queries inside are PL/pgSQL: PostgreSQL caches their plans for the session,
-- where a SQL function that cannot be inlined is planned again on every call.

-- The length of an array; 0 for anything else (null included, so conditions stay false).
create or replace function belay.flag_count(v jsonb) returns int
language sql immutable parallel safe as $$
  select case when jsonb_typeof(v) = 'array' then jsonb_array_length(v) else 0 end
$$;

-- A list of scalars as text (null or not an array: empty).
create or replace function belay.flag_text_list(v jsonb) returns text[]
language plpgsql immutable parallel safe as $$
begin
  if jsonb_typeof(v) is distinct from 'array' then return '{}'; end if;
  return array(select belay.flag_scalar_text(e) from jsonb_array_elements(v) e);
end $$;

-- Unleash's cleanValues: empty values dropped, the rest trimmed.
create or replace function belay.flag_clean_values(v jsonb) returns text[]
language plpgsql immutable parallel safe as $$
begin
  if jsonb_typeof(v) is distinct from 'array' then return '{}'; end if;
  return array(select btrim(t, E' \t\n\x0B\f\r')
               from (select belay.flag_scalar_text(e) t from jsonb_array_elements(v) e) x where t <> '');
end $$;

-- Split on commas eating whitespace beside them, not at the ends (Unleash's /\s*,\s*/).
create or replace function belay.flag_split_list(t text) returns text[]
language plpgsql immutable strict parallel safe as $$
declare
  parts text[] := string_to_array(t, ',');
  n int := cardinality(parts);
begin
  if t = '' then return array['']; end if;
  for i in 2 .. n loop parts[i] := ltrim(parts[i], E' \t\n\x0B\f\r'); end loop;
  for i in 1 .. n - 1 loop parts[i] := rtrim(parts[i], E' \t\n\x0B\f\r'); end loop;
  return parts;
end $$;

-- JavaScript's Number(text), as flags' parse_js_number: null where JavaScript gives NaN.
-- Out-of-range decimals follow C++ (from_chars): Infinity, or 0 when the text has "e-".
create or replace function belay.flag_js_number(t text) returns float8
language plpgsql immutable parallel safe as $$
declare
  s text;
  body text;
  neg boolean := false;
  m text[];
  base int;
  d int;
  v float8 := 0;
  sig text;
  lead int;
  e bigint;
  mag bigint;
  n numeric;
begin
  -- the usual percentage or count (translate is cheaper than a regex)
  if length(t) between 1 and 15 and translate(t, '0123456789', '') = '' then return t::float8; end if;
  if t is null then return null; end if;
  s := btrim(t, E' \t\n\x0B\f\r');
  if s = '' then return 0; end if;
  body := s;
  if left(body, 1) in ('+', '-') then
    neg := left(body, 1) = '-';
    body := substr(body, 2);
  end if;
  if body = 'Infinity' then
    return case when neg then '-Infinity'::float8 else 'Infinity'::float8 end;
  end if;
  -- 0x / 0o / 0b integers, unsigned only; accumulated in doubles as C++ does.
  if length(body) > 2 and left(body, 1) = '0' and substr(body, 2, 1) in ('x', 'X', 'o', 'O', 'b', 'B') then
    if neg or body <> s then return null; end if;
    base := case substr(body, 2, 1) when 'x' then 16 when 'X' then 16 when 'o' then 8 when 'O' then 8 else 2 end;
    for i in 3 .. length(body) loop
      d := ascii(substr(body, i, 1));
      d := case when d between 48 and 57 then d - 48 when d between 97 and 102 then d - 87
                when d between 65 and 70 then d - 55 else 99 end;
      if d >= base then return null; end if;
      v := case when v > 1.7976931348623157e308 / base then 'Infinity'::float8 else v * base + d end;
    end loop;
    return v;
  end if;
  m := regexp_match(body, '^([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$');
  if m is null or coalesce(m[1], '') || coalesce(m[2], '') = '' then return null; end if;
  sig := ltrim(coalesce(m[1], '') || coalesce(m[2], ''), '0');
  if sig = '' then return case when neg then -0.0::float8 else 0::float8 end; end if;
  -- Decimal exponent of the first significant digit, saturated far beyond a double's range.
  e := case when m[3] is null then 0
            when length(ltrim(ltrim(m[3], '+-'), '0')) > 9 then (case when left(m[3], 1) = '-' then -1 else 1 end) * 1000000000
            else m[3]::bigint end;
  lead := length(coalesce(m[1], '')) - length(ltrim(coalesce(m[1], ''), '0'));
  if length(coalesce(m[1], '')) > lead then
    mag := length(m[1]) - lead - 1 + e;
  else
    mag := -(length(coalesce(m[2], '')) - length(ltrim(coalesce(m[2], ''), '0'))) - 1 + e;
  end if;
  if mag between -400 and 400 then
    n := ('0.' || left(sig, 800) || 'e' || (mag + 1))::numeric;
  end if;
  if mag > 400 or n >= 179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792
     or mag < -400 or n <= 2.47032822920623272088284396434110686182529901307162382212793e-324 then
    v := case when body ~ '[eE]-' then 0 else 'Infinity'::float8 end;  -- out of range, as C++
  else
    v := n::float8;
  end if;
  return case when neg then -v else v end;
end $$;

-- Milliseconds since the epoch of an ISO 8601 / RFC 3339 date or date-time, as flags'
-- parse_date_ms ("2022-01-29", "2022-01-29T13:00:00.000Z", "...+02:00"; no offset = UTC).
create or replace function belay.flag_date_ms(t text) returns bigint
language plpgsql immutable parallel safe as $$
declare
  m text[];
  y bigint; mo int; d int; h int; mi int; sec int; oh int; om int;
  ms bigint := 0;
  off bigint := 0;
  era bigint; yoe bigint; doy bigint; doe bigint;
begin
  if t is null then return null; end if;
  m := regexp_match(btrim(t, E' \t\n\x0B\f\r'),
    '^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))?)?$');
  if m is null then return null; end if;
  y := m[1]::int; mo := m[2]::int; d := m[3]::int;
  if mo < 1 or mo > 12 or d < 1 or d > (array[31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[mo]
      + (case when mo = 2 and ((y % 4 = 0 and y % 100 <> 0) or y % 400 = 0) then 1 else 0 end) then
    return null;
  end if;
  h := coalesce(m[4]::int, 0); mi := coalesce(m[5]::int, 0); sec := coalesce(m[6]::int, 0);
  if h > 23 or mi > 59 or sec > 59 then return null; end if;
  if m[7] is not null then ms := rpad(left(m[7], 3), 3, '0')::int; end if;
  if m[8] is not null then
    oh := m[9]::int; om := m[10]::int;
    if oh > 23 or om > 59 then return null; end if;
    off := (case when m[8] = '-' then -1 else 1 end) * (oh * 60 + om);
  end if;
  -- Days since 1970-01-01, proleptic Gregorian (Howard Hinnant's days_from_civil).
  if mo <= 2 then y := y - 1; end if;
  era := (case when y >= 0 then y else y - 399 end) / 400;
  yoe := y - era * 400;
  doy := (153 * (mo + case when mo > 2 then -3 else 9 end) + 2) / 5 + d - 1;
  doe := yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return ((era * 146097 + doe - 719468) * 86400 + h * 3600 + mi * 60 + sec - off * 60) * 1000 + ms;
end $$;

-- A semantic version as npm's semver reads it: {major, minor, patch, prerelease} (''
-- when none), or null. One leading "v" and surrounding whitespace allowed; no leading
-- zeros; numbers up to 2^53-1; build metadata checked and dropped.
create or replace function belay.flag_semver(t text) returns text[]
language plpgsql immutable parallel safe as $$
declare
  s text;
  p int;
  pre text := '';
  core text[];
begin
  if t is null or octet_length(t) > 256 then return null; end if;
  s := btrim(t, E' \t\n\x0B\f\r');
  if left(s, 1) = 'v' then s := substr(s, 2); end if;
  p := strpos(s, '+');
  if p > 0 then
    if substr(s, p + 1) !~ '^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$' then return null; end if;
    s := left(s, p - 1);
  end if;
  p := strpos(s, '-');
  if p > 0 then
    pre := substr(s, p + 1);
    if pre !~ '^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$' or pre ~ '(^|\.)0[0-9]+(\.|$)' then return null; end if;
    s := left(s, p - 1);
  end if;
  core := regexp_match(s, '^(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})$');
  if core is null or core[1]::bigint > 9007199254740991 or core[2]::bigint > 9007199254740991
     or core[3]::bigint > 9007199254740991 then
    return null;
  end if;
  return core || pre;
end $$;

-- <0, 0, >0 by semver precedence.
create or replace function belay.flag_semver_cmp(a text[], b text[]) returns int
language plpgsql immutable strict parallel safe as $$
declare
  x text[];
  y text[];
  nx boolean;
  ny boolean;
begin
  for i in 1 .. 3 loop
    if a[i]::bigint <> b[i]::bigint then return case when a[i]::bigint < b[i]::bigint then -1 else 1 end; end if;
  end loop;
  if a[4] = '' or b[4] = '' then  -- a release outranks its prereleases
    return case when a[4] = b[4] then 0 when a[4] = '' then 1 else -1 end;
  end if;
  x := string_to_array(a[4], '.');
  y := string_to_array(b[4], '.');
  for i in 1 .. least(cardinality(x), cardinality(y)) loop
    nx := x[i] ~ '^[0-9]+$';
    ny := y[i] ~ '^[0-9]+$';
    if nx and ny then
      if length(x[i]) <> length(y[i]) then return case when length(x[i]) < length(y[i]) then -1 else 1 end; end if;
    elsif nx <> ny then
      return case when nx then -1 else 1 end;  -- numeric identifiers rank lower
    end if;
    if x[i] <> y[i] then return case when x[i] < y[i] collate "C" then -1 else 1 end; end if;
  end loop;
  return sign(cardinality(x) - cardinality(y))::int;
end $$;

-- glibc's inet_pton(AF_INET6) grammar: hex groups of 1-4 digits, one "::" standing for at
-- least one group, an optional dotted IPv4 tail counting as two.
create or replace function belay.flag_is_ipv6(h text) returns boolean
language plpgsql immutable strict parallel safe as $$
declare
  g constant text := '[0-9A-Fa-f]{1,4}';
  v4 constant text := '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])){3}';
  p int := strpos(h, '::');
  l text;
  r text;
  n int;
begin
  if p = 0 then
    return h ~ ('^(' || g || ':){7}' || g || '$') or h ~ ('^(' || g || ':){6}' || v4 || '$');
  end if;
  l := left(h, p - 1);
  r := substr(h, p + 2);
  if l <> '' and l !~ ('^' || g || '(:' || g || ')*$') then return false; end if;
  if r <> '' and r !~ ('^(' || g || ':)*(' || g || '|' || v4 || ')$') then return false; end if;
  n := case when l = '' then 0 else length(l) - length(replace(l, ':', '')) + 1 end
     + case when r = '' then 0 else length(r) - length(replace(r, ':', '')) + 1
                                  + case when strpos(r, '.') > 0 then 1 else 0 end end;
  return n <= 7;
end $$;

-- An address or network "addr/prefix" as flags' parse_ip_or_cidr: host bits cleared, a bare
-- address is a /32 or /128, IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4; null if invalid.
create or replace function belay.flag_ip(t text) returns inet
language plpgsql immutable parallel safe as $$
declare
  s text;
  host text;
  p int := -1;
  slash int;
  ip inet;
begin
  if t is null then return null; end if;
  s := btrim(t, E' \t\n\x0B\f\r');
  slash := strpos(s, '/');
  host := s;
  if slash > 0 then
    host := left(s, slash - 1);
    if substr(s, slash + 1) !~ '^[0-9]{1,3}$' then return null; end if;
    p := substr(s, slash + 1)::int;
  end if;
  if host = '' or octet_length(host) >= 64 then return null; end if;
  if host ~ '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])){3}$' then
    if p > 32 then return null; end if;
    return network(set_masklen(host::inet, case when p < 0 then 32 else p end))::inet;
  end if;
  if host !~ '^[0-9A-Fa-f:.]+$' or not belay.flag_is_ipv6(host) or p > 128 then return null; end if;
  if p < 0 then p := 128; end if;
  ip := set_masklen(host::inet, 128);
  if p >= 96 and ip <<= inet '::ffff:0.0.0.0/96' then
    return network(set_masklen(inet '0.0.0.0' + (ip - inet '::ffff:0.0.0.0'), p - 96))::inet;
  end if;
  return network(set_masklen(ip, p))::inet;
end $$;

-- An RE2 pattern as a PostgreSQL ARE with the same meaning, or null where RE2 would refuse
-- it or there is no translation (the constraint then never matches, as C++ with a pattern
-- RE2 refuses). RE2's "." skips newlines unless (?s); (?m) makes ^ and $ match at lines
-- (ARE option w); \b \B \z become \y \Y \Z; \xhh becomes \u00hh; \Q..\E is quoted; named
-- groups become plain ones; a "{" that is no repetition is a literal. Refused: lookaround,
-- backreferences, escapes RE2 does not know, \p classes, flags other than at the start
-- (or right after a leading ^), U, and ARE directors (***).
create or replace function belay.flag_re2_to_pg(pattern text, case_insensitive boolean) returns text
language plpgsql immutable strict parallel safe as $$
declare
  p text := pattern;
  out text := '';
  i int := 1;
  j int;
  n int;
  c text;
  d text;
  m text[];
  on_flags text;
  ci boolean := case_insensitive;
  multi boolean := false;
  dotall boolean := false;
begin
  if left(p, 3) = '***' then return null; end if;
  m := regexp_match(p, '^(\^?)\(\?([imsU]*)(-[imsU]*)?\)');
  if m is not null then
    if m[2] || coalesce(m[3], '') in ('', '-') or strpos(m[2] || coalesce(m[3], ''), 'U') > 0 then return null; end if;
    ci := ci or strpos(m[2], 'i') > 0;
    multi := strpos(m[2], 'm') > 0;
    dotall := strpos(m[2], 's') > 0;
    p := m[1] || substr(p, length(m[1]) + length(m[2]) + length(coalesce(m[3], '')) + 4);
  end if;
  n := length(p);
  while i <= n loop
    c := substr(p, i, 1);
    if c = '\' then
      d := substr(p, i + 1, 1);
      i := i + 2;
      if d = 'b' then out := out || '\y';
      elsif d = 'B' then out := out || '\Y';
      elsif d = 'z' then out := out || '\Z';
      elsif d in ('A', 'd', 'D', 's', 'S', 'w', 'W', 'a', 'f', 't', 'n', 'r', 'v') then out := out || '\' || d;
      elsif d = 'x' then
        if substr(p, i, 2) !~ '^[0-9A-Fa-f]{2}$' then return null; end if;
        out := out || '\u00' || substr(p, i, 2);
        i := i + 2;
      elsif d = 'Q' then
        j := strpos(substr(p, i), '\E');
        out := out || regexp_replace(case when j = 0 then substr(p, i) else substr(p, i, j - 1) end,
                                     '([!-/:-@[-`{-~])', '\\\1', 'g');
        i := case when j = 0 then n + 1 else i + j + 1 end;
      elsif d = '' or d ~ '^[0-9A-Za-z]$' then
        return null;  -- a trailing backslash, or an escape RE2 refuses or ARE reads otherwise
      else
        out := out || '\' || d;  -- escaped punctuation (or any other character): itself
      end if;
    elsif c = '[' then
      j := i + 1;
      if substr(p, j, 1) = '^' then j := j + 1; end if;
      if substr(p, j, 1) = ']' then j := j + 1; end if;
      while j <= n and substr(p, j, 1) <> ']' loop
        if substr(p, j, 1) = '\' then j := j + 2;
        elsif substr(p, j, 2) = '[:' and strpos(substr(p, j + 2), ':]') > 0 then j := j + 2 + strpos(substr(p, j + 2), ':]') + 1;
        else j := j + 1;
        end if;
      end loop;
      if j > n then return null; end if;  -- no closing ]
      out := out || substr(p, i, j - i + 1);
      i := j + 1;
    elsif c = '(' and substr(p, i + 1, 1) = '?' then
      if substr(p, i + 2, 1) = ':' then
        out := out || '(?:';
        i := i + 3;
      elsif substr(p, i + 2) ~ '^(P?<)[A-Za-z0-9_]+>' then
        out := out || '(';
        i := i + strpos(substr(p, i), '>');
      else
        return null;  -- lookaround, or flags where ARE has none
      end if;
    elsif c = '.' and not dotall then
      out := out || '[^\n]';
      i := i + 1;
    elsif c = '{' then
      m := regexp_match(substr(p, i), '^(\{[0-9]+(?:,[0-9]*)?\})');
      if m is null then
        out := out || '\{';
        i := i + 1;
      else
        out := out || m[1];
        i := i + length(m[1]);
      end if;
    else
      out := out || c;
      i := i + 1;
    end if;
  end loop;
  if ci or multi then
    out := '(?' || case when ci then 'i' else '' end || case when multi then 'w' else '' end || ')' || out;
  end if;
  return out;
end $$;

-- A REGEX constraint: the pattern translated (above) and matched; one PostgreSQL refuses
-- never matches.
create or replace function belay.flag_regex(v text, pattern text, case_insensitive boolean) returns boolean
language plpgsql immutable strict as $$
declare
  are text := belay.flag_re2_to_pg(pattern, case_insensitive);
begin
  if are is null then return false; end if;
  return v ~ are;
exception when others then
  return false;
end $$;

-- JSON text as nlohmann's dump() writes it (a payload value given as JSON, not text):
-- compact, keys in byte order, control characters escaped.
create or replace function belay.flag_json_string(s text) returns text
language plpgsql immutable strict parallel safe as $$
declare
  r text := replace(replace(s, '\', '\\'), '"', '\"');
begin
  if r ~ '[\x01-\x1f]' then
    r := replace(replace(replace(replace(replace(r, chr(8), '\b'), chr(9), '\t'), chr(10), '\n'), chr(12), '\f'), chr(13), '\r');
    for c in 1 .. 31 loop
      r := replace(r, chr(c), '\u00' || lpad(to_hex(c), 2, '0'));
    end loop;
  end if;
  return '"' || r || '"';
end $$;

create or replace function belay.flag_json_dump(v jsonb) returns text
language plpgsql immutable strict parallel safe as $$
declare
  t text;
begin
  case jsonb_typeof(v)
    when 'object' then
      return '{' || coalesce((select string_agg(belay.flag_json_string(key) || ':' || belay.flag_json_dump(value), ','
                                                 order by key collate "C") from jsonb_each(v)), '') || '}';
    when 'array' then
      return '[' || coalesce((select string_agg(belay.flag_json_dump(e), ',' order by i)
                              from jsonb_array_elements(v) with ordinality a(e, i)), '') || ']';
    when 'string' then
      return belay.flag_json_string(v #>> '{}');
    when 'number' then
      t := v::text;
      if t ~ '^-?[0-9]+$' and v::numeric between -9223372036854775808 and 18446744073709551615 then return t; end if;
      if abs(v::numeric) >= 1.7976931348623157e308 or (v::numeric <> 0 and abs(v::numeric) < 2.2250738585072014e-308) then
        return t;  -- beyond what C++ parses
      end if;
      t := belay.flag_float_text(v::numeric::float8);
      return case when t ~ '^-?[0-9]+$' then t || '.0' else t end;
    else
      return v::text;  -- true, false, null
  end case;
end $$;

-- ---- The context ----------------------------------------------------------------------

-- Unleash's context, normalised: the six standard fields as text ('' = not given) and
-- "properties" holding text values (top-level keys that are not standard fields are
-- properties; an explicit property wins). Null when flags::context_from_json would fail.
create or replace function belay.flag_context(context jsonb) returns jsonb
language plpgsql immutable parallel safe as $$
declare
  props jsonb;
begin
  -- The usual context: standard fields and properties, all strings.
  if jsonb_typeof(context) = 'object'
     and (context - '{userId,sessionId,remoteAddress,environment,appName,currentTime,properties}'::text[]) = '{}'
     and not jsonb_path_exists(context - 'properties', 'lax $.*.type() ? (@ != "string")')
     and (context -> 'properties' is null or (jsonb_typeof(context -> 'properties') = 'object'
          and not jsonb_path_exists(context -> 'properties', 'lax $.*.type() ? (@ != "string")'))) then
    return jsonb_build_object('userId', coalesce(context ->> 'userId', ''), 'sessionId', coalesce(context ->> 'sessionId', ''),
      'remoteAddress', coalesce(context ->> 'remoteAddress', ''), 'environment', coalesce(context ->> 'environment', ''),
      'appName', coalesce(context ->> 'appName', ''), 'currentTime', coalesce(context ->> 'currentTime', ''),
      'properties', coalesce(context -> 'properties', '{}'));
  end if;
  if jsonb_typeof(context) is distinct from 'object'
     or jsonb_typeof(context -> 'properties') not in ('object', 'null')
     or jsonb_path_exists(context - 'properties', 'lax $.*.type() ? (@ == "object" || @ == "array")')
     or jsonb_path_exists(context -> 'properties', 'lax $.*.type() ? (@ == "object" || @ == "array")') then
    return null;
  end if;
  -- Top-level keys that are not standard fields, then the explicit properties over them.
  props := jsonb_strip_nulls(context - '{userId,sessionId,remoteAddress,environment,appName,currentTime,properties}'::text[]);
  if jsonb_typeof(context -> 'properties') = 'object' then
    props := props || jsonb_strip_nulls(context -> 'properties');
  end if;
  if jsonb_path_exists(props, 'lax $.*.type() ? (@ != "string")') then
    props := (select jsonb_object_agg(key, belay.flag_scalar_text(value)) from jsonb_each(props));
  end if;
  return jsonb_build_object(
    'userId', coalesce(belay.flag_scalar_text(context -> 'userId'), ''),
    'sessionId', coalesce(belay.flag_scalar_text(context -> 'sessionId'), ''),
    'remoteAddress', coalesce(belay.flag_scalar_text(context -> 'remoteAddress'), ''),
    'environment', coalesce(belay.flag_scalar_text(context -> 'environment'), ''),
    'appName', coalesce(belay.flag_scalar_text(context -> 'appName'), ''),
    'currentTime', coalesce(belay.flag_scalar_text(context -> 'currentTime'), ''),
    'properties', props);
end $$;

-- What a constraint, stickiness or override on `name` reads: a standard field, else
-- properties[name] (which may be ''); null when neither is there.
create or replace function belay.flag_ctx_value(ctx jsonb, name text) returns text
language sql immutable parallel safe as $$
  select coalesce(case when name in ('userId', 'sessionId', 'remoteAddress', 'environment', 'appName', 'currentTime')
                       then nullif(ctx ->> name, '') end,
                  ctx -> 'properties' ->> name)
$$;

-- ---- Definitions: the checks flags::document_from_json makes -------------------------------

-- flag_definition_bad(feature) / flag_segment_bad(segment): true where the C++ model would
-- refuse the document. One lax jsonpath each (one C call), assembled here from predicates
-- over `@`, each true when @ (an object) is malformed. In lax mode a missing key is an empty
-- sequence, which compares false; type() looks at a value without unwrapping arrays.
do $build$
declare
  -- key %1 present and not of type %2 (null = absent)
  opt constant text := '(@."%1$s".type() != "null" && @."%1$s".type() != "%2$s")';
  -- key %1 must be a string
  req constant text := '!(@."%1$s".type() == "string")';
  -- key %1, when an array, holds only strings, numbers and booleans
  scalars constant text := '(@."%1$s".type() == "array" && exists(@."%1$s"[*].type() ? (@ != "string" && @ != "number" && @ != "boolean")))';
  -- key %1, when an array, holds only objects, none of them bad by %2
  objects constant text := '(@."%1$s".type() == "array" && (exists(@."%1$s"[*].type() ? (@ != "object")) || exists(@."%1$s"[*] ? (%2$s))))';
  constraint_bad text;
  overrides_bad text;
  variant_bad text;
  strategy_bad text;
  dependency_bad text;
  feature_bad text;
  segment_bad text;
begin
  constraint_bad := concat_ws(' || ', format(req, 'contextName'), format(req, 'operator'),
    format(opt, 'values', 'array'), format(scalars, 'values'),
    '@."value".type() == "object" || @."value".type() == "array"',
    format(opt, 'inverted', 'boolean'), format(opt, 'caseInsensitive', 'boolean'));
  overrides_bad := concat_ws(' || ', format(req, 'contextName'), format(opt, 'values', 'array'), format(scalars, 'values'));
  variant_bad := concat_ws(' || ', format(req, 'name'),
    '(@."weight".type() != "null" && !(@."weight".type() == "number" && @."weight".floor() == @."weight" && @."weight" >= 0 && @."weight" <= 1000000))',
    format(opt, 'weightType', 'string'), format(opt, 'stickiness', 'string'),
    format(opt, 'payload', 'object'), '(@."payload".type() == "object" && !(@."payload"."type".type() == "string"))',
    format(opt, 'overrides', 'array'), format(objects, 'overrides', overrides_bad));
  strategy_bad := concat_ws(' || ', format(req, 'name'), format(opt, 'title', 'string'), format(opt, 'disabled', 'boolean'),
    format(opt, 'parameters', 'object'),
    'exists(@."parameters".*.type() ? (@ == "object" || @ == "array"))',
    format(opt, 'constraints', 'array'), format(objects, 'constraints', constraint_bad),
    format(opt, 'segments', 'array'),
    '(@."segments".type() == "array" && (exists(@."segments"[*].type() ? (@ != "number")) || exists(@."segments"[*] ? (@.floor() != @))))',
    format(opt, 'variants', 'array'), format(objects, 'variants', variant_bad));
  dependency_bad := concat_ws(' || ', format(req, 'feature'), format(opt, 'enabled', 'boolean'),
    format(opt, 'variants', 'array'), format(scalars, 'variants'));
  feature_bad := concat_ws(' || ', '@.type() != "object"', format(req, 'name'), format(opt, 'description', 'string'),
    format(opt, 'type', 'string'), format(opt, 'project', 'string'), format(opt, 'enabled', 'boolean'),
    format(opt, 'stale', 'boolean'), format(opt, 'impressionData', 'boolean'),
    format(opt, 'strategies', 'array'), format(objects, 'strategies', strategy_bad),
    format(opt, 'variants', 'array'), format(objects, 'variants', variant_bad),
    format(opt, 'dependencies', 'array'), format(objects, 'dependencies', dependency_bad));
  segment_bad := concat_ws(' || ', '@.type() != "object"',
    '!(@."id".type() == "number" && @."id".floor() == @."id")', format(opt, 'name', 'string'),
    format(opt, 'constraints', 'array'), format(objects, 'constraints', constraint_bad));
  execute format($f$
    create or replace function belay.flag_definition_bad(feature jsonb) returns boolean
    language plpgsql immutable parallel safe as $q$
    begin
      if feature is null or jsonb_path_exists(feature, %L, '{}', true) then return true; end if;
      -- weights add up to at most 1e9 (only reachable with more than 1000 variants)
      return jsonb_path_exists(feature, 'lax $.**.variants ? (@.type() == "array" && @.size() > 1000)', '{}', true)
        and exists (select 1
                    from (select jsonb_path_query(feature, 'lax $.variants', '{}', true) vs
                          union all select jsonb_path_query(feature, 'lax $.strategies[*].variants', '{}', true)) l
                    where jsonb_typeof(vs) = 'array'
                      and (select sum(case when jsonb_typeof(v -> 'weight') = 'number' then (v -> 'weight')::numeric end)
                           from jsonb_array_elements(vs) v) > 1000000000);
    end
    $q$$f$, 'lax $ ? (' || feature_bad || ')');
  execute format($f$
    create or replace function belay.flag_segment_bad(segment jsonb) returns boolean
    language plpgsql immutable parallel safe as $q$
    begin
      return segment is null or jsonb_path_exists(segment, %L, '{}', true);
    end
    $q$$f$, 'lax $ ? (' || segment_bad || ')');
end
$build$;

-- flag_definition_bad / flag_segment_bad remembered for the session: the check is the
-- costliest step of an evaluation and a snapshot's definitions repeat from call to call.
-- Digests of definitions found well-formed (the last 256) are kept in the setting
-- belay.flag_checked; a definition is checked again when its text changes.
--
-- Any session can write that setting, so a digest is keyed with a secret only the owner
-- of schema belay reads (flag_memo_key). belay.flag_variant runs as that owner; a role
-- calling flag_evaluate itself without the key checks every time (no memo). Without the
-- key a session cannot name a malformed definition as checked, and the digests it can
-- read name only definitions that passed the check. (flag_bad is not SECURITY DEFINER:
-- the SET search_path that would need cost more than the check it saves.)
create table if not exists belay.flag_memo_key (
  one boolean primary key default true check (one),
  secret text not null
);
revoke all on belay.flag_memo_key from public;
insert into belay.flag_memo_key (secret)
  select gen_random_uuid()::text || gen_random_uuid()::text
  on conflict do nothing;

create or replace function belay.flag_bad(kind text, def jsonb) returns boolean
language plpgsql volatile as $$
declare
  secret text;
  -- 128 bits of a keyed digest of the text (not jsonb_hash_extended: it hashes 1 and -1 alike)
  key text;
  seen text;
begin
  if def is null then return true; end if;
  if has_table_privilege('belay.flag_memo_key', 'select') then
    secret := (select k.secret from belay.flag_memo_key k);
  end if;
  if secret is null then
    return case kind when 'segment' then belay.flag_segment_bad(def) else belay.flag_definition_bad(def) end;
  end if;
  key := left(kind, 1) || left(encode(sha256(convert_to(secret || def::text, 'UTF8')), 'hex'), 32);
  seen := coalesce(current_setting('belay.flag_checked', true), '');
  if strpos(seen, key) > 0 then return false; end if;
  if (case kind when 'segment' then belay.flag_segment_bad(def) else belay.flag_definition_bad(def) end) then
    return true;
  end if;
  perform set_config('belay.flag_checked', left(key || ' ' || seen, 34 * 256), false);
  return false;
end $$;

-- The flag, its parents and the segments their strategies name, as C++ would accept them.
create or replace function belay.flag_definition_ok(features jsonb, segments jsonb, feature jsonb) returns boolean
language plpgsql volatile as $$
declare
  def jsonb;
  seg jsonb;
begin
  if jsonb_typeof(segments) not in ('object', 'null') or belay.flag_bad('feature', feature) then return false; end if;
  -- k = -1: the flag itself; then each parent it names.
  for k in -1 .. belay.flag_count(feature -> 'dependencies') - 1 loop
    def := case when k < 0 then feature else features -> (feature -> 'dependencies' -> k ->> 'feature') end;
    continue when def is null;  -- a missing parent is no error (the flag is off)
    if k >= 0 and belay.flag_bad('feature', def) then return false; end if;
    if jsonb_typeof(segments) = 'object' then
      for i in 0 .. belay.flag_count(def -> 'strategies') - 1 loop
        for j in 0 .. belay.flag_count(def -> 'strategies' -> i -> 'segments') - 1 loop
          seg := segments -> (def -> 'strategies' -> i -> 'segments' -> j)::text;
          if seg is not null and belay.flag_bad('segment', seg) then return false; end if;
        end loop;
      end loop;
    end if;
  end loop;
  return true;
end $$;

-- ---- Evaluation ------------------------------------------------------------------------

-- A strategy parameter as text (numbers as JavaScript prints them); null when absent.
create or replace function belay.flag_param(strategy jsonb, key text) returns text
language sql immutable parallel safe as $$
  select belay.flag_scalar_text(strategy -> 'parameters' -> key)
$$;

-- Number(parameters[key]) as Unleash reads a percentage: null (NaN) when absent or not a number.
create or replace function belay.flag_percent(strategy jsonb, key text) returns float8
language sql immutable parallel safe as $$
  select belay.flag_js_number(belay.flag_param(strategy, key))
$$;

create or replace function belay.flag_now_ms() returns bigint
language sql volatile parallel safe as $$
  select floor(extract(epoch from clock_timestamp()) * 1000)::bigint
$$;

-- The host name applicationHostname compares with (see the header).
create or replace function belay.flag_hostname() returns text
language sql stable parallel safe as $$
  select coalesce(nullif(belay.flag_ascii_lower(current_setting('belay.hostname', true)), ''), 'undefined')
$$;

-- One constraint, `inverted` applied; an unknown operator fails even inverted.
create or replace function belay.flag_constraint_ok(c jsonb, ctx jsonb) returns boolean
language plpgsql volatile as $$
declare
  op text := c ->> 'operator';
  ci boolean := coalesce((c ->> 'caseInsensitive')::boolean, false);
  v text := belay.flag_ctx_value(ctx, c ->> 'contextName');  -- null: not found
  single text := belay.flag_scalar_text(c -> 'value');      -- null: no value
  r boolean := false;
  vals jsonb;
  x float8;
  y float8;
  a text[];
  b text[];
  t bigint;
  ip inet;
begin
  case
    when op in ('IN', 'NOT_IN') then
      if v <> '' then
        vals := c -> 'values';
        if ci then  -- ASCII letters of the JSON text folded: only string contents have any
          vals := belay.flag_ascii_lower(vals::text)::jsonb;
          v := belay.flag_ascii_lower(v);
        end if;
        -- The usual case without building the cleaned list: v is one of the strings as
        -- given, or no value is a number, boolean or string with whitespace to trim.
        if vals ? v and v = btrim(v, E' \t\n\x0B\f\r') then
          r := true;
        elsif not jsonb_path_exists(vals, 'lax $[*] ? (@.type() != "string" || @ like_regex "^[\\s\\x0B]|[\\s\\x0B]$")') then
          r := false;
        else
          r := v = any (belay.flag_clean_values(vals));
        end if;
      end if;
      r := coalesce(r, false);
      if op = 'NOT_IN' then r := not r; end if;
    when op in ('STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH') then
      if v <> '' then
        if ci then v := belay.flag_ascii_lower(v); end if;
        r := exists (select 1 from unnest(belay.flag_clean_values(c -> 'values')) u0,
                     lateral (select case when ci then belay.flag_ascii_lower(u0) else u0 end u) l
                     where case op when 'STR_CONTAINS' then strpos(v, u) > 0
                                   when 'STR_STARTS_WITH' then starts_with(v, u)
                                   else right(v, length(u)) = u end);
      end if;
    when op in ('NUM_EQ', 'NUM_GT', 'NUM_GTE', 'NUM_LT', 'NUM_LTE') then
      y := belay.flag_js_number(single);
      x := belay.flag_js_number(v);  -- '' is 0, as Number('')
      r := coalesce(case op when 'NUM_EQ' then x = y when 'NUM_GT' then x > y when 'NUM_GTE' then x >= y
                            when 'NUM_LT' then x < y else x <= y end, false);
    when op in ('DATE_AFTER', 'DATE_BEFORE') then
      -- currentTime (now when not given), whatever contextName says, as Unleash.
      t := case when ctx ->> 'currentTime' = '' then belay.flag_now_ms() else belay.flag_date_ms(ctx ->> 'currentTime') end;
      r := coalesce(case op when 'DATE_AFTER' then t > belay.flag_date_ms(single) else t < belay.flag_date_ms(single) end, false);
    when op in ('SEMVER_EQ', 'SEMVER_GT', 'SEMVER_GTE', 'SEMVER_LT', 'SEMVER_LTE') then
      b := belay.flag_semver(coalesce(single, ''));
      -- the context's version may not start with "v" (the constraint's may)
      if b is not null and v <> '' and left(v, 1) <> 'v' then
        a := belay.flag_semver(v);
        if a is not null then
          t := belay.flag_semver_cmp(a, b);
          r := case op when 'SEMVER_EQ' then t = 0 when 'SEMVER_GT' then t > 0 when 'SEMVER_GTE' then t >= 0
                       when 'SEMVER_LT' then t < 0 else t <= 0 end;
        end if;
      end if;
    when op = 'REGEX' then
      r := single is not null and v is not null and belay.flag_regex(v, single, ci);
    when op = 'IN_CIDR' then
      if v <> '' then
        ip := belay.flag_ip(v);
        if ip is not null then
          ip := set_masklen(ip, case when family(ip) = 4 then 32 else 128 end);
          r := exists (select 1 from unnest(belay.flag_clean_values(c -> 'values')) u where ip <<= belay.flag_ip(u));
        end if;
      end if;
    else
      return false;
  end case;
  return r <> coalesce((c ->> 'inverted')::boolean, false);
end $$;

-- A strategy's constraints, then each of its segments' (a missing segment fails it).
create or replace function belay.flag_constraints_ok(strategy jsonb, segments jsonb, ctx jsonb) returns boolean
language plpgsql volatile as $$
declare
  seg jsonb;
begin
  -- Arrays are walked by index (no query per loop: this is the hot path).
  for i in 0 .. belay.flag_count(strategy -> 'constraints') - 1 loop
    if not belay.flag_constraint_ok(strategy -> 'constraints' -> i, ctx) then return false; end if;
  end loop;
  for j in 0 .. belay.flag_count(strategy -> 'segments') - 1 loop
    seg := case when jsonb_typeof(segments) = 'object' then segments -> (strategy -> 'segments' -> j)::text end;
    if seg is null then return false; end if;
    for i in 0 .. belay.flag_count(seg -> 'constraints') - 1 loop
      if not belay.flag_constraint_ok(seg -> 'constraints' -> i, ctx) then return false; end if;
    end loop;
  end loop;
  return true;
end $$;

-- The strategy's own test (before constraints): ids, rollouts, addresses, host names.
create or replace function belay.flag_strategy_on(strategy jsonb, flag text, ctx jsonb) returns boolean
language plpgsql volatile as $$
declare
  kind text := strategy ->> 'name';
  grp text := coalesce(belay.flag_param(strategy, 'groupId'), '');
  pct float8;
  id text;
  stick text;
  ips text[];
  addr inet;
  net inet;
begin
  case kind
    when 'default' then
      return true;
    when 'userWithId' then
      id := ctx ->> 'userId';
      return id <> '' and id = any (belay.flag_split_list(coalesce(belay.flag_param(strategy, 'userIds'), '')));
    when 'gradualRolloutUserId', 'gradualRolloutSessionId' then
      id := ctx ->> (case kind when 'gradualRolloutUserId' then 'userId' else 'sessionId' end);
      if id = '' then return false; end if;
      pct := belay.flag_percent(strategy, 'percentage');
      return coalesce(pct > 0 and belay.flag_bucket(grp, id, 0, 100) <= pct, false);
    when 'gradualRolloutRandom' then
      pct := belay.flag_percent(strategy, 'percentage');
      return coalesce(pct >= floor(random() * 100) + 1, false);
    when 'flexibleRollout' then
      pct := belay.flag_percent(strategy, 'rollout');
      if grp = '' then grp := flag; end if;
      stick := coalesce(belay.flag_param(strategy, 'stickiness'), '');
      if stick in ('', 'default') then
        id := coalesce(nullif(ctx ->> 'userId', ''), ctx ->> 'sessionId');
      elsif stick <> 'random' then
        id := coalesce(belay.flag_ctx_value(ctx, stick), '');
        if id = '' then return false; end if;
      end if;
      if stick = 'random' or id = '' then  -- nothing to stick to: a random bucket
        return coalesce(pct > 0 and floor(random() * 100) + 1 <= pct, false);
      end if;
      return coalesce(pct > 0 and belay.flag_bucket(grp, id, 0, 100) <= pct, false);
    when 'remoteAddress' then
      id := ctx ->> 'remoteAddress';
      if coalesce(belay.flag_param(strategy, 'IPs'), '') = '' or id = '' then return false; end if;
      ips := belay.flag_split_list(belay.flag_param(strategy, 'IPs'));
      if id = any (ips) then return true; end if;  -- compared as text first
      addr := belay.flag_ip(id);
      if addr is null or masklen(addr) <> (case when family(addr) = 4 then 32 else 128 end) then return false; end if;
      foreach id in array ips loop
        net := belay.flag_ip(id);
        if addr <<= net then return true; end if;
      end loop;
      return false;
    when 'applicationHostname' then
      return belay.flag_hostname() = any (belay.flag_split_list(
        belay.flag_ascii_lower(coalesce(belay.flag_param(strategy, 'hostNames'), ''))));
    else
      return false;  -- unknown strategies never match
  end case;
end $$;

-- Why the flag is on when this strategy matched (the C++ compile step's on_reason).
create or replace function belay.flag_strategy_reason(strategy jsonb, segments jsonb) returns text
language plpgsql immutable parallel safe as $$
declare
  kind text := strategy ->> 'name';
  rollout boolean := kind in ('gradualRolloutUserId', 'gradualRolloutSessionId', 'gradualRolloutRandom', 'flexibleRollout');
  n bigint;
begin
  if rollout and not coalesce(belay.flag_percent(strategy, case kind when 'flexibleRollout' then 'rollout' else 'percentage' end) >= 100, false) then
    return 'SPLIT';
  end if;
  if kind = 'default' or rollout then
    n := case when jsonb_typeof(strategy -> 'constraints') = 'array' then jsonb_array_length(strategy -> 'constraints') else 0 end;
    if n = 0 and jsonb_typeof(strategy -> 'segments') = 'array' then
      select coalesce(sum(case when jsonb_typeof(segments -> (id::text) -> 'constraints') = 'array'
                               then jsonb_array_length(segments -> (id::text) -> 'constraints')
                               when jsonb_typeof(segments) = 'object' and segments ? (id::text) then 0
                               else 1 end), 0)
        into n from jsonb_array_elements(strategy -> 'segments') id;
    end if;
    if n = 0 then return 'STATIC'; end if;
  end if;
  return 'TARGETING_MATCH';
end $$;

-- Unleash's selectVariantDefinition: overrides first, then the weighted bucket of
-- "group:stickinessValue" (seed 86028157). Returns {"v": the variant, "how": reason or
-- null (the caller's reason stands)}, or null when nothing is selected.
create or replace function belay.flag_pick_variant(variants jsonb, grp text, stickiness text, ctx jsonb) returns jsonb
language plpgsql volatile as $$
declare
  n int := belay.flag_count(variants);
  total bigint := 0;
  nonzero int := 0;
  v jsonb;
  o jsonb;
  val text;
  seed text;
  target bigint;
  counter bigint := 0;
  w bigint;
begin
  for i in 0 .. n - 1 loop
    w := coalesce((variants -> i ->> 'weight')::numeric, 0)::bigint;
    total := total + w;
    if w <> 0 then nonzero := nonzero + 1; end if;
  end loop;
  if total <= 0 then return null; end if;
  for i in 0 .. n - 1 loop
    v := variants -> i;
    for j in 0 .. belay.flag_count(v -> 'overrides') - 1 loop
      o := v -> 'overrides' -> j;
      val := belay.flag_ctx_value(ctx, o ->> 'contextName');
      if val = any (belay.flag_text_list(o -> 'values')) then
        return jsonb_build_object('v', v, 'how', 'TARGETING_MATCH');
      end if;
    end loop;
  end loop;
  seed := case when stickiness in ('', 'default')
                 then coalesce(nullif(ctx ->> 'userId', ''), nullif(ctx ->> 'sessionId', ''), ctx ->> 'remoteAddress')
               when stickiness = 'random' then ''
               else coalesce(belay.flag_ctx_value(ctx, stickiness), '') end;
  target := case when seed = '' then floor(random() * total) + 1
                 else belay.flag_bucket(grp, seed, 86028157, total::int) end;
  for i in 0 .. n - 1 loop
    w := coalesce((variants -> i ->> 'weight')::numeric, 0)::bigint;
    continue when w = 0;
    counter := counter + w;
    if counter >= target then
      return jsonb_build_object('v', variants -> i, 'how', case when nonzero > 1 then 'SPLIT' end);
    end if;
  end loop;
  return null;
end $$;

-- Is the flag on, and why: {"enabled", "reason", "variant"?: a strategy variant when
-- want_variant and one was selected}.
create or replace function belay.flag_outcome(features jsonb, segments jsonb, name text, feature jsonb, ctx jsonb,
                                              want_variant boolean) returns jsonb
language plpgsql volatile as $$
declare
  s jsonb;
  reason text;
  pick jsonb;
begin
  if not coalesce((feature ->> 'enabled')::boolean, false) then
    return '{"enabled": false, "reason": "DISABLED"}';
  end if;
  if belay.flag_count(feature -> 'dependencies') > 0
     and not belay.flag_dependencies_ok(features, segments, feature, ctx) then
    return '{"enabled": false, "reason": "DEFAULT"}';
  end if;
  if belay.flag_count(feature -> 'strategies') = 0 then
    return '{"enabled": true, "reason": "STATIC"}';
  end if;
  for i in 0 .. belay.flag_count(feature -> 'strategies') - 1 loop
    s := feature -> 'strategies' -> i;
    continue when coalesce((s ->> 'disabled')::boolean, false)
               or not belay.flag_strategy_on(s, name, ctx)
               or not belay.flag_constraints_ok(s, segments, ctx);
    reason := belay.flag_strategy_reason(s, segments);
    if want_variant and belay.flag_count(s -> 'variants') > 0 then
      -- Strategy variants bucket on the strategy's groupId (the flag's name when absent)
      -- and the first variant's stickiness, else the strategy's.
      pick := belay.flag_pick_variant(s -> 'variants',
                coalesce(nullif(belay.flag_param(s, 'groupId'), ''), name),
                coalesce(nullif(s -> 'variants' -> 0 ->> 'stickiness', ''), belay.flag_param(s, 'stickiness'), ''),
                ctx);
      if pick is not null then
        return jsonb_build_object('enabled', true, 'reason', coalesce(pick ->> 'how', reason), 'variant', pick -> 'v');
      end if;
    end if;
    return jsonb_build_object('enabled', true, 'reason', reason);
  end loop;
  return '{"enabled": false, "reason": "DEFAULT"}';
end $$;

-- getVariant: the strategy's variant, else the flag's, else "disabled"; the result JSON.
create or replace function belay.flag_resolve(features jsonb, segments jsonb, name text, feature jsonb, ctx jsonb) returns jsonb
language plpgsql volatile as $$
declare
  o jsonb := belay.flag_outcome(features, segments, name, feature, ctx, true);
  v jsonb := o -> 'variant';
  reason text := o ->> 'reason';
  pick jsonb;
  p jsonb;
  out jsonb;
begin
  if not (o ->> 'enabled')::boolean then
    return jsonb_build_object('enabled', false, 'reason', reason,
                              'variant', jsonb_build_object('name', 'disabled', 'enabled', false, 'feature_enabled', false));
  end if;
  if v is null and belay.flag_count(feature -> 'variants') > 0 then
    pick := belay.flag_pick_variant(feature -> 'variants', name, coalesce(feature -> 'variants' -> 0 ->> 'stickiness', ''), ctx);
    if pick is not null then
      v := pick -> 'v';
      reason := coalesce(pick ->> 'how', reason);
    end if;
  end if;
  if v is null then
    out := jsonb_build_object('name', 'disabled', 'enabled', false, 'feature_enabled', true);
  else
    out := jsonb_build_object('name', v ->> 'name', 'enabled', true, 'feature_enabled', true);
    p := v -> 'payload';
    if jsonb_typeof(p) = 'object' then
      out := out || jsonb_build_object('payload', jsonb_build_object('type', p ->> 'type', 'value',
        case when coalesce(jsonb_typeof(p -> 'value'), 'null') = 'null' then ''  -- no value: ""
             when jsonb_typeof(p -> 'value') = 'string' then p ->> 'value'
             else belay.flag_json_dump(p -> 'value') end));
    end if;
  end if;
  return jsonb_build_object('enabled', true, 'reason', reason, 'variant', out);
end $$;

-- Dependent features: every parent exists, has no parents itself (Unleash allows one
-- level), and is on (or off when enabled=false), with one of the listed variants if any.
create or replace function belay.flag_dependencies_ok(features jsonb, segments jsonb, feature jsonb, ctx jsonb) returns boolean
language plpgsql volatile as $$
declare
  d jsonb;
  parent jsonb;
  pname text;
  r jsonb;
begin
  for i in 0 .. belay.flag_count(feature -> 'dependencies') - 1 loop
    d := feature -> 'dependencies' -> i;
    pname := d ->> 'feature';
    parent := features -> pname;
    if parent is null then return false; end if;
    if belay.flag_count(parent -> 'dependencies') > 0 then
      return false;
    end if;
    if not coalesce((d ->> 'enabled')::boolean, true) then
      if (belay.flag_outcome(features, segments, pname, parent, ctx, false) ->> 'enabled')::boolean then return false; end if;
    elsif belay.flag_count(d -> 'variants') = 0 then
      if not (belay.flag_outcome(features, segments, pname, parent, ctx, false) ->> 'enabled')::boolean then return false; end if;
    else
      r := belay.flag_resolve(features, segments, pname, parent, ctx);
      if not (r ->> 'enabled')::boolean or not (r -> 'variant' ->> 'name') = any (belay.flag_text_list(d -> 'variants')) then
        return false;
      end if;
    end if;
  end loop;
  return true;
end $$;

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
