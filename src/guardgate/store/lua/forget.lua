-- guardgate: forget one account (its key was refused upstream), atomically.
-- KEYS[1] active accounts, KEYS[2] the account's profile, KEYS[3] its links, KEYS[4] accounts
-- with links, KEYS[5] the change log, KEYS[6] its links' evidence weights. ARGV: account,
-- posting prefix, links prefix, log length, weights prefix.
-- Postings and the other ends of its links share the hash tag of every key here.
local acct = ARGV[1]
local known = redis.call('ZREM', KEYS[1], acct)
for _, v in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('ZREM', ARGV[2] .. v, acct)
end
local fields = {}
for k, other in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  redis.call('ZREM', ARGV[3] .. other, acct)
  redis.call('HDEL', ARGV[5] .. other, acct)
  fields[#fields + 1] = 'a' .. k
  fields[#fields + 1] = acct
  fields[#fields + 1] = 'b' .. k
  fields[#fields + 1] = other
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[4], acct)
if #fields > 0 then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
end
return known
