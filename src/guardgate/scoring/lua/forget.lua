-- guardgate: drop an account's feature state; an account that made one request also takes back
-- the prompt that request made known (unless a later one made it known anew), so that a key the
-- upstream refused leaves nothing behind.
-- KEYS[1] account hash, KEYS[2] the prompts seen (update.lua's KEYS[4]). Returns 1 if the
-- account had state.
local v = redis.call('HMGET', KEYS[1], 'req', 'pn', 'ts')
if v[1] == '1' and v[2] then
  local seen = redis.call('ZSCORE', KEYS[2], v[2])
  if seen and tonumber(seen) == tonumber(v[3]) then redis.call('ZREM', KEYS[2], v[2]) end
end
return redis.call('DEL', KEYS[1])
