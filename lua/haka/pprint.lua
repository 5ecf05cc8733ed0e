-- haka/pprint: the pretty printer behind debug.pprint, in the original
-- engine's text format (see the -ref.txt files of the tests):
--
--   class Result {
--     responses : class ArrayResult {
--       1 : class Result {
--         code : "220"
--       }
--     }
--   }
--
-- The module is a table { pprint = fn, hide_underscore = fn,
-- hide_function = fn }; calling the table itself calls pprint.
--
-- pprint(obj[, options]) with options a table of:
--   hide    a function or a list of functions f(key, value); an entry is
--           skipped when one of them returns true. hide_underscore hides
--           string keys starting with '_', hide_function function values.
--   depth   how many levels of tables are opened: 0 prints only the title
--           of obj ("class Result", "table"), 1 its entries with nested
--           tables reduced to their title, and so on; nil or a negative
--           number opens everything. This is the original's behaviour.
--   indent  a string put before every line (the first one included).
--   out     a function called with each line (a single string, no
--           newline); default print.
-- The original's positional form pprint(obj, indent, depth, hide, out) is
-- also accepted.
--
-- Titles: a class instance (see class.lua) prints as "class <name>"; a table
-- whose metatable has a __pprint_name field prints as that string (the
-- engine uses "class Result" and "class ArrayResult"); other tables print
-- as "table". A userdata prints as its metatable's __pprint_name, else
-- "userdata <n>" where n is the metatable's __name without its "haka."
-- prefix, else "userdata"; then " " .. tostring(u) when the metatable has
-- __tostring, else the fields listed by __pprint_fields (a list of keys, or
-- a function(u) returning one), if any. A metatable hidden behind a string
-- __metatable ("haka.regexp") gives "userdata regexp" and tostring(u)
-- unless that is Lua's default "<name>: 0x...".
--
-- Entries are sorted by key: numbers first, ascending, then strings,
-- ascending, then other keys by their tostring(). A class instance prints
-- its raw fields first, then its properties (each group sorted). Values:
-- strings in double quotes with '"' and '\' escaped and other bytes raw;
-- integers as tostring(), floats with "%.14g" (as the original LuaJIT
-- build printed them, so 2.0 prints 2); booleans and nil plainly;
-- functions and threads as "function" and "thread". A table met again
-- while it is being printed (a cycle) prints as "recursive value", the
-- original's text. A property getter that raises prints "<error: msg>".
-- A class instance with a __pprint method prints itself: it is called as
-- obj:__pprint(indent, out, first_line_start).

local M = {}

local CYCLE = 'recursive value'

function M.hide_underscore(name, value)
	return type(name) == 'string' and name:sub(1, 1) == '_'
end

function M.hide_function(name, value)
	return type(value) == 'function'
end

local function is_class(mt)
	return type(mt) == 'table' and type(rawget(mt, '__method')) == 'table'
		and type(rawget(mt, 'property')) == 'table'
		and type(rawget(mt, 'name')) == 'string'
end

local function format_number(n)
	if math.type(n) == 'integer' then
		return tostring(n)
	end
	return string.format('%.14g', n)
end

local function format_scalar(v)
	local t = type(v)
	if t == 'string' then
		return '"' .. v:gsub('[\\"]', '\\%0') .. '"'
	elseif t == 'number' then
		return format_number(v)
	elseif t == 'function' or t == 'thread' then
		return t
	end
	return tostring(v)
end

local function key_label(k)
	local t = type(k)
	if t == 'string' then
		return k
	elseif t == 'number' then
		return format_number(k)
	end
	local ok, s = pcall(tostring, k)
	return ok and tostring(s) or t
end

-- The keys of an iteration, sorted: numbers, then strings, then others.
local function sorted_keys(iter, state, init)
	local entries = {}
	for k in iter, state, init do
		local t = type(k)
		local rank = t == 'number' and 1 or t == 'string' and 2 or 3
		entries[#entries + 1] = {
			key = k,
			rank = rank,
			label = key_label(k),
		}
	end
	table.sort(entries, function (a, b)
		if a.rank ~= b.rank then
			return a.rank < b.rank
		elseif a.rank == 3 then
			return a.label < b.label
		end
		return a.key < b.key
	end)
	local keys = {}
	for i, e in ipairs(entries) do
		keys[i] = e.key
	end
	return keys
end

local function hidden(st, key, value)
	for _, h in ipairs(st.hide) do
		if h(key, value) then
			return true
		end
	end
	return false
end

local emit

-- Print the entries of obj given by keys, with get(key) -> ok, value.
local function emit_entries(st, keys, get, indent, depth, seen)
	for _, k in ipairs(keys) do
		if not seen or not seen[k] then
			local ok, v = get(k)
			if not hidden(st, k, v) then
				if seen then
					seen[k] = true
				end
				local prefix = key_label(k) .. ' : '
				if ok then
					emit(st, v, indent, prefix, depth)
				else
					st.out(indent .. prefix .. '<error: '
						.. tostring(v) .. '>')
				end
			end
		end
	end
end

local function class_properties(cls)
	local props = {}
	local c = cls
	while type(c) == 'table' do
		local p = rawget(c, 'property')
		if type(p) == 'table' then
			for k in pairs(p) do
				props[k] = true
			end
		end
		c = rawget(c, 'super')
	end
	return props
end

