-- Part of belay's in-database flag evaluator (overview and entry points: ../eval.sql):
-- MurmurHash3 x86_32 and Unleash's buckets.

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
