-- haka/policy: haka.policy, the original engine's policies.
--
-- A policy object (haka.policy.new(name)) holds a list of entries, each
-- with criteria and actions:
--
--   haka.policy{on = POLICY, name = 'n', <key> = criterion, ...,
--               action = fn or {fn, ...}}
--
-- POLICY:apply{ctx = obj, values = {...}, desc = {...}} tests the entries
-- in registration order; an entry is eligible when every criterion holds
-- for values[key]; the last eligible entry wins and its actions run as
-- action(policy, ctx, values, desc), policy the Policy object, as the
-- original's.
--
-- A criterion is a value (eligible when values[key] == it) or one made by
-- set, range, outofrange, present, absent or ipv4_in_network.
--
-- haka.dissectors.tcp_connection.policies.new_connection is applied to
-- every new connection (ctx the flow, values srcip, srcport, dstip,
-- dstport) before the new_connection rules, once an entry is registered
-- on it. tcp_connection's next_dissector policy is handled in C (it
-- chooses the SMTP dissector by port): its entries go to the function
-- that install() is given.
--
-- lvm.c calls install once at start-up with two C functions; install
-- then removes itself, and the module is haka.policy.

local log = haka.log_section('core')

local policy = {}

local Policy = {}
Policy.__index = Policy
Policy.__pprint_name = 'class Policy'

-- A criterion is test(arg, value); a plain value becomes one at
-- registration, so that apply makes one call per criterion.
local Criterion = {}

local function criterion(test, arg)
	return setmetatable({test = test, arg = arg}, Criterion)
end

local function equals(x, v)
	return v == x
end

-- What ipv4.network returns (a network is not a value to compare with).
local network_mt = getmetatable(haka.dissectors.ipv4.network('0.0.0.0/0'))

-- Raise msg at the rule file's line: level 3 is the caller of the
-- function that checks (one more per helper in between).
local function check(cond, msg, level)
	if not cond then
		error(msg, level or 3)
	end
end

function policy.new(name)
	check(type(name) == 'string', 'policy name must be a string')
	return setmetatable({name = name, entries = {}}, Policy)
end

function Policy:__tostring()
	return string.format('policy %s', self.name)
end

local function eligible(entry, values)
	for _, c in ipairs(entry.criteria) do
		if not c.test(c.arg, values[c.key]) then
			return false
		end
	end
	return true
end

function Policy:apply(p)
	check(type(p) == 'table', 'policy parameter must be a table')
	check(p.ctx ~= nil and p.ctx ~= false, 'no context defined for policy')
	local values = p.values or {}
	local desc = p.desc or {}
	check(type(values) == 'table', 'values must be a table')
	check(type(desc) == 'table', 'desc must be a table')

	-- Every entry is tested, for the debug log; the last eligible wins.
	local chosen
	for _, entry in ipairs(self.entries) do
		if eligible(entry, values) then
			chosen = entry
		else
			log.debug('rejected policy %s for %s',
			          entry.name or '<unnamed>', self.name)
		end
	end
	if chosen == nil then
		return
	end
	if chosen.name then
		log.debug('applying policy %s for %s', chosen.name, self.name)
	else
		log.debug('applying policy for %s', self.name)
	end
	for _, action in ipairs(chosen.actions) do
		action(self, p.ctx, values, desc)
	end
end

-- Criteria --------------------------------------------------------------

function policy.set(list)
	check(type(list) == 'table', 'set: a list of values expected')
	local members = {}
	for _, m in pairs(list) do
		check(m == m, 'set: NaN is not a value')
		members[m] = true
	end
	return criterion(function (s, v) return v ~= nil and s[v] == true end,
	                 members)
end

local function bounds(name, min, max)
	check(type(min) == 'number' and type(max) == 'number',
	      name .. ': numeric bounds expected', 4)
	check(min <= max, name .. ': invalid bounds', 4)
	return {min = min, max = max}
end

function policy.range(min, max)
	return criterion(function (b, v)
		return type(v) == 'number' and v >= b.min and v <= b.max
	end, bounds('range', min, max))
end

function policy.outofrange(min, max)
	return criterion(function (b, v)
		return type(v) == 'number' and (v < b.min or v > b.max)
	end, bounds('outofrange', min, max))
end

function policy.present()
	return criterion(function (_, v) return v ~= nil end)
end

function policy.absent()
	return criterion(function (_, v) return v == nil end)
end

-- net: a network ('10.0.0.0/8' or ipv4.network(...)).
function policy.ipv4_in_network(net)
	if type(net) == 'string' then
		local ok, n = pcall(haka.dissectors.ipv4.network, net)
		check(ok, 'ipv4_in_network: ' .. tostring(n))
		net = n
	end
	check(getmetatable(net) == network_mt,
	      'ipv4_in_network: a network expected')
	return criterion(function (n, v)
		if v == nil then
			return false
		end
		local ok, r = pcall(n.contains, n, v)
		return ok and r
	end, net)
end

-- Actions ---------------------------------------------------------------

function policy.drop(_, ctx)
	ctx:drop()
end

function policy.accept()
end

-- The alert's fields, completed by the policy's description (sources,
-- targets...) and by default described by the policy's name. The fields
-- are checked here, as haka.alert would check them, so that a mistake is
-- the rule file's error at load, not a rule error on the first connection
-- the policy catches.
local check_alert