local function emit_class(st, obj, mt, indent, prefix, depth)
	local title = 'class ' .. rawget(mt, 'name')
	if depth == 0 then
		st.out(indent .. prefix .. title)
		return
	end

	local okp, custom = pcall(function () return obj.__pprint end)
	if okp and type(custom) == 'function' then
		-- The original's signature, plus the start of the first line.
		custom(obj, indent, st.out, indent .. prefix .. title)
		return
	end

	st.out(indent .. prefix .. title .. ' {')
	local sub = indent .. '  '
	local seen = {}
	local function get(k)
		return pcall(function () return obj[k] end)
	end

	local raw = {}
	for k in next, obj do
		if k ~= '__property' then
			raw[k] = true
		end
	end
	emit_entries(st, sorted_keys(next, raw),
		function (k) return true, rawget(obj, k) end, sub, depth - 1,
		seen)

	local dyn = rawget(obj, '__property')
	if type(dyn) == 'table' then
		emit_entries(st, sorted_keys(pairs(dyn)), get, sub, depth - 1,
			seen)
	end
	emit_entries(st, sorted_keys(pairs(class_properties(mt))), get, sub,
		depth - 1, seen)
	st.out(indent .. '}')
end

local function emit_table(st, obj, title, indent, prefix, depth)
	if depth == 0 then
		st.out(indent .. prefix .. title)
		return
	end
	st.out(indent .. prefix .. title .. ' {')
	emit_entries(st, sorted_keys(pairs(obj)),
		function (k) return true, obj[k] end, indent .. '  ', depth - 1)
	st.out(indent .. '}')
end

local function emit_userdata(st, obj, indent, prefix, depth)
	local mt = getmetatable(obj)
	local title = 'userdata'
	if type(mt) == 'string' then
		-- A metatable hidden by __metatable = '<its name>'.
		title = 'userdata ' .. mt:gsub('^haka%.', '')
		local ok, s = pcall(tostring, obj)
		if ok and type(s) == 'string'
		    and s:sub(1, #mt + 4) ~= mt .. ': 0x' then
			title = title .. ' ' .. s
		end
		st.out(indent .. prefix .. title)
		return
	elseif type(mt) ~= 'table' then
		st.out(indent .. prefix .. title)
		return
	end

	local name = rawget(mt, '__pprint_name')
	if type(name) == 'string' then
		title = name
	elseif type(rawget(mt, '__name')) == 'string' then
		title = 'userdata ' .. rawget(mt, '__name'):gsub('^haka%.', '')
	end

	if rawget(mt, '__tostring') then
		local ok, s = pcall(tostring, obj)
		if not ok then
			s = '<error: ' .. tostring(s) .. '>'
		end
		st.out(indent .. prefix .. title .. ' ' .. tostring(s))
		return
	end

	local fields = rawget(mt, '__pprint_fields')
	if type(fields) == 'function' then
		local ok, f = pcall(fields, obj)
		fields = ok and f or nil
	end
	if depth == 0 or type(fields) ~= 'table' then
		st.out(indent .. prefix .. title)
		return
	end

	st.out(indent .. prefix .. title .. ' {')
	local set = {}
	for _, k in ipairs(fields) do
		set[k] = true
	end
	emit_entries(st, sorted_keys(pairs(set)),
		function (k) return pcall(function () return obj[k] end) end,
		indent .. '  ', depth - 1)
	st.out(indent .. '}')
end

emit = function (st, obj, indent, prefix, depth)
	local t = type(obj)
	if t ~= 'table' and t ~= 'userdata' then
		st.out(indent .. prefix .. format_scalar(obj))
		return
	end

	if st.visiting[obj] then
		st.out(indent .. prefix .. CYCLE)
		return
	end
	st.visiting[obj] = true

	if t == 'userdata' then
		emit_userdata(st, obj, indent, prefix, depth)
	else
		local mt = getmetatable(obj)
		if is_class(mt) then
			emit_class(st, obj, mt, indent, prefix, depth)
		elseif type(mt) == 'table'
		    and type(rawget(mt, '__pprint_name')) == 'string' then
			emit_table(st, obj, rawget(mt, '__pprint_name'), indent,
				prefix, depth)
		else
			emit_table(st, obj, 'table', indent, prefix, depth)
		end
	end

	-- Only the path being printed counts: a table shared by two
	-- branches is printed twice, a table containing itself once.
	st.visiting[obj] = nil
end

function M.pprint(obj, options, depth, hide, out)
	local indent
	if type(options) == 'table' then
		indent, depth, hide, out = options.indent, options.depth,
			options.hide, options.out
	else
		indent = options
	end

	if indent == nil then
		indent = ''
	elseif type(indent) ~= 'string' then
		error('pprint: indent must be a string', 2)
	end
	if hide == nil then
		hide = {}
	elseif type(hide) == 'function' then
		hide = { hide }
	elseif type(hide) ~= 'table' then
		error('pprint: hide must be a function or a list of functions',
			2)
	end
	if depth == nil then
		depth = -1
	else
		depth = math.tointeger(depth)
		if depth == nil then
			error('pprint: depth must be an integer', 2)
		elseif depth < 0 then
			depth = -1
		end
	end

	local st = {
		hide = hide,
		out = out or print,
		visiting = {},
	}
	emit(st, obj, indent, '', depth)
end

return setmetatable(M, {
	__call = function (_, ...)
		return M.pprint(...)
	end,
})
