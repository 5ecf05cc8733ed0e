-- The standard libraries are shared by every rule file, the modules and
-- the engine's own Lua code: a rule file cannot change them (only read
-- them). Each attempt must fail with a clear error, and everything that
-- uses them afterwards must still work.
local smtp = require('smtp')

smtp.install_tcp_rule(25)

local function try(what, f, ...)
	local ok, err = pcall(f, ...)
	-- without the directory, which differs from one checkout to another
	haka.log("%s: %s", what, ok and "CHANGED" or
		(tostring(err):gsub('^.-libs%.lua:', 'libs.lua:')))
end

-- Tried on the first command, once the capture is being replayed.
local tried = false
haka.rule{
	on = smtp.events.command,
	eval = function (flow, cmd)
		if tried then return end
		tried = true
		try("string.find = nil", function () string.find = nil end)
		try("function string.trim", function () function string.trim(s) return s end end)
		try("table.concat = nil", function () table.concat = nil end)
		try("math.huge = 0", function () math.huge = 0 end)
		try("rawset(string, ...)", rawset, string, "sub", nil)
		try("setmetatable(table, nil)", setmetatable, table, nil)
		try("string metatable", function () getmetatable("").__index.lower = nil end)
		-- require gives the same read-only views, not the libraries
		try("require('string').format", function ()
			require('string').format = function () return 'x' end end)
		try("require('_G').tostring", function ()
			require('_G').tostring = nil end)
		haka.log("require('debug') is the rules' debug: %s, getregistry: %s",
			tostring(require('debug') == debug),
			tostring(require('debug').getregistry))

		local n = 0
		for _ in pairs(string) do n = n + 1 end
		haka.log("pairs(string) sees %d functions; ('AbC'):lower() = %s; "
			.. "table.concat = %s", n, ('AbC'):lower(), table.concat({'a', 'b'}, '+'))
	end
}

-- The engine's streamed mail iterator uses table.concat and string.sub.
haka.rule{
	on = smtp.events.mail_content,
	options = {streamed = true},
	eval = function (flow, iter)
		local parts = {}
		for sub in iter:foreach_available() do
			parts[#parts + 1] = sub:asstring()
		end
		local s = table.concat(parts)
		haka.log("content, %d bytes: %s", #s, (s:gsub('[\r\n]', '|')))
	end
}
