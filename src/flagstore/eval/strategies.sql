-- Part of belay's in-database flag evaluator (overview and entry points: ../eval.sql):
-- constraints, strategies, variants, dependencies: one flag's outcome.

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
