-- A counting semaphore of leases in one sorted set (member: lease id, score: expiry in ms).
-- KEYS[1] the account's lease set; ARGV: now_ms, ttl_ms, limit, lease id.
-- Leases of a replica that died expire on their own; the key expires when idle.
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
end
redis.call('zadd', KEYS[1], now + ttl, ARGV[4])
redis.call('pexpire', KEYS[1], ttl)
return 1
