-- guardgate: fold one request into an account's feature state, atomically; return the new state.
-- Mirrors guardgate.scoring.features.update and MemoryFeatureStore.update operation for operation.
-- KEYS[1] account hash, KEYS[2] models hash (model -> first seen), KEYS[3] deployment start,
-- KEYS[4] the prompts seen (a sorted set: prompt hash -> request time it was first seen).
-- ARGV: ts, half_life, idle_ttl, new_model_window, model, network, values (the stateless
-- indicators, comma-separated numbers in features.STATELESS order), slots, recent networks,
-- max models, has prompt ('1' or '0'), prompt window (s), the 1-based indices of the indicators
-- that count only for a new prompt (comma-separated), prompt hash, max prompts. State order: the
-- stateless indicators, then new_network, new_model, novel.
-- Returns the account's fields (HMGET order below), then the prompts evicted at the cap.
local ts = tonumber(ARGV[1])
local half_life = tonumber(ARGV[2])
local idle_ttl = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local model = ARGV[5]
local network = ARGV[6]
local values = ARGV[7]
local nslots = tonumber(ARGV[8])
local nnets = tonumber(ARGV[9])
local max_models = tonumber(ARGV[10])
local has_prompt = ARGV[11]
local prompt_window = ARGV[12]
local scaled = ARGV[13]
local prompt = ARGV[14]
local max_prompts = tonumber(ARGV[15])
local function fmt(x) return string.format('%.17g', x) end

redis.call('SET', KEYS[3], fmt(ts), 'NX')
local started = tonumber(redis.call('GET', KEYS[3]))
local new_model = 0
if model ~= '' then
  local first = redis.call('HGET', KEYS[2], model)
  if not first then
    if redis.call('HLEN', KEYS[2]) < max_models then
      redis.call('HSET', KEYS[2], model, fmt(ts))
    end
    first = ts
  else
    first = tonumber(first)
  end
  if first - started >= window and ts - first < window then new_model = 1 end
end

-- A prompt is new unless first seen less than prompt_window ago (MemoryFeatureStore._novel).
-- The set stays bounded: a new prompt first drops those past the window, then, at the cap, the
-- oldest.
local novel = 1
local evicted = 0
if has_prompt == '1' then
  local seen = redis.call('ZSCORE', KEYS[4], prompt)
  if seen and ts - tonumber(seen) < tonumber(prompt_window) then
    novel = 0
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(ts - tonumber(prompt_window)))
    local over = redis.call('ZCARD', KEYS[4]) - max_prompts + 1
    if over > 0 then
      redis.call('ZPOPMIN', KEYS[4], over)
      evicted = over
    end
    redis.call('ZADD', KEYS[4], fmt(ts), prompt)
  end
end

local x = {}
for v in string.gmatch(values, '[^,]+') do x[#x + 1] = tonumber(v) end
local nind = #x + 3

local names = {'ts', 'c', 'nets', 'tier', 'tts', 'req', 'nv'}
for i = 0, nind - 1 do names[#names + 1] = 's' .. i end
for i = 0, nslots - 1 do names[#names + 1] = 'l' .. i end
local raw = redis.call('HMGET', KEYS[1], unpack(names))
local st = {}
for i, name in ipairs(names) do st[name] = raw[i] end
local old_ts = tonumber(st.ts or '0')
local req = tonumber(st.req or '0')
if req > 0 and ts - old_ts > idle_ttl then
  st = {}
  old_ts = 0
  req = 0
end
local nets = {}
if st.nets and st.nets ~= '' then
  for n in string.gmatch(st.nets, '[^,]+') do nets[#nets + 1] = n end
end

local new_net = 0
if #nets > 0 then
  new_net = 1
  for _, n in ipairs(nets) do if n == network then new_net = 0 end end
end
x[nind - 2] = new_net
x[nind - 1] = new_model
x[nind] = novel
if novel == 0 then
  for i in string.gmatch(scaled, '[^,]+') do x[tonumber(i)] = 0 end
end

local keep = 0
if req > 0 then
  local dt = ts - old_ts
  if dt <= 0 then keep = 1 else keep = math.exp(-dt * math.log(2) / half_life) end
end
local out = {}
for i = 0, nind - 1 do
  local s = tonumber(st['s' .. i] or '0') * keep + x[i + 1]
  out['s' .. i] = s
end
local count = tonumber(st.c or '0') * keep + 1
if network ~= '' then
  local rest = {network}
  for _, n in ipairs(nets) do
    if n ~= network and #rest < nnets then rest[#rest + 1] = n end
  end
  nets = rest
end
local slot = math.floor(ts / 14400) % nslots
local new_ts = old_ts
if ts > new_ts then new_ts = ts end

local fields = {'ts', fmt(new_ts), 'c', fmt(count), 'nets', table.concat(nets, ','),
  'req', tostring(req + 1), 'l' .. slot, fmt(ts), 'nv', tostring(novel)}
for i = 0, nind - 1 do
  fields[#fields + 1] = 's' .. i
  fields[#fields + 1] = fmt(out['s' .. i])
end
-- The prompt the account's first request made known ('pn'): dropped with the account when the
-- upstream refuses its key (forget.lua), kept no longer than its first request.
if req == 0 then
  redis.call('DEL', KEYS[1])
  if has_prompt == '1' and novel == 1 then
    fields[#fields + 1] = 'pn'
    fields[#fields + 1] = prompt
  end
elseif req == 1 then
  redis.call('HDEL', KEYS[1], 'pn')
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.ceil(idle_ttl * 1000))
local reply = redis.call('HMGET', KEYS[1], unpack(names))
reply[#reply + 1] = evicted
return reply
