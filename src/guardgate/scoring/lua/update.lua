-- guardgate: fold one request into an account's feature state, atomically; return the new state.
-- Mirrors guardgate.scoring.features.update and MemoryFeatureStore.update operation for operation.
-- KEYS[1] account hash, KEYS[2] models hash (model -> first seen), KEYS[3] deployment start.
-- ARGV: ts, half_life, idle_ttl, new_model_window, model, network, params, bits (7 chars of 0/1:
-- elicit long_output harvest streamed single_shot focus no_system), slots, recent networks,
-- max models, burst gap.
local ts = tonumber(ARGV[1])
local half_life = tonumber(ARGV[2])
local idle_ttl = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local model = ARGV[5]
local network = ARGV[6]
local params = ARGV[7]
local bits = ARGV[8]
local nslots = tonumber(ARGV[9])
local nnets = tonumber(ARGV[10])
local max_models = tonumber(ARGV[11])
local burst_gap = tonumber(ARGV[12])
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

local names = {'ts', 'c', 'nets', 'par', 'tier', 'tts', 'req'}
for i = 0, 10 do names[#names + 1] = 's' .. i end
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
local last_params = st.par or ''

local x = {}
for i = 1, 4 do x[i] = tonumber(string.sub(bits, i, i)) end
x[5] = tonumber(string.sub(bits, 5, 5))
x[6] = tonumber(string.sub(bits, 6, 6))
local new_net = 0
if #nets > 0 then
  new_net = 1
  for _, n in ipairs(nets) do if n == network then new_net = 0 end end
end
x[7] = new_net
if last_params ~= '' and params == last_params then x[8] = 1 else x[8] = 0 end
x[9] = new_model
x[10] = tonumber(string.sub(bits, 7, 7))
if req > 0 and ts - old_ts < burst_gap then x[11] = 1 else x[11] = 0 end

local keep = 0
if req > 0 then
  local dt = ts - old_ts
  if dt <= 0 then keep = 1 else keep = math.exp(-dt * math.log(2) / half_life) end
end
local out = {}
for i = 0, 10 do
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
  'par', params, 'req', tostring(req + 1), 'l' .. slot, fmt(ts)}
for i = 0, 10 do
  fields[#fields + 1] = 's' .. i
  fields[#fields + 1] = fmt(out['s' .. i])
end
if req == 0 then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.ceil(idle_ttl * 1000))
return redis.call('HMGET', KEYS[1], unpack(names))
