-- haka/rule_group: haka.rule_group, the original engine's groups of rules.
--
--   local group = haka.rule_group{
--     on = EVENT,                       -- or hook (the old name)
--     name = 'optional',
--     init = function (...) end,        -- before the group's rules
--     continue = function (ret, ...) return bool end,
--     final = function (...) end,       -- when every rule continued
--     options = {...},                  -- as haka.rule's
--   }
--   group:rule{eval = function (...) return ret end}  -- or group:rule(fn)
--
-- The group is one rule on EVENT. Its rules run in order with the
-- event's arguments; after each, continue(ret, ...) (default: true)
-- decides whether the next one runs; when all did, final(...) runs. A
-- rule that drops the packet or the flow, or calls haka.abort(), ends
-- the group there, as it ends an event's list of rules.
--
-- lvm.c calls install once at start-up with a C function telling whether
-- the current event was stopped; install then removes itself.

local rule_group = {}

local Group = {}
Group.__index = Group
Group.__pprint_name = 'class RuleGroup'

local function check(cond, msg)
	if not cond then
		error(msg, 3)
	end
end

local function nothing()
end

local function always()
	return true
end

-- group:rule{eval = fn}, or group:rule(fn) as in the original's samples.
function Group:rule(r)
	if type(r) == 'function' then
		r = {eval = r}
	end
	check(type(r) == 'table', 'rule parameter must be a table')
	check(type(r.eval) == 'function', 'rule eval function expected')
	self.rules[#self.rules + 1] = r.eval
end

local function install(stopped)
	local function eval(group, ...)
		group.init(...)
		for _, rule in ipairs(group.rules) do
			local ret = rule(...)
			if stopped() or not group.continue(ret, ...) then
				return
			end
		end
		group.final(...)
	end

	function haka.rule_group(args)
		check(type(args) == 'table', 'rule parameter must be a table')
		local on = args.on
		if on == nil then
			on = args.hook
		end
		check(on ~= nil, 'no event defined for rule group')
		for _, f in ipairs{'init', 'continue', 'final'} do
			check(args[f] == nil or type(args[f]) == 'function',
			      'rule group ' .. f .. ' function expected')
		end
		check(args.options == nil or type(args.options) == 'table',
		      'rule group options should be table')
		check(args.name == nil or type(args.name) == 'string',
		      'rule group name must be a string')
		local group = setmetatable({
			name = args.name,
			rules = {},
			init = args.init or nothing,
			continue = args.continue or always,
			final = args.final or nothing,
		}, Group)
		-- haka.rule checks the event and the options (its errors name
		-- the rule file's line).
		local ok, err = pcall(haka.rule, {
			on = on,
			options = args.options,
			eval = function (...) return eval(group, ...) end,
		})
		if not ok then
			error(err, 2)
		end
		return group
	end
	rule_group.install = nil
end

rule_group.install = install
return rule_group
