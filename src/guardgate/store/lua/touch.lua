-- guardgate: record one request's evidence and answer who else used it, atomically.
-- Mirrors MemoryStore.touch operation for operation; every key shares one hash tag.
-- KEYS[1] active accounts (zset), KEYS[2] this account's profile (zset value -> ts),
-- KEYS[3] clusters (hash account -> id), KEYS[4] cluster sizes (hash id -> n),
-- KEYS[5..] one posting (zset account -> score) per value, in the order of ARGV[8..].
-- ARGV: account, ts, window, posting_cap, sample, values_per_account, posting prefix, values...
local acct = ARGV[1]
local ts = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local sample = tonumber(ARGV[5])
local vcap = tonumber(ARGV[6])
local prefix = ARGV[7]
local cutoff = ts - window
local ttl_ms = math.ceil(window * 1000)
-- Lua would print a number with 14 digits; scores need all 17 to match the Python store.
local function fmt(x) return string.format('%.17g', x) end
local excl_cutoff = '(' .. fmt(cutoff)

local function stamp(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', excl_cutoff)
  local top = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  local score = ts
  if top[2] then
    local newest = tonumber(top[2])
    if newest >= ts then score = newest + 1e-6 end
  end
  redis.call('ZADD', key, fmt(score), acct)
  redis.call('PEXPIRE', key, ttl_ms)
end

stamp(KEYS[1])
local active = redis.call('ZCARD', KEYS[1])

local prof = KEYS[2]
if #ARGV >= 8 then
  local pairs_ = {}
  for i = 8, #ARGV do
    pairs_[#pairs_ + 1] = ARGV[2]
    pairs_[#pairs_ + 1] = ARGV[i]
  end
  redis.call('ZADD', prof, unpack(pairs_))
end
redis.call('ZREMRANGEBYSCORE', prof, '-inf', excl_cutoff)
local n = redis.call('ZCARD', prof)
if n > vcap then
  local old = redis.call('ZRANGE', prof, 0, n - vcap - 1)
  redis.call('ZREMRANGEBYRANK', prof, 0, n - vcap - 1)
  for _, v in ipairs(old) do redis.call('ZREM', prefix .. v, acct) end
end
redis.call('PEXPIRE', prof, ttl_ms)

local postings = {}
local seen = {}
local members = {}
for i = 5, #KEYS do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', excl_cutoff)
  -- One read gives both the newest score (for the arrival order) and the newest members.
  local newest = redis.call('ZREVRANGE', key, 0, sample, 'WITHSCORES')
  local score = ts
  if newest[2] then
    local top = tonumber(newest[2])
    if top >= ts then score = top + 1e-6 end
  end
  local card = redis.call('ZCARD', key) + redis.call('ZADD', key, fmt(score), acct)
  redis.call('PEXPIRE', key, ttl_ms)
  if card > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, card - cap - 1)
    card = cap
  end
  -- This account is now the newest, so the others are the newest of the members read
  -- before it was added, minus itself, minus any the cap just dropped.
  local limit = math.min(sample, card - 1)
  local others = {}
  for j = 1, #newest, 2 do
    local m = newest[j]
    if m ~= acct and #others < limit then
      others[#others + 1] = m
      if not seen[m] then
        seen[m] = true
        members[#members + 1] = m
      end
    end
  end
  postings[#postings + 1] = card
  postings[#postings + 1] = others
end

local cluster = redis.call('HGET', KEYS[3], acct)
local size = 1
if cluster then
  size = tonumber(redis.call('HGET', KEYS[4], cluster) or '0')
else
  cluster = ''
end
local member_clusters = {}
if #members > 0 then
  local ids = redis.call('HMGET', KEYS[3], unpack(members))
  for i, id in ipairs(ids) do
    if id then
      member_clusters[#member_clusters + 1] = members[i]
      member_clusters[#member_clusters + 1] = id
    end
  end
end
return {active, cluster, size, postings, member_clusters}
