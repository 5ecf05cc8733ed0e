-- The SMTP public-corpus test (issue 3): install the SMTP dissector on every
-- port used as an SMTP server port in tests/data/public/truth.tsv and print
-- one machine-readable line per event. check_truth.py rebuilds the mail
-- transactions from these lines and compares them with truth.tsv.
--
--   hakapcap -a /dev/null tests/pcap/smtp-corpus/events.lua CAPTURE
--
-- Every line is tab-separated and starts with "EV", the event name and the
-- connection: "<flow id> <client ip:port> <server ip:port>":
--
--   EV CONN     id cli srv
--   EV CMD      id cli srv VERB PARAM      PARAM "-" when there is none,
--                                          "=..." otherwise (escaped)
--   EV RSP      id cli srv CODES SEPS      codes of the lines, comma-separated
--   EV CONTENT  id cli srv BYTES           a mail finished (end of DATA, BDAT
--                                          LAST, or end of connection in DATA)
--   EV PARTIAL  id cli srv BYTES           content seen but never finished
--                                          (printed at the end of connection)
--   EV STARTTLS id cli srv
--   EV ANOMALY  id cli srv NAME
--   EV END      id cli srv STATE           STATE: flow.smtp.state or "-"
--
-- Control characters, backslash and tab are escaped as \xHH; bytes >= 0x80
-- are printed as they are.

local smtp = require('smtp')
local tcp_connection = require('protocol/tcp_connection')

-- The server ports of truth.tsv: 25, 587, 2525, 465 and the non-standard
-- 1080 (SOCKS5 prefix, arkime-socks5-smtp-503) and 8240
-- (zeek-connect-with-smtp).
for _, port in ipairs({25, 587, 2525, 465, 1080, 8240}) do
	smtp.install_tcp_rule(port)
end

local function esc(s)
	return (string.gsub(s, '[%c\\]', function (c)
		return string.format('\\x%02x', string.byte(c))
	end))
end

local function conn(flow)
	return string.format('%d\t%s:%d\t%s:%d', flow.id, flow.srcip,
		flow.srcport, flow.dstip, flow.dstport)
end

local function ev(name, flow, ...)
	local t = { 'EV', name, conn(flow) }
	for _, v in ipairs({...}) do
		t[#t + 1] = tostring(v)
	end
	print(table.concat(t, '\t'))
end

-- Content bytes of the mail in progress, per flow id (for PARTIAL).
local partial = {}

haka.rule{
	hook = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		ev('CONN', flow)
	end
}

haka.rule{
	hook = smtp.events.command,
	eval = function (flow, cmd)
		local param = cmd.parameter
		ev('CMD', flow, esc(cmd.command or ''),
			param == nil and '-' or '=' .. esc(param))
	end
}

haka.rule{
	hook = smtp.events.response,
	eval = function (flow, res)
		local codes, seps = {}, {}
		for i, r in ipairs(res.responses or {}) do
			codes[i] = r.code or '?'
			seps[i] = (r.sep == nil or r.sep == '') and '_' or r.sep
		end
		ev('RSP', flow, table.concat(codes, ','), table.concat(seps, ','))
	end
}

haka.rule{
	hook = smtp.events.mail_content,
	options = { streamed = true },
	eval = function (flow, iter)
		local id = flow.id
		local n = 0
		partial[id] = 0
		for sub in iter:foreach_available() do
			n = n + #sub
			partial[id] = n
		end
		partial[id] = nil
		ev('CONTENT', flow, n)
	end
}

haka.rule{
	hook = smtp.events.starttls,
	eval = function (flow)
		ev('STARTTLS', flow)
	end
}

haka.rule{
	hook = smtp.events.anomaly,
	eval = function (flow, name)
		ev('ANOMALY', flow, name)
	end
}

haka.rule{
	hook = tcp_connection.events.end_connection,
	eval = function (flow)
		if partial[flow.id] ~= nil then
			ev('PARTIAL', flow, partial[flow.id])
			partial[flow.id] = nil
		end
		local ok, st = pcall(function ()
			return flow.smtp and flow.smtp.state
		end)
		ev('END', flow, ok and st or '-')
	end
}