-- level: of the rule file's line, as check's.
local function alert_action(fields, level)
	fields = fields or {}
	check(type(fields) == 'table', 'alert: a table of alert fields expected',
	      level)
	local ok, err = pcall(check_alert, fields)
	check(ok, err, level)
	return function (pol, _, _, desc)
		local a = {}
		for k, v in pairs(fields) do
			a[k] = v
		end
		for k, v in pairs(desc) do
			if a[k] == nil then
				a[k] = v
			end
		end
		if a.description == nil then
			a.description = pol.name
		end
		haka.alert(a)
	end
end

function policy.alert(fields)
	local action = alert_action(fields, 4) -- not a tail call: level 4
	return action
end

-- alert(fields), then drop (the original's shorthand).
function policy.drop_with_alert(fields)
	local alert = alert_action(fields, 4)
	return function (pol, ctx, values, desc)
		alert(pol, ctx, values, desc)
		ctx:drop()
	end
end

-- logf: a logging function (haka.log.info, log.warning...).
function policy.log(logf, fmt, ...)
	local mt = type(logf) ~= 'function' and getmetatable(logf)
	check(type(logf) == 'function' or (type(mt) == 'table' and mt.__call),
	      'log: a logging function expected')
	check(type(fmt) == 'string', 'log: a format string expected')
	local args = table.pack(...)
	return function ()
		logf(fmt, table.unpack(args, 1, args.n))
	end
end

-- Registration ----------------------------------------------------------

local reserved = {on = true, name = true, action = true}

local function register(next_dissector, on_first)
	return function (_, p)
		check(type(p) == 'table', 'policy parameter must be a table')
		check(p.on ~= nil, 'no on defined for policy')
		if type(p.on) == 'table' and rawget(p.on, '__policy') ~= nil then
			-- Its errors are the rule file's, at the haka.policy line.
			local ok, err = pcall(next_dissector, p)
			if not ok then
				error(err, 2)
			end
			return
		end
		check(getmetatable(p.on) == Policy, 'policy on must be a Policy')
		local actions = p.action
		if type(actions) == 'function' then
			actions = {actions}
		else
			check(type(actions) == 'table',
			      'policy action must be a function or a list of functions')
			local n = 0
			for _ in pairs(actions) do
				n = n + 1
			end
			-- A nil in the list (an unset variable) would drop the action;
			-- one at its end cannot be seen (tables do not hold nil).
			check(n == #actions and n > 0,
			      'policy action must be a function or a list of functions')
			for _, f in ipairs(actions) do
				check(type(f) == 'function',
				      'policy action must be a function or a list of functions')
			end
		end
		check(p.name == nil or type(p.name) == 'string',
		      'policy name must be a string')
		local criteria = {}
		for k, v in pairs(p) do
			if not reserved[k] then
				check(type(k) == 'string', 'policy criterion names must be strings')
				-- haka.policy.present without (), or a network where
				-- ipv4_in_network was meant, would never match.
				check(type(v) ~= 'function' and getmetatable(v) ~= network_mt,
				      string.format("policy criterion '%s': a value or a " ..
				                    "criterion expected (present(), " ..
				                    "ipv4_in_network(net)...)", k))
				if getmetatable(v) ~= Criterion then
					v = criterion(equals, v)
				end
				criteria[#criteria + 1] = {key = k, test = v.test, arg = v.arg}
			end
		end
		-- pairs() has no order: keep the one of the names.
		table.sort(criteria, function (a, b) return a.key < b.key end)
		local target = p.on
		if p.name then
			log.info("register policy '%s' on '%s'", p.name, target.name)
		else
			log.info("register policy on '%s'", target.name)
		end
		target.entries[#target.entries + 1] =
		    {name = p.name, criteria = criteria, actions = {table.unpack(actions)}}
		local first = on_first[target]
		if first then
			on_first[target] = nil
			first()
		end
	end
end

-- prepend_rule(event, fn): a rule on event that runs before the others.
-- next_dissector(p): the C registration of next_dissector entries.
-- alert_fields(t): raises haka.alert's error for a bad field of t.
local function install(prepend_rule, next_dissector, alert_fields)
	check_alert = alert_fields
	local tcpc = haka.dissectors.tcp_connection
	local new_connection = policy.new('new connection')
	tcpc.policies.new_connection = new_connection

	local address, service = haka.alert.address, haka.alert.service
	local on_first = {}
	on_first[new_connection] = function ()
		-- The flow's addresses, not the packet's: a connection picked up
		-- mid-stream may open with a server's packet.
		prepend_rule(tcpc.events.new_connection, function (flow)
			local src, sport = flow.srcip, flow.srcport
			local dst, dport = flow.dstip, flow.dstport
			new_connection:apply{
				ctx = flow,
				values = {srcip = src, srcport = sport,
				          dstip = dst, dstport = dport},
				desc = {
					sources = {address(src),
					           service(string.format('tcp/%d', sport))},
					targets = {address(dst),
					           service(string.format('tcp/%d', dport))},
				},
			}
		end)
	end
	policy.install = nil
	setmetatable(policy, {
		__call = register(next_dissector, on_first),
		-- haka.policy.Drop is an error, not a nil action.
		__index = function (_, k)
			error(string.format("haka.policy has no field '%s'", tostring(k)), 2)
		end,
	})
	haka.policy = policy
end

-- require('haka/policy') is haka.policy once installed.
policy.install = install
return policy
