-- The mail content as the original's vbuffer_sub (HAKA.md section b):
-- data[i] is the byte at 1-based index i, in a non-streamed rule and on
-- the pieces a streamed rule's iterator returns; and the iterators'
-- check_available(n[, nonblocking]), which waits for n bytes without
-- moving, on the mail content and on the TCP stream. The capture's mail
-- comes in two pieces (4096 bytes, then 902) and its first lines hold
-- control characters, which haka.log escapes.
local smtp = require('smtp')
local tcp_connection = require('protocol/tcp_connection')

smtp.install_tcp_rule(25)

-- The error a function raises, without the rule file's directory. (The
-- functions given do not end with a tail call: the position in the
-- message is the rule's line, not pcall's.)
local function err(f)
	local ok, e = pcall(f)
	if ok then return 'no error' end
	return (e:gsub('^[^:]*/', ''))
end

haka.rule{
	on = smtp.events.mail_content,
	eval = function (flow, data)
		haka.log("piece of %d bytes: data[1] = %d, data[%d] = %d",
			#data, data[1], #data, data[#data])
		haka.log("  begins with %s", data:sub(0, 30):asstring())
		if data[16] == 27 then
			haka.log("  data[16] = %d (ESC), data[20] = %d, data[25] = %d (NUL)",
				data[16], data[20], data[25])
		end
		haka.log("  data:sub(1, 2)[2] = %d, data[2.0] = %d",
			data:sub(1, 2)[2], data[2.0])
		haka.log("  data[0]: %s", err(function () return data[0] end))
		haka.log("  data[#data + 1]: %s",
			err(function () return data[#data + 1] end))
		haka.log("  data[1.5]: %s", err(function () return data[1.5] end))
	end
}

haka.rule{
	on = smtp.events.mail_content,
	options = { streamed = true },
	eval = function (flow, iter)
		local ok, n = iter:check_available(5000, true)
		haka.log("mail: available %d, check_available(5000, true): %s %d",
			iter:available(), ok, n)
		ok, n = iter:check_available(4100)
		haka.log("mail: check_available(4100): %s %d, available %d",
			ok, n, iter:available())
		local sub = iter:sub(4100)
		haka.log("mail: sub(4100) then: %d bytes, sub[1] = %d, sub[4100] = %d",
			#sub, sub[1], sub[4100])
		ok, n = iter:check_available(1000)
		haka.log("mail: check_available(1000): %s %d", ok, n)
		local rest = iter:sub('all')
		haka.log("mail: rest %d bytes, rest[%d] = %d", #rest, #rest,
			rest[#rest])
		ok, n = iter:check_available(1)
		haka.log("mail: at the end check_available(1): %s %d", ok, n)
		ok, n = iter:check_available(0)
		haka.log("mail: check_available(0): %s %d", ok, n)
		haka.log("mail: check_available(-1): %s",
			err(function () local r = iter:check_available(-1); return r end))
		haka.log("mail: check_available('x'): %s",
			err(function () local r = iter:check_available('x'); return r end))
		haka.log("mail: rest[0]: %s", err(function () return rest[0] end))
	end
}

haka.rule{
	on = tcp_connection.events.receive_data,
	options = { streamed = true },
	eval = function (flow, iter, direction)
		if direction ~= 'up' then return end
		local ok, n = iter:check_available(1000, true)
		haka.log("tcp: available %d, check_available(1000, true): %s %d",
			iter:available(), ok, n)
		ok, n = iter:check_available(40)
		haka.log("tcp: check_available(40): %s %d, available %d", ok, n,
			iter:available())
		local sub = iter:sub(25)
		haka.log("tcp: sub(25) then: %s", sub:asstring())
		haka.log("tcp: check_available(-1): %s",
			err(function () local r = iter:check_available(-1); return r end))
		iter:advance('available')
		ok, n = iter:check_available(100000)
		haka.log("tcp: check_available(100000): %s %d", ok, n)
	end
}
