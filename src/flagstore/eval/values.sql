-- Part of belay's in-database flag evaluator (overview and entry points: ../eval.sql):
-- values as the C++ model reads them: numbers, dates, semver, IPs, regex, JSON text.

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
