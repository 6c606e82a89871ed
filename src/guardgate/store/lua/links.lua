-- guardgate: record links and log every pair whose link changed, atomically.
-- Each direction of a link is one entry: KEYS[1 + 2i] is the links of ARGV x_i (zset other -> ts)
-- and KEYS[2 + 2i] their evidence weights (hash other -> 'w,w,w,w', of the newest confirmation).
-- KEYS[1] accounts with links (zset account -> newest ts), KEYS[2] the change log (stream).
-- ARGV: links_per_account, ttl_ms, cutoff of KEYS[1] ('(' .. ts), log length, then x, y, ts,
-- weights ('' for none) per direction. The log holds one entry per call naming the pairs whose
-- link changed (fields a<k> and b<k> are the k-th pair): the refreshed ones and the ones the
-- per-account cap evicted, so that a replica re-clusters from the changes instead of reading
-- every link.
local cap = tonumber(ARGV[1])
local ttl_ms = tonumber(ARGV[2])
local changed = {}
for d = 0, (#KEYS - 2) / 2 - 1 do
  local j = 5 + d * 4
  local x, y, ts, w = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local key = KEYS[3 + 2 * d]
  local wkey = KEYS[4 + 2 * d]
  if redis.call('ZADD', key, 'GT', 'CH', ts, y) == 1 then
    if w == '' then
      redis.call('HDEL', wkey, y)
    else
      redis.call('HSET', wkey, y, w)
    end
  end
  local n = redis.call('ZCARD', key)
  if n > cap then
    local old = redis.call('ZRANGE', key, 0, n - cap - 1)
    redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
    for _, z in ipairs(old) do
      redis.call('HDEL', wkey, z)
      changed[#changed + 1] = x
      changed[#changed + 1] = z
    end
  end
  redis.call('PEXPIRE', key, ttl_ms)
  redis.call('PEXPIRE', wkey, ttl_ms)
  redis.call('ZADD', KEYS[1], 'GT', ts, x)
  changed[#changed + 1] = x
  changed[#changed + 1] = y
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if #changed > 0 then
  local fields = {}
  for k = 1, #changed / 2 do
    fields[#fields + 1] = 'a' .. k
    fields[#fields + 1] = changed[2 * k - 1]
    fields[#fields + 1] = 'b' .. k
    fields[#fields + 1] = changed[2 * k]
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
end
return #changed / 2
