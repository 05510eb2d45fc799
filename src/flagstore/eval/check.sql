-- Part of belay's in-database flag evaluator (overview and entry points: ../eval.sql):
-- the form checks flags::document_from_json makes, and the session memo.

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
  if secret is not null then  -- else no memo: check every time
    key := left(kind, 1) || left(encode(sha256(convert_to(secret || def::text, 'UTF8')), 'hex'), 32);
    seen := coalesce(current_setting('belay.flag_checked', true), '');
    if strpos(seen, key) > 0 then return false; end if;
  end if;
  if (case kind when 'segment' then belay.flag_segment_bad(def) else belay.flag_definition_bad(def) end) then
    return true;
  end if;
  if key is not null then
    perform set_config('belay.flag_checked', left(key || ' ' || seen, 34 * 256), false);
  end if;
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
