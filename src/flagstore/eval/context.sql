-- Part of belay's in-database flag evaluator (overview and entry points: ../eval.sql):
-- Unleash's context, normalised.

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
